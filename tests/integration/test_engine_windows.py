"""Preferred purchase windows in the engine against the simulator (simulated time): a window
delays a due plan's purchase (no search while it waits) until it opens; a window that would
open too late is not waited for, and the plan is bought at the last safe cycle; an approved
proposal waiting for a window is kept, not superseded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.approvals_support import Operated, due_plan
from tests.integration.test_engine_support import Engine, by_name, make_config, policy
from watcher.clock import ManualClock
from watcher.journal.records import ProposalState

POLL = timedelta(minutes=5, seconds=30)  # the default interval + jitter


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _engine(tmp_path: Path, clock: ManualClock, *windows: dict[str, Any]) -> Engine:
    journal = tmp_path / "j.db"
    rules = policy(purchase_windows=list(windows))
    return Engine(make_config(journal, [rules]), clock, journal)


def test_a_window_delays_the_purchase_until_it_opens(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # t0 is Monday 09:00 UTC; the plan is due and needs a day.
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock, {"days": ["mon-fri"], "hours": "14:00-16:00"})

    waiting, calls = engine.cycle()
    result = by_name(waiting)["llm-a"]
    assert result.decision.kind.value == "not_due"
    assert result.decision.next_action == t0.replace(hour=14)
    assert result.decision.need_hours == 24
    assert "waits until the next one opens at 2026-03-02T14:00:00Z" in result.decision.reason
    assert calls["SearchTrainingPlanOfferings"] == 0 and calls["ExtendTrainingPlan"] == 0

    clock.set(t0.replace(hour=13, minute=59))
    assert by_name(engine.cycle()[0])["llm-a"].decision.kind.value == "not_due"
    assert sim.record.purchases == []

    clock.set(t0.replace(hour=14))
    bought, _ = engine.cycle()
    assert by_name(bought)["llm-a"].decision.kind.value == "extended"
    assert [p.plan_arn for p in sim.record.purchases] == [arn]


def test_the_deadline_overrides_a_window_that_opens_too_late(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    deadline = sim.plan_end(arn) - timedelta(hours=2)  # Wednesday 09:30 UTC
    weekend = {"days": ["sat", "sun"], "hours": "09:00-17:00", "time_zone": "Europe/Berlin"}
    engine = _engine(tmp_path, clock, weekend)

    first, _ = engine.cycle()
    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "not_due"
    assert result.decision.next_action == deadline - POLL
    assert "after the last safe cycle 2026-03-04T09:24:30Z" in result.decision.reason

    clock.set(deadline - POLL - timedelta(seconds=1))
    assert by_name(engine.cycle()[0])["llm-a"].decision.kind.value == "not_due"
    assert sim.record.purchases == []

    clock.set(deadline - POLL)
    last, _ = engine.cycle()
    decision = by_name(last)["llm-a"].decision
    assert decision.kind.value == "extended"
    assert "outside the policy's purchase windows" in decision.reason
    assert "this is the last safe cycle before the deadline 2026-03-04T09:30:00Z" in (
        decision.reason
    )
    assert [p.plan_arn for p in sim.record.purchases] == [arn]


def test_an_approved_proposal_waits_for_the_window_and_is_kept(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    window = {"days": ["mon-fri"], "hours": "09:00-10:00"}
    rules = policy(action="propose", purchase_windows=[window])
    setup = Operated(tmp_path, clock, policies=[rules])

    proposed, _ = setup.engine.cycle()
    proposal = by_name(proposed)["llm-a"].proposal
    assert proposal is not None
    clock.set(t0.replace(hour=10, minute=30))  # the window has closed
    assert setup.cli("approve", proposal.proposal_id) == 0

    held, _ = setup.engine.cycle()
    result = by_name(held)["llm-a"]
    assert result.decision.kind.value == "not_due" and result.decision.window_hold
    assert result.decision.next_action == t0 + timedelta(days=1)
    [kept] = setup.proposals()
    assert kept.state is ProposalState.APPROVED
    assert sim.record.purchases == []

    clock.set(t0 + timedelta(days=1))
    bought, _ = setup.engine.cycle()
    assert by_name(bought)["llm-a"].decision.kind.value == "extended"
    assert [p.plan_arn for p in sim.record.purchases] == [arn]
    assert setup.proposals()[0].state is ProposalState.PURCHASED
