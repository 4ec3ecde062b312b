"""Training-plan operations: list, describe, create, search offerings, extend, history, tags."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from watcher.sandbox.errors import not_found, validation
from watcher.sandbox.market import discounted, fee_for
from watcher.sandbox.wire import (
    as_utc,
    extension_hours,
    hours_minutes,
    paginate,
)
from watcher.sandbox.world import SimExtension, SimOffering, SimPlan, World

Params = dict[str, Any]
PLAN_STATUSES = ("Pending", "Active", "Scheduled", "Expired", "Failed")


def plan_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:training-plan/{name}"


def _usage(world: World) -> dict[str, int]:
    """Instances in use per plan ARN, from one pass over jobs and clusters (a list page
    reports many plans; walking every job per plan made big worlds slow to list). Jobs are
    counted as they were `in_use_lag` ago; a waiting job only with `in_use_counts_pending`."""
    settings = world.settings
    at = world.clock.now() - settings.in_use_lag
    used: dict[str, int] = {p.arn: p.unlisted_in_use for p in world.plans.values()}
    for job in world.jobs.values():
        ran = job.start <= at and (job.end_time is None or job.end_time > at)
        if not job.plan_arn or not ran or (job.pending and not settings.in_use_counts_pending):
            continue
        used[job.plan_arn] = used.get(job.plan_arn, 0) + job.instance_count
    for cluster in world.clusters.values():
        if cluster.deleted:
            continue
        for group in cluster.groups:
            if group.plan_arn:
                used[group.plan_arn] = used.get(group.plan_arn, 0) + group.current_count
    return used


def plan_summary(
    world: World, plan: SimPlan, now: datetime, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    settings = world.settings
    end = plan.end_time(settings)
    hours, minutes = hours_minutes(end - plan.start)
    status = plan.status(now, settings)
    active = status == "Active"
    if usage is None:
        usage = _usage(world) if active else {}
    in_use_count = min(usage.get(plan.arn, 0), plan.instance_count) if active else 0
    capacities = []
    for index, seg in enumerate(plan.segments(settings)):
        seg_status = (
            "Active"
            if seg.start <= now < seg.end
            else ("Scheduled" if now < seg.start else "Expired")
        )
        if now < plan.payment_at:
            seg_status = "Pending"
        if plan.failed:
            seg_status = "Failed"
        seg_hours, seg_minutes = hours_minutes(seg.end - seg.start)
        capacity: dict[str, Any] = {
            "ReservedCapacityArn": f"{plan.reserved_capacity_arn}-{index}",
            "ReservedCapacityType": "UltraServer" if plan.ultraserver_type else "Instance",
            "InstanceType": plan.instance_type,
            "TotalInstanceCount": plan.instance_count,
            "Status": seg_status,
            "AvailabilityZone": seg.zone,
            "AvailabilityZoneId": seg.zone_id,
            "DurationHours": seg_hours,
            "DurationMinutes": seg_minutes,
            "StartTime": seg.start,
            "EndTime": seg.end,
        }
        if plan.ultraserver_type:
            capacity["UltraServerType"] = plan.ultraserver_type
            capacity["UltraServerCount"] = plan.ultraserver_count
        capacities.append(capacity)
    ultra = {"TotalUltraServerCount": plan.ultraserver_count} if plan.ultraserver_type else {}
    return {
        "TrainingPlanArn": plan.arn,
        "TrainingPlanName": plan.name,
        "Status": status,
        "StatusMessage": f"Training plan is {status.lower()}",
        "DurationHours": hours,
        "DurationMinutes": minutes,
        "StartTime": plan.start,
        "EndTime": end,
        "UpfrontFee": f"{plan.fee:.2f}",
        "CurrencyCode": plan.currency,
        "TotalInstanceCount": plan.instance_count,
        "AvailableInstanceCount": (plan.instance_count - in_use_count) if active else 0,
        "InUseInstanceCount": in_use_count,
        "TargetResources": list(plan.target_resources),
        "ReservedCapacitySummaries": capacities,
        **ultra,
    }


def _own_plans(world: World, account: str, region: str) -> list[SimPlan]:
    return [p for p in world.plans.values() if (p.account, p.region) == (account, region)]


def list_training_plans(world: World, account: str, region: str, params: Params) -> Any:
    now = world.clock.now()
    plans = _own_plans(world, account, region)
    if "StartTimeAfter" in params:
        after = as_utc(params["StartTimeAfter"])
        plans = [p for p in plans if p.start > after]
    if "StartTimeBefore" in params:
        before = as_utc(params["StartTimeBefore"])
        plans = [p for p in plans if p.start < before]
    statuses = set()
    for item in params.get("Filters") or []:
        if item.get("Name") != "Status":
            raise validation(f"Invalid filter name {item.get('Name')!r}: only Status is supported")
        if item.get("Value") not in PLAN_STATUSES:
            raise validation(f"Invalid status filter value {item.get('Value')!r}")
        statuses.add(item["Value"])
    if statuses:
        plans = [p for p in plans if p.status(now, world.settings) in statuses]
    sort_by = params.get("SortBy", "StartTime")
    keys = {
        "TrainingPlanName": lambda p: p.name,
        "StartTime": lambda p: (p.start, p.name),
        "Status": lambda p: (p.status(now, world.settings), p.name),
    }
    if sort_by not in keys:
        raise validation(f"Invalid SortBy {sort_by!r}")
    plans.sort(key=keys[sort_by], reverse=params.get("SortOrder") == "Descending")
    page, token = paginate(plans, params)
    usage = _usage(world)
    result: dict[str, Any] = {
        "TrainingPlanSummaries": [plan_summary(world, p, now, usage) for p in page]
    }
    if token:
        result["NextToken"] = token
    return result


def _plan(world: World, account: str, region: str, ref: Any) -> SimPlan:
    if not isinstance(ref, str) or not ref:
        raise validation("TrainingPlanName is required")
    plan = world.plan_by_name_or_arn(account, region, ref)
    if plan is None:
        raise not_found(f"Training plan {ref} does not exist.")
    return plan


def describe_training_plan(world: World, account: str, region: str, params: Params) -> Any:
    plan = _plan(world, account, region, params.get("TrainingPlanName"))
    summary = plan_summary(world, plan, world.clock.now())
    summary.update({"UnhealthyInstanceCount": 0, "AvailableSpareInstanceCount": 0})
    return summary


def _extension_dict(ext: SimExtension, now: datetime) -> dict[str, Any]:
    return {
        "TrainingPlanExtensionOfferingId": ext.listed_id,
        "ExtendedAt": ext.extended_at,
        "StartDate": ext.start,
        "EndDate": ext.end,
        "Status": ext.status(now),
        "PaymentStatus": ext.payment_status(),
        "AvailabilityZone": ext.availability_zone,
        "AvailabilityZoneId": ext.availability_zone_id,
        "DurationHours": ext.duration_hours,
        "UpfrontFee": f"{ext.fee:.2f}",
        "CurrencyCode": ext.currency,
    }


def _check_extendable(world: World, plan: SimPlan, now: datetime) -> None:
    status = plan.status(now, world.settings)
    if status not in ("Active", "Scheduled"):
        raise validation(
            f"Training plan {plan.name} is {status}: only Active or Scheduled plans can be extended"
        )
    left = plan.end_time(world.settings) - now
    if left < world.settings.extension_min_lead:
        raise validation(
            f"Training plan {plan.name} ends in less than 1 hour and can no longer be extended"
        )
    if left > world.settings.extension_max_lead:
        raise validation(
            f"Training plan {plan.name} can be extended only within 56 days of its end time"
        )


def _extension_offerings(world: World, plan: SimPlan, params: Params, now: datetime) -> Any:
    _check_extendable(world, plan, now)
    terms = world.market.terms_for(plan.name)
    if "DurationHours" in params:
        durations = [extension_hours(int(params["DurationHours"]))]
    else:
        durations = [d * 24 for d in terms.durations_days]
    offers: list[dict[str, Any]] = []
    if world.market.has_capacity(terms):
        end = plan.end_time(world.settings)
        # Offerings continue the capacity the plan ends with, in its zone (or another).
        zone = plan.zone_at_end(world.settings)
        price = terms.price_at(now.isoformat())
        for hours in durations:
            if hours > terms.max_duration_hours:
                continue
            base_fee = fee_for(price, plan.instance_count, hours)
            variants = {
                "exact": (end, zone, base_fee),
                "later_start": (end + timedelta(days=1), zone, discounted(base_fee, "0.90")),
                "other_az": (end, _other_az(zone), discounted(base_fee, "0.95")),
            }
            for name in terms.variants:
                start, zone, fee = variants[name]
                offers.append(
                    _new_extension_offering(
                        world, plan, now, start, hours, zone, fee, terms.currency
                    )
                )
    return {"TrainingPlanOfferings": [], "TrainingPlanExtensionOfferings": offers}


def zone_id(zone: str) -> str:
    """A stable AZ ID for a zone name (us-east-1a -> use1-az1)."""
    region = zone[:-1]
    parts = region.split("-")
    short = parts[0][:2] + parts[1][0] + parts[-1]
    return f"{short}-az{ord(zone[-1]) - ord('a') + 1}"


def _other_az(zone: str) -> str:
    return zone[:-1] + ("b" if zone.endswith("a") else "a")


def _new_extension_offering(
    world: World,
    plan: SimPlan,
    now: datetime,
    start: datetime,
    hours: int,
    zone: str,
    fee: Any,
    currency: str,
) -> dict[str, Any]:
    offering = SimOffering(
        offering_id=world.next_id("tpeo"),
        plan_arn=plan.arn,
        created_at=now,
        start=start,
        end=start + timedelta(hours=hours),
        duration_hours=hours,
        availability_zone=zone,
        fee=fee,
        currency=currency,
    )
    world.offerings[offering.offering_id] = offering
    return {
        "TrainingPlanExtensionOfferingId": offering.offering_id,
        "AvailabilityZone": zone,
        "StartDate": offering.start,
        "EndDate": offering.end,
        "DurationHours": hours,
        "UpfrontFee": f"{fee:.2f}",
        "CurrencyCode": currency,
    }


def search_extension_offerings(world: World, account: str, region: str, params: Params) -> Any:
    now = world.clock.now()
    if params.get("TrainingPlanArn"):
        plan = world.plan_by_name_or_arn(account, region, params["TrainingPlanArn"])
        if plan is None or plan.arn != params["TrainingPlanArn"]:
            raise not_found(f"Training plan {params['TrainingPlanArn']} does not exist.")
        return _extension_offerings(world, plan, params, now)
    raise validation("TrainingPlanArn is required for extension offerings")


def usable_offering(world: World, offering_id: Any, now: datetime) -> SimOffering:
    offering = world.offerings.get(offering_id) if isinstance(offering_id, str) else None
    if offering is None or offering.used or now - offering.created_at > world.settings.offering_ttl:
        # Unknown, already bought, or stale: AWS models only ResourceNotFound here.
        raise not_found(f"Offering {offering_id} does not exist or is no longer available.")
    return offering


def extend_training_plan(world: World, account: str, region: str, params: Params) -> Any:
    now = world.clock.now()
    offering = usable_offering(world, params.get("TrainingPlanExtensionOfferingId"), now)
    if offering.plan_arn is None:
        raise validation(f"Offering {offering.offering_id} is not an extension offering.")
    plan = world.plans[offering.plan_arn]
    if (plan.account, plan.region) != (account, region):
        raise not_found(f"Offering {offering.offering_id} does not exist.")
    _check_extendable(world, plan, now)
    if plan.pending_extension() is not None:
        raise validation(
            f"Training plan {plan.name} has an extension whose payment is pending; "
            "wait for it to complete before extending again"
        )
    if offering.start < plan.end_time(world.settings):
        raise validation(
            f"Offering {offering.offering_id} starts before the plan's current end time"
        )
    terms = world.market.terms_for(plan.name)
    extension = SimExtension(
        offering_id=offering.offering_id,
        plan_arn=plan.arn,
        extended_at=now,
        start=offering.start,
        end=offering.end,
        availability_zone=offering.availability_zone,
        availability_zone_id=zone_id(offering.availability_zone),
        duration_hours=offering.duration_hours,
        fee=offering.fee,
        currency=offering.currency,
        resolves_at=now + world.settings.payment_delay,
        will_fail=world.market.payment_fails(terms),
        listed_id=world.next_id("tpeo") if world.settings.extension_ids == "own" else "",
    )
    offering.used = True
    plan.extensions.append(extension)
    world.record_purchase(plan, extension)
    world.touched()
    return {"TrainingPlanExtensions": [_extension_dict(e, now) for e in plan.extensions]}


def describe_training_plan_extension_history(
    world: World, account: str, region: str, params: Params
) -> Any:
    arn = params.get("TrainingPlanArn")
    if not isinstance(arn, str) or ":training-plan/" not in arn:
        raise validation("TrainingPlanArn must be a training plan ARN")
    plan = world.plan_by_name_or_arn(account, region, arn)
    if plan is None or plan.arn != arn:
        raise not_found(f"Training plan {arn} does not exist.")
    now = world.clock.now()
    shown = [e for e in plan.extensions if e.extended_at + world.settings.history_delay <= now]
    items = sorted(shown, key=lambda e: e.extended_at)
    page, token = paginate(items, params)
    result: dict[str, Any] = {"TrainingPlanExtensions": [_extension_dict(e, now) for e in page]}
    if token:
        result["NextToken"] = token
    return result


def plan_for_tags(world: World, arn: Any) -> SimPlan | None:
    return world.plans.get(arn) if isinstance(arn, str) else None


def list_tags(plan: SimPlan, params: Params) -> Any:
    tags = [{"Key": k, "Value": v} for k, v in sorted(plan.tags.items())]
    page, token = paginate(tags, params)
    result: dict[str, Any] = {"Tags": page}
    if token:
        result["NextToken"] = token
    return result


def add_tags(world: World, plan: SimPlan, params: Params) -> Any:
    for tag in params.get("Tags") or []:
        plan.tags[tag["Key"]] = tag.get("Value", "")
    return {"Tags": params.get("Tags") or []}


def delete_tags(world: World, plan: SimPlan, params: Params) -> Any:
    for key in params.get("TagKeys") or []:
        plan.tags.pop(key, None)
    return {}
