"""Stage 2b: a due plan that needs an extension is bought now, or waits for a purchase window.

Runs after `assess_demand` (so a plan that needs nothing is reported as such, not as waiting)
and before the offerings are searched (a waiting plan costs no search).
"""

from __future__ import annotations

from datetime import datetime

from watcher.decide.purchase_windows import hold
from watcher.decide.rules import Need, PolicyRules
from watcher.decide.text import iso
from watcher.decide.windows import deadline_of
from watcher.model import Decision, DecisionKind, Plan


def wait_for_window(plan: Plan, rules: PolicyRules, need: Need, now: datetime) -> Decision | None:
    """not_due (with `window_hold`) while the plan may wait for one of its policy's purchase
    windows, `next_action` saying until when; None when it is to be bought now."""
    if not rules.purchase_windows:
        return None
    deadline = deadline_of(plan, rules)
    waiting = hold(rules.purchase_windows, now, deadline, rules.poll)
    if waiting is None:
        return None
    return Decision(
        plan_arn=plan.arn,
        kind=DecisionKind.NOT_DUE,
        reason=f"{need.reason}; plan ends {iso(plan.end_time)}; {waiting.reason}",
        policy=rules.name,
        deadline=deadline,
        demand_end=need.demand_end,
        next_action=waiting.until,
        need_hours=need.duration_hours,
        window_hold=True,
        unattributed=need.unattributed,
        unknown_jobs=need.unknown_jobs,
    )
