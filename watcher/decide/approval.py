"""What to do with a plan's proposal under `action: propose`, from plain values.

The reconcile loop first runs `choose` as for any due plan; its `chosen` offering is the fresh
offer. `judge` then says whether to create a proposal, keep waiting, buy, replace the proposal
(the offer moved), or let it fail closed at the deadline. The shell (watcher/act/approvals.py)
carries the verdict out against the journal and AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from watcher.decide.rules import ApprovalRules
from watcher.decide.text import hours_text, iso, money, span
from watcher.decide.two_person import approvals_needed
from watcher.model import Money


class Step(StrEnum):
    CREATE = "create"  # no live proposal: record one (and approve it at once if `auto`)
    WAIT = "wait"  # a proposal waits for a human (or for an acceptable offer to return)
    BUY = "buy"  # approved (or approved automatically now): buy the fresh offer
    REPLACE = "replace"  # the plan or the offer changed: supersede, then propose anew
    EXPIRE = "expire"  # the deadline passed without a purchase: fail closed


@dataclass(frozen=True)
class Standing:
    """A live proposal: what was proposed, for which plan end, and whether it is approved."""

    fee: Money
    duration_hours: int
    plan_end: datetime
    approved: bool


@dataclass(frozen=True)
class Offer:
    """The fresh offer `choose` picked this cycle."""

    fee: Money
    duration_hours: int


@dataclass(frozen=True)
class Verdict:
    step: Step
    reason: str
    auto: bool = False  # approve automatically (auto_approve_below) before buying


def fee_ceiling(approved: Money, tolerance: Decimal) -> Money:
    """The most a purchase may cost after `approved` was approved: fee * (1 + tolerance)."""
    return Money(approved.amount * (1 + tolerance), approved.currency)


def auto_approves(offer: Offer, deadline: datetime, now: datetime, rules: ApprovalRules) -> bool:
    """True when the policy approves `offer` by itself: a fee strictly below
    auto_approve_below (same currency), within auto_approve_within of the deadline, and not
    one that needs two approvers."""
    below = rules.auto_approve_below
    if below is None or below.currency != offer.fee.currency:
        return False
    if approvals_needed(offer.fee, rules) > 1:
        return False  # two people must approve it; the policy cannot stand in for them
    return now >= deadline - rules.auto_approve_within and offer.fee.amount < below.amount


def judge(
    standing: Standing | None,
    plan_end: datetime,
    deadline: datetime,
    now: datetime,
    offer: Offer | None,
    rules: ApprovalRules,
) -> Verdict:
    """The next step for a due plan under `propose`; `offer` is None when no offering is
    acceptable or affordable right now. Never BUY at or after the deadline, and never BUY an
    offer costing more than the standing proposal's fee * (1 + fee_tolerance), or of
    another duration."""
    if standing is not None and standing.plan_end != plan_end:
        return Verdict(
            Step.REPLACE,
            f"the plan's end moved from {iso(standing.plan_end)} to {iso(plan_end)}",
        )
    if now >= deadline:
        return Verdict(
            Step.EXPIRE,
            f"not bought by the last safe purchase moment {iso(deadline)}; approvals fail closed",
        )
    if offer is None:
        return Verdict(Step.WAIT, "no acceptable offering right now")
    auto = auto_approves(offer, deadline, now, rules)
    if standing is None:
        return Verdict(Step.CREATE, _auto_text(rules) if auto else "awaiting approval", auto)
    moved = _moved(standing, offer, rules)
    if standing.approved:
        if moved:
            return Verdict(Step.REPLACE, moved)
        return Verdict(Step.BUY, "approved; the fresh offer is within the approved terms")
    if not auto:
        return Verdict(Step.WAIT, "awaiting approval")
    if moved:
        return Verdict(Step.REPLACE, moved)
    return Verdict(Step.BUY, _auto_text(rules), auto=True)


def _moved(standing: Standing, offer: Offer, rules: ApprovalRules) -> str | None:
    if offer.duration_hours != standing.duration_hours:
        return (
            f"the offer changed: {hours_text(offer.duration_hours)} now, "
            f"{hours_text(standing.duration_hours)} proposed"
        )
    ceiling = fee_ceiling(standing.fee, rules.fee_tolerance)
    if offer.fee.currency != ceiling.currency or offer.fee.amount > ceiling.amount:
        percent = (rules.fee_tolerance * 100).normalize()
        return (
            f"the price moved: {money(offer.fee)} now, {money(standing.fee)} proposed "
            f"(fee_tolerance {percent:f}% allows up to {money(ceiling)})"
        )
    return None


def _auto_text(rules: ApprovalRules) -> str:
    assert rules.auto_approve_below is not None
    return (
        f"approved automatically: fee below auto_approve_below "
        f"{money(rules.auto_approve_below)} within the last "
        f"{span(rules.auto_approve_within)} before the deadline"
    )
