"""Prometheus metrics (SPEC section 6), built at scrape time from the last cycle's snapshot.

A scrape never calls AWS: `SnapshotCollector` reads the `CycleResult` the daemon kept, so a
plan that disappeared from AWS disappears from the metrics with the next cycle. Process-wide
counters (purchases, decisions, spend, reconcile durations) accumulate in `Telemetry`
(`watcher/observe/telemetry.py`); `build_registry` puts both in one registry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from watcher.aws.calls import CallCounter
from watcher.model import DecisionKind, PlanStatus
from watcher.observe.telemetry import PREFIX as _PREFIX
from watcher.observe.telemetry import Telemetry
from watcher.observe.telemetry import number as _number
from watcher.results import CycleResult, PlanResult

__all__ = ["SnapshotCollector", "Telemetry", "build_registry"]


def _ts(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


class _OneHot(Metric):
    """A one-hot gauge family (one series per possible value, 1 for the actual one) whose
    samples are made as they are read, each time they are read: with 1,000 plans these are
    over 20,000 samples a scrape would otherwise hold at once."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        values: list[str],
        rows: list[tuple[list[str], str]],
    ) -> None:
        super().__init__(_PREFIX + name, documentation, "gauge")
        self._labelnames, self._values, self._rows = labelnames, values, rows

    @property  # type: ignore[override]
    def samples(self) -> Iterator[Sample]:
        for labels, actual in self._rows:
            for value in self._values:
                named = dict(zip(self._labelnames, [*labels, value], strict=True))
                yield Sample(self.name, named, 1.0 if value == actual else 0.0)

    @samples.setter
    def samples(self, _: object) -> None:
        """Metric's constructor sets an empty list; these samples are always computed."""


class SnapshotCollector(Collector):
    """Per-plan, per-budget and per-call series from the last completed cycle."""

    def __init__(
        self,
        calls: CallCounter,
        tag_labels: Mapping[str, str],
        notifications: CallCounter | None = None,
    ) -> None:
        self._calls = calls
        self._notifications = notifications
        self._tag_labels = dict(tag_labels)  # tag key -> label name
        self._lock = threading.Lock()
        self._cycle: CycleResult | None = None

    def update(self, cycle: CycleResult) -> None:
        with self._lock:
            self._cycle = cycle

    def set_tag_labels(self, tag_labels: Mapping[str, str]) -> None:
        with self._lock:
            self._tag_labels = dict(tag_labels)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cycle, tag_labels = self._cycle, dict(self._tag_labels)
        yield from self._calls_family()
        if cycle is None:
            return
        yield from self._plan_families(cycle, tag_labels)
        yield from self._budget_families(cycle)
        yield from _limit_families(cycle)
        yield from _valve_families(cycle)
        up = GaugeMetricFamily(
            _PREFIX + "target_up",
            "1 when the target could be read in the last cycle.",
            labels=["target"],
        )
        for target, ok in sorted(cycle.target_up.items()):
            up.add_metric([target], 1.0 if ok else 0.0)
        yield up
        skew = GaugeMetricFamily(
            _PREFIX + "clock_skew_seconds",
            "AWS's clock minus this machine's, from the Date of AWS's last answer (refusals "
            "included) against the request's signing time; AWS refuses beyond about 300.",
            labels=["target"],
        )
        for target, seconds in sorted(cycle.clock_skew.items()):
            skew.add_metric([target], seconds)
        yield skew

    def _calls_family(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            _PREFIX + "aws_calls",
            "AWS requests made, by operation and outcome.",
            labels=["operation", "outcome"],
        )
        for (operation, outcome), count in sorted(self._calls.snapshot().items()):
            family.add_metric([operation, outcome], count)
        yield family
        if self._notifications is not None:
            sent = CounterMetricFamily(
                _PREFIX + "notifications",
                "Notices handed to a channel, by channel and outcome (sent, failed, dropped).",
                labels=["channel", "outcome"],
            )
            for (channel, outcome), count in sorted(self._notifications.snapshot().items()):
                sent.add_metric([channel, outcome], count)
            yield sent

    def _plan_families(self, cycle: CycleResult, tag_labels: dict[str, str]) -> Iterator[Metric]:
        """One family at a time: with 1,000 plans the one-hot families alone hold over 20,000
        samples, and a scrape renders (and can let go of) each family before the next."""
        base = ["plan", "target", *tag_labels.values()]
        rows = [
            (result, plan, [plan.name, plan.target, *(result.tags.get(t, "") for t in tag_labels)])
            for result in cycle.results
            if (plan := result.plan) is not None
        ]

        def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(_PREFIX + name, doc, labels=base + (extra or []))

        end = gauge("plan_end_timestamp_seconds", "When the plan ends (EndTime).")
        for _, plan, labels in rows:
            end.add_metric(labels, plan.end_time.timestamp())
        yield end
        del end
        for name, doc, field in (
            ("plan_deadline", "The last safe moment to buy an extension.", "deadline"),
            ("plan_demand_end", "When the plan's consumers finish at the latest.", "demand_end"),
            ("plan_next_action", "When plan-watcher expects to act next.", "next_action"),
        ):
            family = gauge(name + "_timestamp_seconds", doc)
            for result, _, labels in rows:
                stamp = _ts(getattr(result.decision, field))
                if stamp is not None:
                    family.add_metric(labels, stamp)
            yield family
            del family
        yield _OneHot(
            "plan_status",
            "The plan's status (one-hot).",
            base + ["status"],
            [s.value for s in PlanStatus],
            [(labels, plan.status.value) for _, plan, labels in rows],
        )
        yield _OneHot(
            "plan_decision",
            "The last cycle's decision (one-hot).",
            base + ["decision"],
            [k.value for k in DecisionKind],
            [(labels, result.decision.kind.value) for result, _, labels in rows],
        )
        instances = gauge("plan_instances", "Instances of the plan by state.", ["state"])
        for _, plan, labels in rows:
            instances.add_metric(labels + ["total"], plan.total_instances)
            instances.add_metric(labels + ["in_use"], plan.in_use_instances)
            instances.add_metric(labels + ["available"], plan.available_instances)
        yield instances
        del instances
        consumers = gauge(
            "plan_consumers", "Consumers found on the plan (due plans only).", ["kind"]
        )
        for result, _, labels in rows:
            if result.consumers or result.decision.kind is not DecisionKind.NOT_DUE:
                _consumer_counts(consumers, labels, result)
        yield consumers
        del consumers
        unattributed = gauge(
            "plan_unattributed_instances",
            "Instances in use on a due plan that no job or cluster found accounts for.",
        )
        unknown = gauge(
            "plan_unknown_jobs",
            "Running jobs that could not be described and may run on the due plan.",
        )
        for result, _, labels in rows:
            unattributed.add_metric(labels, result.decision.unattributed)
            unknown.add_metric(labels, len(result.unknown_jobs))
        yield from (unattributed, unknown)

    def _budget_families(self, cycle: CycleResult) -> Iterator[Metric]:
        spent = GaugeMetricFamily(
            _PREFIX + "budget_spent",
            "Spend in the budget's current window.",
            labels=["budget", "currency"],
        )
        limit = GaugeMetricFamily(
            _PREFIX + "budget_limit",
            "The budget's limit per window.",
            labels=["budget", "currency"],
        )
        for item in cycle.budgets:
            state = item.state
            spent.add_metric([state.name, state.limit.currency], _number(state.spent.amount))
            limit.add_metric([state.name, state.limit.currency], _number(state.limit.amount))
        yield spent
        yield limit


