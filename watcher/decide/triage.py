"""Stage 1: what can be decided from the plan, its extension history and the journal's hold.

What one plan's decision rests on is gathered into one value, `Facts`, and `triage` runs the
checks of `CHECKS` over it in order: the first that fires wins, and one factory makes its
`Decision`. None means the plan is due, and its consumers decide the rest (`assess`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from watcher.decide.durations import AWS_MAX_LEAD
from watcher.decide.rules import PolicyRules
from watcher.decide.text import iso, span
from watcher.decide.windows import (
    deadline_of,
    not_extendable_reason,
    past_deadline_reason,
    window_start,
)
from watcher.model import Consumer, Decision, DecisionKind, Extension, Plan, UnknownJob


@dataclass(frozen=True)
class Facts:
    """What one plan's decision rests on, gathered before anything is decided.

    `open_intent` is True while the journal holds an unresolved purchase for the plan, or the
    reason the journal holds the plan this cycle (a purchase settled while its end moved).
    `consumers` are read only for a due plan (None: not read).
    """

    plan: Plan
    rules: PolicyRules | None
    now: datetime
    history: tuple[Extension, ...] = ()
    open_intent: bool | str = False
    consumers: tuple[Consumer, ...] | None = None
    #: Running jobs that could not be described and may run on the plan (due plans only).
    unknown: tuple[UnknownJob, ...] = ()


@dataclass(frozen=True)
class Finding:
    """What a check found: the decision's kind and reason, and when to act next."""

    kind: DecisionKind
    reason: str
    next_action: datetime | None = None


Check = Callable[[Facts, PolicyRules], Finding | None]


def triage(facts: Facts) -> Decision | None:
    """unmanaged, expired, in_flight, no_offering (lifetime cap) or not_due, checked in that
    order (`CHECKS`); None means the plan is due and its consumers should be looked up.

    An extension whose outcome is unknown outranks the deadline: an operator must see that a
    purchase may already have happened, not merely that the plan is about to end.
    """
    rules = facts.rules
    if rules is None:
        return Decision(
            plan_arn=facts.plan.arn,
            kind=DecisionKind.UNMANAGED,
            reason="no policy matches this plan; plan-watcher only reports it",
        )
    for check in CHECKS:
        found = check(facts, rules)
        if found is not None:
            return Decision(
                plan_arn=facts.plan.arn,
                kind=found.kind,
                reason=found.reason,
                policy=rules.name,
                deadline=deadline_of(facts.plan, rules),
                next_action=found.next_action,
            )
    return None


def due(facts: Facts) -> bool:
    """True when nothing but the plan's consumers can decide it: they are to be read."""
    return triage(facts) is None


class Read(StrEnum):
    """Which extension history a plan's decision needs."""

    NONE = "none"  # the decision is settled without one
    CACHED = "cached"  # the plan is not due: the cache (which re-reads while anything is pending)
    FRESH = "fresh"  # a purchase may follow, or one is held: read afresh


def history_read(
    plan: Plan, rules: PolicyRules | None, open_intent: bool | str, now: datetime
) -> Read:
    """None when no history can change the decision (unmanaged, ignored, not extendable); a
    fresh one when a purchase may follow (inside the window, before the deadline) or one is
    held; else the cached one: a pending extension outranks not_due and the deadline, and
    the lifetime cap outranks not_due."""
    if rules is None or rules.action == "ignore" or not_extendable_reason(plan) is not None:
        return Read.NONE
    if open_intent or window_start(plan, rules) <= now < deadline_of(plan, rules):
        return Read.FRESH
    return Read.CACHED


# --- the checks, in order --------------------------------------------------------------------


def _ignored(facts: Facts, rules: PolicyRules) -> Finding | None:
    if rules.action != "ignore":
        return None
    why = f"policy {rules.name} says ignore; plan-watcher only reports this plan"
    return Finding(DecisionKind.UNMANAGED, why)


def _not_extendable(facts: Facts, rules: PolicyRules) -> Finding | None:
    why = not_extendable_reason(facts.plan)
    return Finding(DecisionKind.EXPIRED, why) if why is not None else None


def _in_flight(facts: Facts, rules: PolicyRules) -> Finding | None:
    # Every pending entry blocks, whatever plan ARN it carries: a spurious block costs one
    # cycle, a second purchase can never be undone.
    causes = [
        f"extension {ext.offering_id} is pending at AWS (Status {ext.status}, "
        f"PaymentStatus {ext.payment_status}"
        + (f", requested {iso(ext.extended_at)}" if ext.extended_at else "")
        + ")"
        for ext in sorted(facts.history, key=lambda e: e.offering_id)
        if ext.in_flight
    ]
    if isinstance(facts.open_intent, str):
        causes.append(facts.open_intent)
    elif facts.open_intent:
        causes.append(
            "the journal holds an unresolved purchase intent for this plan (outcome unknown; "
            "it is resolved from AWS's extension history before any new purchase)"
        )
    if not causes:
        return None
    why = "; ".join(causes) + "; no second purchase until it resolves"
    return Finding(DecisionKind.IN_FLIGHT, why, facts.now)


def _past_deadline(facts: Facts, rules: PolicyRules) -> Finding | None:
    why = past_deadline_reason(facts.plan, rules, facts.now)
    return Finding(DecisionKind.EXPIRED, why) if why is not None else None


def _lifetime_cap(facts: Facts, rules: PolicyRules) -> Finding | None:
    # The cap is a policy refusal of every offering, hence `no_offering`; checked before the
    # window so the operator hears about it before the plan becomes due.
    if rules.max_extensions is None:
        return None
    bought = sum(1 for ext in facts.history if ext.counts_for_spend)
    if bought < rules.max_extensions:
        return None
    return Finding(
        DecisionKind.NO_OFFERING,
        f"lifetime cap reached: {bought} extension(s) already bought, policy "
        f"{rules.name} allows max_extensions={rules.max_extensions}; plan ends "
        f"{iso(facts.plan.end_time)} and will not be extended unless the cap is raised",
    )


def _not_due(facts: Facts, rules: PolicyRules) -> Finding | None:
    plan, now = facts.plan, facts.now
    opens = window_start(plan, rules)
    if now >= opens:
        return None
    deadline = deadline_of(plan, rules)
    if rules.extend_before > AWS_MAX_LEAD:
        why = f"{span(AWS_MAX_LEAD)} before the end, the earliest AWS sells an extension"
    else:
        why = f"policy extend_before {span(rules.extend_before)}"
    reason = (
        f"plan ends {iso(plan.end_time)}, {span(plan.end_time - now)} from now; the extension "
        f"window opens at {iso(opens)} ({why})"
    )
    if opens >= deadline:
        reason += (
            f"; warning: that is after the last safe purchase moment {iso(deadline)}, so "
            "extend_before is too short for this plan ever to be extended"
        )
    return Finding(DecisionKind.NOT_DUE, reason, opens)


#: The checks, in the order they outrank each other (docs/decisions.md).
CHECKS: tuple[Check, ...] = (
    _ignored,
    _not_extendable,
    _in_flight,
    _past_deadline,
    _lifetime_cap,
    _not_due,
)
