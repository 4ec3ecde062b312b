"""One reconcile cycle: inventory -> decide (pure) -> act -> report.

Phase 1 surveys each target (concurrently, in the target's worker threads, kept across
cycles: `watcher/survey.py`): plans, their extension history (cached across cycles while
nothing changes; read afresh for due plans), and for due plans their consumers and offerings.
Phase 2 is global and sequential: budgets are counted once, and due plans are decided
earliest deadline first, each purchase reserving its fee before the next plan is decided, so
two plans can never both spend the last of a budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import wait
from dataclasses import replace
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
    journal_since,
    reserve,
    spend,
)
from watcher.clock import Clock
from watcher.config import Config, Mode
from watcher.config.core_rules import limit_rules, needs_tags
from watcher.decide import choose, deadline_of
from watcher.journal.records import LIVE_PROPOSAL_STATES, Fence, IntentState, Journal
from watcher.limit_ledger import LimitLedger
from watcher.model import DecisionKind
from watcher.observe.logs import get_logger
from watcher.report import decision_fields
from watcher.results import CycleResult, PlanResult, with_proposals
from watcher.survey import Due, Surveyor


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
        (the daemon is stopping). `fence` gives this replica's leader fence, checked in the
        intent's conditional write. `notifier` is handed every finished cycle (it must not
        block); whoever passes it owns it and closes it. The valves (kill switch in `environ`,
        default os.environ; pause flag; breaker; backoff) are checked right before every
        purchase as well."""
        self._gate = gate
        self._fence = fence
        self.notifier = notifier
        self.config = config
        self.clock = clock
        self.journal = journal
        self.gateways = dict(gateways)
        self.log = log or get_logger()
        self.valves = Valves(journal, config.safety, environ)
        self.limits = limit_rules(config)
        tags = needs_tags(config)
        self._surveyors = {
            name: Surveyor(config, gateway, self.limits.daily, tags, self.log)
            for name, gateway in self.gateways.items()
        }

    def close(self) -> None:
        """End the worker threads (a cycle in progress finishes in the background)."""
        for surveyor in self._surveyors.values():
            surveyor.close()

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
        recheck = Recheck(self.journal, now, log)
        started = [s.start(now, in_flight, recheck) for s in self._surveyors.values()]
        wait(started)  # every target finishes before anything (even a crash) goes further
        surveys = sorted((f.result() for f in started), key=lambda s: s.target)
        covered: list[CoveredExtensions] = []
        due: list[Due] = []
        recent = (ext for s in surveys for ext in s.recent)
        ledger = LimitLedger(self.limits, self.journal, recent, self.config.safety.settle_after)
        for survey in surveys:
            cycle.target_up[survey.target] = survey.error is None
            if survey.error is not None:
                cycle.errors.append(f"target {survey.target}: {survey.error}")
                log.error("target_failed", target=survey.target, error=survey.error)
            cycle.results.extend(survey.results)
            covered.extend(survey.covered)
            due.extend(survey.due)
        cycle.settled = recheck.finish(cycle.settled, self.valves, mode is Mode.ENFORCE)

        settle = self.config.safety.settle_after
        intents = self.journal.intents_since(journal_since(self.config.budgets, now, settle))
        cycle.budgets = [spend(b, now, covered, intents, settle) for b in self.config.budgets]
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
        # One line per plan at info: built only if written. structlog's filtering loggers say
        # which levels they write (a class method; on the instance any name may be a level).
        enabled = getattr(type(log), "is_enabled_for", None)
        info = enabled is None or enabled(log, logging.INFO)
        for result in cycle.results:
            if info or result.decision.kind is DecisionKind.ERROR:
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

    def _decide_and_act(
        self,
        item: Due,
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
            tags=plan.tags,
            proposal=proposal,
            proposal_created=created,
            outcome=tuple(steps),
            unknown_jobs=item.unknown,
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
            self._gate() if self._gate is not None else None,
            self._fence,
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
