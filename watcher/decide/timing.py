"""When a due plan's purchase is made: now, when a purchase window opens, or, for a need
assumed only from running jobs that could not be described, when they are described (and
found not to need it) or at the last safe cycle.

Applied where a purchase would be made (`choose` for `action: extend`, the proposal desk for
an approved proposal): everything before it (demand, the search, budgets, limits, proposals)
runs the same inside and outside the windows, so a refusal is seen at once and a proposal is
made in good time.
"""

from __future__ import annotations

from datetime import datetime

from watcher.decide.purchase_windows import Hold, hold, outside_note, until_last_safe
from watcher.decide.rules import Action, Need, PolicyRules
from watcher.decide.windows import deadline_of
from watcher.model import Plan


def window_wait(plan: Plan, rules: PolicyRules, now: datetime) -> Hold | None:
    """Until when, and why, the plan's purchase waits for one of its policy's purchase
    windows; None when it is to be made now."""
    deadline = deadline_of(plan, rules)
    return hold(rules.purchase_windows, now, deadline, rules.poll, rules.retry_backoff)


def purchase_wait(plan: Plan, rules: PolicyRules, need: Need, now: datetime) -> Hold | None:
    """Until when, and why, the plan's purchase waits; None when it is made now (under
    `action: extend`; a proposal and a report are made at once, as `choose` says).

    A need that rests only on running jobs that could not be described (no consumer found
    needs the extension, no instance is in use by nothing found) may be a guess one transient
    refusal or throttle made: the purchase waits for a cycle that describes them (and, if they
    are on no plan it covers, buys nothing) until the last safe cycle, where it is made on the
    assumed demand. Otherwise the purchase windows decide."""
    undescribed_only = need.assumed and need.unknown_jobs and not need.unattributed
    if rules.action == Action.EXTEND and undescribed_only:
        waits_for = (
            f"for the {need.unknown_jobs} running job(s) that could not be described to be "
            "described (each cycle tries again)"
        )
        deadline = deadline_of(plan, rules)
        return until_last_safe(now, deadline, rules.poll, rules.retry_backoff, waits_for)
    return window_wait(plan, rules, now)


def outside_windows(plan: Plan, rules: PolicyRules, now: datetime) -> str | None:
    """What a purchase made now, outside every window (from the last safe cycle on), says."""
    deadline = deadline_of(plan, rules)
    return outside_note(rules.purchase_windows, now, deadline, rules.poll, rules.retry_backoff)
