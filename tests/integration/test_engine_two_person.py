"""Two approvers above `approval.two_person_above`, against the in-process simulator with the
operator commands on the same journal: one approval does not buy (nor does the same person
twice, nor a tag), two different people do; one approval still fails closed at the deadline;
an approval given before the policy asked for two is not enough afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.approvals_support import Operated, due_plan
from tests.integration.test_engine_support import by_name, client, policy
from watcher.act import two_person
from watcher.clock import ManualClock
from watcher.journal.records import ProposalState

TWO_ABOVE = "5000.00 USD"  # the plan's one-day extension costs 9438.72 USD


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _setup(tmp_path: Path, clock: ManualClock, **approval: Any) -> Operated:
    rules = policy(action="propose", approval={"two_person_above": TWO_ABOVE, **approval})
    return Operated(tmp_path, clock, policies=[rules])


def _as(monkeypatch: pytest.MonkeyPatch, setup: Operated, user: str, *argv: str) -> int:
    monkeypatch.setenv("USER", user)
    return setup.cli(*argv)


def test_one_approval_does_not_buy_two_people_do(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arn = due_plan(sim, t0)
    setup = _setup(tmp_path, clock)
    first, _ = setup.engine.cycle()
    proposal = by_name(first)["llm-a"].proposal
    assert proposal is not None
    pid = proposal.proposal_id
    assert "needs approval by 2 different people" in by_name(first)["llm-a"].decision.reason

    assert _as(monkeypatch, setup, "alice", "approve", pid) == 0
    assert f"first of 2 approvals of {pid} recorded (cli:alice)" in capsys.readouterr().out
    assert _as(monkeypatch, setup, "Alice", "approve", pid) == 1  # the same person
    assert "already approved" in capsys.readouterr().err
    monkeypatch.delenv("USERNAME", raising=False)
    assert _as(monkeypatch, setup, "", "approve", pid) == 1  # nobody in particular
    # A tag names nobody: it is read, removed, and does not count.
    sm = client()
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "plan-watcher/approve", "Value": pid}])

    clock.advance(minutes=5)
    waiting, calls = setup.engine.cycle()
    result = by_name(waiting)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert "1 of 2 so far (cli:alice at 2026-03-02T09:00:00Z)" in result.decision.reason
    assert "tag approvals do not count" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0 and sim.record.purchases == []
    assert [p.state for p in setup.proposals()] == [ProposalState.PENDING]
    assert setup.engine.events("proposal_tag_not_counted")
    tags = {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert "plan-watcher/approve" not in tags

    assert _as(monkeypatch, setup, "bob", "approve", pid) == 0
    [approved] = setup.proposals()
    assert approved.state is ProposalState.APPROVED and approved.decided_by == "cli:bob"
    clock.advance(minutes=5)
    bought, _ = setup.engine.cycle()
    assert by_name(bought)["llm-a"].decision.kind.value == "extended"
    assert [p.plan_arn for p in sim.record.purchases] == [arn]
    record = two_person.load(setup.engine.reconciler.journal, pid)
    assert record is not None and record.approvers == ["cli:alice", "cli:bob"]


def test_one_approval_still_fails_closed_at_the_deadline(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = due_plan(sim, t0)
    setup = _setup(tmp_path, clock)
    first, _ = setup.engine.cycle()
    proposal = by_name(first)["llm-a"].proposal
    assert proposal is not None
    assert _as(monkeypatch, setup, "alice", "approve", proposal.proposal_id) == 0

    clock.set(proposal.expires_at)
    late, _ = setup.engine.cycle()
    assert by_name(late)["llm-a"].decision.kind.value == "expired"
    assert [p.state for p in setup.proposals()] == [ProposalState.EXPIRED]
    assert sim.record.purchases == []
    assert sim.plan_end(arn) > clock.now()


def test_below_the_threshold_one_approval_buys(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due_plan(sim, t0)
    rules = policy(action="propose", approval={"two_person_above": "9438.72 USD"})
    setup = Operated(tmp_path, clock, policies=[rules])
    first, _ = setup.engine.cycle()
    proposal = by_name(first)["llm-a"].proposal
    assert proposal is not None
    assert "different people" not in by_name(first)["llm-a"].decision.reason
    assert _as(monkeypatch, setup, "alice", "approve", proposal.proposal_id) == 0
    clock.advance(minutes=5)
    assert by_name(setup.engine.cycle()[0])["llm-a"].decision.kind.value == "extended"


def test_an_approval_from_before_the_threshold_is_not_enough_after_it(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due_plan(sim, t0)
    single = Operated(tmp_path, clock, policies=[policy(action="propose")])
    first, _ = single.engine.cycle()
    proposal = by_name(first)["llm-a"].proposal
    assert proposal is not None
    assert _as(monkeypatch, single, "alice", "approve", proposal.proposal_id) == 0

    # The policy now asks for two people above 5000 USD (a config reload).
    setup = _setup(tmp_path, clock)
    clock.advance(minutes=5)
    held, calls = setup.engine.cycle()
    result = by_name(held)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert "1 of 2 so far (cli:alice" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    [back] = setup.proposals()
    assert back.state is ProposalState.PENDING
    assert setup.engine.events("proposal_needs_second_approval")

    assert _as(monkeypatch, setup, "bob", "approve", proposal.proposal_id) == 0
    clock.advance(minutes=5)
    assert by_name(setup.engine.cycle()[0])["llm-a"].decision.kind.value == "extended"
