"""One target's view of AWS: plans, their tags and extension history, and their consumers.

Everything is read only when a decision needs it: the job scan and the cluster list run once
per cycle and only if some plan is due (beside the plan listing when the last cycle had a due
plan, since a due plan stays due for many cycles; otherwise when the first due plan asks); a
job's immutable fields and a plan's tags are cached across cycles; a plan's extension history
is reused while its end time is unchanged and nothing in it is pending (a plan about to be
bought for is always read afresh).

A running job is linked to its plans by the `TrainingPlanArn` of its ListTrainingJobs summary,
or, where the summary has none (AWS does not document that it is always there, and a job that
chose its capacity through `InstancePreferences` carries no job-level plan), by
DescribeTrainingJob (`JobFacts.plan_arns`), described once and cached while the job runs.
A running job that cannot be described is an `UnknownJob`: of its plan when its summary names
one, otherwise of every plan of the target. It only adds demand (watcher/decide/demand.py); it
never fails a plan's evaluation.

The running jobs are kept across cycles too. A full scan of InProgress jobs pages through every
job of the last 57 days (the status filter applies after the page limit), so it runs once an
hour; in between, one ListTrainingJobs for the jobs modified since the last scan (a new job, or
one whose status changed: AWS bumps LastModifiedTime on every status change) brings the set up
to date, usually in a single page.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from watcher.aws.errors import AwsError, ErrorKind
from watcher.aws.parse import ClusterSummary, JobFacts, JobSummary
from watcher.aws.sagemaker import SageMakerGateway
from watcher.model import Consumer, ConsumerKind, Extension, Plan, UnknownJob

# A job can be InProgress at most MaxPendingTime (28 days) + MaxRuntime (28 days) after it
# was created, so older jobs need not be scanned.
JOB_LOOKBACK = timedelta(days=57)
TAG_TTL = timedelta(minutes=10)
# A full scan bounds how long a missed status change could go unnoticed.
FULL_SCAN_EVERY = timedelta(hours=1)
# Changes are asked for from a little before the last scan: AWS's clock and ours may differ,
# and a job may change while the previous scan was paging.
SCAN_OVERLAP = timedelta(minutes=5)


@dataclass
class _History:
    end_time: datetime
    extensions: list[Extension]


@dataclass(frozen=True)
class _Described:
    facts: JobFacts
    modified_at: datetime | None  # the summary's LastModifiedTime when it was described
    at: datetime


@dataclass
class TargetCache:
    """What survives between cycles for one target."""

    jobs: dict[str, _Described] = field(default_factory=dict)
    tags: dict[str, tuple[datetime, dict[str, str]]] = field(default_factory=dict)
    history: dict[str, _History] = field(default_factory=dict)
    running: dict[str, JobSummary] = field(default_factory=dict)  # InProgress jobs by ARN
    scanned_at: datetime | None = None
    full_scan_at: datetime | None = None
    #: Some plan asked for its consumers in the last cycle.
    had_due: bool = False


class Inventory:
    """Reads for one target during one cycle (safe to share between threads surveying the
    target's plans: the job scan and the cluster list still run once)."""

    def __init__(
        self, gateway: SageMakerGateway, cache: TargetCache, now: datetime, log: Any = None
    ) -> None:
        """`log` gets a `job_undescribed` warning for each running job that cannot be
        described, once per cycle."""
        self.gateway = gateway
        self.cache = cache
        self.now = now
        self.log = log
        self._jobs_by_plan: dict[str, list[JobSummary]] | None = None
        self._clusters_by_plan: dict[str, list[ClusterSummary]] | None = None
        self._unlinked: list[UnknownJob] = []  # running jobs whose plans could not be read
        self._told: set[str] = set()  # jobs already logged as undescribed this cycle
        self._scan_lock = threading.Lock()
        self._told_lock = threading.Lock()
        self.early_scan: Future[None] | None = None

    def scan_early(self, pool: Executor) -> None:
        """Start reading the consumers in `pool` now if the last cycle had a due plan."""
        if self.cache.had_due:
            self.early_scan = pool.submit(self._scan_once)
        self.cache.had_due = False

    def ready(self, plan: Plan, tags: bool) -> bool:
        """Whether a first look at `plan` needs nothing from AWS: its history (and its tags,
        when `tags`) are in the cache and still good."""
        cached = self.cache.tags.get(plan.arn)
        if tags and (cached is None or self.now - cached[0] >= TAG_TTL):
            return False
        return self._reusable(plan) is not None

    def _reusable(self, plan: Plan) -> _History | None:
        cached = self.cache.history.get(plan.arn)
        if cached is None or cached.end_time != plan.end_time:
            return None
        return None if any(e.in_flight for e in cached.extensions) else cached

    def last_history(self, plan: Plan) -> list[Extension] | None:
        """The extensions last read for `plan` (this cycle or before), if any."""
        cached = self.cache.history.get(plan.arn)
        return None if cached is None else cached.extensions

    def tags(self, plan: Plan) -> dict[str, str]:
        cached = self.cache.tags.get(plan.arn)
        if cached is not None and self.now - cached[0] < TAG_TTL:
            return cached[1]
        tags = self.gateway.tags(plan.arn)
        self.cache.tags[plan.arn] = (self.now, tags)
        return tags

    def history(self, plan: Plan, fresh: bool = False) -> list[Extension]:
        """The plan's extensions, from AWS; cached while nothing about them can have changed."""
        cached = None if fresh else self._reusable(plan)
        if cached is not None:
            return cached.extensions
        extensions, unreadable = self.gateway.extension_history(plan.arn)
        if unreadable:
            # An entry we cannot read may be a pending extension: deciding without it could
            # buy a second one, so the plan's evaluation fails instead.
            reasons = "; ".join(f"{bad.ref}: {bad.reason}" for bad in unreadable)
            raise AwsError(
                ErrorKind.INVALID,
                "DescribeTrainingPlanExtensionHistory",
                "UnreadableHistory",
                f"{len(unreadable)} unreadable extension(s): {reasons}",
            )
        self.cache.history[plan.arn] = _History(plan.end_time, extensions)
        return extensions

    def consumers(self, plan: Plan) -> list[Consumer]:
        """Training jobs and HyperPod clusters running on `plan`, with their demand ends."""
        return self.demand(plan)[0]

    def demand(self, plan: Plan) -> tuple[list[Consumer], tuple[UnknownJob, ...]]:
        """`consumers(plan)`, and the running jobs that could not be described and may run
        on `plan` (every such job whose summary names no plan, and those naming this one)."""
        self.cache.had_due = True
        self._scan_once()  # waits for the early scan; reads again if that one failed
        assert self._jobs_by_plan is not None and self._clusters_by_plan is not None
        unknown = list(self._unlinked)
        found: list[Consumer] = []
        for summary in self._jobs_by_plan.get(plan.arn, []):
            try:
                facts = self._facts(summary)
            except AwsError as exc:
                unknown.append(self._undescribed(summary, exc, on_plan=True))
                continue
            end = facts.start + facts.max_runtime if facts.max_runtime else None
            found.append(
                Consumer(
                    ConsumerKind.JOB,
                    summary.name,
                    summary.arn,
                    plan.arn,
                    summary.status,
                    end,
                    started=facts.start,
                    instances=facts.instances_of(plan.instance_type),
                    waiting=summary.secondary_status == "Pending",
                )
            )
        for cluster in self._clusters_by_plan.get(plan.arn, []):
            found.append(
                Consumer(
                    ConsumerKind.CLUSTER, cluster.name, cluster.arn, plan.arn, cluster.status, None
                )
            )
        return found, tuple(unknown)

    def _undescribed(self, job: JobSummary, exc: AwsError, on_plan: bool) -> UnknownJob:
        unknown = UnknownJob(job.name, job.arn, f"{exc.code}: {exc.message}", on_plan)
        with self._told_lock:
            first = job.arn not in self._told
            self._told.add(job.arn)
        if self.log is not None and first:
            self.log.warning(
                "job_undescribed",
                job=job.name,
                error=unknown.error,
                plan=job.plan_arn,
                effect="kept as demand for "
                + ("its plan" if on_plan else "every due plan of the target"),
            )
        return unknown

    def _scan_once(self) -> None:
        with self._scan_lock:
            if self._jobs_by_plan is None:
                self._scan()

    def _running_jobs(self) -> list[JobSummary]:
        """The target's InProgress jobs: a full scan, or the last one brought up to date."""
        cache = self.cache
        lookback = self.now - JOB_LOOKBACK
        last, full = cache.scanned_at, cache.full_scan_at
        if last is None or full is None or self.now - full >= FULL_SCAN_EVERY or self.now < last:
            jobs = self.gateway.in_progress_jobs(created_after=lookback)
            cache.running = {job.arn: job for job in jobs}
            cache.full_scan_at = self.now
        else:
            for job in self.gateway.jobs_changed_since(last - SCAN_OVERLAP, lookback):
                if job.status == "InProgress":
                    cache.running[job.arn] = job
                else:
                    cache.running.pop(job.arn, None)
            for arn in [a for a, j in cache.running.items() if j.created_at <= lookback]:
                del cache.running[arn]
        cache.scanned_at = self.now
        return list(cache.running.values())

    def _facts(self, job: JobSummary) -> JobFacts:
        """The job's DescribeTrainingJob facts: cached, and described again only while its
        plan is not settled yet (nothing selected) and the job changed or an hour passed."""
        cached = self.cache.jobs.get(job.arn)
        if cached is not None:
            full = self.cache.full_scan_at
            stale = cached.modified_at != job.modified_at or (full is not None and cached.at < full)
            if cached.facts.settled or not stale:
                return cached.facts
        facts = self.gateway.describe_job(job.name)
        self.cache.jobs[job.arn] = _Described(facts, job.modified_at, self.now)
        return facts

    def _plans_of(self, job: JobSummary) -> tuple[str, ...]:
        if job.plan_arn:
            return (job.plan_arn,)
        return self._facts(job).plan_arns

    def _scan(self) -> None:
        jobs = self._running_jobs()
        by_plan: dict[str, list[JobSummary]] = {}
        unlinked: list[UnknownJob] = []
        for job in jobs:
            try:
                plans = self._plans_of(job)
            except AwsError as exc:
                unlinked.append(self._undescribed(job, exc, on_plan=False))
                continue
            for plan_arn in plans:
                by_plan.setdefault(plan_arn, []).append(job)
        self._unlinked = unlinked
        running = {job.arn for job in jobs}
        for arn in [a for a in self.cache.jobs if a not in running]:
            del self.cache.jobs[arn]
        clusters: dict[str, list[ClusterSummary]] = {}
        for cluster in self.gateway.clusters():
            if cluster.status in ("Deleting", "Failed"):
                continue
            for plan_arn in cluster.plan_arns:
                clusters.setdefault(plan_arn, []).append(cluster)
        self._jobs_by_plan = by_plan
        self._clusters_by_plan = clusters
