"""Training jobs and HyperPod clusters on plans, through real boto3 clients: the links to the
plan, the ListTrainingJobs StatusEquals + MaxResults quirk, and capacity lost at the end."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from watcher.clock import ManualClock

ROLE = "arn:aws:iam::123456789012:role/sandbox"


def _create_job(sm: Any, name: str, plan_arn: str | None, runtime: timedelta) -> str:
    resources: dict[str, Any] = {
        "InstanceType": "ml.p5.48xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 50,
    }
    if plan_arn is not None:
        resources["TrainingPlanArn"] = plan_arn
    return str(
        sm.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": "trainer:1", "TrainingInputMode": "File"},
            RoleArn=ROLE,
            OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
            ResourceConfig=resources,
            StoppingCondition={"MaxRuntimeInSeconds": int(runtime.total_seconds())},
        )["TrainingJobArn"]
    )


@pytest.fixture
def plan(sim: Any, t0: datetime) -> str:
    """An Active plan ending in two days at 11:30 UTC."""
    return str(sim.add_plan("jobs-plan", ends_at=t0 + timedelta(days=2), instance_count=4))


# --- training jobs -------------------------------------------------------------------------


def test_job_created_on_a_plan_carries_its_arn(sim: Any, sm: Any, plan: str) -> None:
    arn = _create_job(sm, "train-1", plan, timedelta(hours=5))
    job = sm.describe_training_job(TrainingJobName="train-1")
    assert job["TrainingJobArn"] == arn
    assert job["TrainingJobStatus"] == "InProgress"
    assert job["ResourceConfig"]["TrainingPlanArn"] == plan
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 5 * 3600
    [summary] = sm.list_training_jobs()["TrainingJobSummaries"]
    assert summary["TrainingPlanArn"] == plan
    assert summary["TrainingJobStatus"] == "InProgress"
    assert sm.describe_training_plan(TrainingPlanName=plan)["InUseInstanceCount"] == 2


def test_job_on_an_unknown_plan_is_refused(sim: Any, sm: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        _create_job(
            sm,
            "orphan",
            "arn:aws:sagemaker:us-east-1:123456789012:training-plan/ghost",
            timedelta(hours=1),
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_unknown_job_is_a_validation_error(sim: Any, sm: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        sm.describe_training_job(TrainingJobName="nobody")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_training_plan_arn_equals_filters(sim: Any, sm: Any, plan: str, t0: datetime) -> None:
    other = sim.add_plan("other-plan", ends_at=t0 + timedelta(days=3))
    _create_job(sm, "mine-1", plan, timedelta(hours=5))
    _create_job(sm, "theirs", other, timedelta(hours=5))
    _create_job(sm, "no-plan", None, timedelta(hours=5))
    _create_job(sm, "mine-2", plan, timedelta(hours=5))
    mine = sm.list_training_jobs(TrainingPlanArnEquals=plan)["TrainingJobSummaries"]
    assert sorted(j["TrainingJobName"] for j in mine) == ["mine-1", "mine-2"]
    assert {j["TrainingPlanArn"] for j in mine} == {plan}
    [loose] = [
        j
        for j in sm.list_training_jobs()["TrainingJobSummaries"]
        if j["TrainingJobName"] == "no-plan"
    ]
    assert "TrainingPlanArn" not in loose


def test_job_completes_when_its_runtime_is_over(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    _create_job(sm, "short", plan, timedelta(hours=2))
    clock.advance(hours=1, minutes=59)
    assert sm.describe_training_job(TrainingJobName="short")["TrainingJobStatus"] == "InProgress"
    clock.advance(minutes=1)
    job = sm.describe_training_job(TrainingJobName="short")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["TrainingEndTime"] == clock.now()
    assert sm.describe_training_plan(TrainingPlanName=plan)["InUseInstanceCount"] == 0
    assert sim.record.interruptions == []


def test_job_is_stopped_30_minutes_before_its_plan_ends(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    _create_job(sm, "long", plan, timedelta(days=5))
    end = sim.plan_end(plan)
    clock.set(end - timedelta(minutes=31))
    assert sm.describe_training_job(TrainingJobName="long")["TrainingJobStatus"] == "InProgress"
    clock.set(end - timedelta(minutes=29))
    job = sm.describe_training_job(TrainingJobName="long")
    assert job["TrainingJobStatus"] == "Failed"
    assert "Capacity" in job["FailureReason"]
    assert job["TrainingEndTime"] == end - timedelta(minutes=30)
    [cut] = sim.record.interruptions
    assert (cut.kind, cut.consumer, cut.plan_arn) == ("job", "long", plan)
    assert cut.at == end - timedelta(minutes=30)
    failed = sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in failed] == ["long"]


def test_job_survives_when_the_plan_is_extended_in_time(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    _create_job(sm, "saved", plan, timedelta(days=3))
    end = sim.plan_end(plan)
    clock.set(end - timedelta(hours=3))
    offer = next(
        o
        for o in sm.search_training_plan_offerings(TrainingPlanArn=plan, DurationHours=48)[
            "TrainingPlanExtensionOfferings"
        ]
        if o["StartDate"] == end and o["AvailabilityZone"] == "us-east-1a"
    )
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.set(end + timedelta(hours=1))
    assert sm.describe_training_job(TrainingJobName="saved")["TrainingJobStatus"] == "InProgress"
    clock.advance(days=2)
    assert sm.describe_training_job(TrainingJobName="saved")["TrainingJobStatus"] == "Completed"
    assert sim.record.interruptions == []


def test_job_is_stopped_when_a_bought_extension_fails_payment(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    sim.market.set_terms("jobs-plan", payment_failure_rate=1.0)
    _create_job(sm, "doomed", plan, timedelta(days=3))
    end = sim.plan_end(plan)
    clock.set(end - timedelta(hours=2))
    offer = sm.search_training_plan_offerings(TrainingPlanArn=plan, DurationHours=48)[
        "TrainingPlanExtensionOfferings"
    ][0]
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.set(end)
    assert sm.describe_training_job(TrainingJobName="doomed")["TrainingJobStatus"] == "Failed"
    [cut] = sim.record.interruptions
    assert cut.at == end - timedelta(minutes=30)


# --- the ListTrainingJobs quirk --------------------------------------------------------------


@pytest.fixture
def one_running_among_finished(sim: Any, plan: str, t0: datetime) -> None:
    """Three finished jobs created before one that is still running."""
    for hours in (4, 3, 2):
        sim.add_job(
            f"done-{hours}h-ago",
            plan=plan,
            max_runtime=timedelta(hours=1),
            started_at=t0 - timedelta(hours=hours),
            status="Completed",
        )
    sim.add_job("running", plan=plan, max_runtime=timedelta(days=1), started_at=t0)


def test_status_filter_applies_after_the_limit(sm: Any, one_running_among_finished: None) -> None:
    """The documented quirk: MaxResults jobs are taken first, then filtered by status."""
    kwargs: dict[str, Any] = {
        "StatusEquals": "InProgress",
        "MaxResults": 2,
        "SortBy": "CreationTime",
        "SortOrder": "Ascending",
    }
    first = sm.list_training_jobs(**kwargs)
    assert first["TrainingJobSummaries"] == []
    assert "NextToken" in first  # empty, yet not the end
    second = sm.list_training_jobs(**kwargs, NextToken=first["NextToken"])
    assert [j["TrainingJobName"] for j in second["TrainingJobSummaries"]] == ["running"]
    assert "NextToken" not in second

    # Stopping at the first empty page would miss the job; the paginator does not.
    paginator = sm.get_paginator("list_training_jobs")
    pages = list(
        paginator.paginate(
            StatusEquals="InProgress",
            SortBy="CreationTime",
            SortOrder="Ascending",
            PaginationConfig={"PageSize": 1},
        )
    )
    assert [len(p["TrainingJobSummaries"]) for p in pages] == [0, 0, 0, 1]
    found = [j["TrainingJobName"] for p in pages for j in p["TrainingJobSummaries"]]
    assert found == ["running"]


def test_without_a_limit_the_filter_finds_the_job_at_once(
    sm: Any, one_running_among_finished: None
) -> None:
    page = sm.list_training_jobs(StatusEquals="InProgress")
    assert [j["TrainingJobName"] for j in page["TrainingJobSummaries"]] == ["running"]
    assert "NextToken" not in page


# --- HyperPod clusters ---------------------------------------------------------------------


def test_cluster_links_per_instance_group(sim: Any, sm: Any, plan: str, t0: datetime) -> None:
    other = sim.add_plan("other-plan", ends_at=t0 + timedelta(days=4))
    arn = sim.add_cluster(
        "hp-1", groups=[("controller", None, 1), ("workers", plan, 4), ("spare", other, 2)]
    )
    sim.add_cluster("hp-2", groups=[("workers", other, 2)])
    sim.add_cluster("hp-3", groups=[("workers", None, 2)])

    on_plan = sm.list_clusters(TrainingPlanArn=plan)["ClusterSummaries"]
    assert [c["ClusterName"] for c in on_plan] == ["hp-1"]
    assert sorted(on_plan[0]["TrainingPlanArns"]) == sorted([plan, other])
    on_other = sm.list_clusters(TrainingPlanArn=other)["ClusterSummaries"]
    assert sorted(c["ClusterName"] for c in on_other) == ["hp-1", "hp-2"]
    assert len(sm.list_clusters()["ClusterSummaries"]) == 3

    described = sm.describe_cluster(ClusterName="hp-1")
    assert described["ClusterArn"] == arn
    groups = {g["InstanceGroupName"]: g for g in described["InstanceGroups"]}
    assert "TrainingPlanArn" not in groups["controller"]
    assert groups["workers"]["TrainingPlanArn"] == plan
    assert groups["workers"]["TrainingPlanStatus"] == "Active"
    assert groups["spare"]["TrainingPlanArn"] == other
    assert groups["workers"]["CurrentCount"] == groups["workers"]["TargetCount"] == 4
    assert sm.describe_cluster(ClusterName=arn)["ClusterName"] == "hp-1"
    # Cluster instances count as in use on the plan.
    assert sm.describe_training_plan(TrainingPlanName=plan)["InUseInstanceCount"] == 4


def test_create_cluster_through_the_api(sim: Any, sm: Any, plan: str) -> None:
    sm.create_cluster(
        ClusterName="made",
        InstanceGroups=[
            {
                "InstanceGroupName": "workers",
                "InstanceType": "ml.p5.48xlarge",
                "InstanceCount": 2,
                "LifeCycleConfig": {"SourceS3Uri": "s3://b/lc", "OnCreate": "on.sh"},
                "ExecutionRole": ROLE,
                "TrainingPlanArn": plan,
            }
        ],
    )
    [summary] = sm.list_clusters(TrainingPlanArn=plan)["ClusterSummaries"]
    assert summary["ClusterName"] == "made"
    sm.delete_cluster(ClusterName="made")
    assert sm.list_clusters(TrainingPlanArn=plan)["ClusterSummaries"] == []


def test_list_clusters_limit_counts_clusters_evaluated(
    sim: Any, sm: Any, plan: str, t0: datetime
) -> None:
    sim.add_cluster("a-first", groups=[("w", None, 1)], created_at=t0 - timedelta(hours=2))
    sim.add_cluster("b-second", groups=[("w", plan, 1)], created_at=t0 - timedelta(hours=1))
    first = sm.list_clusters(TrainingPlanArn=plan, MaxResults=1)
    assert first["ClusterSummaries"] == [] and "NextToken" in first
    second = sm.list_clusters(TrainingPlanArn=plan, MaxResults=1, NextToken=first["NextToken"])
    assert [c["ClusterName"] for c in second["ClusterSummaries"]] == ["b-second"]


def test_cluster_group_loses_capacity_an_hour_before_the_plan_ends(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    sim.add_cluster("hp", groups=[("controller", None, 1), ("workers", plan, 4)])
    end = sim.plan_end(plan)
    clock.set(end - timedelta(minutes=61))
    groups = {
        g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName="hp")["InstanceGroups"]
    }
    assert groups["workers"]["CurrentCount"] == 4
    clock.set(end - timedelta(minutes=59))
    groups = {
        g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName="hp")["InstanceGroups"]
    }
    assert groups["workers"]["CurrentCount"] == 0
    assert groups["workers"]["Status"] == "Degraded"
    assert groups["controller"]["CurrentCount"] == 1
    [cut] = sim.record.interruptions
    assert (cut.kind, cut.consumer, cut.at) == ("cluster", "hp/workers", end - timedelta(hours=1))


def test_cluster_keeps_capacity_when_the_plan_is_extended(
    sim: Any, sm: Any, plan: str, clock: ManualClock
) -> None:
    sim.add_cluster("hp", groups=[("workers", plan, 4)])
    end = sim.plan_end(plan)
    clock.set(end - timedelta(hours=2))
    offer = next(
        o
        for o in sm.search_training_plan_offerings(TrainingPlanArn=plan, DurationHours=24)[
            "TrainingPlanExtensionOfferings"
        ]
        if o["StartDate"] == end
    )
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.set(end + timedelta(hours=2))
    [group] = sm.describe_cluster(ClusterName="hp")["InstanceGroups"]
    assert group["CurrentCount"] == 4
    assert sim.record.interruptions == []
