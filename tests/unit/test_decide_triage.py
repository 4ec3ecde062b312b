"""Stage 1: unmanaged, expired, in_flight, lifetime cap and not_due, before any lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watcher.decide import PolicyRules, triage
from watcher.model import DecisionKind, Extension, Money, Plan, PlanStatus

END = datetime(2025, 10, 1, 11, 30, tzinfo=UTC)
RULES = PolicyRules(name="llm", extend_before=timedelta(hours=72), max_extensions=3)


def plan(status: PlanStatus = PlanStatus.ACTIVE, end: datetime = END) -> Plan:
    return Plan(
        arn="arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a",
        name="llm-a",
        target="prod",
        status=status,
        start_time=end - timedelta(days=14),
        end_time=end,
        upfront_fee=Money.parse("40000.00 USD"),
        availability_zones=("us-east-1a",),
    )


def ext(offering_id: str, status: str = "Active", payment: str = "Completed") -> Extension:
    return Extension(
        offering_id=offering_id,
        plan_arn=plan().arn,
        extended_at=END - timedelta(days=10),
        start=END - timedelta(days=7),
        end=END,
        status=status,
        payment_status=payment,
        duration_hours=168,
        upfront_fee=Money.parse("1000.00 USD"),
    )


def test_no_policy_is_unmanaged() -> None:
    decision = triage(plan(), None, [], False, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.UNMANAGED
    assert decision.policy is None and "no policy" in decision.reason


def test_ignore_policy_is_unmanaged_and_named() -> None:
    rules = PolicyRules(name="skip", action="ignore")
    decision = triage(plan(), rules, [], True, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.UNMANAGED
    assert decision.policy == "skip" and "ignore" in decision.reason


def test_deadline_is_end_minus_safety_margin_and_at_least_one_hour() -> None:
    margin_2h = triage(plan(), RULES, [], False, END - timedelta(hours=2))
    assert margin_2h is not None and margin_2h.kind is DecisionKind.EXPIRED
    assert margin_2h.deadline == END - timedelta(hours=2)
    assert "2025-10-01T09:30:00Z" in margin_2h.reason

    tiny_margin = PolicyRules(name="llm", safety_margin=timedelta(minutes=10))
    assert triage(plan(), tiny_margin, [], False, END - timedelta(minutes=61)) is None
    at_1h = triage(plan(), tiny_margin, [], False, END - timedelta(hours=1))
    assert at_1h is not None and at_1h.kind is DecisionKind.EXPIRED
    assert at_1h.deadline == END - timedelta(hours=1) and at_1h.next_action is None


def test_a_plan_aws_will_not_extend_is_expired_whatever_the_time() -> None:
    for status in (PlanStatus.EXPIRED, PlanStatus.FAILED, PlanStatus.PENDING):
        decision = triage(plan(status), RULES, [], False, END - timedelta(hours=10))
        assert decision is not None and decision.kind is DecisionKind.EXPIRED
        assert status.value in decision.reason


def test_scheduled_plan_can_be_due() -> None:
    assert triage(plan(PlanStatus.SCHEDULED), RULES, [], False, END - timedelta(hours=10)) is None


def test_pending_extension_is_in_flight_and_named() -> None:
    history = [ext("tpeo-old"), ext("tpeo-new", status="Pending", payment="Pending")]
    decision = triage(plan(), RULES, history, False, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "tpeo-new" in decision.reason and "tpeo-old" not in decision.reason
    assert "journal" not in decision.reason


def test_pending_payment_alone_is_in_flight() -> None:
    history = [ext("tpeo-pay", status="Active", payment="Pending")]
    decision = triage(plan(), RULES, history, False, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "PaymentStatus Pending" in decision.reason


def test_open_intent_is_in_flight_and_says_journal() -> None:
    decision = triage(plan(), RULES, [], True, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "journal" in decision.reason and "unresolved" in decision.reason


def test_in_flight_outranks_the_deadline_so_an_unknown_purchase_is_visible() -> None:
    decision = triage(plan(), RULES, [], True, END - timedelta(minutes=30))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT


def test_in_flight_even_when_not_due() -> None:
    decision = triage(plan(), RULES, [], True, END - timedelta(days=30))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT


def test_lifetime_cap_is_no_offering_and_failed_purchases_do_not_count() -> None:
    history = [ext("a"), ext("b", status="Expired"), ext("c", status="Failed")]
    assert triage(plan(), RULES, history, False, END - timedelta(hours=10)) is None

    history.append(ext("d", status="Scheduled"))
    decision = triage(plan(), RULES, history, False, END - timedelta(hours=10))
    assert decision is not None and decision.kind is DecisionKind.NO_OFFERING
    assert "lifetime cap" in decision.reason and "max_extensions=3" in decision.reason
    assert decision.next_action is None


def test_not_due_until_extend_before_and_next_action_is_the_window_start() -> None:
    decision = triage(plan(), RULES, [], False, END - timedelta(hours=72, seconds=1))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert decision.next_action == END - timedelta(hours=72)
    assert "2025-09-28T11:30:00Z" in decision.reason
    assert triage(plan(), RULES, [], False, END - timedelta(hours=72)) is None


def test_window_never_opens_earlier_than_aws_56_days() -> None:
    rules = PolicyRules(name="early", extend_before=timedelta(days=90))
    decision = triage(plan(), rules, [], False, END - timedelta(days=60))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert decision.next_action == END - timedelta(days=56)
    assert "earliest AWS" in decision.reason
    assert triage(plan(), rules, [], False, END - timedelta(days=56)) is None


def test_not_due_warns_when_the_window_opens_after_the_deadline() -> None:
    rules = PolicyRules(name="late", extend_before=timedelta(minutes=30))
    decision = triage(plan(), rules, [], False, END - timedelta(hours=5))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert "too short" in decision.reason
