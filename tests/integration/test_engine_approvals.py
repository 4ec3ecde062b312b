"""Approvals (`action: propose`) against the in-process simulator: a proposal is created once,
approved by command or by tag, rejected, replaced when the price moves, failed closed at the
deadline, or approved automatically below an amount near the deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.approvals_support import Operated, due_plan, samples
from tests.integration.test_engine_support import DAY_FEE_4, by_name, client, exact_offering, policy
from watcher.clock import ManualClock
from watcher.journal.records import ProposalState

APPROVE_TAG = "plan-watcher/approve"
REJECT_TAG = "plan-watcher/reject"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _propose(**approval: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"approval": approval} if approval else {}
    return policy(action="propose", **extra)


class Setup(Operated):
    def __init__(self, tmp_path: Path, clock: ManualClock, **approval: Any) -> None:
        super().__init__(tmp_path, clock, policies=[_propose(**approval)])


def test_a_due_plan_gets_one_proposal_that_waits(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    setup = Setup(tmp_path, clock)

    first, calls = setup.engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert result.proposal_created
    [proposal] = setup.proposals()
    assert result.proposal == proposal
    assert proposal.state is ProposalState.PENDING
    assert proposal.proposal_id.startswith("p-") and len(proposal.proposal_id) == 10
    assert proposal.plan_arn == arn and proposal.duration_hours == 24
    assert proposal.fee.amount == Decimal(DAY_FEE_4)
    assert proposal.expires_at == result.decision.deadline
    assert proposal.plan_end == sim.plan_end(arn)
    assert f"plan-watcher approve {proposal.proposal_id}" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    assert [e["proposal_id"] for e in setup.engine.events("proposal_created")] == [
        proposal.proposal_id
    ]
    assert first.proposals == [proposal]

    clock.advance(minutes=5)
    second, calls = setup.engine.cycle()
    again = by_name(second)["llm-a"]
    assert again.decision.kind.value == "proposed"
    assert not again.proposal_created and again.proposal == proposal
    assert len(setup.proposals()) == 1
    assert calls["ExtendTrainingPlan"] == 0 and sim.record.purchases == []


def test_dry_run_reports_the_would_be_proposal_and_writes_nothing(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock)

    cycle, calls = setup.engine.cycle(dry_run=True)

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert result.decision.chosen is not None
    assert str(result.decision.chosen.upfront_fee.amount) == DAY_FEE_4
    assert "dry-run: would propose it" in result.decision.reason
    assert result.proposal is None and not result.proposal_created
    assert setup.proposals() == []
    assert calls["ExtendTrainingPlan"] == 0


def test_approve_by_command_buys_at_the_next_cycle(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: Any
) -> None:
    arn = due_plan(sim, t0)
    end = sim.plan_end(arn)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [proposal] = setup.proposals()
    monkeypatch.setenv("USER", "alice")

    assert setup.cli("approve", proposal.proposal_id) == 0
    assert setup.cli("approve", proposal.proposal_id) == 1  # no longer pending

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "extended"
    assert f"under proposal {proposal.proposal_id}, approved by cli:alice" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 1
    assert len(sim.record.purchases) == 1
    [done] = setup.proposals()
    assert done.state is ProposalState.PURCHASED
    assert result.proposal == done
    assert cycle.proposals == []
    clock.advance(minutes=30)
    setup.engine.cycle()
    assert sim.plan_end(arn) == end + timedelta(hours=24)
    assert len(sim.record.purchases) == 1


def test_approve_by_tag_buys_and_removes_the_tag(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [proposal] = setup.proposals()
    sm = client()
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": APPROVE_TAG, "Value": proposal.proposal_id}])

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()

    assert by_name(cycle)["llm-a"].decision.kind.value == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    [done] = setup.proposals()
    assert done.state is ProposalState.PURCHASED
    events = setup.engine.reconciler.journal.events(arn)
    assert any(e[2] == "proposal_approved" and "by tag" in e[3] for e in events)
    tags = {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert APPROVE_TAG not in tags


def test_a_stale_approve_tag_is_ignored_and_removed(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    sm = client()
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": APPROVE_TAG, "Value": "p-00000000"}])

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()

    assert by_name(cycle)["llm-a"].decision.kind.value == "proposed"
    assert calls["ExtendTrainingPlan"] == 0
    [proposal] = setup.proposals()
    assert proposal.state is ProposalState.PENDING
    [ignored] = setup.engine.events("proposal_tag_ignored")
    assert ignored["tag"] == f"{APPROVE_TAG}=p-00000000"
    assert APPROVE_TAG not in {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def test_reject_by_tag_closes_it_and_nothing_is_proposed_again(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [proposal] = setup.proposals()
    client().add_tags(ResourceArn=arn, Tags=[{"Key": REJECT_TAG, "Value": proposal.proposal_id}])

    clock.advance(minutes=5)
    cycle, _ = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "no_offering"
    assert f"proposal {proposal.proposal_id} was rejected by tag" in result.decision.reason
    assert [p.proposal_id for p in cycle.proposals_closed] == [proposal.proposal_id]
    assert cycle.proposals_closed[0].state is ProposalState.REJECTED

    clock.advance(minutes=5)
    later, calls = setup.engine.cycle()
    assert by_name(later)["llm-a"].decision.kind.value == "no_offering"
    assert later.proposals_closed == []
    assert len(setup.proposals()) == 1
    assert calls["ExtendTrainingPlan"] == 0 and sim.record.purchases == []


def test_reject_by_command_is_announced_once(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [proposal] = setup.proposals()

    assert setup.cli("reject", proposal.proposal_id, "--reason", "too dear") == 0
    assert setup.cli("reject", "p-nothere") == 1

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()
    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "no_offering"
    assert "(too dear)" in result.decision.reason
    assert [p.proposal_id for p in cycle.proposals_closed] == [proposal.proposal_id]
    clock.advance(minutes=5)
    later, _ = setup.engine.cycle()
    assert later.proposals_closed == []
    assert calls["ExtendTrainingPlan"] == 0


@pytest.mark.parametrize(("price", "bought"), [("101.26", True), ("103.50", False)])
def test_price_moved_after_approval(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    price: str,
    bought: bool,
) -> None:
    """98.32 -> 101.26 is +2.99% (within the default 5%): bought. 103.50 is +5.27%: a new
    proposal at the new price, nothing bought."""
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [old] = setup.proposals()
    assert setup.cli("approve", old.proposal_id) == 0
    sim.market.set_terms("llm-a", price_per_instance_hour=Decimal(price))

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    new_fee = Decimal(price) * 4 * 24
    if bought:
        assert result.decision.kind.value == "extended"
        assert calls["ExtendTrainingPlan"] == 1
        assert sim.record.purchases[0].fee == new_fee
        return
    assert result.decision.kind.value == "proposed"
    assert calls["ExtendTrainingPlan"] == 0
    assert "the price moved" in result.decision.reason
    states = {p.proposal_id: p.state for p in setup.proposals()}
    assert states[old.proposal_id] is ProposalState.SUPERSEDED
    [new] = [p for p in setup.proposals() if p.proposal_id != old.proposal_id]
    assert new.state is ProposalState.PENDING and new.fee.amount == new_fee
    assert result.proposal == new and result.proposal_created
    assert [p.proposal_id for p in cycle.proposals_closed] == [old.proposal_id]


def test_an_unapproved_proposal_expires_at_the_deadline(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock)
    first, _ = setup.engine.cycle()
    [proposal] = setup.proposals()
    deadline = by_name(first)["llm-a"].decision.deadline
    assert deadline is not None

    clock.set(deadline - timedelta(minutes=1))
    before, _ = setup.engine.cycle()
    assert by_name(before)["llm-a"].decision.kind.value == "proposed"

    clock.set(deadline)
    cycle, calls = setup.engine.cycle()

    assert by_name(cycle)["llm-a"].decision.kind.value == "expired"
    [closed] = cycle.proposals_closed
    assert closed.proposal_id == proposal.proposal_id
    assert closed.state is ProposalState.EXPIRED
    assert "approvals fail closed" in closed.note
    assert calls["ExtendTrainingPlan"] == 0 and sim.record.purchases == []
    assert cycle.proposals == []
    assert len(setup.engine.events("proposal_expired")) == 1


@pytest.mark.parametrize(("below", "bought"), [("10000.00 USD", True), ("9438.72 USD", False)])
def test_auto_approval_below_the_amount_near_the_deadline(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, below: str, bought: bool
) -> None:
    """The fee is 9438.72 USD: strictly below 10000.00 it is approved by itself in the last
    6 hours before the deadline and bought in the same cycle; at 9438.72 it is not."""
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock, auto_approve_below=below, auto_approve_within="6h")
    first, _ = setup.engine.cycle()
    deadline = by_name(first)["llm-a"].decision.deadline
    assert deadline is not None
    assert by_name(first)["llm-a"].decision.kind.value == "proposed"  # not yet in the window

    clock.set(deadline - timedelta(hours=5))
    cycle, calls = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    [proposal] = setup.proposals()
    if not bought:
        assert result.decision.kind.value == "proposed"
        assert proposal.state is ProposalState.PENDING
        assert calls["ExtendTrainingPlan"] == 0
        return
    assert result.decision.kind.value == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    assert proposal.state is ProposalState.PURCHASED
    assert len(setup.engine.events("proposal_auto_approved")) == 1
    events = setup.engine.reconciler.journal.events()
    assert any(e[2] == "proposal_approved" and f"by auto:below {below}" in e[3] for e in events)


def test_metrics_count_proposals_and_their_events(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    setup = Setup(tmp_path, clock)

    created = samples(setup.engine.cycle()[0])

    assert created[("plan_watcher_proposals", (("state", "pending"),))] == 1
    assert created[("plan_watcher_proposals", (("state", "approved"),))] == 0
    assert created[("plan_watcher_proposal_events_total", (("event", "created"),))] == 1
    assert created[("plan_watcher_proposal_events_total", (("event", "expired"),))] == 0
    assert created[("plan_watcher_plan_decision", _plan_labels("proposed"))] == 1


def _plan_labels(decision: str) -> tuple[tuple[str, str], ...]:
    return (("decision", decision), ("plan", "llm-a"), ("target", "default"))


def test_a_plan_extended_elsewhere_supersedes_its_proposal(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Someone extends the plan in the console: the proposal was for the old end, so it is
    superseded (announced in proposals_closed) and nothing is bought by plan-watcher."""
    arn = due_plan(sim, t0)
    end = sim.plan_end(arn)
    setup = Setup(tmp_path, clock)
    setup.engine.cycle()
    [proposal] = setup.proposals()
    sm = client()
    offer = exact_offering(sm, arn, 24, end)
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )

    clock.advance(minutes=30)
    cycle, calls = setup.engine.cycle()

    [closed] = cycle.proposals_closed
    assert closed.proposal_id == proposal.proposal_id
    assert closed.state is ProposalState.SUPERSEDED
    assert "the plan's end moved from 2026-03-04T11:30:00Z" in closed.note
    assert by_name(cycle)["llm-a"].decision.kind.value != "proposed"
    assert cycle.proposals == []
    assert calls["ExtendTrainingPlan"] == 0 and len(sim.record.purchases) == 1


