"""Phase 1's decision for one plan, from what was gathered about it (`Facts`).

`triage`'s checks first; then, for a due plan, its consumers' demand (`assess_demand`) and the
rules to act on it with (`acting_rules`). A plan that comes out `Due` has its offerings
searched, and `choose` decides it in phase 2 (a purchase window holds only the purchase).
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.decide.demand import assess_demand
from watcher.decide.rules import Need, PolicyRules, acting_rules
from watcher.decide.triage import Facts, triage
from watcher.model import Decision, DecisionKind


@dataclass(frozen=True)
class Due:
    """A due plan that needs an extension: the `need`, and the rules to act on it with (the
    policy's, or the more cautious `on_unattributed_use` for demand nobody could be found
    for)."""

    rules: PolicyRules
    need: Need


def assess(facts: Facts) -> Decision | Due:
    """The plan's decision, or what it is due for. A due plan's consumers must have been
    gathered (`due(facts)` says when): without them it is an error, never no_demand."""
    early = triage(facts)
    if early is not None:
        return early
    plan, rules = facts.plan, facts.rules
    if rules is None or facts.consumers is None:  # triage answers without rules; explicit
        why = "a due plan was decided without its consumers (a defect; please report it)"
        return Decision(plan.arn, DecisionKind.ERROR, why)
    need = assess_demand(plan, rules, facts.consumers, facts.now, facts.unknown)
    if isinstance(need, Decision):
        return need
    return Due(acting_rules(rules, need), need)
