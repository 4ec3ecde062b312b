"""Stage 1: decide what can be decided from the plan and its extension history alone.

The reconcile loop runs this first, and looks up consumers and offerings only for plans that
come out of it as due (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from watcher.decide.durations import AWS_MAX_LEAD
from watcher.decide.rules import PolicyRules
from watcher.decide.text import iso, span
from watcher.decide.windows import deadline_of, not_extendable, past_deadline, window_start
from watcher.model import Decision, DecisionKind, Extension, Plan


def triage(
    plan: Plan,
    rules: PolicyRules | None,
    extensions: Sequence[Extension],
    open_intent: bool | str,
    now: datetime,
) -> Decision | None:
    """Return unmanaged, expired, in_flight, no_offering (lifetime cap) or not_due, checked in
    that order; None means the plan is due and its consumers should be looked up.

    `open_intent` is True while the journal holds an unresolved purchase for the plan, or the
    reason the journal holds the plan this cycle (a purchase settled while its end moved).

    An extension whose outcome is unknown outranks the deadline: an operator must see that a
    purchase may already have happened, not merely that the plan is about to end.
    """
    if rules is None:
        return Decision(
            plan_arn=plan.arn,
            kind=DecisionKind.UNMANAGED,
            reason="no policy matches this plan; plan-watcher only reports it",
        )
    if rules.action == "ignore":
        return Decision(
            plan_arn=plan.arn,
            kind=DecisionKind.UNMANAGED,
            reason=f"policy {rules.name} says ignore; plan-watcher only reports this plan",
            policy=rules.name,
            deadline=deadline_of(plan, rules),
        )

    stopped = not_extendable(plan, rules)
    if stopped is not None:
        return stopped
    in_flight = _in_flight(plan, rules, extensions, open_intent, now)
    if in_flight is not None:
        return in_flight
    expired = past_deadline(plan, rules, now)
    if expired is not None:
        return expired

    capped = _lifetime_cap(plan, rules, extensions, now)
    if capped is not None:
        return capped

    return _not_due(plan, rules, now)


def _in_flight(
    plan: Plan,
    rules: PolicyRules,
    extensions: Sequence[Extension],
    open_intent: bool | str,
    now: datetime,
) -> Decision | None:
    # Every pending entry blocks, whatever plan ARN it carries: a spurious block costs one
    # cycle, a second purchase can never be undone.
    causes = [
        f"extension {ext.offering_id} is pending at AWS (Status {ext.status}, "
        f"PaymentStatus {ext.payment_status}"
        + (f", requested {iso(ext.extended_at)}" if ext.extended_at else "")
        + ")"
        for ext in sorted(extensions, key=lambda e: e.offering_id)
        if ext.in_flight
    ]
    if isinstance(open_intent, str):
        causes.append(open_intent)
    elif open_intent:
        causes.append(
            "the journal holds an unresolved purchase intent for this plan (outcome unknown; "
            "it is resolved from AWS's extension history before any new purchase)"
        )
    if not causes:
        return None
    return Decision(
        plan_arn=plan.arn,
        kind=DecisionKind.IN_FLIGHT,
        reason="; ".join(causes) + "; no second purchase until it resolves",
        policy=rules.name,
        deadline=deadline_of(plan, rules),
        next_action=now,
    )


def _lifetime_cap(
    plan: Plan, rules: PolicyRules, extensions: Sequence[Extension], now: datetime
) -> Decision | None:
    # The cap is a policy refusal of every offering, hence `no_offering`; checked before the
    # window so the operator hears about it before the plan becomes due.
    if rules.max_extensions is None:
        return None
    bought = sum(1 for ext in extensions if ext.counts_for_spend)
    if bought < rules.max_extensions:
        return None
    return Decision(
        plan_arn=plan.arn,
        kind=DecisionKind.NO_OFFERING,
        reason=(
            f"lifetime cap reached: {bought} extension(s) already bought, policy "
            f"{rules.name} allows max_extensions={rules.max_extensions}; plan ends "
            f"{iso(plan.end_time)} and will not be extended unless the cap is raised"
        ),
        policy=rules.name,
        deadline=deadline_of(plan, rules),
    )


def _not_due(plan: Plan, rules: PolicyRules, now: datetime) -> Decision | None:
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
    return Decision(
        plan_arn=plan.arn,
        kind=DecisionKind.NOT_DUE,
        reason=reason,
        policy=rules.name,
        deadline=deadline,
        next_action=opens,
    )
