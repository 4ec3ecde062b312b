"""The capacity market: what a search for a plan's extension offers, at what price.

Each plan gets a `MarketTerms` (scenario-wide defaults overridden per plan). Capacity is
missing when `available` is off, during an `outage`, or by chance (`availability`). A search
that finds capacity returns up to one offering per variant:

- `exact`: starts at the plan's end, in the plan's AZ, at the listed price;
- `later_start`: starts one day after the plan's end (a gap), 10% cheaper;
- `other_az`: starts at the plan's end in another AZ, 5% cheaper.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from watcher.clock import Clock

VARIANTS = ("exact", "later_start", "other_az")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class MarketTerms:
    available: bool = True
    # Probability that capacity exists at a given search (deterministic under the seed).
    availability: float = 1.0
    price_per_instance_hour: Decimal = Decimal("98.32")
    currency: str = "USD"
    # Durations (days) offered when the search gives no DurationHours.
    durations_days: tuple[int, ...] = (1, 2, 3, 7, 14)
    # Longest extension offered at all (hours); longer requests get nothing.
    max_duration_hours: int = 182 * 24
    # Probability that an extension's payment fails after purchase.
    payment_failure_rate: float = 0.0
    variants: tuple[str, ...] = VARIANTS
    # Scripted price changes: list of (after ISO time, price) applied in order.
    price_changes: tuple[tuple[str, Decimal], ...] = ()
    # Periods [from, to) in which no search finds capacity for the plan.
    outages: tuple[tuple[datetime, datetime], ...] = ()

    def in_outage(self, now: datetime) -> bool:
        return any(start <= now < end for start, end in self.outages)

    def price_at(self, now_iso: str) -> Decimal:
        price = self.price_per_instance_hour
        for after, new_price in self.price_changes:
            if now_iso >= after:
                price = new_price
        return price


@dataclass
class Market:
    default: MarketTerms = field(default_factory=MarketTerms)
    per_plan: dict[str, MarketTerms] = field(default_factory=dict)
    seed: int = 0
    # Set by the simulator: outages are judged at the simulated time.
    clock: Clock | None = field(default=None, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def terms_for(self, plan_name: str) -> MarketTerms:
        return self.per_plan.get(plan_name, self.default)

    def set_terms(self, plan_name: str, **changes: Any) -> None:
        self.per_plan[plan_name] = replace(self.terms_for(plan_name), **changes)

    def has_capacity(self, terms: MarketTerms) -> bool:
        if not terms.available:
            return False
        if terms.outages and self.clock is not None and terms.in_outage(self.clock.now()):
            return False
        if terms.availability >= 1.0:
            return True
        return self._rng.random() < terms.availability

    def payment_fails(self, terms: MarketTerms) -> bool:
        return bool(terms.payment_failure_rate) and self._rng.random() < terms.payment_failure_rate


def fee_for(price_per_instance_hour: Decimal, instances: int, hours: int) -> Decimal:
    return (price_per_instance_hour * instances * hours).quantize(_CENT, ROUND_HALF_UP)


def discounted(fee: Decimal, factor: str) -> Decimal:
    return (fee * Decimal(factor)).quantize(_CENT, ROUND_HALF_UP)


def _utc(value: Any, what: str) -> datetime:
    """A scenario moment as aware UTC.

    YAML hands over unquoted timestamps as datetimes, quoted ones as text (maybe with `Z`).
    """
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"{what} time {value!r} needs a timezone")
    return when.astimezone(UTC)


def _utc_iso(value: Any) -> str:
    """A moment as UTC ISO text, so `price_at` can compare it with `now.isoformat()`."""
    return _utc(value, "price change").isoformat()


def terms_from_dict(data: dict[str, Any], base: MarketTerms | None = None) -> MarketTerms:
    """Build terms from a scenario mapping; unknown keys are errors."""
    base = base or MarketTerms()
    known = {f for f in MarketTerms.__dataclass_fields__}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown market keys: {sorted(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key == "price_per_instance_hour":
            changes[key] = Decimal(str(value))
        elif key in ("durations_days", "variants"):
            changes[key] = tuple(value)
        elif key == "price_changes":
            changes[key] = tuple((_utc_iso(p["after"]), Decimal(str(p["price"]))) for p in value)
        elif key == "outages":
            changes[key] = tuple(
                (_utc(o["from"], "outage"), _utc(o["to"], "outage")) for o in value
            )
        else:
            changes[key] = value
    terms = replace(base, **changes)
    bad = set(terms.variants) - set(VARIANTS)
    if bad:
        raise ValueError(f"unknown market variants: {sorted(bad)}")
    return terms
