"""The simulator's state: plans, extensions, offerings, jobs and clusters, moved by a clock.

Everything time-dependent is settled by `settle()`, a small discrete-event loop run before
every request: extension payments resolve, jobs complete, and consumers whose plan's capacity
ends under them are interrupted. A training job whose reserved capacity ends while another
one of its plan is still to come goes back to `Pending` until that one starts (between two
capacities, or when the next one is in another zone), and the time it waits does not count
toward its `MaxRuntimeInSeconds` (`SimSettings.pending_counts_toward_runtime`). `record`
is the simulator's own account of what happened (purchases, interruptions, pauses, faults),
which the soak checks plan-watcher against.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from watcher.clock import Clock
from watcher.sandbox.capacity import Segment, SimExtension, SimPlan
from watcher.sandbox.market import Market
from watcher.sandbox.record import Interruption, Pause, Purchase, Record
from watcher.sandbox.settings import SimSettings


@dataclass
class SimOffering:
    offering_id: str
    plan_arn: str | None
    created_at: datetime
    start: datetime
    end: datetime
    duration_hours: int
    availability_zone: str
    fee: Decimal
    currency: str
    # For new-plan offerings only.
    instance_type: str | None = None
    instance_count: int = 0
    target_resources: tuple[str, ...] = ()
    used: bool = False


@dataclass
class SimJob:
    name: str
    arn: str
    plan_arn: str | None
    created_at: datetime
    start: datetime
    max_runtime: timedelta
    instance_type: str
    instance_count: int
    status: str = "InProgress"
    end_time: datetime | None = None
    failure_reason: str | None = None
    # Capacity chosen through ResourceConfig.InstancePreferences: (instance type, plan ARN)
    # per preference, and the type selected (None: nothing selected yet). `plan_arn` is then
    # the selected preference's plan, and the job names no plan at job level.
    preferences: list[tuple[str, str]] = field(default_factory=list)
    selected_type: str | None = None
    # Back to Pending between two reserved capacities: since when, until when, and how long
    # it has waited so far (added to its runtime unless pending time counts toward it).
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    paused_for: timedelta = timedelta(0)
    # Seeded waiting for capacity (SecondaryStatus Pending): it holds no instances, and runs
    # out its time without ever being placed.
    waiting: bool = False

    @property
    def pending(self) -> bool:
        """Waiting, or back in Pending between two reserved capacities."""
        return self.waiting or self.resume_at is not None

    @property
    def runtime_end(self) -> datetime:
        return self.start + self.max_runtime + self.paused_for


@dataclass
class SimInstanceGroup:
    name: str
    instance_type: str
    target_count: int
    plan_arn: str | None
    current_count: int
    lost_at: datetime | None = None


@dataclass
class SimCluster:
    name: str
    arn: str
    created_at: datetime
    groups: list[SimInstanceGroup]
    delete_at: datetime | None = None
    deleted: bool = False


__all__ = ["Segment", "SimExtension", "SimPlan", "World"]


class World:
    """All simulated resources, across accounts and regions, behind one lock."""

    def __init__(self, clock: Clock, settings: SimSettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or SimSettings()
        self.market = Market(clock=clock)
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.plans: dict[str, SimPlan] = {}
        self.offerings: dict[str, SimOffering] = {}
        self.jobs: dict[str, SimJob] = {}
        self.clusters: dict[str, SimCluster] = {}
        self.record = Record()
        self._settled_to: datetime | None = None
        self._next_event: datetime | None = None
        self._counter = 0

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:012x}"

    def plan_by_name_or_arn(self, account: str, region: str, ref: str) -> SimPlan | None:
        plan = self.plans.get(ref)
        if plan is None:
            arn = f"arn:aws:sagemaker:{region}:{account}:training-plan/{ref}"
            plan = self.plans.get(arn)
        if plan is not None and (plan.account, plan.region) != (account, region):
            return None
        return plan

    def extension(self, plan_arn: str, offering_id: str) -> SimExtension | None:
        plan = self.plans.get(plan_arn)
        found = (e for e in plan.extensions if e.offering_id == offering_id) if plan else ()
        return next(iter(found), None)

    def add_plan_record(self, plan: SimPlan) -> SimPlan:
        with self.lock:
            self.plans[plan.arn] = plan
            self.touched()
            return plan

    def add_job(self, job: SimJob) -> SimJob:
        with self.lock:
            self.jobs[job.arn] = job
            self.touched()
            return job

    def add_cluster(self, cluster: SimCluster) -> SimCluster:
        with self.lock:
            self.clusters[cluster.arn] = cluster
            self.touched()
            return cluster

    def record_purchase(self, plan: SimPlan, ext: SimExtension) -> None:
        before = [e.end for e in plan.counted_extensions(self.settings) if e is not ext]
        self.record.purchases.append(
            Purchase(
                plan_arn=plan.arn,
                offering_id=ext.offering_id,
                at=ext.extended_at,
                fee=ext.fee,
                currency=ext.currency,
                duration_hours=ext.duration_hours,
                start=ext.start,
                end=ext.end,
                plan_end_before=max([plan.base_end, *before]),
            )
        )

    def touched(self) -> None:  # state changed: the next settle recomputes the next event
        self._next_event = None

    # --- time -----------------------------------------------------------------------------

    def settle(self) -> datetime:
        """Apply every timed event up to now, in order; return now."""
        now = self.clock.now()
        with self.lock:
            if self._next_event is not None and now < self._next_event:
                return now
            while True:
                event = self._earliest_event()
                if event is None or event[0] > now:
                    self._settled_to = now
                    self._next_event = event[0] if event else _NEVER
                    return now
                when, action = event
                self._settled_to = max(when, self._settled_to or when)
                action(self._settled_to)

    def _earliest_event(self) -> tuple[datetime, _ActionFn] | None:
        best: tuple[datetime, _ActionFn] | None = None

        def offer(when: datetime, action: _ActionFn) -> None:
            nonlocal best
            if best is None or when < best[0]:
                best = (when, action)

        s = self.settings
        for plan in self.plans.values():
            for ext in plan.extensions:
                if not ext.resolved:
                    offer(ext.resolves_at, _resolve(ext))
        for job in self.jobs.values():
            if job.status != "InProgress":
                continue
            if job.resume_at is not None:
                offer(job.resume_at, _resume_job(self, job))
                if s.pending_counts_toward_runtime:
                    offer(job.runtime_end, _complete(job))
                continue
            offer(job.runtime_end, _complete(job))
            if job.waiting:
                continue  # holds no capacity to lose
            cut = self._cutoff(job.plan_arn, job.start, s.job_cutoff)
            if cut is not None:
                offer(cut, _interrupt_job(self, job))
        for cluster in self.clusters.values():
            if cluster.deleted:
                continue
            if cluster.delete_at is not None:
                offer(cluster.delete_at, _delete_cluster(cluster))
            for group in cluster.groups:
                if group.plan_arn is None or group.lost_at is not None:
                    continue
                cut = self._cutoff(group.plan_arn, cluster.created_at, s.cluster_cutoff)
                if cut is not None:
                    offer(cut, _interrupt_group(self, cluster, group))
        return best

    def _cutoff(self, plan_arn: str | None, since: datetime, lead: timedelta) -> datetime | None:
        """When a consumer of `plan_arn` loses its capacity, seen from the settled time."""
        plan = self.plans.get(plan_arn) if plan_arn else None
        if plan is None:
            return None
        at = max(since, self._settled_to or since)
        end = plan.capacity_end_at(at, self.settings)
        if end is None:
            # No capacity running now: the next segment's end, if one is still to come.
            upcoming = [g for g in plan.segments(self.settings) if g.start > at]
            if not upcoming:
                return at
            end = upcoming[0].end
        return end - lead


_ActionFn = Callable[[datetime], None]
_NEVER = datetime.max.replace(tzinfo=UTC)


def _resolve(ext: SimExtension) -> _ActionFn:
    def run(when: datetime) -> None:
        ext.resolved = True

    return run


def _complete(job: SimJob) -> _ActionFn:
    def run(when: datetime) -> None:
        job.status = "Completed"
        job.end_time = when

    return run


def _interrupt_job(world: World, job: SimJob) -> _ActionFn:
    def run(when: datetime) -> None:
        assert job.plan_arn is not None
        plan = world.plans.get(job.plan_arn)
        upcoming = plan.next_capacity_after(when, world.settings) if plan is not None else None
        if upcoming is not None:
            job.paused_at, job.resume_at = when, upcoming.start
            world.record.pauses.append(Pause(job.name, job.plan_arn, when, upcoming.start))
            return
        _fail(world, job, when)

    return run


def _fail(world: World, job: SimJob, when: datetime) -> None:
    job.status = "Failed"
    job.end_time = when
    job.paused_at = job.resume_at = None
    job.failure_reason = (
        "CapacityError: the training plan's reserved capacity ended while the job was running"
    )
    assert job.plan_arn is not None
    world.record.interruptions.append(Interruption("job", job.name, job.plan_arn, when))


def _resume_job(world: World, job: SimJob) -> _ActionFn:
    def run(when: datetime) -> None:
        assert job.plan_arn is not None and job.paused_at is not None
        plan = world.plans.get(job.plan_arn)
        settings = world.settings
        if plan is None or plan.capacity_at(when, settings) is None:
            # The capacity it waited for is gone (its payment failed): wait for a later one.
            upcoming = plan.next_capacity_after(when, settings) if plan is not None else None
            if upcoming is None:
                _fail(world, job, when)
            else:
                job.resume_at = upcoming.start
            return
        if not settings.pending_counts_toward_runtime:
            job.paused_for += when - job.paused_at
        job.paused_at = job.resume_at = None

    return run


def _interrupt_group(world: World, cluster: SimCluster, group: SimInstanceGroup) -> _ActionFn:
    def run(when: datetime) -> None:
        group.lost_at = when
        group.current_count = 0
        assert group.plan_arn is not None
        world.record.interruptions.append(
            Interruption("cluster", f"{cluster.name}/{group.name}", group.plan_arn, when)
        )

    return run


def _delete_cluster(cluster: SimCluster) -> _ActionFn:
    def run(when: datetime) -> None:
        cluster.deleted = True

    return run
