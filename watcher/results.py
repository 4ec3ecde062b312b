"""What a cycle produced: one PlanResult per plan, and the cycle around them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from watcher.act.outcome import Outcome, reported
from watcher.act.purchase import PurchaseOutcome, Settlement
from watcher.act.valves import Pause
from watcher.budget_spend import BudgetSpend
from watcher.config import Mode
from watcher.decide.limits import LimitState
from watcher.journal.records import Proposal
from watcher.model import Consumer, Decision, DecisionKind, ExtensionOffering, Plan, UnknownJob


@dataclass(frozen=True)
class PlanResult:
    """Everything reported about one plan in one cycle: the core's decision as it came out,
    and what the shell did with it (`outcome`); `decision` is what is reported."""

    plan_arn: str
    plan_name: str
    target: str
    core: Decision
    plan: Plan | None = None
    consumers: tuple[Consumer, ...] = ()
    offerings: tuple[ExtensionOffering, ...] = ()
    purchase: PurchaseOutcome | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The proposal this cycle created, approved, bought or left waiting for this plan.
    proposal: Proposal | None = None
    #: True when `proposal` was created in this cycle (a notice goes out once).
    proposal_created: bool = False
    #: What the shell did after the core decided (watcher/act/outcome.py), in order.
    outcome: Outcome = ()
    #: Running jobs that could not be described and may run on the plan (due plans only).
    unknown_jobs: tuple[UnknownJob, ...] = ()

    @property
    def decision(self) -> Decision:
        """The decision every output reports: the core's, after the shell's outcome."""
        return reported(self.core, self.outcome)


@dataclass
class CycleResult:
    cycle_id: str
    started_at: datetime
    mode: Mode
    results: list[PlanResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    target_up: dict[str, bool] = field(default_factory=dict)
    #: AWS's clock minus this machine's, per target, as last measured on an answer.
    clock_skew: dict[str, float] = field(default_factory=dict)
    budgets: list[BudgetSpend] = field(default_factory=list)
    #: The blast-radius limits (safety.limits) with what is used of them at the cycle's end.
    limits: list[LimitState] = field(default_factory=list)
    finished_at: datetime | None = None
    #: Proposals that this cycle moved to expired, rejected-by-tag or superseded.
    proposals_closed: list[Proposal] = field(default_factory=list)
    #: Why purchases are held this cycle (paused, circuit breaker, kill switch), if they are.
    purchases_blocked: str | None = None
    #: Live (pending or approved) proposals at the end of the cycle, oldest first.
    proposals: list[Proposal] = field(default_factory=list)
    #: The pause flag at the end of the cycle (set by `plan-watcher pause` or the breaker).
    paused: Pause | None = None
    #: Purchase failures in a row so far (the circuit breaker's count).
    failures_in_a_row: int = 0
    #: What this cycle did to proposals, one word per event: created, approved (by tag),
    #: auto_approved, rejected, expired, superseded, purchased.
    proposal_events: list[str] = field(default_factory=list)
    #: Purchases whose unknown outcome this cycle settled from AWS's record (bought or not).
    settled: list[Settlement] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """A target could not be read, or some plan's evaluation or purchase failed."""
        return bool(self.errors) or any(r.decision.kind is DecisionKind.ERROR for r in self.results)


def with_proposals(results: list[PlanResult], live: Mapping[str, Proposal]) -> list[PlanResult]:
    """`results` with each plan's live proposal attached where the cycle attached none."""
    return [
        replace(r, proposal=live[r.plan_arn]) if r.proposal is None and r.plan_arn in live else r
        for r in results
    ]
