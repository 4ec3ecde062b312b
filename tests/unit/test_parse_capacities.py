"""A plan's reserved capacities as parsed from `ReservedCapacitySummaries`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.aws.parse import parse_plan
from watcher.model import Capacity

END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
START = END - timedelta(days=7)


def _plan(capacities: list[Any]) -> dict[str, Any]:
    return {
        "TrainingPlanArn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p",
        "TrainingPlanName": "p",
        "Status": "Active",
        "EndTime": END + timedelta(days=1),
        "ReservedCapacitySummaries": capacities,
    }


def _rc(start: Any, end: Any, zone: Any) -> dict[str, Any]:
    return {"StartTime": start, "EndTime": end, "AvailabilityZone": zone, "InstanceType": "x"}


def test_capacities_are_read_in_time_order_and_the_plan_ends_in_the_last_ones_zone() -> None:
    plan = parse_plan(
        _plan([_rc(END, END + timedelta(days=1), "us-east-1b"), _rc(START, END, "us-east-1a")]),
        "t",
    )
    assert plan.capacities == (
        Capacity(START, END, "us-east-1a"),
        Capacity(END, END + timedelta(days=1), "us-east-1b"),
    )
    assert plan.availability_zones == ("us-east-1a", "us-east-1b")
    assert plan.end_zones == ("us-east-1b",)


def test_capacities_without_readable_times_are_left_out_and_the_zones_fall_back() -> None:
    plan = parse_plan(_plan([_rc("soon", END, "us-east-1a"), "junk", _rc(START, None, "b")]), "t")
    assert plan.capacities == ()
    assert plan.end_zones == plan.availability_zones == ("b", "us-east-1a")
