"""Domain values: plain, frozen, typed. Parsed from AWS at the gateway, read by the pure core."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType

_MONEY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*$")


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined; a budget never adds them."""


@dataclass(frozen=True, order=False)
class Money:
    """An exact amount in one currency. Never a float."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if not self.amount.is_finite():
            raise ValueError("Money.amount must be finite")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency must be a 3-letter ISO code, got {self.currency!r}")

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse "60000.00 USD"; raise ValueError naming what is wrong."""
        match = _MONEY.match(text)
        if match is None:
            raise ValueError(f"expected an amount and a currency like '60000.00 USD', got {text!r}")
        return cls(Decimal(match.group(1)), match.group(2))

    @classmethod
    def from_aws(cls, fee: object, currency: object) -> Money:
        """Parse AWS's `UpfrontFee` string and `CurrencyCode`; raise ValueError if malformed."""
        if not isinstance(fee, str) or not isinstance(currency, str):
            raise ValueError(f"fee {fee!r} / currency {currency!r} are not strings")
        try:
            amount = Decimal(fee.strip())
        except InvalidOperation as exc:
            raise ValueError(f"fee {fee!r} is not a decimal") from exc
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"fee {fee!r} is not a non-negative amount")
        return cls(amount, currency.strip().upper())

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal("0"), currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


class PlanStatus(StrEnum):
    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    ACTIVE = "Active"
    EXPIRED = "Expired"
    FAILED = "Failed"


def _frozen_tags(tags: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(tags or {}))


@dataclass(frozen=True)
class Capacity:
    """One of a plan's reserved capacities (`ReservedCapacitySummaries`)."""

    start: datetime
    end: datetime
    zone: str | None


@dataclass(frozen=True)
class Plan:
    """One training plan as AWS reports it."""

    arn: str
    name: str
    target: str
    status: PlanStatus
    start_time: datetime | None
    end_time: datetime
    upfront_fee: Money | None = None
    total_instances: int = 0
    in_use_instances: int = 0
    available_instances: int = 0
    instance_type: str | None = None
    availability_zones: tuple[str, ...] = ()
    target_resources: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=lambda: _frozen_tags(None))
    #: The reserved capacities whose times could be read, in time order.
    capacities: tuple[Capacity, ...] = ()

    @property
    def currency(self) -> str | None:
        return self.upfront_fee.currency if self.upfront_fee else None

    @property
    def end_zones(self) -> tuple[str, ...]:
        """The zones of the reserved capacity the plan ends with, where an extension carries
        its work on (an extension in another zone is a capacity of its own, and the work has
        to move); every zone of the plan when no capacity with a zone has readable times."""
        zoned = [c for c in self.capacities if c.zone]
        if not zoned:
            return self.availability_zones
        last = max(c.end for c in zoned)
        return tuple(sorted({c.zone for c in zoned if c.end == last and c.zone}))


class ConsumerKind(StrEnum):
    JOB = "job"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class Consumer:
    """Something that runs on a plan. `demand_end` None means no known end (a cluster)."""

    kind: ConsumerKind
    name: str
    arn: str
    plan_arn: str
    status: str
    demand_end: datetime | None
    #: When a job started running (its demand end is reckoned from it).
    started: datetime | None = None
    #: Instances a job runs on this plan (DescribeTrainingJob's ResourceConfig); 0 when not
    #: known, and for clusters (whose demand has no end anyway).
    instances: int = 0
    #: The job waits for capacity (`SecondaryStatus` `Pending`): it may hold no instances.
    waiting: bool = False


@dataclass(frozen=True)
class UnknownJob:
    """A running job that could not be described: it may run on the plan, until when and on
    how many instances is not known. It can only add demand, never take it away."""

    name: str
    arn: str
    #: Why it could not be described (the error AWS gave).
    error: str
    #: Its ListTrainingJobs summary names the plan; otherwise it may run on any plan.
    on_plan: bool = False


#: Extension statuses that mean the purchase went through (AWS's documented values).
SETTLED_EXTENSION_STATUSES = frozenset({"Active", "Scheduled", "Expired"})
#: The one extension status that says the purchase did not go through.
FAILED_EXTENSION_STATUS = "Failed"
#: Payment statuses that mean nothing is pending; "Unknown" is a missing PaymentStatus, which
#: a settled Status already vouches for.
SETTLED_PAYMENT_STATUSES = frozenset({"Completed", "Unknown"})


@dataclass(frozen=True)
class ExtensionOffering:
    """One offer from SearchTrainingPlanOfferings(TrainingPlanArn=...)."""

    offering_id: str
    plan_arn: str
    availability_zone: str | None
    start: datetime
    end: datetime
    duration_hours: int
    upfront_fee: Money


@dataclass(frozen=True)
class Extension:
    """One entry of DescribeTrainingPlanExtensionHistory. Keyed by its offering ID."""

    offering_id: str
    plan_arn: str
    extended_at: datetime | None
    start: datetime | None
    end: datetime | None
    status: str
    payment_status: str
    duration_hours: int | None
    upfront_fee: Money | None
    availability_zone: str | None = None

    @property
    def in_flight(self) -> bool:
        """AWS refuses a second purchase while one is pending or its payment is. AWS does not
        publish every status, so anything not known to be settled counts as pending: a second
        purchase is never made beside an extension whose state is unclear."""
        if self.failed:
            return False
        if self.status not in SETTLED_EXTENSION_STATUSES:
            return True
        return self.payment_status not in SETTLED_PAYMENT_STATUSES

    @property
    def failed(self) -> bool:
        """AWS says the purchase failed (for example on payment): nothing was bought."""
        return self.status == FAILED_EXTENSION_STATUS

    @property
    def counts_for_spend(self) -> bool:
        return not self.failed


class DecisionKind(StrEnum):
    EXTENDED = "extended"
    WOULD_EXTEND = "would_extend"
    PROPOSED = "proposed"
    NOT_DUE = "not_due"
    NO_DEMAND = "no_demand"
    DEMAND_COVERED = "demand_covered"
    IN_FLIGHT = "in_flight"
    NO_OFFERING = "no_offering"
    OVER_BUDGET = "over_budget"
    UNMANAGED = "unmanaged"
    EXPIRED = "expired"
    ERROR = "error"


@dataclass(frozen=True)
class RejectedOffering:
    offering: ExtensionOffering
    reason: str


@dataclass(frozen=True)
class Decision:
    """What the pure core concluded for one plan, and why.

    `chosen` is the offering to buy (or that would be bought / is proposed); `rejected` lists
    every offering that was turned down with its reason. `next_action` is when plan-watcher
    expects to act next (the start of the window for a plan that is not due yet, or of the
    purchase window a due plan waits for).
    """

    plan_arn: str
    kind: DecisionKind
    reason: str
    policy: str | None = None
    deadline: datetime | None = None
    demand_end: datetime | None = None
    next_action: datetime | None = None
    need_hours: int | None = None
    chosen: ExtensionOffering | None = None
    rejected: tuple[RejectedOffering, ...] = ()
    #: True for a due plan reported not_due because its purchase waits: for a purchase window,
    #: or for jobs that could not be described (watcher/decide/timing.py).
    window_hold: bool = False
    #: Instances in use on the plan that no consumer found accounts for.
    unattributed: int = 0
    #: Running jobs that could not be described and may run on the plan.
    unknown_jobs: int = 0
