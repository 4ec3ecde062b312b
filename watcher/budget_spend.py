"""Budget spend, from AWS's record plus journalled purchases AWS does not show yet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from watcher.config import Budget
from watcher.decide import BudgetState
from watcher.journal.records import Intent, IntentState
from watcher.model import CurrencyMismatch, Extension, ExtensionOffering, Money


@dataclass(frozen=True)
class CoveredExtensions:
    """The extension history of one plan, and the policy that governs that plan."""

    plan_arn: str
    policy: str | None
    extensions: Sequence[Extension]
    #: Set when the history could not be read: the plan's spend is unknown.
    problem: str | None = None


@dataclass(frozen=True)
class BudgetSpend:
    budget: Budget
    state: BudgetState
    problem: str | None  # set when spend could not be counted exactly: nothing fits then


def earliest_window_start(budgets: Iterable[Budget], now: datetime) -> datetime:
    """The start of the oldest budget window open at `now` (`now` without budgets)."""
    return min((budget.window.start(now) for budget in budgets), default=now)


def journal_since(budgets: Iterable[Budget], now: datetime, settle_after: timedelta) -> datetime:
    """How far back the journal's purchases may count in a budget window open at `now`."""
    return earliest_window_start(budgets, now) - settle_after


def spend(
    budget: Budget,
    now: datetime,
    plans: Iterable[CoveredExtensions],
    intents: Iterable[Intent],
    settle_after: timedelta,
) -> BudgetSpend:
    """What `budget` has committed in its current window.

    Extensions count by `ExtendedAt`, unless Failed. Journalled purchases (open or bought)
    count until the plan's history holds them (`Intent.match`: by offering ID, or an
    extension requested since that starts where the plan ended). Until then one counts in the
    current window if it was journalled at or after `settle_after` before the window's start:
    AWS stamps `ExtendedAt` some time after the request (how long, it does not say), so a
    purchase requested just before the start may belong to this window. An amount in another
    currency, a fee or date AWS reported unreadably, or a history that could not be read,
    makes the spend unknown: the budget then admits nothing.
    """
    start = budget.window.start(now)
    limit = budget.limit
    total = Money.zero(limit.currency)
    problem: str | None = None
    covered: dict[str, Sequence[Extension]] = {}
    for plan in plans:
        if plan.policy is None or not budget.covers(plan.policy):
            continue
        covered[plan.plan_arn] = plan.extensions
        if plan.problem is not None:
            problem = f"history of {plan.plan_arn} is unreadable: {plan.problem}"
        for ext in plan.extensions:
            if not ext.counts_for_spend:
                continue
            if ext.extended_at is None:
                problem = f"extension {ext.offering_id} of {plan.plan_arn} has no readable date"
                continue
            if ext.extended_at < start:
                continue
            if ext.upfront_fee is None:
                problem = f"extension {ext.offering_id} of {plan.plan_arn} has no readable fee"
                continue
            try:
                total = total + ext.upfront_fee
            except CurrencyMismatch:
                problem = f"extension {ext.offering_id} was paid in {ext.upfront_fee.currency}"
    for intent in intents:
        history = covered.get(intent.plan_arn)
        if history is None or intent.match(history) is not None:
            continue
        if intent.state is IntentState.FAILED or intent.created_at < start - settle_after:
            continue
        try:
            total = total + intent.fee
        except CurrencyMismatch:
            problem = f"journalled purchase {intent.offering_id} is in {intent.fee.currency}"
    if problem is not None:
        # Unknown spend: admit nothing rather than guess.
        return BudgetSpend(budget, BudgetState(budget.name, limit, limit), problem)
    return BudgetSpend(budget, BudgetState(budget.name, limit, total), None)


def reserve(budget: BudgetSpend, offering: ExtensionOffering) -> BudgetSpend:
    """`budget` with `offering`'s fee counted as spent (a purchase made or maybe made)."""
    state = budget.state
    if state.spent.currency != offering.upfront_fee.currency:
        return budget
    return replace(
        budget,
        state=BudgetState(state.name, state.limit, state.spent + offering.upfront_fee),
    )
