"""Stage 1 (`triage` over the gathered `Facts`): unmanaged, expired, in_flight, lifetime cap and
not_due, before any lookup; which history a decision needs; and `assess` of a due plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from watcher.decide import Due, Facts, PolicyRules, Read, assess, due, history_read, triage
from watcher.decide.triage import CHECKS
from watcher.model import (
    Consumer,
    ConsumerKind,
    Decision,
    DecisionKind,
    Extension,
    Money,
    Plan,
    PlanStatus,
)

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


def facts(
    plan: Plan, rules: PolicyRules | None, history: list[Extension], held: bool, now: datetime
) -> Facts:
    return Facts(plan, rules, now, tuple(history), held)


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
    decision = triage(facts(plan(), None, [], False, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.UNMANAGED
    assert decision.policy is None and "no policy" in decision.reason


def test_ignore_policy_is_unmanaged_and_named() -> None:
    rules = PolicyRules(name="skip", action="ignore")
    decision = triage(facts(plan(), rules, [], True, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.UNMANAGED
    assert decision.policy == "skip" and "ignore" in decision.reason


def test_deadline_is_end_minus_safety_margin_and_at_least_one_hour() -> None:
    margin_2h = triage(facts(plan(), RULES, [], False, END - timedelta(hours=2)))
    assert margin_2h is not None and margin_2h.kind is DecisionKind.EXPIRED
    assert margin_2h.deadline == END - timedelta(hours=2)
    assert "2025-10-01T09:30:00Z" in margin_2h.reason

    tiny_margin = PolicyRules(name="llm", safety_margin=timedelta(minutes=10))
    assert triage(facts(plan(), tiny_margin, [], False, END - timedelta(minutes=61))) is None
    at_1h = triage(facts(plan(), tiny_margin, [], False, END - timedelta(hours=1)))
    assert at_1h is not None and at_1h.kind is DecisionKind.EXPIRED
    assert at_1h.deadline == END - timedelta(hours=1) and at_1h.next_action is None


def test_a_plan_aws_will_not_extend_is_expired_whatever_the_time() -> None:
    for status in (PlanStatus.EXPIRED, PlanStatus.FAILED, PlanStatus.PENDING):
        decision = triage(facts(plan(status), RULES, [], False, END - timedelta(hours=10)))
        assert decision is not None and decision.kind is DecisionKind.EXPIRED
        assert status.value in decision.reason


def test_scheduled_plan_can_be_due() -> None:
    assert (
        triage(facts(plan(PlanStatus.SCHEDULED), RULES, [], False, END - timedelta(hours=10)))
        is None
    )


def test_pending_extension_is_in_flight_and_named() -> None:
    history = [ext("tpeo-old"), ext("tpeo-new", status="Pending", payment="Pending")]
    decision = triage(facts(plan(), RULES, history, False, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "tpeo-new" in decision.reason and "tpeo-old" not in decision.reason
    assert "journal" not in decision.reason


def test_pending_payment_alone_is_in_flight() -> None:
    history = [ext("tpeo-pay", status="Active", payment="Pending")]
    decision = triage(facts(plan(), RULES, history, False, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "PaymentStatus Pending" in decision.reason


def test_open_intent_is_in_flight_and_says_journal() -> None:
    decision = triage(facts(plan(), RULES, [], True, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT
    assert "journal" in decision.reason and "unresolved" in decision.reason


def test_in_flight_outranks_the_deadline_so_an_unknown_purchase_is_visible() -> None:
    decision = triage(facts(plan(), RULES, [], True, END - timedelta(minutes=30)))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT


def test_in_flight_even_when_not_due() -> None:
    decision = triage(facts(plan(), RULES, [], True, END - timedelta(days=30)))
    assert decision is not None and decision.kind is DecisionKind.IN_FLIGHT


def test_lifetime_cap_is_no_offering_and_failed_purchases_do_not_count() -> None:
    history = [ext("a"), ext("b", status="Expired"), ext("c", status="Failed")]
    assert triage(facts(plan(), RULES, history, False, END - timedelta(hours=10))) is None

    history.append(ext("d", status="Scheduled"))
    decision = triage(facts(plan(), RULES, history, False, END - timedelta(hours=10)))
    assert decision is not None and decision.kind is DecisionKind.NO_OFFERING
    assert "lifetime cap" in decision.reason and "max_extensions=3" in decision.reason
    assert decision.next_action is None


def test_not_due_until_extend_before_and_next_action_is_the_window_start() -> None:
    decision = triage(facts(plan(), RULES, [], False, END - timedelta(hours=72, seconds=1)))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert decision.next_action == END - timedelta(hours=72)
    assert "2025-09-28T11:30:00Z" in decision.reason
    assert triage(facts(plan(), RULES, [], False, END - timedelta(hours=72))) is None


def test_window_never_opens_earlier_than_aws_56_days() -> None:
    rules = PolicyRules(name="early", extend_before=timedelta(days=90))
    decision = triage(facts(plan(), rules, [], False, END - timedelta(days=60)))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert decision.next_action == END - timedelta(days=56)
    assert "earliest AWS" in decision.reason
    assert triage(facts(plan(), rules, [], False, END - timedelta(days=56))) is None


def test_not_due_warns_when_the_window_opens_after_the_deadline() -> None:
    rules = PolicyRules(name="late", extend_before=timedelta(minutes=30))
    decision = triage(facts(plan(), rules, [], False, END - timedelta(hours=5)))
    assert decision is not None and decision.kind is DecisionKind.NOT_DUE
    assert "too short" in decision.reason


def test_checks_run_in_the_order_they_outrank_each_other() -> None:
    names = [check.__name__ for check in CHECKS]
    assert names == [
        "_ignored",
        "_not_extendable",
        "_in_flight",
        "_past_deadline",
        "_lifetime_cap",
        "_not_due",
    ]


FAR, DUE, LATE = END - timedelta(days=10), END - timedelta(hours=10), END - timedelta(minutes=30)


@pytest.mark.parametrize(
    ("status", "rules", "held", "now", "read"),
    [
        (PlanStatus.ACTIVE, None, False, DUE, Read.NONE),
        (PlanStatus.ACTIVE, PolicyRules(name="skip", action="ignore"), True, DUE, Read.NONE),
        (PlanStatus.EXPIRED, RULES, True, DUE, Read.NONE),
        (PlanStatus.ACTIVE, RULES, False, LATE, Read.CACHED),
        (PlanStatus.ACTIVE, RULES, True, LATE, Read.FRESH),
        (PlanStatus.ACTIVE, RULES, False, FAR, Read.CACHED),
        (PlanStatus.ACTIVE, RULES, True, FAR, Read.FRESH),
        (PlanStatus.ACTIVE, RULES, False, DUE, Read.FRESH),
        (PlanStatus.SCHEDULED, RULES, "settled while its end moved", DUE, Read.FRESH),
    ],
)
def test_which_history_a_decision_needs(
    status: PlanStatus, rules: PolicyRules | None, held: bool | str, now: datetime, read: Read
) -> None:
    assert history_read(plan(status), rules, held, now) is read


@given(
    st.sampled_from(list(PlanStatus)),
    st.sampled_from([None, RULES, PolicyRules(name="skip", action="ignore")]),
    st.sampled_from([False, True]),
    st.integers(min_value=-60, max_value=30 * 24 * 60),
    st.lists(
        st.sampled_from([("Active", "Completed"), ("Pending", "Pending"), ("Failed", "Failed")])
    ),
)
# Past the deadline with an extension pending at AWS: in_flight outranks expired, so the
# history must be read, or the operator sees "expired" where a purchase may have happened.
@example(PlanStatus.ACTIVE, RULES, False, 30, [("Pending", "Pending")])
def test_no_decision_rests_on_a_history_that_was_not_read(
    status: PlanStatus,
    rules: PolicyRules | None,
    held: bool,
    lead: int,
    entries: list[tuple[str, str]],
) -> None:
    """NONE: the decision is the same whatever the history holds; CACHED: the plan is not
    due whatever it holds; a due plan's history is always read afresh."""
    now = END - timedelta(minutes=lead)
    history = [ext(f"tpeo-{n}", s, p) for n, (s, p) in enumerate(entries)]
    read = history_read(plan(status), rules, held, now)
    decided = triage(facts(plan(status), rules, history, held, now))
    if read is Read.NONE:
        assert decided == triage(facts(plan(status), rules, [], held, now))
    if decided is None:
        assert read is Read.FRESH


def test_a_due_plan_is_decided_by_its_consumers_and_never_without_them() -> None:
    now = END - timedelta(hours=10)
    gathered = facts(plan(), RULES, [], False, now)
    assert due(gathered)
    unread = assess(gathered)
    assert isinstance(unread, Decision) and unread.kind is DecisionKind.ERROR
    assert "without its consumers" in unread.reason
    nobody = assess(replace(gathered, consumers=()))
    assert isinstance(nobody, Decision) and nobody.kind is DecisionKind.NO_DEMAND
    job = Consumer(
        ConsumerKind.JOB, "j", "arn:job/j", plan().arn, "InProgress", END + timedelta(hours=5)
    )
    needed = assess(replace(gathered, consumers=(job,)))
    assert isinstance(needed, Due) and needed.need.duration_hours == 24