def _limit_families(cycle: CycleResult) -> Iterator[Metric]:
    """safety.limits: each configured limit and what is used of it (counts of purchases have
    an empty currency)."""
    limit = GaugeMetricFamily(
        _PREFIX + "safety_limit",
        "A blast-radius limit (safety.limits): purchases or spend per cycle or per 24 hours.",
        labels=["limit", "currency"],
    )
    used = GaugeMetricFamily(
        _PREFIX + "safety_limit_used",
        "What is used of the limit: this cycle's purchases, or everything committed in the "
        "last 24 hours (AWS's history and the journal); the limit itself when unknown.",
        labels=["limit", "currency"],
    )
    for state in cycle.limits:
        labels = [state.key, state.currency or ""]
        limit.add_metric(labels, _number(state.limit))
        used.add_metric(labels, _number(state.used))
    yield limit
    yield used


def _valve_families(cycle: CycleResult) -> Iterator[Metric]:
    proposals = GaugeMetricFamily(
        _PREFIX + "proposals",
        "Proposals waiting for approval (pending) or for purchase (approved).",
        labels=["state"],
    )
    for state in ("pending", "approved"):
        proposals.add_metric([state], sum(1 for p in cycle.proposals if p.state.value == state))
    yield proposals
    paused = GaugeMetricFamily(
        _PREFIX + "purchases_paused",
        "1 while purchases are paused, by cause: operator (plan-watcher pause) or circuit_breaker.",
        labels=["cause"],
    )
    cause = None
    if cycle.paused is not None:
        cause = "circuit_breaker" if cycle.paused.breaker else "operator"
    for label in ("operator", "circuit_breaker"):
        paused.add_metric([label], 1.0 if cause == label else 0.0)
    yield paused
    yield GaugeMetricFamily(
        _PREFIX + "purchase_failures_in_a_row",
        "Purchases failed (or ambiguous) since the last one bought: the circuit breaker's count.",
        value=cycle.failures_in_a_row,
    )


def _consumer_counts(family: GaugeMetricFamily, labels: list[str], result: PlanResult) -> None:
    if result.plan is None or result.decision.kind in (
        DecisionKind.UNMANAGED,
        DecisionKind.EXPIRED,
        DecisionKind.IN_FLIGHT,
    ):
        return
    jobs = sum(1 for c in result.consumers if c.kind.value == "job")
    clusters = sum(1 for c in result.consumers if c.kind.value == "cluster")
    family.add_metric(labels + ["job"], jobs)
    family.add_metric(labels + ["cluster"], clusters)


def build_registry(
    calls: CallCounter,
    tag_labels: Mapping[str, str],
    notifications: CallCounter | None = None,
) -> tuple[CollectorRegistry, Telemetry, SnapshotCollector]:
    # `*_created` series double every counter and no dashboard or alert reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=False)
    telemetry = Telemetry(registry)
    snapshot = SnapshotCollector(calls, tag_labels, notifications)
    registry.register(snapshot)
    return registry, telemetry, snapshot
