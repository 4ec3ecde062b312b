"""The pure decision core: plain values in, a Decision out. No AWS, no clock, no I/O.

What a plan's decision rests on is gathered into one value (`Facts`: the plan, its rules, its
extension history, the journal's hold, and its consumers when it is due), then decided:

1. `triage` - the checks of `CHECKS` in order, the first that fires wins: unmanaged, expired,
   in_flight, no_offering (lifetime cap), not_due; None means due (`history_read` says which
   history the checks need, `due` whether the consumers are to be read).
2. `assess` - triage, then for a due plan `assess_demand` (no_demand, demand_covered, or a
   `Need`): a Decision, or `Due` with the need and the rules to act on it.
3. `choose` - from the offerings, budgets and limits: extended, would_extend, proposed,
   no_offering, over_budget; or not_due while the purchase waits for a purchase window, or
   for jobs that could not be described (`purchase_wait`), its offering chosen and its budgets
   and limits checked.

docs/decisions.md explains every outcome with an example.
"""

from watcher.decide.assess import Due, assess
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
from watcher.decide.timing import window_wait
from watcher.decide.triage import Facts, Read, due, history_read, triage
from watcher.decide.windows import deadline_of, window_start

__all__ = [
    "AWS_MAX_LEAD",
    "AWS_MIN_LEAD",
    "MAX_EXTENSION_HOURS",
    "START_TOLERANCE",
    "Action",
    "ApprovalRules",
    "BudgetState",
    "Due",
    "Facts",
    "Mode",
    "Need",
    "PolicyRules",
    "Prefer",
    "Read",
    "UnattributedUse",
    "acting_rules",
    "assess",
    "assess_demand",
    "budget_problems",
    "choose",
    "deadline_of",
    "due",
    "expected_currency",
    "history_read",
    "is_sellable",
    "largest_sellable_at_most",
    "latest_demand_end",
    "offering_problems",
    "sellable_hours",
    "triage",
    "window_wait",
    "window_start",
]
