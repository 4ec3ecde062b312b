"""AWS responses -> domain values, at the edge.

A malformed field fails only the value it belongs to: a plan with an unknown status is
reported as `Malformed` (its evaluation becomes `error`), an offering with a fee that is not
a decimal is left out with a reason, an extension with an unreadable fee keeps `None`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.model import Capacity, Extension, ExtensionOffering, Money, Plan, PlanStatus

_PLAIN_FEE = re.compile(r"[0-9]+(\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
#: A job's MaxRuntimeInSeconds is at most 28 days; far beyond that it is damage, not demand.
_MAX_RUNTIME = timedelta(days=366)
#: Extension Status / PaymentStatus values AWS documents, by their folded spelling.
_KNOWN_STATUSES = {
    s.lower(): s for s in ("Pending", "Active", "Scheduled", "Failed", "Expired", "Completed")
}


class Malformed(ValueError):
    """An AWS item could not be read; `ref` names it as well as possible, and `arn` and
    `name` carry whichever of the two could still be read (for reporting the item)."""

    def __init__(
        self, ref: str, reason: str, *, arn: str | None = None, name: str | None = None
    ) -> None:
        super().__init__(f"{ref}: {reason}")
        self.ref = ref
        self.reason = reason
        self.arn = arn
        self.name = name


@dataclass(frozen=True)
class JobSummary:
    name: str
    arn: str
    status: str
    plan_arn: str | None
    created_at: datetime
    #: LastModifiedTime: AWS bumps it on every status change.
    modified_at: datetime | None = None
    #: SecondaryStatus (`Pending`: waiting for capacity, holding no instances); None if absent.
    secondary_status: str | None = None


@dataclass(frozen=True)
class JobFacts:
    """What DescribeTrainingJob says about a running job (cached across cycles).

    `plan_arns` are the plans the job runs on, found in order: `ResourceConfig.TrainingPlanArn`;
    the `InstancePreferences` entry for `SelectedInstanceType`; every plan the preferences
    list while no type is selected yet. `settled` is False only in that last case: the link
    can still change, so the job is described again when it changes.
    """

    name: str
    arn: str
    plan_arns: tuple[str, ...]
    start: datetime
    max_runtime: timedelta | None
    settled: bool = True
    #: The instances the job runs on, as (instance type, count) pairs from its ResourceConfig
    #: (`InstanceType`/`InstanceCount`, each of `InstanceGroups`, or the selected preference's
    #: `SelectedInstanceType`/`SelectedInstanceCount`); a type is None where AWS gives none.
    instances: tuple[tuple[str | None, int], ...] = ()

    def instances_of(self, instance_type: str | None) -> int:
        """How many of the job's instances are of `instance_type` (a plan's instances are of
        one type); every instance whose type is not said, and all of them when the plan's
        type is not known."""
        return sum(
            count
            for kind, count in self.instances
            if instance_type is None or kind is None or kind == instance_type
        )


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    arn: str
    status: str
    plan_arns: tuple[str, ...]


def utc(value: Any, ref: str, field: str) -> datetime:
    """A timestamp in UTC (naive ones are taken as UTC); Malformed unless it is a datetime
    between 1970 and 9000, so any duration in a decision can be added or taken away."""
    if not isinstance(value, datetime):
        raise Malformed(ref, f"{field} is not a timestamp: {value!r}")
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not _EARLIEST <= moment < _LATEST:
        raise Malformed(ref, f"{field} {value.isoformat()} is out of range")
    return moment


def _optional_utc(value: Any, ref: str, field: str) -> datetime | None:
    return None if value is None else utc(value, ref, field)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _mapping(item: object, what: str) -> Mapping[str, Any]:
    """The item itself when it is a structure; Malformed when a list held something else."""
    if not isinstance(item, Mapping):
        raise Malformed(what, f"is not a structure: {item!r:.80}")
    return item


def _items(value: Any) -> list[Any]:
    """A list field as a list; anything else (a damaged field) as empty."""
    return list(value) if isinstance(value, list | tuple) else []


def _ref(*candidates: Any, fallback: str) -> str:
    return next((c for c in candidates if isinstance(c, str) and c), fallback)


def money(item: Mapping[str, Any]) -> Money:
    """`UpfrontFee` and `CurrencyCode` as Money; raise ValueError unless both are plain.

    AWS documents the fee as a decimal string ("1234.56"). Python's Decimal would also take
    "1e3", "1_000", "Infinity" or other scripts' digits; none of those is a fee AWS writes, so
    an answer carrying one is damaged and nothing is bought on its strength.
    """
    fee, currency = item.get("UpfrontFee"), item.get("CurrencyCode")
    if not isinstance(fee, str) or not _PLAIN_FEE.fullmatch(fee.strip()):
        raise ValueError(f"UpfrontFee {fee!r} is not a decimal amount")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.strip()):
        raise ValueError(f"CurrencyCode {currency!r} is not a currency code")
    return Money.from_aws(fee, currency)


def _fee(item: Mapping[str, Any]) -> Money | None:
    if "UpfrontFee" not in item:
        return None
    try:
        return money(item)
    except ValueError:
        return None


def parse_plan(item: Mapping[str, Any], target: str, tags: Mapping[str, str] | None = None) -> Plan:
    """A plan from ListTrainingPlans or DescribeTrainingPlan; Malformed (with whichever of
    ARN and name is readable) when a field a decision depends on is missing or damaged."""
    item = _mapping(item, "training plan")
    try:
        return _plan(item, target, tags)
    except Malformed as exc:
        arn, name = _text(item.get("TrainingPlanArn")), _text(item.get("TrainingPlanName"))
        raise Malformed(exc.ref, exc.reason, arn=arn, name=name) from None


def _plan(item: Mapping[str, Any], target: str, tags: Mapping[str, str] | None) -> Plan:
    arn = item.get("TrainingPlanArn")
    name = item.get("TrainingPlanName")
    ref = _ref(arn, name, fallback="training plan without ARN")
    if not isinstance(arn, str) or not isinstance(name, str):
        raise Malformed(ref, "missing TrainingPlanArn or TrainingPlanName")
    try:
        status = PlanStatus(str(item.get("Status")))
    except ValueError:
        raise Malformed(ref, f"unknown status {item.get('Status')!r}") from None
    if item.get("EndTime") is None:
        raise Malformed(ref, "missing EndTime")
    fee = None
    if "UpfrontFee" in item:
        try:
            fee = money(item)
        except ValueError as exc:
            raise Malformed(ref, str(exc)) from None
    zones = tuple(
        sorted(
            {
                str(rc["AvailabilityZone"])
                for rc in _items(item.get("ReservedCapacitySummaries"))
                if isinstance(rc, Mapping) and rc.get("AvailabilityZone")
            }
        )
    )
    types = [
        rc.get("InstanceType")
        for rc in _items(item.get("ReservedCapacitySummaries"))
        if isinstance(rc, Mapping)
    ]
    capacities = sorted(
        (
            Capacity(start, end, _text(rc.get("AvailabilityZone")))
            for rc in _items(item.get("ReservedCapacitySummaries"))
            if isinstance(rc, Mapping)
            and (start := _lenient_utc(rc.get("StartTime"))) is not None
            and (end := _lenient_utc(rc.get("EndTime"))) is not None
        ),
        key=lambda c: (c.start, c.end),
    )
    return Plan(
        arn=arn,
        name=name,
        target=target,
        status=status,
        start_time=_optional_utc(item.get("StartTime"), ref, "StartTime"),
        end_time=utc(item.get("EndTime"), ref, "EndTime"),
        upfront_fee=fee,
        total_instances=_int(item.get("TotalInstanceCount")),
        in_use_instances=_int(item.get("InUseInstanceCount")),
        available_instances=_int(item.get("AvailableInstanceCount")),
        instance_type=str(types[0]) if types and types[0] else None,
        availability_zones=zones,
        target_resources=tuple(str(t) for t in _items(item.get("TargetResources"))),
        tags=dict(tags or {}),
        capacities=tuple(capacities),
    )


def parse_offering(item: Mapping[str, Any], plan_arn: str) -> ExtensionOffering:
    item = _mapping(item, "extension offering")
    offering_id = item.get("TrainingPlanExtensionOfferingId")
    ref = _ref(offering_id, fallback="offering without ID")
    if not isinstance(offering_id, str) or not offering_id:
        raise Malformed(ref, "missing TrainingPlanExtensionOfferingId")
    try:
        fee = money(item)
    except ValueError as exc:
        raise Malformed(ref, str(exc)) from None
    hours = item.get("DurationHours")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0:
        raise Malformed(ref, f"DurationHours {hours!r} is not a positive whole number")
    return ExtensionOffering(
        offering_id=offering_id,
        plan_arn=plan_arn,
        availability_zone=_text(item.get("AvailabilityZone")),
        start=utc(item.get("StartDate"), ref, "StartDate"),
        end=utc(item.get("EndDate"), ref, "EndDate"),
        duration_hours=hours,
        upfront_fee=fee,
    )


def parse_extension(item: Mapping[str, Any], plan_arn: str) -> Extension:
    """One history entry. Only a missing offering ID makes it unreadable: any other damaged
    field becomes None, so the entry still counts (a pending extension still blocks a second
    purchase, a bought one still counts against `max_extensions`)."""
    item = _mapping(item, plan_arn)
    offering_id = item.get("TrainingPlanExtensionOfferingId")
    if not isinstance(offering_id, str) or not offering_id:
        raise Malformed(plan_arn, "an extension without TrainingPlanExtensionOfferingId")
    hours = item.get("DurationHours")
    return Extension(
        offering_id=offering_id,
        plan_arn=plan_arn,
        extended_at=_lenient_utc(item.get("ExtendedAt")),
        start=_lenient_utc(item.get("StartDate")),
        end=_lenient_utc(item.get("EndDate")),
        # Unknown values are kept as they are: only "Pending" and "Failed" carry meaning here.
        status=_status(item.get("Status")),
        payment_status=_status(item.get("PaymentStatus")),
        duration_hours=hours if _int(hours, -1) >= 0 else None,
        upfront_fee=_fee(item),
        availability_zone=_text(item.get("AvailabilityZone")),
    )


def _lenient_utc(value: Any) -> datetime | None:
    try:
        return _optional_utc(value, "", "")
    except Malformed:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _status(value: Any) -> str:
    """A status as AWS's documented spelling when it is one in other case or spacing
    ("PENDING", "Payment Pending" -> "Pending"); anything else as it came."""
    text = str(value).strip() if value not in (None, "") else "Unknown"
    folded = re.sub(r"[\s_-]+", "", text).lower().removeprefix("payment")
    return _KNOWN_STATUSES.get(folded, text)


def parse_job_summary(item: Mapping[str, Any]) -> JobSummary:
    item = _mapping(item, "training job")
    name, arn = item.get("TrainingJobName"), item.get("TrainingJobArn")
    ref = _ref(name, arn, fallback="training job without name")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(ref, "missing TrainingJobName or TrainingJobArn")
    plan = item.get("TrainingPlanArn")
    return JobSummary(
        name=name,
        arn=arn,
        status=str(item.get("TrainingJobStatus")),
        plan_arn=plan if isinstance(plan, str) and plan else None,
        created_at=utc(item.get("CreationTime"), ref, "CreationTime"),
        modified_at=_lenient_utc(item.get("LastModifiedTime")),
        secondary_status=_text(item.get("SecondaryStatus")),
    )


def parse_job(item: Mapping[str, Any]) -> JobFacts:
    item = _mapping(item, "training job")
    name, arn = item.get("TrainingJobName"), item.get("TrainingJobArn")
    ref = _ref(name, arn, fallback="training job without name")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(ref, "missing TrainingJobName or TrainingJobArn")
    resources = item.get("ResourceConfig")
    plans, settled = _job_plans(resources if isinstance(resources, Mapping) else {})
    stopping = item.get("StoppingCondition") or {}
    runtime = stopping.get("MaxRuntimeInSeconds") if isinstance(stopping, Mapping) else None
    started = item.get("TrainingStartTime") or item.get("CreationTime")
    seconds = _int(runtime)
    if seconds > _MAX_RUNTIME.total_seconds():
        raise Malformed(ref, f"MaxRuntimeInSeconds {seconds} is out of range")
    return JobFacts(
        name=name,
        arn=arn,
        plan_arns=plans,
        start=utc(started, ref, "TrainingStartTime"),
        max_runtime=timedelta(seconds=seconds) if seconds > 0 else None,
        settled=settled,
        instances=_job_instances(resources if isinstance(resources, Mapping) else {}),
    )


def _job_instances(resources: Mapping[str, Any]) -> tuple[tuple[str | None, int], ...]:
    """What a job's ResourceConfig says it runs on (nothing for a job not placed yet)."""
    if resources.get("InstancePreferences"):
        selected = _int(resources.get("SelectedInstanceCount"))
        if selected <= 0:
            return ()
        return ((_text(resources.get("SelectedInstanceType")), selected),)
    groups = [g for g in _items(resources.get("InstanceGroups")) if isinstance(g, Mapping)]
    if groups:
        counts = [(_text(g.get("InstanceType")), _int(g.get("InstanceCount"))) for g in groups]
        return tuple((kind, count) for kind, count in counts if count > 0)
    count = _int(resources.get("InstanceCount"))
    return ((_text(resources.get("InstanceType")), count),) if count > 0 else ()


