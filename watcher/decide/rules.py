"""The inputs the decision core needs beyond AWS's own values: policy rules, budgets, needs.

These are deliberately small frozen dataclasses, not the pydantic config: the wiring step maps
each matched policy and each covering budget onto them, so the core never depends on how the
YAML is shaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from watcher.decide.purchase_windows import PurchaseWindow
from watcher.model import Money

# The policy vocabularies, here once: the config file (watcher/config/) uses these very types.


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


class Action(StrEnum):
    EXTEND = "extend"
    PROPOSE = "propose"
    NOTIFY = "notify"
    IGNORE = "ignore"


class UnattributedUse(StrEnum):
    """What a policy does for a plan whose instances are in use by no consumer found."""

    EXTEND = "extend"
    PROPOSE = "propose"
    NOTIFY = "notify"


class Prefer(StrEnum):
    CHEAPEST = "cheapest"
    SHORTEST_COVERING = "shortest_covering"
    LONGEST_WITHIN_CAPS = "longest_within_caps"


@dataclass(frozen=True)
class ApprovalRules:
    """A policy's `approval` section (used under `action: propose`)."""

    fee_tolerance: Decimal = Decimal("0.05")
    auto_approve_below: Money | None = None
    auto_approve_within: timedelta = timedelta(hours=6)
    #: Whether the plan's approve/reject tags count (off: only `plan-watcher approve`).
    by_tag: bool = True
    #: Above this fee a proposal needs two distinct named approvers (watcher/decide/two_person.py).
    two_person_above: Money | None = None


@dataclass(frozen=True)
class PolicyRules:
    """The decision-relevant part of the policy that matched a plan.

    Defaults mirror the example in the SPEC; the wiring step should set every field explicitly.
    """

    name: str
    action: Action = Action.EXTEND
    extend_before: timedelta = timedelta(hours=72)
    safety_margin: timedelta = timedelta(hours=2)
    require_demand: bool = True
    min_duration: timedelta = timedelta(days=1)
    max_duration: timedelta = timedelta(days=14)
    prefer: Prefer = Prefer.CHEAPEST
    max_upfront_fee: Money | None = None
    max_fee_per_hour: Money | None = None
    same_availability_zone: bool = True
    max_extensions: int | None = None
    approval: ApprovalRules = field(default_factory=ApprovalRules)
    #: Preferred purchase windows (empty: any time); the longest gap between two cycles
    #: (poll interval + jitter) and the wait after a failed purchase (`safety.retry_backoff`)
    #: decide the last safe cycle.
    purchase_windows: tuple[PurchaseWindow, ...] = ()
    poll: timedelta = timedelta(minutes=5, seconds=30)
    retry_backoff: timedelta = timedelta(minutes=15)
    on_unattributed_use: UnattributedUse = UnattributedUse.EXTEND


@dataclass(frozen=True)
class BudgetState:
    """One budget that covers the plan, as of this moment.

    `spent` is everything already committed in the budget's window, including purchases
    reserved earlier in the same cycle; the caller keeps it up to date between plans.
    """

    name: str
    limit: Money
    spent: Money


@dataclass(frozen=True)
class Need:
    """How long an extension the plan needs, in hours AWS sells, and why."""

    duration_hours: int
    demand_end: datetime | None
    reason: str
    #: Instances the plan reports in use that no consumer found accounts for.
    unattributed: int = 0
    #: Running jobs that could not be described and may run on the plan.
    unknown_jobs: int = 0
    #: The need rests only on that use or those jobs (the consumers found need nothing more):
    #: it is min_duration, and the policy's `on_unattributed_use` may hold the purchase.
    assumed: bool = False


_CAUTION = {"extend": 0, "propose": 1, "notify": 2, "ignore": 3}


def acting_rules(rules: PolicyRules, need: Need) -> PolicyRules:
    """The rules to act on `need` with: for a need that rests on use nobody could be found
    for, the more cautious of the policy's action and its `on_unattributed_use`."""
    if not need.assumed or _CAUTION[rules.on_unattributed_use] <= _CAUTION[rules.action]:
        return rules
    return replace(rules, action=Action(rules.on_unattributed_use))
