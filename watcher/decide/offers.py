"""Stage 3a: which extension offerings the policy accepts, and in what order it prefers them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from watcher.decide.durations import hours_down, hours_up, is_sellable
from watcher.decide.rules import PolicyRules, Prefer
from watcher.decide.text import hours_text, iso, money, per_hour, span
from watcher.model import ExtensionOffering, Plan

# An offering must start where the plan ends. AWS's examples line up to the second; a few
# minutes of slack absorbs rounding in either timestamp without letting a gap (or an overlap)
# big enough to kill running jobs through.
START_TOLERANCE = timedelta(minutes=5)

RankKey = tuple[object, ...]


def expected_currency(plan: Plan, rules: PolicyRules) -> tuple[str | None, str]:
    """The currency offerings must be in, and where it comes from (or why it is unknown).

    The plan's own fee decides; a plan without one falls back to the policy's fee caps.
    """
    if plan.currency is not None:
        return plan.currency, "the plan's currency"
    caps = {cap.currency for cap in (rules.max_upfront_fee, rules.max_fee_per_hour) if cap}
    if len(caps) == 1:
        return caps.pop(), "the currency of the policy's fee caps"
    if not caps:
        return None, "the plan reports no fee and the policy sets no fee cap"
    return None, f"the plan reports no fee and the policy's fee caps disagree ({sorted(caps)})"


def offering_problems(
    offering: ExtensionOffering, plan: Plan, rules: PolicyRules, currency: str | None, why: str
) -> list[str]:
    """Every reason the policy refuses this offering; empty when it is acceptable.

    Fee per hour is the upfront fee divided by the extension's duration_hours (per hour of plan
    time, not per instance-hour: an offering carries no instance count). It is compared exactly
    as fee <= cap * hours, so no division or rounding is involved.
    """
    problems: list[str] = []
    hours = offering.duration_hours
    fee = offering.upfront_fee

    if offering.plan_arn != plan.arn:
        problems.append(f"offered for another plan ({offering.plan_arn})")
    if offering.end <= offering.start:
        problems.append(f"ends ({iso(offering.end)}) before it starts ({iso(offering.start)})")
    gap = offering.start - plan.end_time
    if abs(gap) > START_TOLERANCE:
        problems.append(
            f"starts {iso(offering.start)}, not where the plan ends ({iso(plan.end_time)}; "
            f"off by {span(gap)}, tolerance {span(START_TOLERANCE)})"
        )
    if not is_sellable(hours):
        problems.append(
            f"duration {hours}h is not one AWS sells (whole days up to 14d, whole weeks up to 26w)"
        )
    if hours > hours_down(rules.max_duration):
        problems.append(
            f"duration {hours_text(hours)} exceeds max_duration {span(rules.max_duration)}"
        )
    if hours < hours_up(rules.min_duration):
        problems.append(
            f"duration {hours_text(hours)} is below min_duration {span(rules.min_duration)}"
        )

    if currency is None:
        problems.append(f"cannot tell which currency to accept: {why}")
    elif fee.currency != currency:
        problems.append(f"fee {money(fee)} is not in {currency} ({why})")
    problems.extend(_cap_problems(offering, rules))

    if rules.same_availability_zone:
        # The zone the plan ends in: an extension anywhere else is a capacity of its own, and
        # the work running at the end would have to move to use it.
        zones = plan.end_zones
        if not zones:
            problems.append("same_availability_zone is set but the plan reports no zone")
        elif offering.availability_zone not in zones:
            problems.append(
                f"availability zone {offering.availability_zone or 'unknown'} is not the zone "
                f"the plan ends in ({', '.join(zones)})"
            )
    return problems


def _cap_problems(offering: ExtensionOffering, rules: PolicyRules) -> list[str]:
    problems: list[str] = []
    fee = offering.upfront_fee
    hours = offering.duration_hours
    cap = rules.max_upfront_fee
    if cap is not None:
        if cap.currency != fee.currency:
            problems.append(f"max_upfront_fee is in {cap.currency}, the fee in {fee.currency}")
        elif fee.amount > cap.amount:
            problems.append(f"fee {money(fee)} exceeds max_upfront_fee {money(cap)}")
    rate = rules.max_fee_per_hour
    if rate is not None:
        if rate.currency != fee.currency:
            problems.append(f"max_fee_per_hour is in {rate.currency}, the fee in {fee.currency}")
        elif hours >= 1 and fee.amount > rate.amount * Decimal(hours):
            problems.append(
                f"fee per hour {per_hour(fee, hours)} ({money(fee)} over {hours}h) exceeds "
                f"max_fee_per_hour {money(rate)}"
            )
    return problems


def canonical_key(offering: ExtensionOffering) -> RankKey:
    """A total order on offerings, so results never depend on the order AWS returned them."""
    return (
        offering.offering_id,
        offering.duration_hours,
        offering.upfront_fee.currency,
        offering.upfront_fee.amount,
        offering.availability_zone or "",
        offering.start,
        offering.end,
        offering.plan_arn,
    )


def rank_key(prefer: Prefer, need_hours: int) -> Callable[[ExtensionOffering], RankKey]:
    """Sort key for acceptable offerings (all in one currency): best first.

    cheapest: lowest fee, then shorter, then offering ID.
    shortest_covering: the shortest offering that covers the need, then cheaper, then ID; if
    none covers it, the longest, then cheaper, then ID.
    longest_within_caps: longest, then cheaper, then ID.
    """

    def key(o: ExtensionOffering) -> RankKey:
        fee, hours = o.upfront_fee.amount, o.duration_hours
        if prefer == "cheapest":
            head: RankKey = (fee, hours)
        elif prefer == "shortest_covering":
            head = (0, hours, fee) if hours >= need_hours else (1, -hours, fee)
        else:
            head = (-hours, fee)
        return head + canonical_key(o)

    return key