def _job_plans(resources: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    """The plans a job's ResourceConfig puts it on, and whether that can still change."""
    plan = _text(resources.get("TrainingPlanArn"))
    if plan is not None:
        return (plan,), True
    preferences = [
        p for p in _items(resources.get("InstancePreferences")) if isinstance(p, Mapping)
    ]
    selected = _text(resources.get("SelectedInstanceType"))
    if selected is not None:
        chosen = [p for p in preferences if p.get("InstanceType") == selected]
        return _plan_arns(chosen), True
    # Nothing selected yet: the job may land on any plan it lists.
    return _plan_arns(preferences), not preferences


def _plan_arns(preferences: list[Mapping[str, Any]]) -> tuple[str, ...]:
    found = [_text(arn) for p in preferences for arn in _items(p.get("TrainingPlanArns"))]
    return tuple(sorted({arn for arn in found if arn is not None}))


def parse_cluster_summary(item: Mapping[str, Any]) -> ClusterSummary:
    item = _mapping(item, "cluster")
    name, arn = item.get("ClusterName"), item.get("ClusterArn")
    if not isinstance(name, str) or not isinstance(arn, str):
        raise Malformed(
            _ref(name, arn, fallback="cluster without name"), "missing ClusterName or ClusterArn"
        )
    plans = _items(item.get("TrainingPlanArns"))
    return ClusterSummary(
        name=name,
        arn=arn,
        status=str(item.get("ClusterStatus")),
        plan_arns=tuple(str(p) for p in plans if isinstance(p, str)),
    )
