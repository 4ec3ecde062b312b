"""Stage 2: who uses the plan, until when, and how long an extension that means.

Consumers are whatever the inventory found on this plan (running or pending jobs, clusters);
the caller decides which statuses count, this stage only reads `demand_end`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from watcher.decide.durations import (
    DAY_HOURS,
    hours_down,
    hours_up,
    largest_sellable_at_most,
    sellable_hours,
)
from watcher.decide.rules import Need, PolicyRules
from watcher.decide.text import hours_text, iso, span
from watcher.decide.windows import deadline_of
from watcher.model import Consumer, ConsumerKind, Decision, DecisionKind, Plan, UnknownJob

#: How long before a plan's end SageMaker takes its instances away from each kind of consumer.
STOP_BEFORE_END = {
    ConsumerKind.JOB: timedelta(minutes=30),
    ConsumerKind.CLUSTER: timedelta(hours=1),
}


def _needed_until(consumer: Consumer) -> datetime:
    """When the plan must still be running for `consumer` to finish (bounded consumers)."""
    assert consumer.demand_end is not None
    return consumer.demand_end + STOP_BEFORE_END[consumer.kind]


def latest_demand_end(consumers: Sequence[Consumer]) -> datetime | None:
    """The latest end among consumers; None when there are none or any has no known end."""
    if not consumers or any(c.demand_end is None for c in consumers):
        return None
    return max(c.demand_end for c in consumers if c.demand_end is not None)


def assess_demand(
    plan: Plan,
    rules: PolicyRules,
    consumers: Sequence[Consumer],
    now: datetime,
    unknown: Sequence[UnknownJob] = (),
) -> Decision | Need:
    """no_demand, demand_covered, or the Need (in hours AWS sells) for a due plan.

    With `require_demand` false the plan is kept alive whatever its consumers do, so the need
    is always `max_duration` and demand never stops an extension. A job's end counts the time
    it waits between the plan's reserved capacities (`pushed_by_pauses`).

    What plan-watcher cannot see can only add demand: instances the plan reports in use that
    the consumers found do not account for (`unattributed_instances`), and running jobs that
    could not be described (`unknown`), keep a plan the consumers found would let go for
    `min_duration` (an `assumed` need, acted on as `on_unattributed_use` says); they never
    stop an extension the consumers found need.
    """
    # Each consumer with its end before the waits were counted (paired, not looked up: the
    # same job may be listed twice).
    pairs = [(pushed_by_pauses(plan, c), c.demand_end) for c in consumers]
    consumers = [pushed for pushed, _ in pairs]
    demand_end = latest_demand_end(consumers)

    if not rules.require_demand:
        why = f"policy {rules.name} does not require demand, so it keeps the plan alive"
        return _size(plan, rules, demand_end, None, why, now)
    known = _known_demand(plan, rules, pairs, demand_end, now)
    unseen = unattributed_instances(plan, consumers)
    if not unseen and not unknown:
        return known
    if isinstance(known, Need):
        notes = _unseen_notes(plan, consumers, unseen, unknown)
        return replace(
            known,
            reason=f"{known.reason}; also {notes}",
            unattributed=unseen,
            unknown_jobs=len(unknown),
        )
    if known.kind not in (DecisionKind.NO_DEMAND, DecisionKind.DEMAND_COVERED):
        return known
    # The consumers found need nothing more, but something plan-watcher cannot see may: never
    # no_demand or demand_covered; keep the plan for min_duration.
    notes = _unseen_notes(plan, consumers, unseen, unknown)
    why = f"{notes}; the plan is kept for min_duration"
    if consumers:
        why += f" (the consumers found alone: {known.reason})"
    need = _size(plan, rules, None, hours_up(rules.min_duration), why, now)
    if not isinstance(need, Need):
        return need
    return replace(need, unattributed=unseen, unknown_jobs=len(unknown), assumed=True)


def unattributed_instances(plan: Plan, consumers: Sequence[Consumer]) -> int:
    """Instances the plan reports in use (`InUseInstanceCount`) beyond what the jobs found
    account for. A job waiting for capacity is taken to hold none (AWS does not say whether
    it counts them, so the count never hides other use behind them); a job whose size is not
    known accounts for none. 0 while a cluster uses the plan: its instances are not counted,
    and its demand has no end anyway."""
    if any(c.kind is ConsumerKind.CLUSTER for c in consumers):
        return 0
    accounted = sum(c.instances for c in consumers if not c.waiting)
    return max(0, plan.in_use_instances - accounted)


def _unseen_notes(
    plan: Plan, consumers: Sequence[Consumer], unseen: int, unknown: Sequence[UnknownJob]
) -> str:
    notes = []
    if unseen and not consumers:
        notes.append(f"{plan.in_use_instances} instances in use, no consumer found")
    elif unseen:
        holding = [c for c in consumers if not c.waiting]
        accounted = sum(c.instances for c in holding)
        listed = ", ".join(
            sorted(f"{c.kind.value} {c.name}: {c.instances}" for c in holding if c.instances)
        )
        waiting = sorted(f"{c.kind.value} {c.name}" for c in consumers if c.waiting)
        notes.append(
            f"{plan.in_use_instances} instances in use, {accounted} of them by the consumers "
            f"found"
            + (f" ({listed})" if listed else "")
            + (f", not counting {', '.join(waiting)} waiting for capacity" if waiting else "")
            + f": {unseen} in use by no consumer found"
        )
    if unknown:
        jobs = "; ".join(f"{j.name}: {j.error}" for j in sorted(unknown, key=lambda j: j.arn))
        notes.append(
            f"{len(unknown)} running job(s) could not be described ({jobs}) and may run on "
            "this plan"
        )
    return "; ".join(notes)


def _known_demand(
    plan: Plan,
    rules: PolicyRules,
    pairs: Sequence[tuple[Consumer, datetime | None]],
    demand_end: datetime | None,
    now: datetime,
) -> Decision | Need:
    """What the consumers found need, on their own."""
    consumers = [pushed for pushed, _ in pairs]
    unbounded = sorted(f"{c.kind.value} {c.name}" for c in consumers if c.demand_end is None)
    if not consumers:
        return _verdict(
            plan,
            rules,
            now,
            DecisionKind.NO_DEMAND,
            f"no training job or cluster uses the plan, and policy {rules.name} requires "
            f"demand; plan ends {iso(plan.end_time)} and is left to expire",
            None,
        )
    if unbounded:
        why = f"{', '.join(unbounded)} use(s) the plan with no known end"
        return _size(plan, rules, None, None, why, now)

    assert demand_end is not None  # every consumer is bounded here
    # SageMaker takes a plan's instances away before its end (STOP_BEFORE_END), so a consumer
    # needs the plan to last that much longer than the consumer itself.
    latest, before = max(
        pairs, key=lambda p: (_needed_until(p[0]), p[0].kind, p[0].name, p[0].arn, p[1])
    )
    needed_until = _needed_until(latest)
    latest_end = needed_until - STOP_BEFORE_END[latest.kind]
    cutoff = span(STOP_BEFORE_END[latest.kind])
    if needed_until <= plan.end_time:
        return _verdict(
            plan,
            rules,
            now,
            DecisionKind.DEMAND_COVERED,
            f"every consumer finishes before the plan ends: the latest, {latest.kind.value} "
            f"{latest.name}, runs at most until {iso(latest_end)}, "
            f"{span(plan.end_time - needed_until)} before SageMaker stops it "
            f"({cutoff} before the end {iso(plan.end_time)})",
            demand_end,
        )
    wanted = hours_up(needed_until - plan.end_time)
    paused = ""
    if before is not None and latest.demand_end is not None and latest.demand_end > before:
        waits = span(latest.demand_end - before)
        paused = f", counting {waits} back in Pending between reserved capacities"
    why = (
        f"{latest.kind.value} {latest.name} may run until {iso(latest_end)}{paused}, and "
        f"SageMaker stops it {cutoff} before the plan ends ({iso(plan.end_time)}): the plan "
        f"must last {span(needed_until - plan.end_time)} longer"
    )
    return _size(plan, rules, demand_end, wanted, why, now)


def pushed_by_pauses(plan: Plan, consumer: Consumer) -> Consumer:
    """A job with its end moved by the time it waits in Pending between the plan's reserved
    capacities: where one ends (SageMaker stops the job 30 minutes before) and the next starts
    later, or in another zone, the job waits, and AWS does not say that the wait counts toward
    its MaxRuntimeInSeconds. Counting it can only keep the plan longer, never shorter."""
    if consumer.kind is not ConsumerKind.JOB or consumer.demand_end is None:
        return consumer
    if consumer.started is None:
        return consumer
    end = consumer.demand_end
    capacities = sorted(plan.capacities, key=lambda c: (c.start, c.end))
    for before, after in zip(capacities, capacities[1:], strict=False):
        stop = before.end - STOP_BEFORE_END[ConsumerKind.JOB]
        moves = after.start > before.end or (
            after.start == before.end and after.zone != before.zone
        )
        if stop <= consumer.started or not moves:
            continue
        if stop >= end:
            break
        end += after.start - stop
    return replace(consumer, demand_end=end)


def _size(
    plan: Plan,
    rules: PolicyRules,
    demand_end: datetime | None,
    wanted: int | None,
    why: str,
    now: datetime,
) -> Need | Decision:
    """Clamp the wanted hours to [min_duration, max_duration], round up to a sellable size.

    `wanted` None means "as much as the policy allows" (max_duration). If rounding up goes past
    max_duration, the largest sellable size within it is asked for and the need is partial.
    When min_duration exceeds max_duration (a config error) max_duration wins.
    """
    max_hours = hours_down(rules.max_duration)
    min_hours = hours_up(rules.min_duration)
    target = max_hours if wanted is None else min(max(wanted, min_hours), max_hours)

    rounded = sellable_hours(target)
    if rounded is not None and rounded <= max_hours:
        hours = rounded
    else:
        fallback = largest_sellable_at_most(max_hours)
        if fallback is None:
            return _verdict(
                plan,
                rules,
                now,
                DecisionKind.NO_OFFERING,
                f"{why}; but max_duration {span(rules.max_duration)} is shorter than the "
                f"shortest extension AWS sells ({hours_text(DAY_HOURS)})",
                demand_end,
            )
        hours = fallback

    if wanted is None:
        sizing = f"asking for max_duration: {hours_text(hours)}"
    elif hours >= wanted and hours < min_hours:
        sizing = (
            f"need {hours_text(wanted)}, asking for {hours_text(hours)}: min_duration "
            f"{span(rules.min_duration)} exceeds max_duration {span(rules.max_duration)}, "
            "max_duration wins"
        )
    elif hours >= wanted:
        sizing = (
            f"need {hours_text(wanted)}, asking for {hours_text(hours)} (at least "
            f"min_duration {span(rules.min_duration)}, rounded up to a size AWS sells)"
        )
    else:
        sizing = (
            f"need {hours_text(wanted)} but max_duration {span(rules.max_duration)} allows at "
            f"most {hours_text(hours)} that AWS sells, so the need is only partly covered"
        )
    return Need(duration_hours=hours, demand_end=demand_end, reason=f"{why}; {sizing}")


def _verdict(
    plan: Plan,
    rules: PolicyRules,
    now: datetime,
    kind: DecisionKind,
    reason: str,
    demand_end: datetime | None,
) -> Decision:
    return Decision(
        plan_arn=plan.arn,
        kind=kind,
        reason=reason,
        policy=rules.name,
        deadline=deadline_of(plan, rules),
        demand_end=demand_end,
        next_action=now,
    )
