"""Stage 3b: would a purchase fit every budget that covers the plan?"""

from __future__ import annotations

from collections.abc import Sequence

from watcher.decide.rules import BudgetState
from watcher.decide.text import money
from watcher.model import Money


def budget_problems(fee: Money, budgets: Sequence[BudgetState]) -> list[str]:
    """Every budget this fee would break, with its figures; empty when it fits them all.

    A budget kept in another currency cannot take the fee (amounts in different currencies
    are never added), so it refuses it: an unknown exchange rate must not let money through.
    """
    problems: list[str] = []
    for budget in sorted(budgets, key=lambda b: b.name):
        limit, spent = budget.limit, budget.spent
        if limit.currency != fee.currency or spent.currency != fee.currency:
            problems.append(
                f"budget {budget.name} is kept in {limit.currency} "
                f"(spent in {spent.currency}) and cannot take a fee in {fee.currency}"
            )
            continue
        total = spent + fee
        if total > limit:
            problems.append(
                f"budget {budget.name}: {money(spent)} spent + {money(fee)} = {money(total)} "
                f"would exceed its limit {money(limit)}"
            )
    return problems
