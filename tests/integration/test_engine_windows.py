"""Preferred purchase windows in the engine against the simulator (simulated time): a window
delays a due plan's purchase until it opens, and only the purchase (the offering is chosen, a
refusal reported and a proposal made while it waits); a window that would open too late is
not waited for, and the plan is bought at the last safe cycle, early enough for a failed
purchase to be retried before the deadline; an approved proposal waiting for a window is
kept, not superseded."""

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
from watcher.sandbox.faults import Faults, ScriptedFault

POLL = timedelta(minutes=5, seconds=30)  # the default interval + jitter
RETRY = timedelta(minutes=15)  # safety.retry_backoff's default
WEEKEND = {"days": ["sat", "sun"], "hours": "09:00-17:00", "time_zone": "Europe/Berlin"}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _engine(tmp_path: Path, clock: ManualClock, *windows: dict[str, Any], **config: Any) -> Engine:
    journal = tmp_path / "j.db"
    rules = policy(purchase_windows=list(windows))
    return Engine(make_config(journal, [rules], **config), clock, journal)


def test_a_window_delays_the_purchase_until_it_opens(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # t0 is Monday 09:00 UTC; the plan is due and needs a day.
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock, {"days": ["mon-fri"], "hours": "14:00-16:00"})

    waiting, calls = engine.cycle()
    result = by_name(waiting)["llm-a"]
    assert result.decision.kind.value == "not_due" and result.decision.window_hold
    assert result.decision.next_action == t0.replace(hour=14)
    assert result.decision.need_hours == 24
    assert "the purchase waits until the next one opens at 2026-03-02T14:00:00Z" in (
        result.decision.reason
    )
    # Only the purchase waits: the offering it will buy is chosen already.
    assert calls["SearchTrainingPlanOfferings"] == 1 and calls["ExtendTrainingPlan"] == 0
    assert result.decision.chosen is not None

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
    engine = _engine(tmp_path, clock, WEEKEND)

    first, _ = engine.cycle()
    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "not_due"
    last_safe = deadline - 3 * POLL - RETRY
    assert result.decision.next_action == last_safe
    assert "after the last safe cycle 2026-03-04T08:58:30Z" in result.decision.reason

    clock.set(last_safe - timedelta(seconds=1))
    assert by_name(engine.cycle()[0])["llm-a"].decision.kind.value == "not_due"
    assert sim.record.purchases == []

    clock.set(last_safe)
    last, _ = engine.cycle()
    decision = by_name(last)["llm-a"].decision
    assert decision.kind.value == "extended"
    assert "outside the policy's purchase windows" in decision.reason
    assert "past the last safe cycle 2026-03-04T08:58:30Z" in decision.reason
    assert decision.reason.endswith("so the deadline wins; buying it")
    assert [p.plan_arn for p in sim.record.purchases] == [arn]


def test_a_purchase_refused_at_the_last_safe_cycle_is_retried_before_the_deadline(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    refused = ScriptedFault("ExtendTrainingPlan", "limit", plan="llm-a")  # AWS did nothing
    sim = make_sim(faults=Faults(scripted=[refused]))
    arn = due_plan(sim, t0)
    deadline = sim.plan_end(arn) - timedelta(hours=2)
    engine = _engine(tmp_path, clock, WEEKEND)
    assert by_name(engine.cycle()[0])["llm-a"].decision.kind.value == "not_due"

    # Cycles one poll apart from the moment the plan waits for, until it is bought or lost.
    clock.set(by_name(engine.cycle()[0])["llm-a"].decision.next_action)
    seen = []
    while clock.now() < deadline and not sim.record.purchases:
        seen.append(by_name(engine.cycle()[0])["llm-a"].decision.kind.value)
        clock.advance(POLL)

    assert seen[0] == "error" and seen[-1] == "extended", seen
    [bought] = sim.record.purchases
    assert bought.plan_arn == arn and bought.at < deadline


def test_a_refusal_is_reported_while_the_plan_waits_for_a_window(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    budget = {"name": "ml", "limit": "100.00 USD", "window": "calendar-month"}
    journal = tmp_path / "j.db"
    rules = policy(purchase_windows=[WEEKEND])
    engine = Engine(make_config(journal, [rules], [budget]), clock, journal)

    first, _ = engine.cycle()

    decision = by_name(first)["llm-a"].decision
    assert decision.kind.value == "over_budget" and not decision.window_hold, decision.reason
    assert "budget ml" in decision.reason


def test_a_proposal_is_made_at_once_while_the_plan_waits_for_a_window(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    rules = policy(action="propose", purchase_windows=[WEEKEND])
    setup = Operated(tmp_path, clock, policies=[rules])

    first, calls = setup.engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "proposed", result.decision.reason
    assert result.proposal is not None and result.proposal_created
    assert "the purchase waits until" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    assert [p.state for p in setup.proposals()] == [ProposalState.PENDING]


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
