"""Hypothesis strategies for the domain values (Plan, Consumer, Extension, offerings, Money).

Times are timezone-aware UTC; fees are Decimals with two places, mostly in USD. Strategies that
describe things "around a plan" take the plan so generated values are related to it often
enough to reach the interesting branches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from watcher.decide import BudgetState, PolicyRules
from watcher.model import (
    Consumer,
    ConsumerKind,
    Extension,
    ExtensionOffering,
    Money,
    Plan,
    PlanStatus,
)

CURRENCIES = st.sampled_from(["USD"] * 8 + ["EUR", "JPY"])
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
SELLABLE = [24 * d for d in range(1, 15)] + [168 * w for w in range(3, 27)]

_T0 = datetime(2025, 1, 1)  # noqa: DTZ001 - hypothesis bounds are naive; tz is added below
_T1 = datetime(2027, 1, 1)  # noqa: DTZ001


def _ident(prefix: str, size: int = 4) -> st.SearchStrategy[str]:
    return st.text("abcdef0123", min_size=1, max_size=size).map(lambda t: prefix + t)


def amounts(max_value: int = 1_000_000) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=0, max_value=max_value, places=2, allow_nan=False, allow_infinity=False
    )


def money(
    currency: st.SearchStrategy[str] = CURRENCIES, max_value: int = 1_000_000
) -> st.SearchStrategy[Money]:
    return st.builds(Money, amounts(max_value), currency)


def instants() -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes in 2025-2026, often on AWS's 11:30 plan-end grid."""
    anywhere = st.datetimes(min_value=_T0, max_value=_T1, timezones=st.just(UTC))
    on_grid = anywhere.map(lambda t: t.replace(hour=11, minute=30, second=0, microsecond=0))
    return st.one_of(on_grid, anywhere)


def durations(max_hours: int = 60 * 24) -> st.SearchStrategy[timedelta]:
    return st.integers(min_value=0, max_value=max_hours * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def plans(
    draw: st.DrawFn,
    status: st.SearchStrategy[PlanStatus] | None = None,
    currency: st.SearchStrategy[str | None] | None = None,
) -> Plan:
    end = draw(instants())
    fee_currency = draw(currency if currency is not None else st.one_of(st.just("USD"), st.none()))
    fee = Money(draw(amounts()), fee_currency) if fee_currency else None
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=0, max_size=2, unique=True))
    name = draw(_ident("llm-", 8))
    return Plan(
        arn=f"arn:aws:sagemaker:us-east-1:111122223333:training-plan/{name}",
        name=name,
        target="prod",
        status=draw(
            status
            if status is not None
            else st.sampled_from([PlanStatus.ACTIVE] * 4 + [PlanStatus.SCHEDULED])
        ),
        start_time=end - timedelta(days=draw(st.integers(1, 60))),
        end_time=end,
        upfront_fee=fee,
        availability_zones=tuple(zones),
    )


@st.composite
def consumers(draw: st.DrawFn, plan: Plan) -> Consumer:
    """A job ending somewhere around the plan's end, or (sometimes) an unbounded cluster."""
    kind = draw(st.sampled_from([ConsumerKind.JOB] * 4 + [ConsumerKind.CLUSTER]))
    name = draw(_ident("job-"))
    if kind is ConsumerKind.CLUSTER:
        end: datetime | None = None
    else:
        offset = draw(st.integers(min_value=-30 * 24 * 60, max_value=250 * 24 * 60))
        end = plan.end_time + timedelta(minutes=offset)
    return Consumer(
        kind=kind,
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:111122223333:{kind.value}/{name}",
        plan_arn=plan.arn,
        status="InService" if kind is ConsumerKind.CLUSTER else "InProgress",
        demand_end=end,
    )


