"""Which notices a cycle produces, what they say, and which repeats are held back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from watcher.act.purchase import PurchaseOutcome, PurchaseResult
from watcher.config import Mode
from watcher.journal.records import Intent, Proposal, ProposalState
from watcher.model import (
    Decision,
    DecisionKind,
    ExtensionOffering,
    Money,
    Plan,
    PlanStatus,
    RejectedOffering,
)
from watcher.notify.dedupe import Deduper
from watcher.notify.notice import SUBJECT_LIMIT, NoticeKind, notices_for
from watcher.results import CycleResult, PlanResult

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
DEADLINE = END - timedelta(hours=2)
FEE = Money(Decimal("9438.72"), "USD")


def _arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:training-plan/{name}"


def _plan(name: str, end: datetime = END) -> Plan:
    return Plan(_arn(name), name, "prod", PlanStatus.ACTIVE, NOW - timedelta(days=5), end)


def _offering(name: str, end: datetime = END) -> ExtensionOffering:
    return ExtensionOffering(
        "tpeo-123", _arn(name), "us-east-1a", end, end + timedelta(days=1), 24, FEE
    )


def _result(name: str, kind: DecisionKind, end: datetime = END, **extra: Any) -> PlanResult:
    decision = Decision(
        _arn(name), kind, f"reason for {kind.value}", "llm", DEADLINE, chosen=_offering(name, end)
    )
    return PlanResult(_arn(name), name, "prod", decision, _plan(name, end), **extra)


def _bought(name: str, result: PurchaseResult, detail: str = "extension bought") -> PlanResult:
    intent = Intent(_arn(name), END, "tpeo-123", "prod", FEE, 24, NOW)
    kind = {
        PurchaseResult.BOUGHT: DecisionKind.EXTENDED,
        PurchaseResult.FAILED: DecisionKind.ERROR,
        PurchaseResult.AMBIGUOUS: DecisionKind.IN_FLIGHT,
        PurchaseResult.LOST_RACE: DecisionKind.EXTENDED,
    }[result]
    return _result(name, kind, purchase=PurchaseOutcome(result, intent, detail))


def _proposal(name: str, state: ProposalState = ProposalState.PENDING) -> Proposal:
    return Proposal(
        "p-42",
        _arn(name),
        name,
        "prod",
        END,
        "tpeo-123",
        24,
        FEE,
        "the job outlives the plan",
        NOW,
        DEADLINE,
        state=state,
    )


def _cycle(*results: PlanResult, mode: Mode = Mode.ENFORCE, **extra: object) -> CycleResult:
    cycle = CycleResult("c1", NOW, mode, list(results))
    for key, value in extra.items():
        setattr(cycle, key, value)
    return cycle


def test_each_notable_outcome_gives_one_notice_of_its_kind() -> None:
    cycle = _cycle(
        _bought("a-bought", PurchaseResult.BOUGHT),
        _bought("b-failed", PurchaseResult.FAILED, "invalid: ValidationException: stale offering"),
        _bought("c-ambiguous", PurchaseResult.AMBIGUOUS, "outcome unknown"),
        _result("d-none", DecisionKind.NO_OFFERING),
        _result("e-budget", DecisionKind.OVER_BUDGET),
        _result(
            "f-proposed",
            DecisionKind.PROPOSED,
            proposal=_proposal("f-proposed"),
            proposal_created=True,
        ),
        proposals_closed=[_proposal("g-expired", ProposalState.EXPIRED)],
    )
    kinds = [(n.kind, n.plan_name) for n in notices_for(cycle)]
    assert kinds == [
        (NoticeKind.PURCHASE_SUCCEEDED, "a-bought"),
        (NoticeKind.PURCHASE_FAILED, "b-failed"),
        (NoticeKind.PURCHASE_AMBIGUOUS, "c-ambiguous"),
        (NoticeKind.NO_OFFERING, "d-none"),
        (NoticeKind.OVER_BUDGET, "e-budget"),
        (NoticeKind.PROPOSAL_CREATED, "f-proposed"),
        (NoticeKind.PROPOSAL_EXPIRED, "g-expired"),
    ]


def test_quiet_outcomes_give_no_notice() -> None:
    quiet = [
        _result(f"p{i}", kind)
        for i, kind in enumerate(
            [
                DecisionKind.NOT_DUE,
                DecisionKind.NO_DEMAND,
                DecisionKind.DEMAND_COVERED,
                DecisionKind.IN_FLIGHT,
                DecisionKind.UNMANAGED,
                DecisionKind.WOULD_EXTEND,
            ]
        )
    ]
    # A proposal left waiting (not created this cycle), a lost race, a rejected proposal.
    waiting = _result("w", DecisionKind.PROPOSED, proposal=_proposal("w"))
    raced = _bought("r", PurchaseResult.LOST_RACE)
    cycle = _cycle(
        *quiet,
        waiting,
        raced,
        proposals_closed=[_proposal("x", ProposalState.REJECTED)],
    )
    assert notices_for(cycle) == []


def test_purchase_notice_carries_fee_as_decimal_text_and_offering() -> None:
    [notice] = notices_for(_cycle(_bought("llm-a", PurchaseResult.BOUGHT)))
    body = notice.to_json()
    assert json.loads(json.dumps(body)) == body  # plain JSON, no floats or Decimals
    assert body["kind"] == "purchase_succeeded"
    assert body["upfront_fee"] == "9438.72" and body["currency"] == "USD"
    assert body["offering_id"] == "tpeo-123" and body["duration_hours"] == 24
    assert body["plan_arn"] == _arn("llm-a") and body["target"] == "prod"
    assert body["deadline"] == "2026-03-04T09:30:00Z"
    assert body["plan_end"] == "2026-03-04T11:30:00Z"
    assert body["at"] == "2026-03-02T09:00:00Z"
    assert body["cycle_id"] == "c1" and body["mode"] == "enforce" and body["dry_run"] is False
    assert "9438.72 USD" in body["summary"] and "llm-a (prod)" in body["summary"]


def test_failed_purchase_says_why_and_until_when() -> None:
    cycle = _cycle(_bought("llm-a", PurchaseResult.FAILED, "invalid: stale offering"))
    [notice] = notices_for(cycle)
    assert "invalid: stale offering" in notice.summary
    assert "2026-03-04 09:30 UTC" in notice.summary  # the deadline


def test_proposal_notice_names_the_proposal_and_its_expiry() -> None:
    created = _result(
        "llm-a", DecisionKind.PROPOSED, proposal=_proposal("llm-a"), proposal_created=True
    )
    [notice] = notices_for(_cycle(created))
    assert notice.proposal_id == "p-42"
    assert notice.to_json()["proposal_id"] == "p-42"
    assert notice.deadline == DEADLINE
    assert "approve before 2026-03-04 09:30 UTC" in notice.summary


def test_dry_run_notices_are_marked() -> None:
    [notice] = notices_for(_cycle(_result("llm-a", DecisionKind.NO_OFFERING), mode=Mode.DRY_RUN))
    assert notice.to_json()["dry_run"] is True
    assert notice.summary.startswith("[dry-run] ")
    assert "[dry-run]" in notice.subject


def test_subject_is_short_single_line_ascii() -> None:
    name = "llm-" + "x" * 150
    [notice] = notices_for(_cycle(_result(name, DecisionKind.NO_OFFERING)))
    subject = notice.subject
    assert len(subject) <= SUBJECT_LIMIT and subject.isascii() and "\n" not in subject
    assert subject.startswith("plan-watcher no_offering: llm-x")


def test_notice_id_is_stable_for_a_plan_and_kind_in_a_cycle() -> None:
    first = notices_for(_cycle(_result("a", DecisionKind.NO_OFFERING)))[0]
    again = notices_for(_cycle(_result("a", DecisionKind.NO_OFFERING)))[0]
    other = notices_for(_cycle(_result("b", DecisionKind.NO_OFFERING)))[0]
    assert first.notice_id == again.notice_id != other.notice_id


# --- dedupe --------------------------------------------------------------------------------


def _admit(deduper: Deduper, *results: PlanResult, at: datetime = NOW) -> list[str]:
    cycle = _cycle(*results)
    cycle.started_at = at
    return [f"{n.kind.value}:{n.plan_name}" for n in deduper.admit(cycle, notices_for(cycle))]


def test_a_standing_condition_is_told_once() -> None:
    deduper = Deduper()
    none = _result("a", DecisionKind.NO_OFFERING)
    assert _admit(deduper, none) == ["no_offering:a"]
    assert _admit(deduper, none) == []
    assert _admit(deduper, none) == []


def test_a_condition_is_told_again_when_the_plan_end_moves() -> None:
    deduper = Deduper()
    assert _admit(deduper, _result("a", DecisionKind.NO_OFFERING)) == ["no_offering:a"]
    later = END + timedelta(days=1)
    assert _admit(deduper, _result("a", DecisionKind.NO_OFFERING, later)) == ["no_offering:a"]


def test_a_condition_is_told_again_when_it_changes_kind() -> None:
    deduper = Deduper()
    assert _admit(deduper, _result("a", DecisionKind.NO_OFFERING)) == ["no_offering:a"]
    assert _admit(deduper, _result("a", DecisionKind.OVER_BUDGET)) == ["over_budget:a"]
    assert _admit(deduper, _result("a", DecisionKind.NO_OFFERING)) == ["no_offering:a"]


def test_a_condition_that_cleared_and_came_back_is_told_again() -> None:
    deduper = Deduper()
    none = _result("a", DecisionKind.NO_OFFERING)
    assert _admit(deduper, none) == ["no_offering:a"]
    assert _admit(deduper, _result("a", DecisionKind.NO_DEMAND)) == []
    assert _admit(deduper, none) == ["no_offering:a"]


def test_an_error_or_a_missing_plan_does_not_clear_a_condition() -> None:
    deduper = Deduper()
    none = _result("a", DecisionKind.NO_OFFERING)
    assert _admit(deduper, none) == ["no_offering:a"]
    assert _admit(deduper, _result("a", DecisionKind.ERROR)) == []
    assert _admit(deduper) == []  # its target was down: no result at all
    assert _admit(deduper, none) == []


def test_conditions_are_remembered_per_plan() -> None:
    deduper = Deduper()
    a, b = _result("a", DecisionKind.NO_OFFERING), _result("b", DecisionKind.NO_OFFERING)
    assert _admit(deduper, a) == ["no_offering:a"]
    assert _admit(deduper, a, b) == ["no_offering:b"]


def test_events_are_never_held_back() -> None:
    deduper = Deduper()
    bought = _bought("a", PurchaseResult.FAILED)
    assert _admit(deduper, bought) == ["purchase_failed:a"]
    assert _admit(deduper, bought) == ["purchase_failed:a"]


def test_memory_of_ended_plans_is_dropped() -> None:
    deduper = Deduper()
    told = _result("a", DecisionKind.NO_OFFERING)
    assert _admit(deduper, told) == ["no_offering:a"]
    assert _admit(deduper, told) == []  # remembered
    _admit(deduper, at=END + timedelta(minutes=1))  # the plan end it was told for has passed
    assert _admit(deduper, told) == ["no_offering:a"]  # forgotten


def test_admitting_changes_nothing_in_the_notices() -> None:
    cycle = _cycle(_result("a", DecisionKind.OVER_BUDGET))
    notices = notices_for(cycle)
    assert Deduper().admit(cycle, notices) == notices


def test_over_budget_names_the_offering_the_budget_refused() -> None:
    capped = replace(_offering("a"), offering_id="tpeo-capped")
    refused = replace(_offering("a"), offering_id="tpeo-refused")
    decision = Decision(
        _arn("a"),
        DecisionKind.OVER_BUDGET,
        "the best acceptable offering tpeo-refused (1 day) would break a budget: budget ml",
        deadline=DEADLINE,
        rejected=(
            RejectedOffering(capped, "over max_upfront_fee"),
            RejectedOffering(refused, "budget ml: would exceed its limit"),
        ),
    )
    result = PlanResult(_arn("a"), "a", "prod", decision, _plan("a"))
    [notice] = notices_for(_cycle(result))
    assert notice.offering_id == "tpeo-refused" and notice.fee == FEE
    assert notice.to_json()["upfront_fee"] == "9438.72"
