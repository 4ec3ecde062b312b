"""The simulator where AWS's record is richer than one reserved capacity per plan: extensions in
another zone, jobs waiting between capacities, Failed and UltraServer plans, cluster ARNs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import NO_RETRY
from tests.integration.test_engine_support import buy_offering
from watcher.clock import ManualClock
from watcher.sandbox.settings import SimSettings

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"


def _buy(sm: Any, sim: Any, arn: str, hours: int, zone: str, later: bool = False) -> None:
    """Buy the offering that starts at the plan's end (or a day later) in `zone`."""
    end = sim.plan_end(arn)
    buy_offering(sm, arn, hours, end + timedelta(days=1) if later else end, zone)


def _capacities(sm: Any, arn: str) -> list[tuple[datetime, datetime, str]]:
    plan = sm.describe_training_plan(TrainingPlanName=arn)
    return [
        (c["StartTime"], c["EndTime"], c["AvailabilityZone"])
        for c in plan["ReservedCapacitySummaries"]
    ]


def test_an_extension_in_another_zone_is_a_reserved_capacity_of_its_own(
    sim: Any, sm_no_retry: Any, clock: ManualClock, t0: datetime
) -> None:
    arn = sim.add_plan("zones", ends_at=t0 + timedelta(days=2))
    end = sim.plan_end(arn)
    start = sm_no_retry.describe_training_plan(TrainingPlanName=arn)["StartTime"]

    _buy(sm_no_retry, sim, arn, 24, ZONE_B)
    assert _capacities(sm_no_retry, arn) == [
        (start, end, ZONE_A),
        (end, end + timedelta(days=1), ZONE_B),
    ]
    # An extension that carries on in the zone the plan now ends in lengthens that capacity,
    # and offerings start from it: "exact" in its zone, "other_az" in the other.
    clock.advance(minutes=11)  # the first one's payment has settled
    _buy(sm_no_retry, sim, arn, 24, ZONE_B)
    assert _capacities(sm_no_retry, arn) == [
        (start, end, ZONE_A),
        (end, end + timedelta(days=2), ZONE_B),
    ]


def _job_across(sim: Any, t0: datetime, arn: str, end: datetime, past_end: timedelta) -> None:
    """A job on `arn` that runs `past_end` beyond `end`, the plan's first capacity's end."""
    started = t0 - timedelta(days=1)
    sim.add_job("run", plan=arn, started_at=started, max_runtime=end - started + past_end)


def _job(sm: Any) -> dict[str, Any]:
    return dict(sm.describe_training_job(TrainingJobName="run"))


def test_a_job_waits_in_pending_across_a_gap_between_capacities(
    sim: Any, sm_no_retry: Any, clock: ManualClock, t0: datetime
) -> None:
    arn = sim.add_plan("gap", ends_at=t0 + timedelta(days=2), instance_count=4)
    end = sim.plan_end(arn)
    _buy(sm_no_retry, sim, arn, 48, ZONE_A, later=True)  # a day's gap, then two days
    _job_across(sim, t0, arn, end, timedelta(hours=6))
    naive_end = end + timedelta(hours=6)

    clock.set(end - timedelta(minutes=29))
    job = _job(sm_no_retry)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("InProgress", "Pending")
    [pause] = sim.record.pauses
    assert (pause.at, pause.until) == (end - timedelta(minutes=30), end + timedelta(days=1))
    assert sm_no_retry.describe_training_plan(TrainingPlanName=arn)["InUseInstanceCount"] == 0

    clock.set(end + timedelta(days=1, minutes=1))
    assert _job(sm_no_retry)["SecondaryStatus"] == "Training"
    # The wait does not count toward its runtime: it ends 24.5 h later than it would have.
    clock.set(naive_end + timedelta(hours=24))
    assert _job(sm_no_retry)["TrainingJobStatus"] == "InProgress"
    clock.set(naive_end + timedelta(hours=24, minutes=31))
    assert _job(sm_no_retry)["TrainingJobStatus"] == "Completed"
    assert sim.record.interruptions == []


def test_the_wait_can_count_toward_the_runtime(
    make_sim: Any, clock: ManualClock, t0: datetime
) -> None:
    sim = make_sim(settings=SimSettings(pending_counts_toward_runtime=True))
    sm = boto3.client("sagemaker", region_name="us-east-1", config=NO_RETRY)
    arn = sim.add_plan("gap", ends_at=t0 + timedelta(days=2), instance_count=4)
    end = sim.plan_end(arn)
    _buy(sm, sim, arn, 48, ZONE_A, later=True)
    _job_across(sim, t0, arn, end, timedelta(hours=6))

    clock.set(end + timedelta(days=1, minutes=1))
    assert _job(sm)["TrainingJobStatus"] == "Completed"  # it ran out while waiting


