"""AWS responses -> domain values, at the edge.

A malformed field fails only the value it belongs to: a plan with an unknown status is
reported as `Malformed` (its evaluation becomes `error`), an offering with a fee that is not
a decimal is left out with a reason, an extension with an unreadable fee keeps `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.model import Extension, ExtensionOffering, Money, Plan, PlanStatus


class Malformed(ValueError):
    """An AWS item could not be read; `ref` names it as well as possible."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"{ref}: {reason}")
        self.ref = ref
        self.reason = reason


@dataclass(frozen=True)
class JobSummary:
    name: str
    arn: str
    status: str
    plan_arn: str | None
    created_at: datetime


@dataclass(frozen=True)
class JobFacts:
    """The fields of a training job that never change once it runs (cached across cycles)."""

    name: str
    arn: str
    plan_arn: str | None
    start: datetime
    max_runtime: timedelta | None


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    arn: str
    status: str
    plan_arns: tuple[str, ...]


def utc(value: Any, ref: str, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise Malformed(ref, f"{field} is not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _optional_utc(value: Any, ref: str, field: str) -> datetime | None:
    return None if value is None else utc(value, ref, field)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _fee(item: Mapping[str, Any]) -> Money | None:
    if "UpfrontFee" not in item:
        return None
    try:
        return Money.from_aws(item.get("UpfrontFee"), item.get("CurrencyCode"))
    except ValueError:
        return None


def parse_plan(item: Mapping[str, Any], target: str, tags: Mapping[str, str] | None = None) -> Plan:
    arn = item.get("TrainingPlanArn")
    name = item.get("TrainingPlanName")
    ref = str(arn or name or "training plan without ARN")
    if not isinstance(arn, str) or not isinstance(name, str):
        raise Malformed(ref, "missing TrainingPlanArn or TrainingPlanName")
    try:
        status = PlanStatus(str(item.get("Status")))
    except ValueError:
        raise Malformed(ref, f"unknown status {item.get('Status')!r}") from None
    if item.get("EndTime") is None:
        raise Malformed(ref, "missing EndTime")
    if "UpfrontFee" in item and _fee(item) is None:
        raise Malformed(
            ref,
            f"UpfrontFee {item.get('UpfrontFee')!r} {item.get('CurrencyCode')!r} is not an amount",
        )
    zones = tuple(
        sorted(
            {
                str(rc["AvailabilityZone"])
                for rc in item.get("ReservedCapacitySummaries") or []
                if isinstance(rc, Mapping) and rc.get("AvailabilityZone")
            }
        )
    )
    types = [
        rc.get("InstanceType")
        for rc in item.get("ReservedCapacitySummaries") or []
        if isinstance(rc, Mapping)
    ]
    return Plan(
        arn=arn,
        name=name,
        target=target,
        status=status,
        start_time=_optional_utc(item.get("StartTime"), ref, "StartTime"),
        end_time=utc(item.get("EndTime"), ref, "EndTime"),
        upfront_fee=_fee(item),
        total_instances=_int(item.get("TotalInstanceCount")),
        in_use_instances=_int(item.get("InUseInstanceCount")),
        available_instances=_int(item.get("AvailableInstanceCount")),
        instance_type=str(types[0]) if types and types[0] else None,
        availability_zones=zones,
        target_resources=tuple(str(t) for t in item.get("TargetResources") or []),
        tags=dict(tags or {}),
    )


def parse_offering(item: Mapping[str, Any], plan_arn: str) -> ExtensionOffering:
    offering_id = item.get("TrainingPlanExtensionOfferingId")
    ref = str(offering_id or "offering without ID")
    if not isinstance(offering_id, str) or not offering_id:
        raise Malformed(ref, "missing TrainingPlanExtensionOfferingId")
    try:
        fee = Money.from_aws(item.get("UpfrontFee"), item.get("CurrencyCode"))
    except ValueError as exc:
        raise Malformed(ref, str(exc)) from None
    hours = item.get("DurationHours")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0:
        raise Malformed(ref, f"DurationHours {hours!r} is not a positive whole number")
    return ExtensionOffering(
        offering_id=offering_id,
        plan_arn=plan_arn,
        availability_zone=item.get("AvailabilityZone"),
        start=utc(item.get("StartDate"), ref, "StartDate"),
        end=utc(item.get("EndDate"), ref, "EndDate"),
        duration_hours=hours,
        upfront_fee=fee,
    )


def parse_extension(item: Mapping[str, Any], plan_arn: str) -> Extension:
    offering_id = item.get("TrainingPlanExtensionOfferingId")
    if not isinstance(offering_id, str) or not offering_id:
        raise Malformed(plan_arn, "an extension without TrainingPlanExtensionOfferingId")
    ref = f"{plan_arn} extension {offering_id}"
    hours = item.get("DurationHours")
    return Extension(
        offering_id=offering_id,
        plan_arn=plan_arn,
        extended_at=_optional_utc(item.get("ExtendedAt"), ref, "ExtendedAt"),
        start=_optional_utc(item.get("StartDate"), ref, "StartDate"),
        end=_optional_utc(item.get("EndDate"), ref, "EndDate"),
        # Unknown values are kept as they are: only "Pending" and "Failed" carry meaning here.
        status=str(item.get("Status") or "Unknown"),
        payment_status=str(item.get("PaymentStatus") or "Unknown"),
        duration_hours=hours if isinstance(hours, int) else None,
        upfront_fee=_fee(item),
        availability_zone=item.get("AvailabilityZone"),
    )


def parse_job_summary(item: Mapping[str, Any]) -> JobSummary:
    name, arn = item.get("TrainingJobName"), item.get("TrainingJobArn")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(str(name or arn), "missing TrainingJobName or TrainingJobArn")
    plan = item.get("TrainingPlanArn")
    return JobSummary(
        name=name,
        arn=arn,
        status=str(item.get("TrainingJobStatus")),
        plan_arn=plan if isinstance(plan, str) and plan else None,
        created_at=utc(item.get("CreationTime"), name, "CreationTime"),
    )


def parse_job(item: Mapping[str, Any]) -> JobFacts:
    name, arn = item.get("TrainingJobName"), item.get("TrainingJobArn")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(str(name or arn), "missing TrainingJobName or TrainingJobArn")
    resources = item.get("ResourceConfig") or {}
    plan = resources.get("TrainingPlanArn") if isinstance(resources, Mapping) else None
    stopping = item.get("StoppingCondition") or {}
    runtime = stopping.get("MaxRuntimeInSeconds") if isinstance(stopping, Mapping) else None
    started = item.get("TrainingStartTime") or item.get("CreationTime")
    return JobFacts(
        name=name,
        arn=arn,
        plan_arn=plan if isinstance(plan, str) and plan else None,
        start=utc(started, name, "TrainingStartTime"),
        max_runtime=timedelta(seconds=_int(runtime)) if _int(runtime) > 0 else None,
    )


def parse_cluster_summary(item: Mapping[str, Any]) -> ClusterSummary:
    name, arn = item.get("ClusterName"), item.get("ClusterArn")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(str(name or arn), "missing ClusterName or ClusterArn")
    plans = item.get("TrainingPlanArns") or []
    return ClusterSummary(
        name=name,
        arn=arn,
        status=str(item.get("ClusterStatus")),
        plan_arns=tuple(str(p) for p in plans if isinstance(p, str)),
    )
