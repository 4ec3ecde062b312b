"""The simulator's front door: routes SageMaker operations, injects faults, seeds resources."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from watcher.clock import Clock, SystemClock
from watcher.sandbox import api_consumers, api_new_plans, api_plans, signing
from watcher.sandbox.answers import UNSENT, TransportFailure, refusal, unknown_outcome
from watcher.sandbox.errors import SimError, not_found
from watcher.sandbox.faults import Faults
from watcher.sandbox.market import Market, MarketTerms, fee_for
from watcher.sandbox.record import Record, Unanswered
from watcher.sandbox.settings import SimSettings
from watcher.sandbox.wire import snap_to_plan_end
from watcher.sandbox.world import (
    SimCluster,
    SimInstanceGroup,
    SimJob,
    SimPlan,
    World,
)

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

Handler = Callable[[World, str, str, dict[str, Any]], Any]

OPERATIONS: dict[str, Handler] = {
    "ListTrainingPlans": api_plans.list_training_plans,
    "DescribeTrainingPlan": api_plans.describe_training_plan,
    "CreateTrainingPlan": api_new_plans.create_training_plan,
    "SearchTrainingPlanOfferings": api_new_plans.search_training_plan_offerings,
    "ExtendTrainingPlan": api_plans.extend_training_plan,
    "DescribeTrainingPlanExtensionHistory": api_plans.describe_training_plan_extension_history,
    "CreateTrainingJob": api_consumers.create_training_job,
    "DescribeTrainingJob": api_consumers.describe_training_job,
    "ListTrainingJobs": api_consumers.list_training_jobs,
    "CreateCluster": api_consumers.create_cluster,
    "DescribeCluster": api_consumers.describe_cluster,
    "ListClusters": api_consumers.list_clusters,
    "DeleteCluster": api_consumers.delete_cluster,
}
# Tag operations are handled here only for training-plan ARNs; moto keeps the rest.
TAG_OPERATIONS = {"ListTags", "AddTags", "DeleteTags"}


class Simulator:
    """SageMaker training plans and their consumers, on a clock, with faults."""

    def __init__(
        self,
        clock: Clock,
        settings: SimSettings | None = None,
        market: Market | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.world = World(clock, settings)
        if market is not None:
            self.world.market = market
        self.world.market.clock = clock
        self.faults = faults or Faults()

    @property
    def clock(self) -> Clock:
        return self.world.clock

    @property
    def record(self) -> Record:
        return self.world.record

    @property
    def market(self) -> Market:
        return self.world.market

    def reset(self) -> None:
        with self.world.lock:
            self.world.reset()

    # --- AWS's clock, for signatures and Date (watcher/sandbox/signing.py) ---------------

    def aws_time(self) -> datetime:
        """AWS's own clock: the real time (what botocore signs with) plus clock_skew."""
        return SystemClock().now() + self.world.settings.clock_skew

    def date_header(self) -> str:
        return signing.http_date(self.aws_time())

    def signature_refusal(self, signed_at: str | None) -> SimError | None:
        """The refusal of a request signed at `signed_at`, counted, or None."""
        refused = signing.refusal(
            signed_at, self.aws_time(), self.world.settings.signature_tolerance
        )
        if refused is not None:
            self.world.record.count_fault("clock")
        return refused

    # --- the API ------------------------------------------------------------------------

    def handles(self, operation: str, params: dict[str, Any]) -> bool:
        if operation in OPERATIONS:
            return True
        if operation in TAG_OPERATIONS:
            # Every training-plan ARN is ours, known or not: moto knows no plans at all.
            arn = params.get("ResourceArn")
            return isinstance(arn, str) and ":training-plan/" in arn
        return False

    def call(self, operation: str, account: str, region: str, params: dict[str, Any]) -> Any:
        """Run one operation as SageMaker would; raise SimError, DroppedConnection or
        TransportFailure, or return a result (maybe a `RawAnswer`) for the caller."""
        self.world.settle()
        with self.world.lock:
            self.world.record.count_call(operation)
            plan_name = self._plan_name(operation, params)
        caller = f"{account}/{region}"
        fault = self.faults.before_call(operation, plan_name, caller)
        if fault is not None:
            kind, mode = fault
            self.world.record.count_fault(kind)
            if kind == "lost":
                self._unanswered(operation, params, mode, acted=False)
                return unknown_outcome(mode, operation)
            if kind in UNSENT:
                raise TransportFailure(kind, operation)
            raise refusal(kind)
        with self.world.lock:
            result = self._run(operation, account, region, params)
        if operation == "ExtendTrainingPlan":
            answer = self.faults.ambiguous(operation, plan_name, caller)
            if answer is not None:
                self.world.record.count_fault("ambiguous")
                self.world.record.purchases[-1].ambiguous = True
                self._unanswered(operation, params, answer, acted=True)
                return unknown_outcome(answer, operation, result)
        return result

    def _unanswered(self, operation: str, params: dict[str, Any], mode: str, acted: bool) -> None:
        offering = str(params.get("TrainingPlanExtensionOfferingId", ""))
        found = self.world.offerings.get(offering)
        with self.world.lock:
            self.world.record.unanswered.append(
                Unanswered(
                    operation,
                    found.plan_arn if found is not None else None,
                    offering,
                    mode,
                    acted,
                    self.clock.now(),
                )
            )

    def _run(self, operation: str, account: str, region: str, params: dict[str, Any]) -> Any:
        if operation in OPERATIONS:
            return OPERATIONS[operation](self.world, account, region, params)
        plan = api_plans.plan_for_tags(self.world, params.get("ResourceArn"))
        if plan is None or (plan.account, plan.region) != (account, region):
            raise not_found(f"Resource {params.get('ResourceArn')} does not exist.")
        if operation == "ListTags":
            return api_plans.list_tags(plan, params)
        if operation == "AddTags":
            return api_plans.add_tags(self.world, plan, params)
        return api_plans.delete_tags(self.world, plan, params)

    def _plan_name(self, operation: str, params: dict[str, Any]) -> str | None:
        ref = (
            params.get("TrainingPlanName")
            or params.get("TrainingPlanArn")
            or params.get("TrainingPlanArnEquals")
            or params.get("ResourceArn")
            # A fault scripted for DescribeTrainingJob names the job instead.
            or params.get("TrainingJobName")
        )
        if ref is None and operation == "ExtendTrainingPlan":
            offering = self.world.offerings.get(str(params.get("TrainingPlanExtensionOfferingId")))
            ref = offering.plan_arn if offering else None
        if not isinstance(ref, str):
            return None
        return ref.rsplit("/", 1)[-1]

    # --- seeding (scenarios, tests) -----------------------------------------------------

    def add_plan(
        self,
        name: str,
        *,
        ends_at: datetime,
        starts_at: datetime | None = None,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        instance_type: str = "ml.p5.48xlarge",
        instance_count: int = 4,
        availability_zone: str | None = None,
        fee: Decimal | None = None,
        currency: str = "USD",
        target_resources: Iterable[str] = ("training-job",),
        tags: dict[str, str] | None = None,
        market: MarketTerms | None = None,
        unlisted_in_use: int = 0,
        failed: bool = False,
        ultraserver_type: str | None = None,
        ultraserver_count: int = 0,
    ) -> str:
        """Seed a purchased plan; its end snaps to 11:30 UTC, as every plan's does.
        `unlisted_in_use` instances are in use by consumers the simulator does not list; a
        `failed` plan's purchase failed; `ultraserver_type` makes its capacity UltraServers
        (`ultraserver_count` of them, `instance_count` instances in all)."""
        now = self.clock.now()
        end = snap_to_plan_end(ends_at)
        start = starts_at or min(now - timedelta(days=1), end - timedelta(days=1))
        zone = availability_zone or f"{region}a"
        arn = api_plans.plan_arn(account, region, name)
        hours = int((end - start).total_seconds() // 3600)
        terms = market or self.world.market.terms_for(name)
        if market is not None:
            self.world.market.per_plan[name] = market
        plan = SimPlan(
            name=name,
            arn=arn,
            account=account,
            region=region,
            instance_type=instance_type,
            instance_count=instance_count,
            availability_zone=zone,
            availability_zone_id=api_plans.zone_id(zone),
            created_at=min(start, now),
            payment_at=min(start, now),
            start=start,
            base_end=end,
            fee=fee
            if fee is not None
            else fee_for(terms.price_per_instance_hour, instance_count, hours),
            currency=currency,
            target_resources=list(target_resources),
            tags=dict(tags or {}),
            reserved_capacity_arn=arn.replace(":training-plan/", ":reserved-capacity/"),
            unlisted_in_use=unlisted_in_use,
            failed=failed,
            ultraserver_type=ultraserver_type,
            ultraserver_count=ultraserver_count,
        )
        self.world.add_plan_record(plan)
        return arn

    def add_job(
        self,
        name: str,
        *,
        plan: str | None,
        max_runtime: timedelta,
        started_at: datetime | None = None,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        instance_count: int = 1,
        instance_type: str = "ml.p5.48xlarge",
        status: str = "InProgress",
        preferences: Iterable[tuple[str, str]] = (),
        nothing_selected: bool = False,
        waiting: bool = False,
    ) -> str:
        """Seed a training job; `plan` is a plan name or ARN (or None). With `preferences`
        ((instance type, plan name or ARN), as `InstancePreferences`) and no `plan`, the job
        names no plan at job level and runs on its first preference's plan, or, with
        `nothing_selected`, has not been placed yet. A `waiting` job waits for capacity on its
        plan (`SecondaryStatus` `Pending`, no instances held) until its runtime is over."""
        placed = [(kind, self._seeded_plan_arn(ref, account, region)) for kind, ref in preferences]
        chosen = placed[0] if placed and not nothing_selected else None
        plan_arn = self._seeded_plan_arn(plan, account, region) if plan else None
        if chosen is not None:
            instance_type, plan_arn = chosen[0], chosen[1]
        start = started_at or self.clock.now()
        arn = api_consumers.job_arn(account, region, name)
        job = SimJob(
            name=name,
            arn=arn,
            plan_arn=plan_arn,
            created_at=start,
            start=start,
            max_runtime=max_runtime,
            instance_type=instance_type,
            instance_count=instance_count,
            status=status,
            preferences=[(kind, str(arn)) for kind, arn in placed],
            selected_type=chosen[0] if chosen else None,
            waiting=waiting,
        )
        if status != "InProgress":
            job.end_time = start
        self.world.add_job(job)
        return arn

    def add_cluster(
        self,
        name: str,
        *,
        groups: Iterable[tuple[str, str | None, int]],
        created_at: datetime | None = None,
        delete_at: datetime | None = None,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        instance_type: str = "ml.p5.48xlarge",
    ) -> str:
        """Seed a HyperPod cluster; each group is (name, plan name/ARN or None, count)."""
        built = []
        for group_name, plan, count in groups:
            plan_arn = self._seeded_plan_arn(plan, account, region)
            built.append(SimInstanceGroup(group_name, instance_type, count, plan_arn, count))
        arn = api_consumers.cluster_arn(self.world, account, region)
        self.world.add_cluster(
            SimCluster(
                name=name,
                arn=arn,
                created_at=created_at or self.clock.now(),
                groups=built,
                delete_at=delete_at,
            )
        )
        return arn

    def _seeded_plan_arn(self, ref: str | None, account: str, region: str) -> str | None:
        if ref is None:
            return None
        found = self.world.plan_by_name_or_arn(account, region, ref)
        if found is None:
            raise ValueError(f"unknown plan {ref!r}")
        return found.arn

    def plan(
        self, ref: str, account: str = DEFAULT_ACCOUNT, region: str = DEFAULT_REGION
    ) -> SimPlan:
        found = self.world.plan_by_name_or_arn(account, region, ref)
        if found is None:
            raise KeyError(ref)
        return found

    def plan_end(
        self, ref: str, account: str = DEFAULT_ACCOUNT, region: str = DEFAULT_REGION
    ) -> datetime:
        return self.plan(ref, account, region).end_time(self.world.settings)
