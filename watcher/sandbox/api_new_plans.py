"""New training plans: offerings for a plan not yet bought, and buying one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from watcher.sandbox.api_plans import (
    plan_arn,
    search_extension_offerings,
    usable_offering,
    zone_id,
)
from watcher.sandbox.errors import in_use, validation
from watcher.sandbox.market import fee_for
from watcher.sandbox.wire import as_utc, hours_minutes, snap_to_plan_end
from watcher.sandbox.world import SimOffering, SimPlan, World

Params = dict[str, Any]


def plan_offerings(world: World, region: str, params: Params, now: datetime) -> Any:
    instance_type = params.get("InstanceType")
    if not instance_type or "DurationHours" not in params or not params.get("TargetResources"):
        raise validation("InstanceType, DurationHours and TargetResources are required")
    count = int(params.get("InstanceCount", 1))
    hours = -(-int(params["DurationHours"]) // 24) * 24
    earliest = now + timedelta(minutes=30)
    if "StartTimeAfter" in params:
        earliest = max(earliest, as_utc(params["StartTimeAfter"]))
    latest_end = as_utc(params["EndTimeBefore"]) if "EndTimeBefore" in params else None
    terms = world.market.default
    offers = []
    for shift_days in (0, 1, 7):
        start = earliest + timedelta(days=shift_days)
        end = snap_to_plan_end(start + timedelta(hours=hours))
        if latest_end is not None and end > latest_end:
            continue
        span_h, span_m = hours_minutes(end - start)
        fee = fee_for(terms.price_per_instance_hour, count, span_h)
        offering = SimOffering(
            offering_id=world.next_id("tpo"),
            plan_arn=None,
            created_at=now,
            start=start,
            end=end,
            duration_hours=span_h,
            availability_zone=f"{region}a",
            fee=fee,
            currency=terms.currency,
            instance_type=instance_type,
            instance_count=count,
            target_resources=tuple(params["TargetResources"]),
        )
        world.offerings[offering.offering_id] = offering
        offers.append(
            {
                "TrainingPlanOfferingId": offering.offering_id,
                "TargetResources": list(offering.target_resources),
                "DurationHours": span_h,
                "DurationMinutes": span_m,
                "UpfrontFee": f"{fee:.2f}",
                "CurrencyCode": terms.currency,
                "ReservedCapacityOfferings": [
                    {
                        "ReservedCapacityType": "Instance",
                        "InstanceType": instance_type,
                        "InstanceCount": count,
                        "AvailabilityZone": offering.availability_zone,
                        "DurationHours": span_h,
                        "DurationMinutes": span_m,
                        "StartTime": start,
                        "EndTime": end,
                    }
                ],
            }
        )
    return {"TrainingPlanOfferings": offers}


def create_training_plan(world: World, account: str, region: str, params: Params) -> Any:
    now = world.clock.now()
    name = params.get("TrainingPlanName")
    if not isinstance(name, str) or not name:
        raise validation("TrainingPlanName is required")
    offering = usable_offering(world, params.get("TrainingPlanOfferingId"), now)
    if offering.plan_arn is not None or offering.instance_type is None:
        raise validation(f"Offering {offering.offering_id} is not a training plan offering.")
    arn = plan_arn(account, region, name)
    if arn in world.plans:
        raise in_use(f"Training plan {name} already exists.")
    offering.used = True
    tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
    world.add_plan_record(
        SimPlan(
            name=name,
            arn=arn,
            account=account,
            region=region,
            instance_type=offering.instance_type,
            instance_count=offering.instance_count,
            availability_zone=offering.availability_zone,
            availability_zone_id=zone_id(offering.availability_zone),
            created_at=now,
            payment_at=now + world.settings.plan_payment_delay,
            start=offering.start,
            base_end=offering.end,
            fee=offering.fee,
            currency=offering.currency,
            target_resources=list(offering.target_resources),
            tags=tags,
            reserved_capacity_arn=arn.replace(":training-plan/", ":reserved-capacity/"),
        )
    )
    return {"TrainingPlanArn": arn}


def search_training_plan_offerings(world: World, account: str, region: str, params: Params) -> Any:
    """With TrainingPlanArn: the plan's extension offerings; without: new-plan offerings."""
    if params.get("TrainingPlanArn"):
        return search_extension_offerings(world, account, region, params)
    return plan_offerings(world, region, params, world.clock.now())
