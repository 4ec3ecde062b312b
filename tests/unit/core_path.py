"""A plan decided the way a cycle decides it, for tests that hold every input: `assess` over
the gathered facts (phase 1), then `choose` over the offerings (phase 2) for a plan that
comes out due (a purchase window holds only the purchase: `choose` says so)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from watcher.decide import BudgetState, Facts, Mode, PolicyRules, assess, choose
from watcher.model import Consumer, Decision, Extension, ExtensionOffering, Plan


def decided(
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
    verdict = assess(Facts(plan, rules, now, tuple(extensions), open_intent, tuple(consumers)))
    if isinstance(verdict, Decision):
        return verdict
    return choose(plan, verdict.rules, verdict.need, offerings, budgets, now, mode)