def test_a_job_waits_for_a_capacity_in_another_zone(
    sim: Any, sm_no_retry: Any, clock: ManualClock, t0: datetime
) -> None:
    arn = sim.add_plan("moved", ends_at=t0 + timedelta(days=2), instance_count=4)
    end = sim.plan_end(arn)
    _buy(sm_no_retry, sim, arn, 24, ZONE_B)
    _job_across(sim, t0, arn, end, timedelta(hours=6))

    clock.set(end - timedelta(minutes=10))
    assert _job(sm_no_retry)["SecondaryStatus"] == "Pending"
    clock.set(end + timedelta(minutes=1))
    assert _job(sm_no_retry)["SecondaryStatus"] == "Training"
    [pause] = sim.record.pauses
    assert pause.until - pause.at == timedelta(minutes=30)


def test_a_job_with_no_capacity_to_come_fails(
    sim: Any, sm_no_retry: Any, clock: ManualClock, t0: datetime
) -> None:
    arn = sim.add_plan("last", ends_at=t0 + timedelta(days=2), instance_count=4)
    end = sim.plan_end(arn)
    _job_across(sim, t0, arn, end, timedelta(hours=6))
    clock.set(end)
    assert _job(sm_no_retry)["TrainingJobStatus"] == "Failed"
    assert [i.consumer for i in sim.record.interruptions] == ["run"]


def test_a_failed_plan_is_listed_but_neither_searched_nor_extended(
    sim: Any, sm_no_retry: Any, t0: datetime
) -> None:
    arn = sim.add_plan("broken", ends_at=t0 + timedelta(days=2), failed=True)

    listed = sm_no_retry.list_training_plans(Filters=[{"Name": "Status", "Value": "Failed"}])
    [plan] = listed["TrainingPlanSummaries"]
    assert (plan["TrainingPlanArn"], plan["Status"]) == (arn, "Failed")
    assert {c["Status"] for c in plan["ReservedCapacitySummaries"]} == {"Failed"}
    with pytest.raises(ClientError) as refused:
        sm_no_retry.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Failed" in refused.value.response["Error"]["Message"]


def test_an_ultraserver_plan_is_listed_searched_and_extended(
    sim: Any, sm_no_retry: Any, t0: datetime
) -> None:
    arn = sim.add_plan(
        "gb200",
        ends_at=t0 + timedelta(days=2),
        instance_type="ml.p6e-gb200.36xlarge",
        instance_count=36,
        ultraserver_type="ml.u-p6e-gb200x72",
        ultraserver_count=2,
    )

    [plan] = sm_no_retry.list_training_plans()["TrainingPlanSummaries"]
    assert plan["TotalUltraServerCount"] == 2
    [capacity] = plan["ReservedCapacitySummaries"]
    assert capacity["ReservedCapacityType"] == "UltraServer"
    assert (capacity["UltraServerType"], capacity["UltraServerCount"]) == ("ml.u-p6e-gb200x72", 2)
    assert capacity["TotalInstanceCount"] == 36
    end = sim.plan_end(arn)
    _buy(sm_no_retry, sim, arn, 24, ZONE_A)
    assert sim.plan_end(arn) == end + timedelta(days=1)
    [capacity] = sm_no_retry.describe_training_plan(TrainingPlanName=arn)[
        "ReservedCapacitySummaries"
    ]
    assert capacity["ReservedCapacityType"] == "UltraServer"


CLUSTER_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}")


def test_cluster_arns_carry_a_twelve_character_id(sim: Any, sm_no_retry: Any, t0: datetime) -> None:
    sim.add_plan("hp-plan", ends_at=t0 + timedelta(days=3))
    seeded = sim.add_cluster("hp", groups=[("workers", "hp-plan", 2)])
    created = sm_no_retry.create_cluster(
        ClusterName="hp-2",
        InstanceGroups=[
            {
                "InstanceGroupName": "workers",
                "InstanceType": "ml.p5.48xlarge",
                "InstanceCount": 1,
                "LifeCycleConfig": {"SourceS3Uri": "s3://b/l", "OnCreate": "on.sh"},
                "ExecutionRole": "arn:aws:iam::123456789012:role/hp",
            }
        ],
    )["ClusterArn"]

    for arn in (seeded, created):
        assert CLUSTER_ARN.fullmatch(arn), arn
    assert seeded != created
    listed = sm_no_retry.list_clusters()["ClusterSummaries"]
    assert {c["ClusterName"]: c["ClusterArn"] for c in listed} == {"hp": seeded, "hp-2": created}
    assert sm_no_retry.describe_cluster(ClusterName="hp")["ClusterArn"] == seeded
    assert sm_no_retry.describe_cluster(ClusterName=seeded)["ClusterName"] == "hp"
    # A cluster created again under the same name is another cluster, with another id.
    sm_no_retry.delete_cluster(ClusterName="hp")
    again = sim.add_cluster("hp", groups=[("workers", "hp-plan", 2)])
    assert again != seeded and CLUSTER_ARN.fullmatch(again)