@st.composite
def extensions(draw: st.DrawFn, plan: Plan, pending: bool | None = None) -> Extension:
    status, payment = draw(
        st.sampled_from(
            [
                ("Active", "Completed"),
                ("Expired", "Completed"),
                ("Scheduled", "Completed"),
                ("Failed", "Completed"),
                ("Pending", "Pending"),
                ("Active", "Pending"),
                ("Pending", "Completed"),
            ]
        ).filter(lambda sp: pending is None or (("Pending" in sp) == pending))
    )
    hours = draw(st.sampled_from(SELLABLE))
    start = plan.end_time - timedelta(hours=hours)
    return Extension(
        offering_id=draw(_ident("tpeo-", 6)),
        plan_arn=plan.arn,
        extended_at=start - timedelta(days=1),
        start=start,
        end=plan.end_time,
        status=status,
        payment_status=payment,
        duration_hours=hours,
        upfront_fee=Money(draw(amounts(100_000)), plan.currency or "USD"),
    )


@st.composite
def offerings(draw: st.DrawFn, plan: Plan) -> ExtensionOffering:
    """Mostly well-formed offerings for `plan`; sometimes off in start, size, zone or currency."""
    odd_hours = st.integers(0, 5000)
    hours = draw(
        st.sampled_from([True] * 4 + [False]).flatmap(
            lambda ok: st.sampled_from(SELLABLE[:14]) if ok else odd_hours
        )
    )
    shift = draw(
        st.sampled_from(["same"] * 6 + ["seconds", "hours"]).flatmap(
            lambda kind: (
                st.just(timedelta(0))
                if kind == "same"
                else st.integers(-600, 600).map(lambda s: timedelta(seconds=s))
                if kind == "seconds"
                else st.integers(-3, 3).map(lambda h: timedelta(hours=h))
            )
        )
    )
    start = plan.end_time + shift
    end = start + timedelta(hours=hours)
    currency = draw(st.sampled_from([plan.currency or "USD"] * 9 + ["EUR"]))
    zone = draw(
        st.one_of(
            st.sampled_from(plan.availability_zones or ZONES), st.sampled_from(ZONES), st.none()
        )
    )
    return ExtensionOffering(
        offering_id=draw(_ident("tpeo-", 3)),
        plan_arn=draw(st.sampled_from([plan.arn] * 19 + ["arn:aws:sagemaker:::training-plan/x"])),
        availability_zone=zone,
        start=start,
        end=end,
        duration_hours=hours,
        upfront_fee=Money(draw(st.one_of(amounts(5_000), amounts(200_000))), currency),
    )


@st.composite
def policy_rules(draw: st.DrawFn, currency: str = "USD") -> PolicyRules:
    min_days = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 7, 14]))
    max_hours = draw(
        st.sampled_from([True] * 3 + [False]).flatmap(
            lambda ok: st.sampled_from(SELLABLE) if ok else st.integers(1, 5000)
        )
    )
    return PolicyRules(
        name=draw(st.sampled_from(["llm", "batch", "research"])),
        action=draw(st.sampled_from(["extend", "extend", "propose", "notify"])),
        extend_before=draw(durations(70 * 24)),
        safety_margin=draw(durations(6)),
        require_demand=draw(st.booleans()),
        min_duration=timedelta(days=min_days),
        max_duration=timedelta(hours=max_hours),
        prefer=draw(st.sampled_from(["cheapest", "shortest_covering", "longest_within_caps"])),
        max_upfront_fee=draw(st.one_of(st.none(), money(st.just(currency), 200_000))),
        max_fee_per_hour=draw(st.one_of(st.none(), money(st.just(currency), 10_000))),
        same_availability_zone=draw(st.booleans()),
        max_extensions=draw(st.one_of(st.none(), st.none(), st.integers(0, 10))),
    )


@st.composite
def budget_states(draw: st.DrawFn, currency: str = "USD") -> BudgetState:
    limit = draw(amounts(500_000))
    spent = draw(st.one_of(st.just(Decimal("0.00")), amounts(500_000)))
    cur = draw(st.sampled_from([currency] * 9 + ["EUR"]))
    return BudgetState(
        name=draw(_ident("budget-", 2)),
        limit=Money(limit, cur),
        spent=Money(spent, cur),
    )
