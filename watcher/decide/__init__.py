"""The pure decision core: plain values in, a Decision out. No AWS, no clock, no I/O.

Stages, in the order the reconcile loop runs them (each may conclude):

1. `triage` - from the plan and its extension history: unmanaged, expired, in_flight,
   no_offering (lifetime cap), not_due; None means due.
2. `assess_demand` - from the plan's consumers: no_demand, demand_covered, or a `Need`;
   then `wait_for_window` - not_due while the plan waits for a purchase window.
3. `choose` - from the offerings and budgets: extended, would_extend, proposed,
   no_offering, over_budget.

`decide` runs them all. docs/decisions.md explains every outcome with an example.
"""

from watcher.decide.budget import budget_problems
from watcher.decide.choose import choose
from watcher.decide.demand import assess_demand, latest_demand_end
from watcher.decide.durations import (
    AWS_MAX_LEAD,
    AWS_MIN_LEAD,
    MAX_EXTENSION_HOURS,
    is_sellable,
    largest_sellable_at_most,
    sellable_hours,
)
from watcher.decide.offers import START_TOLERANCE, expected_currency, offering_problems
from watcher.decide.pipeline import decide
from watcher.decide.rules import (
    Action,
    ApprovalRules,
    BudgetState,
    Mode,
    Need,
    PolicyRules,
    Prefer,
    UnattributedUse,
    acting_rules,
)
from watcher.decide.timing import wait_for_window
from watcher.decide.triage import triage
from watcher.decide.windows import deadline_of, window_start

__all__ = [
    "AWS_MAX_LEAD",
    "AWS_MIN_LEAD",
    "MAX_EXTENSION_HOURS",
    "START_TOLERANCE",
    "Action",
    "ApprovalRules",
    "BudgetState",
    "Mode",
    "Need",
    "PolicyRules",
    "Prefer",
    "UnattributedUse",
    "acting_rules",
    "assess_demand",
    "budget_problems",
    "choose",
    "deadline_of",
    "decide",
    "expected_currency",
    "is_sellable",
    "largest_sellable_at_most",
    "latest_demand_end",
    "offering_problems",
    "sellable_hours",
    "triage",
    "wait_for_window",
    "window_start",
]
