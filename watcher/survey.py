"""Phase 1 of a cycle, for one target: its plans, a first look at each, and a due plan's reads.

Each target has a `Surveyor` for as long as the reconciler lives: the cache of what survives
between cycles (`watcher/inventory.py`) and a fixed pool of worker threads, so a cycle starts
no thread (threads started per cycle each took a malloc arena of their own, and memory crept
up for hundreds of cycles). In a cycle, one worker lists the target's plans while, if the
last cycle had a due plan, another reads the consumers. Every plan then gets its first look:
in that same thread when the look needs nothing from AWS (most plans, from the cache), in a
worker when it does. A due plan's fresh history and its consumers, demand and offerings are
read side by side, unless the history last read says the plan is in flight or capped: then
the offerings wait for the fresh history, so a pending extension never costs a search. What a
plan's decision rests on is gathered into one value (`Facts`: as much history as
`history_read` says it needs, consumers only once `due`) and decided by one call, `assess`.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from watcher.act.recheck import Recheck
from watcher.aws.errors import AwsError
from watcher.aws.parse import Malformed
from watcher.aws.sagemaker import CONCURRENT_CALLS, SageMakerGateway
from watcher.budget_spend import CoveredExtensions, journal_since
from watcher.config import Config, Policy
from watcher.config.core_rules import rules_for
from watcher.decide import Facts, Need, PolicyRules, Read, assess, due, history_read, triage
from watcher.decide.limits import DAY
from watcher.inventory import Inventory, TargetCache
from watcher.model import (
    Consumer,
    Decision,
    DecisionKind,
    Extension,
    ExtensionOffering,
    Plan,
    PlanStatus,
    UnknownJob,
)
from watcher.results import PlanResult

EVALUATED = (PlanStatus.ACTIVE, PlanStatus.SCHEDULED)
#: Worker threads per target: one lists the plans, the others make its reads side by side.
TARGET_WORKERS = CONCURRENT_CALLS


@dataclass
class Due:
    """A due plan waiting for phase 2."""

    plan: Plan
    rules: PolicyRules
    need: Need
    offerings: list[ExtensionOffering]
    consumers: list[Consumer]
    gateway: SageMakerGateway
    malformed: list[str]
    #: Running jobs that could not be described and may run on the plan.
    unknown: tuple[UnknownJob, ...] = ()


@dataclass
class Survey:
    target: str
    results: list[PlanResult] = field(default_factory=list)
    due: list[Due] = field(default_factory=list)
    covered: list[CoveredExtensions] = field(default_factory=list)
    #: Extensions of plans that ended less than 24 hours ago or later (the 24-hour limits).
    recent: list[Extension] = field(default_factory=list)
    error: str | None = None

    def report(
        self,
        plan: Plan,
        decision: Decision,
        consumers: tuple[Consumer, ...] = (),
        unknown: tuple[UnknownJob, ...] = (),
    ) -> None:
        result = PlanResult(plan.arn, plan.name, plan.target, decision, plan, consumers)
        self.results.append(replace(result, tags=plan.tags, unknown_jobs=unknown))

    def failed(self, plan: Plan, exc: AwsError) -> None:
        reason = f"AWS call failed ({exc.kind.value}): {exc}"
        self.report(plan, Decision(plan.arn, DecisionKind.ERROR, reason))


@dataclass
class _Look:
    """A plan its first look found may be bought for: its decision needs its fresh history.
    `ahead`: what was gathered with the history last read, when that says due too, so its
    consumers and offerings are read beside the fresh history. `budget`: the policy whose
    budgets count that fresh history; `limits`: the 24-hour limits count it too."""

    plan: Plan
    rules: PolicyRules
    held: bool | str
    ahead: Facts | None
    budget: str | None = None
    limits: bool = False


@dataclass
class _Ahead:
    """What was read beside a due plan's fresh history: its consumers, and the offerings for
    the hours they needed (`hours` None: no search was made)."""

    consumers: tuple[Consumer, ...]
    unknown: tuple[UnknownJob, ...] = ()
    hours: int | None = None
    offered: tuple[list[ExtensionOffering], list[Malformed]] = ([], [])


_Reads = tuple[_Look, "Future[list[Extension]]", "Future[_Ahead] | None"]
_Page = tuple[list[Plan], list[Malformed]]


class Surveyor:
    """One target's phase 1, cycle after cycle."""

    def __init__(
        self, config: Config, gateway: SageMakerGateway, daily_limits: bool, tags: bool, log: Any
    ) -> None:
        self.config = config
        self.gateway = gateway
        self.cache = TargetCache()
        self.log = log
        self._daily_limits = daily_limits
        self._tags = tags
        self._pool: ThreadPoolExecutor | None = None
        self._rules: dict[str, PolicyRules | None] = {}  # by policy name (the config is fixed)

    def start(
        self, now: datetime, in_flight: dict[str, bool | str], recheck: Recheck
    ) -> Future[Survey]:
        """Survey the target in its own worker; the first call starts the workers. `recheck`
        holds plans whose journalled purchase AWS's history contradicts (act/recheck.py)."""
        if self._pool is None:
            name = self.gateway.target.name
            self._pool = ThreadPoolExecutor(TARGET_WORKERS, f"survey-{name}")
        return self._pool.submit(self._survey, self._pool, now, in_flight, recheck)

    def close(self) -> None:
        """End the workers (a survey in progress finishes first, in the background)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _survey(
        self,
        pool: ThreadPoolExecutor,
        now: datetime,
        in_flight: dict[str, bool | str],
        recheck: Recheck,
    ) -> Survey:
        name = self.gateway.target.name
        survey = Survey(target=name)
        inventory = Inventory(self.gateway, self.cache, now, self.log.bind(target=name))
        inventory.scan_early(pool)
        started: list[Future[Any]] = [inventory.early_scan] if inventory.early_scan else []
        pages: queue.SimpleQueue[_Page | AwsError | None] = queue.SimpleQueue()
        listing = pool.submit(self._list, pages)
        started.append(listing)
        # A plan ended since then may hold a purchase that counts (budget_spend.spend).
        earliest = journal_since(self.config.budgets, now, self.config.safety.settle_after)

        def look(plan: Plan) -> _Look | None:
            try:
                return self._look(plan, inventory, now, in_flight, earliest, survey, recheck)
            except AwsError as exc:
                survey.failed(plan, exc)
                return None

        def reads(found: _Look) -> _Reads:
            history = pool.submit(inventory.history, found.plan, True)
            ahead = found.ahead
            demand = pool.submit(self._read_ahead, ahead, inventory) if ahead else None
            started.extend(f for f in (history, demand) if f is not None)
            return found, history, demand

        due: list[_Reads] = []
        looks: list[Future[_Look | None]] = []
        try:
            # Each page is looked at while the next one is read.
            while (page := pages.get()) is not None:
                if isinstance(page, AwsError):
                    wait(started)
                    return self._unlisted(f"{page.kind.value}: {page}")
                plans, malformed = page
                for bad in malformed:
                    reason = f"unreadable plan: {bad.reason}"
                    decision = Decision(bad.ref, DecisionKind.ERROR, reason)
                    survey.results.append(
                        PlanResult(bad.arn or bad.ref, bad.name or bad.ref, name, decision)
                    )
                    if bad.arn is not None and self.config.budgets:
                        self._unplaced(survey, bad.arn, bad.name, None)
                for plan in plans:
                    if not inventory.ready(plan, self._tags):
                        looks.append(pool.submit(look, plan))
                        started.append(looks[-1])  # waited for even if a later page fails
                    elif (found := look(plan)) is not None:
                        due.append(reads(found))
            listing.result()  # the listing's own failure, if it was not AWS's
            due.extend(reads(found) for f in looks if (found := f.result()) is not None)
            for found, history, demand in due:
                try:
                    fresh = self._counted(found, history, survey)
                    held = found.held or recheck.hold(found.plan, fresh) or False
                    self._finish(replace(found, held=held), fresh, demand, inventory, now, survey)
                except AwsError as exc:
                    survey.failed(found.plan, exc)
        finally:
            wait(started)  # nothing of this target's is left running when it returns
        return survey

    def _counted(
        self, found: _Look, history: Future[list[Extension]], survey: Survey
    ) -> list[Extension]:
        """A due plan's fresh history, counted for its budgets and the 24-hour limits."""
        plan = found.plan
        try:
            fresh = history.result()
        except AwsError as exc:
            if found.budget is not None:
                survey.covered.append(CoveredExtensions(plan.arn, found.budget, (), str(exc)))
            raise
        if found.budget is not None:
            survey.covered.append(CoveredExtensions(plan.arn, found.budget, fresh))
        if found.limits:
            survey.recent.extend(fresh)
        return fresh

    def _unlisted(self, error: str) -> Survey:
        """A target whose plans could not be listed: what they spent is unknown."""
        name = self.gateway.target.name
        survey = Survey(target=name, error=error)
        why = f"they could not be listed ({error})"
        self._unplaced(survey, f"the plans of target {name}", None, why)
        return survey

    def _unplaced(self, survey: Survey, ref: str, name: str | None, why: str | None) -> None:
        """`ref` (plan `name`; every plan if None) has no known policy: each budget covering
        one that may match it admits nothing (`why`), or else counts the journal's buys."""
        target = self.gateway.target.name
        for policy in self.config.policies:
            if policy.match.may_match(target, name):
                survey.covered.append(CoveredExtensions(ref, policy.name, (), why))

    def _list(self, pages: queue.SimpleQueue[_Page | AwsError | None]) -> None:
        """Hand the target's plans over a page at a time; then None, even on a failure."""
        try:
            for page in self.gateway.plan_pages():
                pages.put(page)
        except AwsError as exc:
            pages.put(exc)
        finally:
            pages.put(None)

    def _look(
        self,
        plan: Plan,
        inventory: Inventory,
        now: datetime,
        in_flight: dict[str, bool | str],
        budget_start: datetime,
        survey: Survey,
        recheck: Recheck,
    ) -> _Look | None:
        """A plan's first look: reported here, or returned as due for its reads."""
        evaluated = plan.status in EVALUATED
        counts_for_budget = bool(self.config.budgets) and plan.end_time >= budget_start
        # A plan extended in the last 24 hours ends later than 24 hours ago.
        counts_for_limits = self._daily_limits and plan.end_time >= now - DAY
        if not evaluated and not counts_for_budget and not counts_for_limits:
            return None
        if self._tags:
            try:
                plan = replace(plan, tags=inventory.tags(plan))
            except AwsError as exc:
                # No known policy: its spend cannot be placed under a budget.
                if counts_for_budget:
                    why = f"its tags could not be read ({exc})"
                    self._unplaced(survey, plan.arn, plan.name, why)
                raise
        tags = plan.tags
        policy = self.config.policy_for(plan.name, tags, plan.target)
        rules = self._rules_of(policy)
        budgeted = counts_for_budget and policy is not None
        held = in_flight.get(plan.arn, False)
        read = history_read(plan, rules, held, now) if evaluated else Read.NONE
        # A plan read afresh below is counted on that history: a purchase made elsewhere since
        # the cache was filled may be pending with the plan's end not moved yet.
        if (budgeted or counts_for_limits) and read is not Read.FRESH:
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
            return None
        # A plan no purchase can follow this cycle is decided on the history the cache holds
        # (a pending extension and the lifetime cap outrank not_due and the deadline; the
        # cache re-reads while anything is pending), or none if no history can change it.
        if read is not Read.FRESH:
            cached = inventory.history(plan) if read is Read.CACHED else []
            held = held or recheck.hold(plan, cached, due=False) or False
            decided = triage(Facts(plan, rules, now, tuple(cached), held))
            if decided is not None:  # always: history_read reads fresh whatever may be due
                survey.report(plan, decided)
                return None
        if rules is None:  # triage answers unmanaged first; explicit, for `python -O`
            unmanaged = Decision(plan.arn, DecisionKind.UNMANAGED, "no policy matches this plan")
            survey.report(plan, unmanaged)
            return None
        last = Facts(plan, rules, now, tuple(inventory.last_history(plan) or ()), held)
        budget = policy.name if budgeted and policy is not None else None
        return _Look(plan, rules, held, last if due(last) else None, budget, counts_for_limits)

    def _rules_of(self, policy: Policy | None) -> PolicyRules | None:
        if policy is None:
            return None
        if policy.name not in self._rules:
            poll = self.config.poll.interval + self.config.poll.jitter
            retry = self.config.safety.retry_backoff
            self._rules[policy.name] = rules_for(policy, poll, retry)
        return self._rules[policy.name]

    def _read_ahead(self, facts: Facts, inventory: Inventory) -> _Ahead:
        """A due plan's consumers, and the offerings for what they need if it needs any."""
        found, unknown = inventory.demand(facts.plan)
        consumers = tuple(found)
        verdict = assess(replace(facts, consumers=consumers, unknown=unknown))
        if isinstance(verdict, Decision):
            return _Ahead(consumers, unknown)
        hours = verdict.need.duration_hours
        offered = self.gateway.search_extension_offerings(facts.plan.arn, hours)
        return _Ahead(consumers, unknown, hours, offered)

    def _finish(
        self,
        found: _Look,
        history: list[Extension],
        ahead: Future[_Ahead] | None,
        inventory: Inventory,
        now: datetime,
        survey: Survey,
    ) -> None:
        """A plan that may be bought for, with its fresh history: gathered (its consumers only
        if it is due), decided, and reported or handed to phase 2."""
        plan = found.plan
        facts = Facts(plan, found.rules, now, tuple(history), found.held)
        read = _Ahead(())
        if due(facts):  # else what was read beside the history goes unused
            read = ahead.result() if ahead is not None else self._read_ahead(facts, inventory)
            facts = replace(facts, consumers=read.consumers, unknown=read.unknown)
        verdict = assess(facts)
        if isinstance(verdict, Decision):
            survey.report(plan, verdict, read.consumers, read.unknown)
            return
        rules, need = verdict.rules, verdict.need
        if need.unattributed or need.unknown_jobs:
            self.log.bind(plan=plan.name, target=plan.target).warning(
                "unattributed_use",
                in_use=plan.in_use_instances,
                unattributed=need.unattributed,
                unknown_jobs=need.unknown_jobs,
                assumed=need.assumed,
                action=rules.action,
            )
        offerings, bad = (
            read.offered
            if read.hours == need.duration_hours
            else self.gateway.search_extension_offerings(plan.arn, need.duration_hours)
        )
        malformed = [f"{b.ref}: {b.reason}" for b in bad]
        survey.due.append(
            Due(
                plan,
                rules,
                need,
                offerings,
                list(read.consumers),
                self.gateway,
                malformed,
                read.unknown,
            )
        )
