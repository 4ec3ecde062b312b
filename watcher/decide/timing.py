"""When a due plan's purchase is made: now, or when a purchase window opens.

Applied where a purchase would be made (`choose` for `action: extend`, the proposal desk for
an approved proposal): everything before it (demand, the search, budgets, limits, proposals)
runs the same inside and outside the windows, so a refusal is seen at once and a proposal is
made in good time.
"""

from __future__ import annotations

from datetime import datetime

from watcher.decide.purchase_windows import Hold, hold, outside_note
from watcher.decide.rules import PolicyRules
from watcher.decide.windows import deadline_of
from watcher.model import Plan


def window_wait(plan: Plan, rules: PolicyRules, now: datetime) -> Hold | None:
    """Until when, and why, the plan's purchase waits for one of its policy's purchase
    windows; None when it is to be made now."""
    deadline = deadline_of(plan, rules)
    return hold(rules.purchase_windows, now, deadline, rules.poll, rules.retry_backoff)


def outside_windows(plan: Plan, rules: PolicyRules, now: datetime) -> str | None:
    """What a purchase made now, outside every window (from the last safe cycle on), says."""
    deadline = deadline_of(plan, rules)
    return outside_note(rules.purchase_windows, now, deadline, rules.poll, rules.retry_backoff)
