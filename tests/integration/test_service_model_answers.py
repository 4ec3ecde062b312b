"""The gateway reads the same values through plan-watcher's cut of the SageMaker model as
through botocore's full one, from the simulator's full answers: a field a parser reads but
the cut drops (botocore would leave it out of every answer) fails here."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import boto3

from tests.integration.test_engine_support import REGION, buy_offering, client
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec


def _gateways() -> tuple[SageMakerGateway, SageMakerGateway]:
    ours = SageMakerGateway(TargetSpec("t", REGION), boto3.Session(region_name=REGION))
    full = SageMakerGateway(TargetSpec("t", REGION), boto3.Session(region_name=REGION))
    full._read = full._write = boto3.Session(region_name=REGION).client("sagemaker")
    assert len(full._read.meta.service_model.operation_names) > 100
    return ours, full


def test_every_read_gives_the_same_values_through_both_models(sim: Any, t0: datetime) -> None:
    arn = sim.add_plan("llm", ends_at=t0 + timedelta(hours=40), instance_count=4)
    end = sim.plan_end(arn)
    buy_offering(client(), arn, 24, end, "us-east-1b")  # a second capacity, in another zone
    sim.add_plan("far", ends_at=t0 + timedelta(days=30))
    sim.add_job("run", plan="llm", max_runtime=timedelta(days=5))
    sim.add_job(
        "placed", plan=None, max_runtime=timedelta(days=2), preferences=[("ml.p5.48xlarge", "far")]
    )
    sim.add_cluster("hp", groups=[("controller", None, 1), ("workers", "llm", 2)])
    ours, full = _gateways()

    def both(read: Any) -> Any:
        mine, theirs = read(ours), read(full)
        assert mine == theirs
        return mine

    plans, bad = both(lambda g: g.list_plans())
    assert not bad and {p.name for p in plans} == {"llm", "far"}
    llm = next(p for p in plans if p.name == "llm")
    assert len(llm.capacities) == 2 and len(set(llm.availability_zones)) == 2
    both(lambda g: g.describe_plan(arn))
    assert both(lambda g: g.extension_history(arn))[0]
    # Every search names its offerings afresh: compare all but the IDs.
    offered = [g.search_extension_offerings(arn, 24)[0] for g in (ours, full)]
    mine, theirs = ([replace(o, offering_id="") for o in found] for found in offered)
    assert mine and mine == theirs
    jobs = both(lambda g: g.in_progress_jobs())
    assert {j.name for j in jobs} == {"run", "placed"}
    both(lambda g: g.jobs_changed_since(t0 - timedelta(hours=1), t0 - timedelta(days=57)))
    for job in jobs:
        both(lambda g, name=job.name: g.describe_job(name))
    assert both(lambda g: g.clusters())
