"""How a cycle is carried out: threads kept from cycle to cycle, consumers read beside the plan
listing once a plan is due, a due plan's reads side by side (docs/performance.md). Speed is
measured by `make bench`; these tests hold the mechanisms, never a duration."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.world import Sizes, seed
from tests.integration.test_call_budget import SIZES, Fleet
from tests.integration.test_engine_support import Engine, by_name, client, make_config
from watcher.aws.sagemaker import SageMakerGateway
from watcher.clock import ManualClock
from watcher.survey import TARGET_WORKERS


def _count_started_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    start = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counting)
    return started


def test_a_target_keeps_its_worker_threads_from_cycle_to_cycle(
    sim: Any, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(sim, SIZES, clock.now())
    fleet = Fleet(tmp_path, clock)
    started = _count_started_threads(monkeypatch)
    for _ in range(12):
        fleet.cycle()
        clock.advance(minutes=5)

    # Threads per cycle would be a dozen or more a cycle; kept, they are at most the pools.
    assert 0 < len(started) <= len(fleet.config.targets) * TARGET_WORKERS
    assert {name.rsplit("_", 1)[0] for name in started} == {
        f"survey-{t.name}" for t in fleet.config.targets
    }

    fleet.reconciler.close()
    mine = tuple(f"survey-{t.name}_" for t in fleet.config.targets)
    for thread in threading.enumerate():
        if thread.name.startswith(mine):
            thread.join(timeout=10)
            assert not thread.is_alive(), thread.name


def test_consumers_are_read_beside_the_plan_listing_once_a_plan_is_due(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle after one without a due plan reads no consumer. A cycle after one with a due
    plan starts reading them before the plan listing is done (the listing below waits, up to
    a limit, for the job read to begin), and still makes the same calls."""
    sim.add_plan("far", ends_at=t0 + timedelta(days=20))
    sim.add_plan("soon", ends_at=t0 + timedelta(days=5))
    sim.add_job("run", plan="soon", max_runtime=timedelta(days=8))
    engine = Engine(make_config(tmp_path / "j.db", mode="dry-run"), clock, tmp_path / "j.db")
    first, calls = engine.cycle()
    assert by_name(first)["soon"].decision.kind.value == "not_due"
    clock.advance(minutes=5)
    _, calls = engine.cycle()
    assert calls["ListTrainingJobs"] == calls["ListClusters"] == 0

    clock.advance(sim.plan_end("soon") - timedelta(hours=70) - clock.now())  # in its window
    due, calls = engine.cycle()
    assert by_name(due)["soon"].decision.kind.value == "would_extend"
    assert calls["ListTrainingJobs"] == calls["ListClusters"] == 1

    jobs_read = threading.Event()
    listed_after_jobs: list[bool] = []
    plan_pages, changed = SageMakerGateway.plan_pages, SageMakerGateway.jobs_changed_since

    def slow_listing(self: SageMakerGateway) -> Any:
        listed_after_jobs.append(jobs_read.wait(timeout=10))
        return plan_pages(self)

    def jobs_changed_since(self: SageMakerGateway, *args: Any) -> Any:
        jobs_read.set()
        return changed(self, *args)

    monkeypatch.setattr(SageMakerGateway, "plan_pages", slow_listing)
    monkeypatch.setattr(SageMakerGateway, "jobs_changed_since", jobs_changed_since)
    clock.advance(minutes=5)
    steady, calls = engine.cycle()
    assert listed_after_jobs == [True]
    assert by_name(steady)["soon"].decision.kind.value == "would_extend"
    assert calls["ListTrainingJobs"] == calls["ListClusters"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 1


def test_a_due_plan_pending_at_aws_is_not_searched_again(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A due plan's offerings are searched beside its fresh history only while the history
    last read says it can be bought: a pending extension costs no search in later cycles."""
    arn = sim.add_plan("llm", ends_at=t0 + timedelta(hours=10))
    sim.add_job("run", plan="llm", max_runtime=timedelta(days=8))
    sm = client()
    offer = next(
        o
        for o in sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)[
            "TrainingPlanExtensionOfferings"
        ]
        if o["StartDate"] == sim.plan_end("llm")
    )
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    assert sim.plan_end("llm") - clock.now() < timedelta(hours=72)  # still due
    engine = Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")

    searches = []
    for _ in range(3):
        cycle, calls = engine.cycle()
        assert by_name(cycle)["llm"].decision.kind.value == "in_flight"
        searches.append(calls["SearchTrainingPlanOfferings"])
        clock.advance(minutes=2)  # the payment stays pending for 10 minutes
    assert searches[1:] == [0, 0]


def test_a_steady_cycle_at_the_bench_shape_makes_exactly_the_lower_bound(
    sim: Any, clock: ManualClock, tmp_path: Path
) -> None:
    """With several targets, full pages and the consumers read early, a steady cycle's calls
    are the lower bound, cycle after cycle."""
    from bench.costs import lower_bound

    sizes = Sizes(plans=240, jobs=900, in_progress=200, clusters=8, targets=2, due_share=0.05)
    seeded = seed(sim, sizes, clock.now())
    fleet = Fleet(tmp_path, clock, sizes)
    first, _ = fleet.cycle()
    for _ in range(3):
        clock.advance(minutes=5)
        steady, calls = fleet.cycle()
        bound = lower_bound(fleet.facts(steady, seeded))
        assert sum(calls.values()) == bound.total
        assert calls["ListTrainingJobs"] == bound.list_jobs == len(seeded)


def test_a_listing_that_fails_after_its_first_page_fails_the_whole_target(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plans are looked at as their page arrives; a later page failing still reports the
    target as down with no plan at all, as a failing first page does, and nothing it started
    is left running."""
    from watcher.aws.errors import AwsError, ErrorKind

    sim.add_plan("soon", ends_at=t0 + timedelta(hours=40))
    sim.add_job("run", plan="soon", max_runtime=timedelta(days=8))
    engine = Engine(make_config(tmp_path / "j.db", mode="dry-run"), clock, tmp_path / "j.db")
    plan_pages = SageMakerGateway.plan_pages

    def failing_after_one_page(self: SageMakerGateway) -> Any:
        yield from plan_pages(self)
        raise AwsError(ErrorKind.THROTTLED, "ListTrainingPlans", "ThrottlingException", "slow")

    engine.cycle()  # the cache is warm: the next cycle starts the due plan's reads at once
    monkeypatch.setattr(SageMakerGateway, "plan_pages", failing_after_one_page)
    clock.advance(minutes=5)
    cycle, calls = engine.cycle()
    assert cycle.results == []
    assert cycle.target_up == {"default": False}
    assert cycle.errors == [
        "target default: throttled: ListTrainingPlans: ThrottlingException: slow"
    ]
    # The due plan's reads, started from the first page, were waited for.
    assert calls["SearchTrainingPlanOfferings"] == 1


def test_decision_lines_are_built_only_when_the_level_writes_them(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line per plan per cycle at info: at `logging.level: warning` none is built (a
    thousand plans' fields every cycle, for nothing)."""
    import structlog

    import watcher.reconcile

    sim.add_plan("far", ends_at=t0 + timedelta(days=20))
    built: list[str] = []
    fields = watcher.reconcile.decision_fields

    def counting(result: Any) -> Any:
        built.append(result.plan_name)
        return fields(result)

    monkeypatch.setattr(watcher.reconcile, "decision_fields", counting)
    engine = Engine(make_config(tmp_path / "j.db", mode="dry-run"), clock, tmp_path / "j.db")
    filtering = structlog.make_filtering_bound_logger(logging.WARNING)
    engine.reconciler.log = structlog.wrap_logger(engine.logger, wrapper_class=filtering)
    engine.cycle()
    assert built == []
    engine.reconciler.log = structlog.wrap_logger(engine.logger, processors=[])
    engine.cycle()
    assert built == ["far"]


def test_a_listing_that_fails_after_its_first_page_leaves_no_first_look_running(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan of the first page whose first look needs AWS (nothing of it is cached yet) is
    looked at in a worker; the cycle returns only once that look is over, even when a later
    page fails, so nothing of the cycle is still reading (or settling) after it."""
    from watcher.aws.errors import AwsError, ErrorKind

    sim.add_plan("known", ends_at=t0 + timedelta(days=20))
    engine = Engine(make_config(tmp_path / "j.db", mode="dry-run"), clock, tmp_path / "j.db")
    engine.cycle()  # `known` is cached; `new`, added now, is not
    sim.add_plan("new", ends_at=t0 + timedelta(days=21))
    plan_pages, history = SageMakerGateway.plan_pages, SageMakerGateway.extension_history
    returned = threading.Event()
    reading: list[str] = []

    def failing_after_one_page(self: SageMakerGateway) -> Any:
        yield from plan_pages(self)
        raise AwsError(ErrorKind.THROTTLED, "ListTrainingPlans", "ThrottlingException", "slow")

    def slow_history(self: SageMakerGateway, arn: str) -> Any:
        reading.append(arn)
        returned.wait(timeout=1)  # long past the failed listing, if the cycle does not wait
        reading.remove(arn)
        return history(self, arn)

    monkeypatch.setattr(SageMakerGateway, "plan_pages", failing_after_one_page)
    monkeypatch.setattr(SageMakerGateway, "extension_history", slow_history)
    clock.advance(minutes=5)
    try:
        cycle, _ = engine.cycle()
        still_reading = list(reading)
    finally:
        returned.set()
        engine.reconciler.close()
    assert cycle.target_up == {"default": False}
    assert still_reading == []
