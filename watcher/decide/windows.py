"""The plan's time line: the last safe purchase moment (deadline) and the extension window."""

from __future__ import annotations

from datetime import datetime, timedelta

from watcher.decide.durations import AWS_MAX_LEAD, AWS_MIN_LEAD
from watcher.decide.rules import PolicyRules
from watcher.decide.text import iso, span
from watcher.model import Decision, DecisionKind, Plan, PlanStatus

EXTENDABLE_STATUSES = frozenset({PlanStatus.ACTIVE, PlanStatus.SCHEDULED})


def effective_margin(safety_margin: timedelta) -> timedelta:
    """AWS sells no extension in a plan's last hour, so the margin is never under 1h."""
    return max(AWS_MIN_LEAD, safety_margin)


def deadline_of(plan: Plan, rules: PolicyRules) -> datetime:
    """end_time - max(1h, safety_margin): after this moment nothing is bought."""
    return plan.end_time - effective_margin(rules.safety_margin)


def window_start(plan: Plan, rules: PolicyRules) -> datetime:
    """When the plan becomes due: extend_before before its end, but never earlier than AWS's
    56-day limit allows."""
    return plan.end_time - min(rules.extend_before, AWS_MAX_LEAD)


def not_extendable_reason(plan: Plan) -> str | None:
    """Why AWS would refuse any extension because of the plan's status (None: it would not)."""
    if plan.status in EXTENDABLE_STATUSES:
        return None
    return (
        f"plan status is {plan.status.value}; AWS extends only Active or Scheduled plans "
        f"(plan ends {iso(plan.end_time)})"
    )


def past_deadline_reason(plan: Plan, rules: PolicyRules, now: datetime) -> str | None:
    """Why nothing may be bought any more when now is at or past the deadline (else None)."""
    deadline = deadline_of(plan, rules)
    if now < deadline:
        return None
    return (
        f"past the last safe purchase moment {iso(deadline)} (plan ends "
        f"{iso(plan.end_time)}, safety margin {span(plan.end_time - deadline)}); "
        f"now is {iso(now)}"
    )


def expired_decision(plan: Plan, rules: PolicyRules, now: datetime) -> Decision | None:
    """`expired` when the plan can no longer be extended (status or deadline), else None."""
    reason = not_extendable_reason(plan) or past_deadline_reason(plan, rules, now)
    if reason is None:
        return None
    return Decision(
        plan_arn=plan.arn,
        kind=DecisionKind.EXPIRED,
        reason=reason,
        policy=rules.name,
        deadline=deadline_of(plan, rules),
    )
