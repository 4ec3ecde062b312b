"""Stage 3: pick the offering to buy for a due plan with a Need, and say what to do with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from watcher.decide.budget import budget_problems
from watcher.decide.limits import LimitState, limit_problems
from watcher.decide.offers import canonical_key, expected_currency, offering_problems, rank_key
from watcher.decide.purchase_windows import Hold
from watcher.decide.rules import BudgetState, Mode, Need, PolicyRules
from watcher.decide.text import hours_text, iso, money
from watcher.decide.timing import outside_windows, purchase_wait
from watcher.decide.windows import deadline_of, expired_decision
from watcher.model import Decision, DecisionKind, ExtensionOffering, Plan, RejectedOffering

_Verdict = Callable[[DecisionKind, str, ExtensionOffering | None], Decision]


def choose(
    plan: Plan,
    rules: PolicyRules,
    need: Need,
    offerings: Sequence[ExtensionOffering],
    budgets: Sequence[BudgetState],
    now: datetime,
    mode: Mode,
    limits: Sequence[LimitState] = (),
) -> Decision:
    """The best acceptable offering that fits every budget and safety limit, acted on per
    policy and mode.

    Returns extended (buy it: enforce + extend), would_extend (dry-run, or action notify),
    proposed, no_offering or over_budget; or, for `action: extend` outside the policy's
    purchase windows, not_due (`window_hold`) with the offering it buys when one opens (and
    until the last safe cycle while the need rests only on jobs that could not be described:
    `purchase_wait`).
    `budgets` are exactly the budgets covering the plan; `limits` are the blast-radius limits
    with what is used of them (they cover every plan). The deadline and the plan's status are
    checked again: this is the last gate before a buy.
    """
    expired = expired_decision(plan, rules, now)
    if expired is not None:
        return expired

    currency, why = expected_currency(plan, rules)
    rejected: list[RejectedOffering] = []
    acceptable: list[ExtensionOffering] = []
    for offering in sorted(offerings, key=canonical_key):
        problems = offering_problems(offering, plan, rules, currency, why)
        if problems:
            rejected.append(RejectedOffering(offering, "; ".join(problems)))
        else:
            acceptable.append(offering)

    def verdict(kind: DecisionKind, reason: str, chosen: ExtensionOffering | None) -> Decision:
        return Decision(
            plan_arn=plan.arn,
            kind=kind,
            reason=reason,
            policy=rules.name,
            deadline=deadline_of(plan, rules),
            demand_end=need.demand_end,
            next_action=now,
            need_hours=need.duration_hours,
            chosen=chosen,
            rejected=tuple(rejected),
            unattributed=need.unattributed,
            unknown_jobs=need.unknown_jobs,
        )

    if not acceptable:
        if not offerings:
            summary = "AWS offered no extension for this plan (no capacity, or none for sale)"
        else:
            summary = f"all {len(offerings)} offering(s) were rejected: " + " | ".join(
                f"{r.offering.offering_id}: {r.reason}" for r in rejected
            )
        return verdict(DecisionKind.NO_OFFERING, f"{need.reason}; {summary}", None)

    ranked = sorted(acceptable, key=rank_key(rules.prefer, need.duration_hours))
    best = ranked[0]
    chosen: ExtensionOffering | None = None
    for offering in ranked:
        refusals = budget_problems(offering.upfront_fee, budgets)
        refusals += limit_problems(offering.upfront_fee, limits)
        if refusals:
            rejected.append(RejectedOffering(offering, "; ".join(refusals)))
        elif chosen is None:
            chosen = offering

    if chosen is None:
        refusal = next(r.reason for r in rejected if r.offering is best)
        reason = (
            f"{need.reason}; the best acceptable offering {_describe(best)} would "
            f"{_what_refuses(refusal)}: {refusal}"
        )
        if len(ranked) > 1:
            reason += f"; none of the other {len(ranked) - 1} acceptable offering(s) fits either"
        return verdict(DecisionKind.OVER_BUDGET, reason, None)

    pick = f"{need.reason}; chose {_describe(chosen)} (prefer {rules.prefer}"
    pick += f", {len(acceptable)} acceptable, {len(rejected)} rejected)"
    wait = purchase_wait(plan, rules, need, now)
    note = outside_windows(plan, rules, now) if wait is None else None
    if note is not None:
        pick += f"; {note}"
    if chosen is not best:
        refusal = next(r.reason for r in rejected if r.offering is best)
        pick += (
            f"; fell back from the best-ranked {_describe(best)} because it would "
            f"{_what_refuses(refusal)} ({refusal}) to the best acceptable offering that fits "
            "every budget and limit"
        )
    return _act(rules, mode, pick, verdict, chosen, wait)


def _act(
    rules: PolicyRules,
    mode: Mode,
    pick: str,
    verdict: _Verdict,
    chosen: ExtensionOffering,
    wait: Hold | None,
) -> Decision:
    # notify only reports: it uses would_extend ("this is what would be bought") and never
    # extended, so no shell can mistake it for an order to buy.
    if rules.action == "extend":
        if wait is not None:
            waiting = verdict(DecisionKind.NOT_DUE, f"{pick}; {wait.reason}", chosen)
            return replace(waiting, next_action=wait.until, window_hold=True)
        if mode == "enforce":
            return verdict(DecisionKind.EXTENDED, f"{pick}; buying it", chosen)
        return verdict(DecisionKind.WOULD_EXTEND, f"{pick}; dry-run: not buying", chosen)
    if rules.action == "propose":
        later = f"; {wait.reason}" if wait is not None else ""
        return verdict(
            DecisionKind.PROPOSED,
            f"{pick}; policy action is propose: awaiting approval{later}",
            chosen,
        )
    if rules.action == "notify":
        return verdict(
            DecisionKind.WOULD_EXTEND,
            f"{pick}; policy action is notify: reporting only, nothing is bought",
            chosen,
        )
    return verdict(
        DecisionKind.UNMANAGED, f"policy {rules.name} says ignore; nothing is bought", None
    )


def _what_refuses(refusal: str) -> str:
    budget = "budget " in refusal
    limit = "safety.limits." in refusal
    if budget and limit:
        return "break a budget and pass a safety limit"
    return "pass a safety limit" if limit else "break a budget"


def _describe(offering: ExtensionOffering) -> str:
    return (
        f"{offering.offering_id} ({hours_text(offering.duration_hours)} from "
        f"{iso(offering.start)} to {iso(offering.end)}, {money(offering.upfront_fee)})"
    )
