"""/metrics is rendered one metric family at a time (a large gauge family a slice of samples
at a time), with the one-hot families' samples made as they are written: the same text as
prometheus_client's generate_latest, served over HTTP, without holding every sample and line
of a large estate at once."""

from __future__ import annotations

import http.client
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from watcher.aws.calls import CallCounter
from watcher.config import Mode
from watcher.model import Decision, DecisionKind, Plan, PlanStatus
from watcher.observe.http import EndpointServer, exposition
from watcher.observe.metrics import build_registry
from watcher.results import CycleResult, PlanResult

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KINDS = list(DecisionKind)


def _cycle(plans: int) -> CycleResult:
    cycle = CycleResult(cycle_id="c", started_at=NOW, mode=Mode.DRY_RUN, finished_at=NOW)
    for n in range(plans):
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-plan/p-{n:04d}"
        plan = Plan(arn, f"p-{n:04d}", "prod", PlanStatus.ACTIVE, NOW, NOW + timedelta(days=n))
        kind = KINDS[n % len(KINDS)]
        decision = Decision(arn, kind, f"reason {n}", deadline=NOW + timedelta(days=n))
        cycle.results.append(PlanResult(arn, plan.name, "prod", decision, plan))
    cycle.target_up = {"prod": True}
    return cycle


def _registry(plans: int) -> Any:
    registry, _, snapshot = build_registry(CallCounter(), {})
    snapshot.update(_cycle(plans))
    return registry


def test_the_streamed_exposition_is_generate_latests_text_and_is_served() -> None:
    registry = _registry(300)
    text = generate_latest(registry)
    assert b"".join(exposition(registry)) == text
    server = EndpointServer("127.0.0.1", 0, registry, _Source())
    server.start()
    try:
        host, port = server.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=20) as response:
            served = response.read()
    finally:
        server.stop()
    assert served == text
    ones: Counter[str] = Counter()
    for family in text_string_to_metric_families(served.decode()):
        if family.name == "plan_watcher_plan_decision":
            assert len(family.samples) == 300 * len(KINDS)
            ones.update(s.labels["plan"] for s in family.samples if s.value == 1.0)
    assert set(ones.values()) == {1} and len(ones) == 300


def test_a_scrape_holds_one_family_at_a_time() -> None:
    registry = _registry(1000)
    tracemalloc.start()
    try:
        generate_latest(registry)
        whole = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _ in exposition(registry):
            pass
        streamed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Rendered whole, every family's lines and the joined text are held at the end.
    assert streamed < 0.7 * whole, (streamed, whole)


def test_a_large_family_is_written_a_slice_of_samples_at_a_time() -> None:
    """The one-hot decision family of 1,000 plans is 16,000 lines: a scrape holds a slice of
    them at a time, not the family's whole text (the daemon's peak RSS was a scrape's)."""
    registry = _registry(1000)
    family = next(f for f in registry.collect() if f.name == "plan_watcher_plan_decision")
    alone = CollectorRegistry(auto_describe=False)
    alone.register(_Fixed(family))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        generate_latest(alone)
        one_family = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _ in exposition(registry):
            pass
        streamed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert streamed < 0.6 * one_family, (streamed, one_family)


class _Fixed(Collector):
    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


class _Source:
    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        return True, "ok"

    def status(self) -> dict[str, Any]:
        return {}


class _Failing:
    def collect(self) -> Any:
        raise RuntimeError("a collector failed")
        yield


def test_a_scrape_whose_rendering_fails_is_a_failed_scrape_not_a_short_one() -> None:
    """As with prometheus_client's own handler, a collector that fails makes the scrape fail
    (Prometheus sets `up` to 0): the families already written (300 plans' worth, well past
    the first chunk) must not read as a whole, valid exposition with the rest missing."""
    registry = _registry(300)
    registry.register(_Failing())  # type: ignore[arg-type]
    server = EndpointServer("127.0.0.1", 0, registry, _Source())
    server.start()
    url = f"http://{server.address[0]}:{server.address[1]}/metrics"
    try:
        with (
            pytest.raises((OSError, http.client.HTTPException)),
            urllib.request.urlopen(url, timeout=20) as response,
        ):
            response.read()
    finally:
        server.stop()
