"""How many AWS calls a cycle makes, against the lower bound docs/performance.md derives.

The estate is the bench's (bench/world.py) at a small size, in-process: several regions, full
pages of plans and jobs, due and far plans, running and finished jobs, clusters.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import structlog
from structlog.testing import CapturingLogger

from bench.costs import TargetFacts, lower_bound
from bench.world import Sizes, seed, watcher_config
from tests.integration.test_engine_support import calls_since
from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import PAGE_SIZE, SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.clock import ManualClock
from watcher.config import parse_config
from watcher.journal.sqlite import SqliteJournal
from watcher.reconcile import Reconciler
from watcher.results import CycleResult

# Two regions of 30 plans and 400 jobs each: a full scan of running jobs takes several pages.
SIZES = Sizes(plans=60, jobs=800, in_progress=160, clusters=6, targets=2, due_share=0.1)
SEARCHED = {"would_extend", "extended", "no_offering", "over_budget", "proposed"}
NOT_DUE = {"not_due", "unmanaged", "expired"}


class Fleet:
    """A reconciler over every target of the estate, counting its requests."""

    def __init__(self, tmp_path: Path, clock: ManualClock, sizes: Sizes = SIZES) -> None:
        data = watcher_config(sizes, str(tmp_path / "j.db"), "127.0.0.1:9108")
        self.config = parse_config(data, environ={"AWS_REGION": "us-east-1"})
        self.counter = CallCounter()
        gateways = {
            t.name: SageMakerGateway(
                TargetSpec(t.name, t.region), boto3.Session(region_name=t.region), self.counter
            )
            for t in self.config.targets
        }
        log = structlog.wrap_logger(CapturingLogger(), processors=[])
        self.reconciler = Reconciler(
            self.config, clock, SqliteJournal(tmp_path / "j.db"), gateways, log
        )

    def cycle(self) -> tuple[CycleResult, Counter[str]]:
        before = self.counter.snapshot()
        return self.reconciler.run_cycle(), calls_since(self.counter, before)

    def facts(self, cycle: CycleResult, seeded: list[Any]) -> list[TargetFacts]:
        found = []
        for target, region in zip(self.config.targets, seeded, strict=True):
            kinds = [r.decision.kind.value for r in cycle.results if r.target == target.name]
            found.append(
                TargetFacts(
                    name=target.name,
                    plans=region.plans,
                    clusters=region.clusters,
                    due=sum(1 for k in kinds if k not in NOT_DUE),
                    searched=sum(1 for k in kinds if k in SEARCHED),
                )
            )
        return found


def _finished_jobs(sim: Any, t0: datetime, count: int) -> None:
    for n in range(count):
        sim.add_job(
            f"old-{n:03d}",
            plan="llm",
            started_at=t0 - timedelta(days=20) + timedelta(minutes=n),
            max_runtime=timedelta(hours=2),
            status="Completed",
        )


def _decisions(cycle: CycleResult) -> dict[str, str]:
    return {r.plan_name: r.decision.kind.value for r in cycle.results}


def test_a_steady_cycle_makes_no_more_calls_than_the_lower_bound(
    sim: Any, clock: ManualClock, tmp_path: Path
) -> None:
    seeded = seed(sim, SIZES, clock.now())
    fleet = Fleet(tmp_path, clock)
    first, first_calls = fleet.cycle()
    # The first cycle scans every running job: several pages per target.
    assert first_calls["ListTrainingJobs"] > 2 * len(seeded)

    clock.advance(minutes=5)
    steady, calls = fleet.cycle()

    assert _decisions(steady) == _decisions(first)
    bound = lower_bound(fleet.facts(steady, seeded))
    assert bound.search > 0 and bound.history > 0
    assert dict(calls) == {
        "ListTrainingPlans": bound.list_plans,
        "ListTrainingJobs": bound.list_jobs,
        "ListClusters": bound.list_clusters,
        "DescribeTrainingPlanExtensionHistory": bound.history,
        "SearchTrainingPlanOfferings": bound.search,
    }


def test_jobs_that_start_or_stop_between_cycles_change_the_demand(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """The steady cycle reads only jobs changed since the last one, and still sees a job that
    started (new demand) and one that stopped (demand gone)."""
    arn = sim.add_plan("llm", ends_at=t0 + timedelta(hours=40))
    _finished_jobs(sim, t0, 250)  # three pages for a full scan
    fleet = Fleet(tmp_path, clock, Sizes(targets=1))
    cycle, calls = fleet.cycle()
    assert _decisions(cycle)["llm"] == "no_demand"
    assert calls["ListTrainingJobs"] == 3

    clock.advance(minutes=5)
    boto3.client("sagemaker", region_name="us-east-1").create_training_job(
        TrainingJobName="new-run",
        AlgorithmSpecification={"TrainingImage": "trainer:1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/training",
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={
            "InstanceType": "ml.p5.48xlarge",
            "InstanceCount": 4,
            "VolumeSizeInGB": 50,
            "TrainingPlanArn": arn,
        },
        StoppingCondition={"MaxRuntimeInSeconds": 5 * 24 * 3600},
    )
    clock.advance(minutes=5)
    cycle, calls = fleet.cycle()
    result = next(r for r in cycle.results if r.plan_name == "llm")
    assert result.decision.kind.value == "would_extend"
    assert [c.name for c in result.consumers] == ["new-run"]
    assert calls["ListTrainingJobs"] == 1

    # The simulator has no StopTrainingJob: the job stops as AWS records it, status and time.
    job = sim.world.jobs[next(a for a in sim.world.jobs if a.endswith("/new-run"))]
    clock.advance(minutes=5)
    job.status, job.end_time = "Stopped", clock.now()
    clock.advance(minutes=5)
    cycle, calls = fleet.cycle()
    assert _decisions(cycle)["llm"] == "no_demand"
    assert calls["ListTrainingJobs"] == 1


def test_running_jobs_are_scanned_in_full_again_after_an_hour(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("llm", ends_at=t0 + timedelta(hours=40))
    _finished_jobs(sim, t0, 150)
    fleet = Fleet(tmp_path, clock, Sizes(targets=1))
    scans = []
    for _ in range(14):
        _, calls = fleet.cycle()
        scans.append(calls["ListTrainingJobs"])
        clock.advance(minutes=5)
    # Full (2 pages) at the start and once 60 minutes have passed; one page in between.
    assert scans == [2] + [1] * 11 + [2, 1]


def test_every_list_asks_for_full_pages(sim: Any, clock: ManualClock, tmp_path: Path) -> None:
    """AWS documents no default page size; asking for 100 keeps the call count from
    depending on it."""
    asked: list[tuple[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name.startswith("List") or model.name.endswith("History"):
            asked.append((model.name, params.get("MaxResults")))

    sim.add_plan("llm", ends_at=clock.now() + timedelta(hours=40))
    sim.add_job("run", plan="llm", max_runtime=timedelta(days=5))
    session = boto3.Session(region_name="us-east-1")
    session.events.register("provide-client-params.sagemaker.*", record)
    gateway = SageMakerGateway(TargetSpec("default", "us-east-1"), session)
    plans, _ = gateway.list_plans()
    gateway.extension_history(plans[0].arn)
    gateway.in_progress_jobs()
    gateway.jobs_changed_since(clock.now() - timedelta(hours=1), clock.now() - timedelta(days=57))
    gateway.clusters()

    assert {name for name, _ in asked} == {
        "ListTrainingPlans",
        "DescribeTrainingPlanExtensionHistory",
        "ListTrainingJobs",
        "ListClusters",
    }
    assert {size for _, size in asked} == {PAGE_SIZE}


def _rss_mb() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_more_targets_do_not_mean_more_copies_of_the_service_model(sim: Any) -> None:
    """One gateway per target, each with its own session: the SageMaker model (about 20 MB
    parsed) is held once, not once per target."""
    SageMakerGateway(TargetSpec("first", "us-east-1"), boto3.Session(region_name="us-east-1"))
    before = _rss_mb()
    gateways = [
        SageMakerGateway(TargetSpec(f"t{n}", region), boto3.Session(region_name=region))
        for n, region in enumerate(("us-west-2", "eu-west-1", "ap-northeast-1", "us-east-2"))
    ]
    grown = _rss_mb() - before
    assert len(gateways) == 4
    assert grown < 15, f"four more targets took {grown:.0f} MB"
