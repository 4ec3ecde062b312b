"""Process-wide counters of plan-watcher's metrics (SPEC section 6): purchases, decisions,
spend, reconcile durations, proposal events and settled purchases, accumulated over the
process's life in the daemon's registry. The per-plan series of the last cycle are built at
scrape time by `watcher/observe/metrics.py`.
"""

from __future__ import annotations

import collections
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from watcher import __version__
from watcher.results import CycleResult

PREFIX = "plan_watcher_"
PROPOSAL_EVENTS = (
    "created",
    "approved",
    "auto_approved",
    "rejected",
    "expired",
    "superseded",
    "purchased",
)


def number(amount: Decimal) -> float:
    # Prometheus samples are floats; this is reporting only, never arithmetic on money.
    return float(amount)


class Telemetry:
    """Counters that accumulate over the process's life, in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.extensions = Counter(
            PREFIX + "extensions",
            "Extension purchases attempted by this process, by result.",
            ["result"],
            registry=registry,
        )
        self.decisions = Counter(
            PREFIX + "decisions",
            "Decisions made, by decision value.",
            ["decision"],
            registry=registry,
        )
        self.spend = Counter(
            PREFIX + "spend",
            "Upfront fees of extensions bought by this process, by currency.",
            ["currency"],
            registry=registry,
        )
        self.duration = Histogram(
            PREFIX + "reconcile_duration_seconds",
            "Wall time of one reconcile cycle.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.last_success = Gauge(
            PREFIX + "reconcile_last_success_timestamp_seconds",
            "When the last reconcile cycle completed.",
            registry=registry,
        )
        self.leader = Gauge(
            PREFIX + "leader", "1 when this replica is the one reconciling.", registry=registry
        )
        self.proposal_events = Counter(
            PREFIX + "proposal_events",
            "What cycles did to proposals: created, approved (by tag), auto_approved, rejected, "
            "expired, superseded, purchased.",
            ["event"],
            registry=registry,
        )
        for event in PROPOSAL_EVENTS:
            self.proposal_events.labels(event=event)
        self.settled = Counter(
            PREFIX + "purchases_settled",
            "Purchases with an unknown outcome settled from AWS's record, by outcome "
            "(bought, not_bought).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("bought", "not_bought"):
            self.settled.labels(outcome=outcome)
        self.reported_failed = Counter(
            PREFIX + "extensions_reported_failed",
            "Extensions this process bought (or whose outcome was unknown) that AWS's history "
            "lists as Failed, for example on payment: nothing was bought, and the plan may be "
            "bought for again from the same end.",
            registry=registry,
        )
        build = Gauge(PREFIX + "build_info", "Build information.", ["version"], registry=registry)
        build.labels(version=__version__).set(1)
        for result in ("bought", "failed", "ambiguous"):
            self.extensions.labels(result=result)

    def observe_cycle(self, cycle: CycleResult, seconds: float) -> None:
        self.duration.observe(seconds)
        kinds = collections.Counter(result.decision.kind.value for result in cycle.results)
        for kind, count in kinds.items():
            self.decisions.labels(decision=kind).inc(count)
        for result in cycle.results:
            purchase = result.purchase
            if purchase is None or purchase.result.value == "lost_race":
                continue
            self.extensions.labels(result=purchase.result.value).inc()
            if purchase.result.value == "bought":
                fee = purchase.intent.fee
                self.spend.labels(currency=fee.currency).inc(number(fee.amount))
        for event in cycle.proposal_events:
            self.proposal_events.labels(event=event).inc()
        for settled in cycle.settled:
            if settled.failed is not None:
                self.reported_failed.inc()
            if settled.intent.state.value == "bought":
                continue  # a purchase recorded as bought whose extension failed: not unknown
            outcome = "bought" if settled.state.value == "bought" else "not_bought"
            self.settled.labels(outcome=outcome).inc()
        if cycle.finished_at is not None and not cycle.errors:
            self.last_success.set(cycle.finished_at.timestamp())
