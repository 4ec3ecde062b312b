"""One reconcile cycle: inventory -> decide (pure) -> act -> report.

Phase 1 surveys each target (concurrently): plans, their extension history (cached across
cycles while nothing changes; read afresh for due plans), and for due plans their consumers
and offerings. Phase 2 is global and sequential: budgets are counted once, and due plans are
decided earliest deadline first, each purchase reserving its fee before the next plan is
decided, so two plans can never both spend the last of a budget.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from watcher.act.approvals import ProposalDesk
from watcher.act.checkout import checkout
from watcher.act.outcome import Did, Done, reported
from watcher.act.purchase import PurchaseResult, Settlement, held_plans, resolve
from watcher.act.purchase_notes import note_purchase
from watcher.act.recheck import Recheck
from watcher.act.valves import Valves
from watcher.aws.errors import AwsError
from watcher.aws.sagemaker import SageMakerGateway
from watcher.budget_spend import (
    BudgetSpend,
    CoveredExtensions,
    earliest_window_start,
    reserve,
    spend,
)
from watcher.clock import Clock
from watcher.config import Config, Mode
from watcher.config.core_rules import limit_rules, needs_tags, rules_for
from watcher.decide import (
    Need,
    PolicyRules,
    acting_rules,
    assess_demand,
    choose,
    deadline_of,
    triage,
    wait_for_window,
)
from watcher.decide.limits import DAY
from watcher.inventory import Inventory, TargetCache
from watcher.journal.records import LIVE_PROPOSAL_STATES, Fence, IntentState, Journal
from watcher.limit_ledger import LimitLedger
from watcher.model import (
    Consumer,
    Decision,
    DecisionKind,
    Extension,
    ExtensionOffering,
    Plan,
    PlanStatus,
)
from watcher.observe.logs import get_logger
from watcher.report import decision_fields
from watcher.results import CycleResult, PlanResult, with_proposals

EVALUATED = (PlanStatus.ACTIVE, PlanStatus.SCHEDULED)
#: Plans of one target surveyed at once (each survey is a few AWS reads).
PLAN_WORKERS = 8


@dataclass
class _Due:
    """A due plan waiting for phase 2."""

    plan: Plan
    rules: PolicyRules
    need: Need
    offerings: list[ExtensionOffering]
    consumers: list[Consumer]
    tags: Mapping[str, str]
    gateway: SageMakerGateway
    malformed: list[str]


@dataclass
class _Survey:
    target: str
    results: list[PlanResult] = field(default_factory=list)
    due: list[_Due] = field(default_factory=list)
    covered: list[CoveredExtensions] = field(default_factory=list)
    recent: list[Extension] = field(default_factory=list)  # for the 24-hour limits
    error: str | None = None


class Reconciler:
    """Runs cycles against a set of targets, with a journal, on a clock."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        journal: Journal,
        gateways: Mapping[str, SageMakerGateway],
        log: Any = None,
        gate: Callable[[], str | None] | None = None,
        fence: Callable[[], Fence | None] | None = None,
        notifier: Callable[[CycleResult], None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`gate` is asked right before every purchase; a reason it returns blocks the buy
        (the daemon is stopping, purchases are paused, PLAN_WATCHER_MODE=dry-run). `fence`
        gives this replica's leader fence, checked in the intent's conditional write.
        `notifier` is handed every finished cycle (it must not block). The valves (kill
        switch in `environ`, default os.environ; pause flag; breaker; backoff) are checked
        right before every purchase as well."""
        self.gate = gate
        self.fence = fence
        self.notifier = notifier
        self.config = config
        self.clock = clock
        self.journal = journal
        self.gateways = dict(gateways)
        self.log = log or get_logger()
        self._caches: dict[str, TargetCache] = {name: TargetCache() for name in self.gateways}
        self._needs_tags = needs_tags(config)
        self.valves = Valves(journal, config.safety, environ)
        self.limits = limit_rules(config)

    # --- intents ------------------------------------------------------------------------

    def resolve_open_intents(self) -> list[Settlement]:
        """Settle every open intent from AWS's record (OPEN where it is still unknown)."""
        settled: list[Settlement] = []
        for intent in self.journal.open_intents():
            gateway = self.gateways.get(intent.target)
            log = self.log.bind(plan=intent.plan_arn, target=intent.target)
            if gateway is None:
                log.error("purchase_unresolvable", reason="target no longer configured")
                settled.append(Settlement(intent, IntentState.OPEN, "target not configured"))
                continue
            try:
                after = self.config.safety.settle_after
                settled.append(resolve(gateway, self.journal, intent, self.clock.now(), log, after))
            except AwsError as exc:
                log.warning("purchase_resolution_failed", error=str(exc))
                settled.append(Settlement(intent, IntentState.OPEN, str(exc)))
        return settled

    # --- the cycle ----------------------------------------------------------------------

    def run_cycle(self, *, dry_run: bool = False) -> CycleResult:
        now = self.clock.now()
        mode = Mode.DRY_RUN if dry_run or self.config.dry_run else Mode.ENFORCE
        cycle = CycleResult(cycle_id=uuid.uuid4().hex[:12], started_at=now, mode=mode)
        log = self.log.bind(cycle_id=cycle.cycle_id)
        log.info("cycle_started", mode=mode.value, targets=list(self.gateways))
        settled = self.resolve_open_intents()
        cycle.settled = [s for s in settled if s.state is not IntentState.OPEN]
        in_flight = held_plans(settled)
        self._recheck = Recheck(self.journal, now, log)

        workers = max(1, min(8, len(self.gateways)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="survey") as pool:
            surveys = list(
                pool.map(lambda name: self._survey(name, now, in_flight), sorted(self.gateways))
            )
        covered: list[CoveredExtensions] = []
        due: list[_Due] = []
        ledger = LimitLedger(self.limits, self.journal, (ext for s in surveys for ext in s.recent))
        for survey in surveys:
            cycle.target_up[survey.target] = survey.error is None
            if survey.error is not None:
                cycle.errors.append(f"target {survey.target}: {survey.error}")
                log.error("target_failed", target=survey.target, error=survey.error)
            cycle.results.extend(survey.results)
            covered.extend(survey.covered)
            due.extend(survey.due)
        cycle.settled = self._recheck.finish(cycle.settled, self.valves, mode is Mode.ENFORCE)

        intents = self.journal.intents_since(earliest_window_start(self.config.budgets, now))
        cycle.budgets = [spend(b, now, covered, intents) for b in self.config.budgets]
        running = {b.budget.name: b for b in cycle.budgets}
        desk = ProposalDesk(self.journal, now, mode is Mode.DRY_RUN, log)
        if mode is Mode.ENFORCE:
            cycle.purchases_blocked = self.valves.blocked()
        due.sort(key=lambda d: (deadline_of(d.plan, d.rules), d.plan.arn))
        for item in due:
            cycle.results.append(
                self._decide_and_act(item, mode, running, ledger, now, log, desk, cycle)
            )
        cycle.limits = ledger.states(now)

        decided = {r.plan_arn: (r.plan, r.decision) for r in cycle.results}
        cycle.results = with_proposals(cycle.results, desk.finish(decided))
        cycle.results.sort(key=lambda r: (r.target, r.plan_name))
        cycle.proposals_closed = desk.closed
        cycle.proposal_events = desk.events
        cycle.proposals = self.journal.proposals(LIVE_PROPOSAL_STATES)
        cycle.paused = self.valves.paused()
        cycle.failures_in_a_row = self.valves.failures_in_a_row()
        cycle.finished_at = self.clock.now()
        cycle.clock_skew = {
            name: seconds
            for name, gateway in sorted(self.gateways.items())
            if (seconds := gateway.skew.seconds) is not None
        }
        for result in cycle.results:
            self._log_decision(log, result)
        log.info(
            "cycle_finished",
            plans=len(cycle.results),
            errors=len(cycle.errors),
            seconds=(cycle.finished_at - now).total_seconds(),
        )
        if self.notifier is not None:
            self.notifier(cycle)
        return cycle

    def _survey(self, name: str, now: datetime, in_flight: dict[str, bool | str]) -> _Survey:
        survey = _Survey(target=name)
        gateway = self.gateways[name]
        inventory = Inventory(gateway, self._caches[name], now)
        try:
            plans, malformed = gateway.list_plans()
        except AwsError as exc:
            survey.error = f"{exc.kind.value}: {exc}"
            return survey
        for bad in malformed:
            decision = Decision(bad.ref, DecisionKind.ERROR, f"unreadable plan: {bad.reason}")
            survey.results.append(
                PlanResult(bad.arn or bad.ref, bad.name or bad.ref, name, decision)
            )
        earliest = earliest_window_start(self.config.budgets, now)

        def one(plan: Plan) -> None:
            try:
                self._survey_plan(plan, inventory, now, in_flight, earliest, survey)
            except AwsError as exc:
                reason = f"AWS call failed ({exc.kind.value}): {exc}"
                decision = Decision(plan.arn, DecisionKind.ERROR, reason)
                survey.results.append(PlanResult(plan.arn, plan.name, name, decision, plan))

        # A target's plans are surveyed concurrently: their history reads and searches are
        # independent, and one after another they would make a cycle as long as their sum.
        with ThreadPoolExecutor(PLAN_WORKERS, thread_name_prefix=f"survey-{name}") as pool:
            list(pool.map(one, plans))
        return survey

    def _survey_plan(
        self,
        plan: Plan,
        inventory: Inventory,
        now: datetime,
        in_flight: dict[str, bool | str],
        budget_start: datetime,
        survey: _Survey,
    ) -> None:
        evaluated = plan.status in EVALUATED
        counts_for_budget = bool(self.config.budgets) and plan.end_time >= budget_start
        # A plan extended in the last 24 hours ends later than 24 hours ago.
        counts_for_limits = self.limits.daily and plan.end_time >= now - DAY
        if not evaluated and not counts_for_budget and not counts_for_limits:
            return
        tags = inventory.tags(plan) if self._needs_tags else {}
        plan = replace(plan, tags=tags)
        policy = self.config.policy_for(plan.name, tags, plan.target)
        rules = rules_for(policy, self.config.poll.interval + self.config.poll.jitter)
        budgeted = counts_for_budget and policy is not None
        if budgeted or counts_for_limits:
            try:
                history = inventory.history(plan)
            except AwsError as exc:
                # Spend that cannot be read makes the plan's budgets admit nothing (the limits
                # still count this plan's purchases from the journal).
                if policy is not None and budgeted:
                    survey.covered.append(CoveredExtensions(plan.arn, policy.name, (), str(exc)))
                raise
            if policy is not None and budgeted:
                survey.covered.append(CoveredExtensions(plan.arn, policy.name, history))
            if counts_for_limits:
                survey.recent.extend(history)
        if not evaluated:
            return

        def report(decision: Decision, consumers: tuple[Consumer, ...] = ()) -> None:
            survey.results.append(
                PlanResult(plan.arn, plan.name, plan.target, decision, plan, consumers, tags=tags)
            )

        # Cheap first look: a plan that is not due needs no consumers or search. Its history is
        # read from the cache, because a pending extension (in_flight) and the lifetime cap
        # outrank not_due (docs/decisions.md); the cache re-reads while anything is pending.
        held = in_flight.get(plan.arn, False)
        early = triage(plan, rules, (), held, now)
        if early is not None and early.kind is DecisionKind.NOT_DUE:
            cached = inventory.history(plan)
            held = held or self._recheck.hold(plan, cached, due=False) or False
            report(triage(plan, rules, cached, held, now) or early)
            return
        if early is not None and early.kind is not DecisionKind.IN_FLIGHT:
            report(early)
            return
        history = inventory.history(plan, fresh=True)
        held = held or self._recheck.hold(plan, history) or False
        early = triage(plan, rules, history, held, now)
        if early is not None:
            report(early)
            return
        if rules is None:  # triage reports `unmanaged` first; explicit, for `python -O`
            report(Decision(plan.arn, DecisionKind.UNMANAGED, "no policy matches this plan"))
            return
        consumers = inventory.consumers(plan)
        need = assess_demand(plan, rules, consumers, now)
        if isinstance(need, Decision):
            report(need, tuple(consumers))
            return
        if need.unattributed:
            rules = acting_rules(rules, need)
            log = self.log.bind(plan=plan.name, target=plan.target)
            log.warning("unattributed_use", in_use=need.unattributed, action=rules.action)
        waiting = wait_for_window(plan, rules, need, now)
        if waiting is not None:
            report(waiting, tuple(consumers))
            return
        offerings, bad = inventory.gateway.search_extension_offerings(plan.arn, need.duration_hours)
        survey.due.append(
            _Due(
                plan,
                rules,
                need,
                offerings,
                consumers,
                tags,
                inventory.gateway,
                [f"{b.ref}: {b.reason}" for b in bad],
            )
        )

    def _decide_and_act(
        self,
        item: _Due,
        mode: Mode,
        running: dict[str, BudgetSpend],
        ledger: LimitLedger,
        now: datetime,
        log: Any,
        desk: ProposalDesk,
        cycle: CycleResult,
    ) -> PlanResult:
        plan, rules = item.plan, item.rules
        covering = [running[b.name] for b in self.config.budgets_for(rules.name)]
        states = [b.state for b in covering]
        limits = ledger.states(now)
        core = choose(plan, rules, item.need, item.offerings, states, now, mode, limits)
        steps: list[Done] = []
        if item.malformed:
            steps.append(
                Done(Did.NOTED, "unreadable offerings left out: " + "; ".join(item.malformed))
            )
        problems = [b.problem for b in covering if b.problem]
        if core.kind is DecisionKind.OVER_BUDGET and problems:
            steps.append(Done(Did.NOTED, "spend unknown: " + "; ".join(problems)))
        proposal, created = None, False
        if rules.action == "propose":
            handled = desk.handle(plan, rules, reported(core, steps), item.gateway)
            steps.extend(handled.steps)
            proposal, created = handled.proposal, handled.created
        result = PlanResult(
            plan.arn,
            plan.name,
            plan.target,
            core,
            plan,
            tuple(item.consumers),
            tuple(item.offerings),
            tags=item.tags,
            proposal=proposal,
            proposal_created=created,
            outcome=tuple(steps),
        )
        decision = result.decision
        if decision.kind is not DecisionKind.EXTENDED or decision.chosen is None:
            return result
        done = checkout(
            item.gateway,
            self.journal,
            self.valves,
            plan,
            decision,
            self.clock.now,
            log.bind(plan=plan.name, target=plan.target),
            self.gate() if self.gate is not None else None,
            self.fence,
        )
        if done.breaker is not None:
            cycle.purchases_blocked = done.breaker.describe()
        outcome = done.purchase
        if outcome is not None and outcome.result in (
            PurchaseResult.BOUGHT,
            PurchaseResult.AMBIGUOUS,
        ):
            for budget in covering:
                running[budget.budget.name] = reserve(budget, decision.chosen)
            ledger.count(outcome.intent)
            note_purchase(self.journal, outcome.intent, rules.name, decision.reason, proposal, log)
        if outcome is not None and proposal is not None:
            proposal = desk.purchased(proposal, outcome)
        return replace(result, outcome=(*steps, done.step), purchase=outcome, proposal=proposal)

    def _log_decision(self, log: Any, result: PlanResult) -> None:
        fields = decision_fields(result)
        level = "error" if result.decision.kind is DecisionKind.ERROR else "info"
        getattr(log.bind(plan=result.plan_name, target=result.target), level)("decision", **fields)
