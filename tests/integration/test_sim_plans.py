"""Training plans through real boto3 clients: status over time, shapes, list, describe, create,
tags. The simulator runs in-process and shares a ManualClock with each test."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from watcher.clock import ManualClock

PLAN_ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/"


def _create_plan_from_offering(sm: Any, name: str, days: int = 2, **extra: Any) -> str:
    found = sm.search_training_plan_offerings(
        InstanceType="ml.p5.48xlarge",
        InstanceCount=2,
        DurationHours=days * 24,
        TargetResources=["training-job"],
    )
    offering = found["TrainingPlanOfferings"][0]
    return str(
        sm.create_training_plan(
            TrainingPlanName=name,
            TrainingPlanOfferingId=offering["TrainingPlanOfferingId"],
            **extra,
        )["TrainingPlanArn"]
    )


# --- status follows the clock ------------------------------------------------------------------


def test_created_plan_goes_pending_scheduled_active_expired(
    sim: Any, sm: Any, clock: ManualClock
) -> None:
    arn = _create_plan_from_offering(sm, "life")
    plan = sm.describe_training_plan(TrainingPlanName="life")
    assert plan["Status"] == "Pending"
    start, end = plan["StartTime"], plan["EndTime"]
    assert start > clock.now()

    clock.advance(minutes=6)  # payment done (plan_payment_delay is 5 minutes)
    assert sm.describe_training_plan(TrainingPlanName=arn)["Status"] == "Scheduled"

    clock.set(start)
    assert sm.describe_training_plan(TrainingPlanName=arn)["Status"] == "Active"

    clock.set(end - timedelta(seconds=1))
    assert sm.describe_training_plan(TrainingPlanName=arn)["Status"] == "Active"

    clock.set(end)
    assert sm.describe_training_plan(TrainingPlanName=arn)["Status"] == "Expired"
    statuses = [
        c["Status"]
        for c in sm.describe_training_plan(TrainingPlanName=arn)["ReservedCapacitySummaries"]
    ]
    assert statuses == ["Expired"]


def test_seeded_plan_in_the_future_is_scheduled_then_active(
    sim: Any, sm: Any, clock: ManualClock, t0: datetime
) -> None:
    sim.add_plan("later", starts_at=t0 + timedelta(days=2), ends_at=t0 + timedelta(days=5))
    assert sm.describe_training_plan(TrainingPlanName="later")["Status"] == "Scheduled"
    clock.advance(days=2)
    assert sm.describe_training_plan(TrainingPlanName="later")["Status"] == "Active"
    clock.advance(days=4)
    assert sm.describe_training_plan(TrainingPlanName="later")["Status"] == "Expired"


@pytest.mark.parametrize("ends_in", [timedelta(hours=1), timedelta(days=3, hours=7)])
def test_plans_end_at_1130_utc(sim: Any, sm: Any, t0: datetime, ends_in: timedelta) -> None:
    sim.add_plan("p", ends_at=t0 + ends_in)
    _create_plan_from_offering(sm, "bought", days=3)
    for name in ("p", "bought"):
        plan = sm.describe_training_plan(TrainingPlanName=name)
        end = plan["EndTime"].astimezone(UTC)
        assert end.time() == time(11, 30), name
        for capacity in plan["ReservedCapacitySummaries"]:
            assert capacity["EndTime"].astimezone(UTC).time() == time(11, 30)


def test_plan_shape_is_filled_in(sim: Any, sm: Any, t0: datetime) -> None:
    arn = sim.add_plan(
        "full",
        ends_at=t0 + timedelta(days=2),
        instance_count=8,
        instance_type="ml.p5e.48xlarge",
        availability_zone="us-east-1c",
        fee=Decimal("123456.78"),
        currency="USD",
    )
    sim.add_job("busy", plan="full", max_runtime=timedelta(days=1), instance_count=3)
    plan = sm.describe_training_plan(TrainingPlanName="full")
    assert plan["TrainingPlanArn"] == arn == PLAN_ARN_PREFIX + "full"
    assert plan["TrainingPlanName"] == "full"
    assert plan["Status"] == "Active"
    assert plan["UpfrontFee"] == "123456.78" and plan["CurrencyCode"] == "USD"
    assert Decimal(plan["UpfrontFee"]) == Decimal("123456.78")
    assert plan["TotalInstanceCount"] == 8
    assert plan["InUseInstanceCount"] == 3
    assert plan["AvailableInstanceCount"] == 5
    assert plan["TargetResources"] == ["training-job"]
    assert plan["DurationHours"] * 60 + plan["DurationMinutes"] == (
        (plan["EndTime"] - plan["StartTime"]).total_seconds() // 60
    )
    [capacity] = plan["ReservedCapacitySummaries"]
    assert capacity["ReservedCapacityArn"].startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:reserved-capacity/"
    )
    assert capacity["InstanceType"] == "ml.p5e.48xlarge"
    assert capacity["TotalInstanceCount"] == 8
    assert capacity["Status"] == "Active"
    assert capacity["AvailabilityZone"] == "us-east-1c"
    assert capacity["AvailabilityZoneId"] == "use1-az3"
    assert capacity["StartTime"] == plan["StartTime"]
    assert capacity["EndTime"] == plan["EndTime"]
    # Describe-only fields are present on Describe and absent from list summaries.
    assert "UnhealthyInstanceCount" in plan and "AvailableSpareInstanceCount" in plan
    [summary] = sm.list_training_plans()["TrainingPlanSummaries"]
    assert "UnhealthyInstanceCount" not in summary
    assert summary["ReservedCapacitySummaries"] == plan["ReservedCapacitySummaries"]


# --- DescribeTrainingPlan ----------------------------------------------------------------------


def test_describe_by_name_and_by_arn_agree(sim: Any, sm: Any, t0: datetime) -> None:
    arn = sim.add_plan("named", ends_at=t0 + timedelta(days=3))
    by_name = sm.describe_training_plan(TrainingPlanName="named")
    by_arn = sm.describe_training_plan(TrainingPlanName=arn)
    by_name.pop("ResponseMetadata")
    by_arn.pop("ResponseMetadata")
    assert by_name == by_arn


@pytest.mark.parametrize("ref", ["missing", PLAN_ARN_PREFIX + "missing"])
def test_describe_unknown_plan_is_resource_not_found(sim: Any, sm: Any, ref: str) -> None:
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_training_plan(TrainingPlanName=ref)


def test_plans_of_another_region_are_invisible(sim: Any, sm: Any, t0: datetime) -> None:
    sim.add_plan("west", ends_at=t0 + timedelta(days=3), region="us-west-2")
    assert sm.list_training_plans()["TrainingPlanSummaries"] == []
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_training_plan(TrainingPlanName="west")
    west = boto3.client("sagemaker", region_name="us-west-2")
    assert west.describe_training_plan(TrainingPlanName="west")["Status"] == "Active"


# --- ListTrainingPlans -------------------------------------------------------------------------


@pytest.fixture
def four_plans(sim: Any, clock: ManualClock, t0: datetime) -> dict[str, str]:
    """One plan per status: Active, Scheduled, Expired, Pending."""
    plans = {
        "active": sim.add_plan("b-active", ends_at=t0 + timedelta(days=3)),
        "scheduled": sim.add_plan(
            "a-scheduled", starts_at=t0 + timedelta(days=1), ends_at=t0 + timedelta(days=4)
        ),
        "expired": sim.add_plan(
            "d-expired", starts_at=t0 - timedelta(days=9), ends_at=t0 - timedelta(days=2)
        ),
    }
    sm = boto3.client("sagemaker", region_name="us-east-1")
    plans["pending"] = _create_plan_from_offering(sm, "c-pending")
    return plans


def _names(response: dict[str, Any]) -> list[str]:
    return [p["TrainingPlanName"] for p in response["TrainingPlanSummaries"]]


def test_list_filters_by_status(sm: Any, four_plans: dict[str, str]) -> None:
    def listed(*statuses: str) -> set[str]:
        filters = [{"Name": "Status", "Value": s} for s in statuses]
        return set(_names(sm.list_training_plans(Filters=filters)))

    assert listed("Active") == {"b-active"}
    assert listed("Scheduled") == {"a-scheduled"}
    assert listed("Expired") == {"d-expired"}
    assert listed("Pending") == {"c-pending"}
    assert listed("Failed") == set()
    assert listed("Active", "Scheduled") == {"b-active", "a-scheduled"}
    assert set(_names(sm.list_training_plans())) == {
        "a-scheduled",
        "b-active",
        "c-pending",
        "d-expired",
    }


def test_list_rejects_an_unknown_filter(sm: Any, four_plans: dict[str, str]) -> None:
    with pytest.raises(ClientError) as err:
        sm.list_training_plans(Filters=[{"Name": "Status", "Value": "Sleeping"}])
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_list_filters_by_start_time(sm: Any, four_plans: dict[str, str], t0: datetime) -> None:
    after = _names(sm.list_training_plans(StartTimeAfter=t0))
    assert set(after) == {"a-scheduled", "c-pending"}
    before = _names(sm.list_training_plans(StartTimeBefore=t0))
    assert set(before) == {"b-active", "d-expired"}
    window = _names(
        sm.list_training_plans(
            StartTimeAfter=t0 - timedelta(days=3), StartTimeBefore=t0 + timedelta(hours=12)
        )
    )
    # c-pending's offering starts 30 minutes after t0, inside the window too.
    assert set(window) == {"b-active", "c-pending"}


def test_list_sorts(sm: Any, four_plans: dict[str, str]) -> None:
    by_name = _names(sm.list_training_plans(SortBy="TrainingPlanName", SortOrder="Ascending"))
    assert by_name == ["a-scheduled", "b-active", "c-pending", "d-expired"]
    by_name_desc = _names(sm.list_training_plans(SortBy="TrainingPlanName", SortOrder="Descending"))
    assert by_name_desc == list(reversed(by_name))

    by_start = sm.list_training_plans(SortBy="StartTime")["TrainingPlanSummaries"]
    starts = [p["StartTime"] for p in by_start]
    assert starts == sorted(starts)
    by_start_desc = sm.list_training_plans(SortBy="StartTime", SortOrder="Descending")
    assert [p["StartTime"] for p in by_start_desc["TrainingPlanSummaries"]] == sorted(
        starts, reverse=True
    )

    by_status = sm.list_training_plans(SortBy="Status")["TrainingPlanSummaries"]
    assert [p["Status"] for p in by_status] == ["Active", "Expired", "Pending", "Scheduled"]

    # Assumption: with no SortBy, plans come by StartTime, oldest first.
    default = [p["StartTime"] for p in sm.list_training_plans()["TrainingPlanSummaries"]]
    assert default == sorted(default)


def test_list_paginates_with_next_token(sim: Any, sm: Any, t0: datetime) -> None:
    for index in range(7):
        sim.add_plan(f"plan-{index}", ends_at=t0 + timedelta(days=2 + index))
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"MaxResults": 3, "SortBy": "TrainingPlanName"}
    while True:
        page = sm.list_training_plans(**kwargs)
        pages += 1
        assert len(page["TrainingPlanSummaries"]) <= 3
        seen += _names(page)
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages == 3
    assert seen == [f"plan-{i}" for i in range(7)]

    paginator = sm.get_paginator("list_training_plans")
    paged = [
        name
        for page in paginator.paginate(SortBy="TrainingPlanName", PaginationConfig={"PageSize": 2})
        for name in _names(page)
    ]
    assert paged == seen


def test_list_rejects_a_bad_token(sim: Any, sm: Any) -> None:
    with pytest.raises(ClientError) as err:
        sm.list_training_plans(NextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "ValidationException"


# --- CreateTrainingPlan ------------------------------------------------------------------------


def test_search_new_plan_offerings_and_create(sim: Any, sm: Any, clock: ManualClock) -> None:
    found = sm.search_training_plan_offerings(
        InstanceType="ml.p5.48xlarge",
        InstanceCount=4,
        DurationHours=30,
        TargetResources=["training-job"],
    )
    offerings = found["TrainingPlanOfferings"]
    assert len(offerings) >= 2
    for offering in offerings:
        assert offering["TrainingPlanOfferingId"].startswith("tpo-")
        [capacity] = offering["ReservedCapacityOfferings"]
        assert capacity["InstanceType"] == "ml.p5.48xlarge"
        assert capacity["InstanceCount"] == 4
        assert capacity["StartTime"] >= clock.now() + timedelta(minutes=30)
        assert capacity["EndTime"].astimezone(UTC).time() == time(11, 30)
        assert capacity["EndTime"] - capacity["StartTime"] >= timedelta(hours=30)
        assert offering["CurrencyCode"] == "USD"
        assert Decimal(offering["UpfrontFee"]) > 0

    chosen = offerings[1]
    arn = sm.create_training_plan(
        TrainingPlanName="fresh",
        TrainingPlanOfferingId=chosen["TrainingPlanOfferingId"],
        Tags=[{"Key": "team", "Value": "llm"}],
    )["TrainingPlanArn"]
    assert arn == PLAN_ARN_PREFIX + "fresh"
    plan = sm.describe_training_plan(TrainingPlanName=arn)
    assert plan["Status"] == "Pending"
    assert plan["StartTime"] == chosen["ReservedCapacityOfferings"][0]["StartTime"]
    assert plan["EndTime"] == chosen["ReservedCapacityOfferings"][0]["EndTime"]
    assert plan["UpfrontFee"] == chosen["UpfrontFee"]
    assert plan["TotalInstanceCount"] == 4
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "llm"}]

    # The offering is single-use; the name is taken.
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.create_training_plan(
            TrainingPlanName="again", TrainingPlanOfferingId=chosen["TrainingPlanOfferingId"]
        )
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_training_plan(
            TrainingPlanName="fresh", TrainingPlanOfferingId=offerings[0]["TrainingPlanOfferingId"]
        )


def test_create_from_unknown_offering_is_resource_not_found(sim: Any, sm: Any) -> None:
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.create_training_plan(TrainingPlanName="x", TrainingPlanOfferingId="tpo-nothing")


# --- tags --------------------------------------------------------------------------------------


def test_plan_tags_list_add_delete(sim: Any, sm: Any, t0: datetime) -> None:
    arn = sim.add_plan("tagged", ends_at=t0 + timedelta(days=2), tags={"team": "llm"})
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "llm"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "cost-center", "Value": "research"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "cost-center", "Value": "research"},
        {"Key": "team", "Value": "llm"},
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "cost-center", "Value": "research"}]
    assert sim.plan("tagged").tags == {"cost-center": "research"}


def test_list_tags_on_unknown_plan_is_resource_not_found(sim: Any, sm: Any) -> None:
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.list_tags(ResourceArn=PLAN_ARN_PREFIX + "ghost")


def test_list_tags_on_other_resources_still_goes_to_moto(sim: Any, sm: Any) -> None:
    model_arn = sm.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        Tags=[{"Key": "owner", "Value": "moto"}],
    )["ModelArn"]
    assert sm.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "owner", "Value": "moto"}]
    assert "ListTags" not in sim.record.calls


def test_timestamps_are_timezone_aware(sim: Any, sm: Any, t0: datetime) -> None:
    sim.add_plan("tz", ends_at=t0 + timedelta(days=2))
    plan = sm.describe_training_plan(TrainingPlanName="tz")
    assert plan["EndTime"].utcoffset() is not None
    assert plan["EndTime"] == datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
