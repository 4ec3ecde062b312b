"""Blast-radius limits in the pure core: what counts against them, and when one more purchase
is refused (and the decision that says so)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.strategies import amounts
from watcher.decide import Need, PolicyRules, choose
from watcher.decide.limits import (
    Commitment,
    LimitRules,
    LimitState,
    committed_since,
    limit_problems,
    limit_states,
)
from watcher.model import DecisionKind, Extension, ExtensionOffering, Money, Plan, PlanStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)
SETTLE = timedelta(minutes=30)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def ext(offering: str, at: datetime | None, fee: str | None = "100.00", status: str = "Active"):  # type: ignore[no-untyped-def]
    return Extension(
        offering_id=offering,
        plan_arn="arn:plan/a",
        extended_at=at,
        start=None,
        end=None,
        status=status,
        payment_status="Completed",
        duration_hours=24,
        upfront_fee=usd(fee) if fee is not None else None,
    )


def mine(offering: str, at: datetime, fee: str = "100.00") -> Commitment:
    return Commitment(offering, "arn:plan/a", at, usd(fee), "journal")


def test_aws_history_and_the_journal_are_counted_once_each() -> None:
    history = [
        ext("tpeo-old", SINCE - timedelta(minutes=1)),  # before the 24 hours
        ext("tpeo-a", NOW - timedelta(hours=3)),  # bought by plan-watcher, visible at AWS
        ext("tpeo-b", NOW - timedelta(hours=2)),  # bought by hand
        ext("tpeo-failed", NOW - timedelta(hours=1), status="Failed"),
    ]
    journal = [
        mine("tpeo-a", NOW - timedelta(hours=3)),
        mine("tpeo-c", NOW - timedelta(minutes=5)),  # not visible at AWS yet
        mine("tpeo-gone", SINCE - timedelta(hours=1)),
    ]
    found = committed_since(history, journal, SINCE, SETTLE)
    assert [(c.offering_id, c.source, c.by_plan_watcher) for c in found] == [
        ("tpeo-a", "aws", True),
        ("tpeo-b", "aws", False),
        ("tpeo-c", "journal", True),
    ]


def test_an_undated_extension_counts_unless_the_journal_dates_it_earlier() -> None:
    history = [ext("tpeo-x", None), ext("tpeo-y", None)]
    journal = [mine("tpeo-y", SINCE - timedelta(hours=1))]
    assert [c.offering_id for c in committed_since(history, journal, SINCE, SETTLE)] == ["tpeo-x"]


@pytest.mark.parametrize(
    ("journalled", "counted"),
    [
        (SINCE - timedelta(seconds=1), ["tpeo-z"]),  # AWS may stamp it inside the 24 hours
        (SINCE - SETTLE, ["tpeo-z"]),
        (SINCE - SETTLE - timedelta(seconds=1), []),  # AWS has had settle_after to stamp it
    ],
)
def test_a_purchase_aws_does_not_list_yet_counts_if_made_just_before_the_24_hours(
    journalled: datetime, counted: list[str]
) -> None:
    found = committed_since([], [mine("tpeo-z", journalled)], SINCE, SETTLE)
    assert [c.offering_id for c in found] == counted


def test_once_aws_lists_a_purchase_its_extended_at_decides() -> None:
    journal = [mine("tpeo-in", SINCE - timedelta(seconds=3))]
    journal += [mine("tpeo-out", SINCE - timedelta(seconds=3))]
    history = [ext("tpeo-in", SINCE + timedelta(seconds=2))]
    history += [ext("tpeo-out", SINCE - timedelta(seconds=1))]
    found = committed_since(history, journal, SINCE, SETTLE)
    assert [(c.offering_id, c.source) for c in found] == [("tpeo-in", "aws")]


def test_limit_states_report_counts_and_spend_per_period() -> None:
    rules = LimitRules(
        purchases_per_cycle=1,
        spend_per_cycle=usd("500.00"),
        purchases_per_24h=3,
        spend_per_24h=usd("1000.00"),
    )
    day = [mine("a", NOW), Commitment("b", "arn:plan/b", NOW, usd("250.00"), "aws", False)]
    states = {s.key: s for s in limit_states(rules, day, [mine("a", NOW)])}
    assert [(k, s.limit, s.used, s.currency) for k, s in states.items()] == [
        ("purchases_per_cycle", Decimal(1), Decimal(1), None),
        ("spend_per_cycle", Decimal("500.00"), Decimal("100.00"), "USD"),
        ("purchases_per_24h", Decimal(3), Decimal(2), None),
        ("spend_per_24h", Decimal("1000.00"), Decimal("350.00"), "USD"),
    ]
    assert states["purchases_per_24h"].describe() == (
        "safety.limits.purchases_per_24h: 2 of 3 purchase(s) used (1 in plan-watcher's journal, "
        "1 not (bought outside plan-watcher, or not journalled))"
    )


def test_a_spend_that_cannot_be_read_admits_nothing() -> None:
    rules = LimitRules(spend_per_24h=usd("1000.00"))
    day = committed_since([ext("tpeo-x", NOW, fee=None)], [], SINCE, SETTLE)
    [state] = limit_states(rules, day, [])
    assert state.unknown is not None and state.used == state.limit
    [problem] = limit_problems(usd("1.00"), [state])
    assert "safety.limits.spend_per_24h: use unknown" in problem


def test_the_problems_name_the_limit_and_its_figures() -> None:
    count = LimitState("purchases_per_24h", Decimal(3), Decimal(3))
    spend = LimitState("spend_per_cycle", Decimal("150000"), Decimal("120000.00"), "USD")
    assert limit_problems(usd("40000.00"), [count, spend]) == [
        "safety.limits.purchases_per_24h: 3 purchase(s) in the last 24 hours already, "
        "the limit is 3",
        "safety.limits.spend_per_cycle: 120000.00 USD committed this cycle + 40000.00 USD = "
        "160000.00 USD would pass the limit 150000 USD",
    ]
    assert limit_problems(usd("30000.00"), [spend]) == []
    assert limit_problems(Money(Decimal(1), "EUR"), [spend]) == [
        "safety.limits.spend_per_cycle is kept in USD and cannot take a fee in EUR"
    ]


@given(
    used=st.integers(min_value=0, max_value=20),
    limit=st.integers(min_value=1, max_value=20),
    spent=amounts(10_000),
    cap=amounts(10_000),
    fee=amounts(10_000),
)
def test_a_purchase_fits_exactly_when_it_stays_within_every_limit(
    used: int, limit: int, spent: Decimal, cap: Decimal, fee: Decimal
) -> None:
    states = [
        LimitState("purchases_per_24h", Decimal(limit), Decimal(used)),
        LimitState("spend_per_24h", cap, spent, "USD"),
    ]
    fits = used + 1 <= limit and spent + fee <= cap
    assert (limit_problems(usd(str(fee)), states) == []) is fits


# --- the decision ---------------------------------------------------------------------------

END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
PLAN = Plan(
    "arn:plan/a",
    "llm-a",
    "prod",
    PlanStatus.ACTIVE,
    None,
    END,
    upfront_fee=usd("1.00"),
    availability_zones=("us-east-1a",),
)
RULES = PolicyRules(name="llm")
NEED = Need(24, END + timedelta(hours=20), "job needs 20h")


def offer(offering_id: str, fee: str, hours: int = 24) -> ExtensionOffering:
    return ExtensionOffering(
        offering_id, PLAN.arn, "us-east-1a", END, END + timedelta(hours=hours), hours, usd(fee)
    )


def test_a_limit_refuses_the_purchase_as_over_budget_naming_it() -> None:
    full = LimitState("purchases_per_24h", Decimal(3), Decimal(3))
    decision = choose(PLAN, RULES, NEED, [offer("tpeo-a", "900.00")], [], NOW, "enforce", [full])
    assert decision.kind is DecisionKind.OVER_BUDGET and decision.chosen is None
    assert "would pass a safety limit: safety.limits.purchases_per_24h: 3 purchase(s)" in (
        decision.reason
    )


def test_a_spend_limit_falls_back_to_a_cheaper_offering_that_fits() -> None:
    spend = LimitState("spend_per_24h", Decimal("1000"), Decimal("500.00"), "USD")
    offers = [offer("tpeo-big", "600.00", 48), offer("tpeo-small", "400.00")]
    rules = PolicyRules(name="llm", prefer="longest_within_caps")
    decision = choose(PLAN, rules, NEED, offers, [], NOW, "enforce", [spend])
    assert decision.kind is DecisionKind.EXTENDED
    assert decision.chosen is not None and decision.chosen.offering_id == "tpeo-small"
    assert "because it would pass a safety limit (safety.limits.spend_per_24h" in decision.reason


def test_without_limits_the_same_offering_is_bought() -> None:
    decision = choose(PLAN, RULES, NEED, [offer("tpeo-a", "900.00")], [], NOW, "enforce")
    assert decision.kind is DecisionKind.EXTENDED
