"""All stages in order, for tests and for callers that already hold every input."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from watcher.decide.choose import choose
from watcher.decide.demand import assess_demand
from watcher.decide.rules import BudgetState, Mode, PolicyRules, acting_rules
from watcher.decide.timing import wait_for_window
from watcher.decide.triage import triage
from watcher.model import Consumer, Decision, Extension, ExtensionOffering, Plan


def decide(
    plan: Plan,
    rules: PolicyRules | None,
    extensions: Sequence[Extension],
    open_intent: bool | str,
    consumers: Sequence[Consumer],
    offerings: Sequence[ExtensionOffering],
    budgets: Sequence[BudgetState],
    now: datetime,
    mode: Mode,
) -> Decision:
    """triage, then assess_demand, then wait_for_window, then choose; the first stage that
    concludes wins.

    The reconcile loop calls the stages itself so that it fetches consumers and offerings only
    for plans that need them; the result is the same.
    """
    early = triage(plan, rules, extensions, open_intent, now)
    if early is not None:
        return early
    assert rules is not None  # triage returns `unmanaged` without rules
    need = assess_demand(plan, rules, consumers, now)
    if isinstance(need, Decision):
        return need
    rules = acting_rules(rules, need)
    waiting = wait_for_window(plan, rules, need, now)
    if waiting is not None:
        return waiting
    return choose(plan, rules, need, offerings, budgets, now, mode)