def test_a_policy_with_tag_approval_off_ignores_the_approve_tag(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    setup = Setup(tmp_path, clock, by_tag=False)
    first, _ = setup.engine.cycle()
    [proposal] = setup.proposals()
    waiting = by_name(first)["llm-a"].decision.reason
    assert f"plan-watcher approve {proposal.proposal_id}" in waiting
    assert APPROVE_TAG not in waiting and "ignores approval tags" in waiting
    sm = client()
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": APPROVE_TAG, "Value": proposal.proposal_id}])

    clock.advance(minutes=5)
    cycle, calls = setup.engine.cycle()

    assert by_name(cycle)["llm-a"].decision.kind.value == "proposed"
    assert calls["ExtendTrainingPlan"] == 0 and calls["DeleteTags"] == 0
    [still] = setup.proposals()
    assert still.state is ProposalState.PENDING
    # The tag is left where its author put it: plan-watcher neither reads nor removes it.
    assert APPROVE_TAG in {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def test_approve_states_the_fee_ceiling_of_the_policy_the_proposal_was_made_under(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, capsys: Any
) -> None:
    arn = due_plan(sim, t0)
    client().add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "llm"}])
    tagged = policy(
        "llm", action="propose", match={"tags": {"team": "llm"}}, approval={"fee_tolerance": "20%"}
    )
    setup = Operated(tmp_path, clock, policies=[tagged, policy("rest", action="propose")])
    setup.engine.cycle()
    [proposal] = setup.proposals()
    assert proposal.policy == "llm"
    capsys.readouterr()

    assert setup.cli("approve", proposal.proposal_id) == 0

    # 20% over the fee as the tagged policy says (not 5%, 9910.656 USD: the policy that
    # matches the plan when its tags are left out).
    assert str(proposal.fee.amount) == DAY_FEE_4 == "9438.72"
    assert "costs at most 11326.464 USD, else" in capsys.readouterr().out
