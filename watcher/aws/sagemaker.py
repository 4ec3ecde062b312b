"""The gateway: every SageMaker call plan-watcher makes goes through `SageMakerGateway`.

It owns the clients (built by watcher/aws/clients.py: retries for reads, and a separate
client with retries switched off for `ExtendTrainingPlan` and `DeleteTags`), pagination (full
pages of 100, always until `NextToken` is absent), error classification and parsing into
domain values; every request is counted by operation and outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.loaders import Loader
from botocore.utils import parse_timestamp

from watcher.aws import service_model
from watcher.aws.calls import CallCounter
from watcher.aws.clients import make_client
from watcher.aws.errors import AwsError, ErrorKind, classify
from watcher.aws.parse import (
    ClusterSummary,
    JobFacts,
    JobSummary,
    Malformed,
    parse_cluster_summary,
    parse_extension,
    parse_job,
    parse_job_summary,
    parse_offering,
    parse_plan,
)
from watcher.aws.service_model import OPERATIONS as OPERATIONS  # where callers look for it
from watcher.aws.session import TargetSpec
from watcher.aws.skew import ClockSkew
from watcher.aws.skew import describe as describe_skew
from watcher.aws.skew import from_refusal as skew_from_refusal
from watcher.model import Extension, ExtensionOffering, Plan

T = TypeVar("T")
# The largest MaxResults every List operation takes. AWS documents no default page size, so
# asking for the largest keeps the number of calls independent of it.
PAGE_SIZE = 100
#: Reads to one target in flight at once: each client keeps as many connections open. At the
#: bench's scale 12 instead of 16 cost a steady cycle about 6 % and saved about 1.6 MB of RSS
#: (four targets' threads); 8 cost 13 % (docs/performance.md).
CONCURRENT_CALLS = 12
WRITES = frozenset({"ExtendTrainingPlan", "DeleteTags"})


_shared_loader: Loader | None = None
_loader_lock = threading.Lock()


def _timestamp(value: Any) -> datetime:
    """A timestamp of an answer. SageMaker's JSON carries seconds since the epoch, read here
    in UTC directly; botocore's default reader goes through dateutil and the local time zone
    for each one, which took half the time of parsing a page of plans. Anything else (and an
    out-of-range number) is read as botocore would."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return parse_timestamp(value)


def _prepare(session: boto3.Session) -> None:
    """Make every target's session read botocore's data through one loader, which finds
    plan-watcher's own cut of the SageMaker model first (`service_model.py`), and read
    timestamps with `_timestamp`.

    Each botocore session otherwise parses its own copy of the model (botocore's full one is
    about 20 MB of Python objects). The loader only reads packaged JSON files and caches what
    it parsed, so sharing it shares nothing that differs between targets (credentials and
    regions stay per session).
    """
    global _shared_loader
    core = session._session
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = service_model.loader()
        if core.get_component("data_loader") is not _shared_loader:
            core.register_component("data_loader", _shared_loader)
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)


class SageMakerGateway:
    """SageMaker reads and writes for one target."""

    def __init__(
        self,
        target: TargetSpec,
        session: boto3.Session,
        counter: CallCounter | None = None,
        *,
        read_attempts: int = 5,
    ) -> None:
        self.target = target
        self.counter = counter or CallCounter()
        #: AWS's clock minus this machine's, measured on every answer (watcher/aws/skew.py).
        self.skew = ClockSkew()
        _prepare(session)

        # Typed loosely on purpose: responses are parsed defensively in watcher.aws.parse.
        def client(attempts: int, read_timeout: float, pool: int | None) -> Any:
            return make_client(
                session,
                "sagemaker",
                region=target.region,
                attempts=attempts,
                read_timeout=read_timeout,
                pool=pool,
                counter=self.counter,
                writes=WRITES,
                on_answer=self.skew.observe,
            )

        # Room for a target's plans to be read side by side (botocore's default pool is 10).
        self._read: Any = client(read_attempts, 30, pool=CONCURRENT_CALLS)
        # One attempt, no retry of any kind: a purchase must never be sent twice by the SDK.
        self._write: Any = client(1, 60, pool=None)

    # --- plumbing -----------------------------------------------------------------------

    def _call(self, operation: str, run: Callable[[], T]) -> T:
        try:
            return run()
        except Exception as exc:  # every failure is classified here, once
            error = classify(exc, operation, write=operation in WRITES)
            if error.kind is ErrorKind.CLOCK_SKEW:
                error = self._clock_error(error)
            raise error from exc

    def _clock_error(self, error: AwsError) -> AwsError:
        """A clock refusal, told as one: the difference measured on this very answer (its
        Date header), or else the one AWS's message states."""
        seconds = self.skew.seconds
        if seconds is None:
            seconds = skew_from_refusal(error.message)
        told = describe_skew(seconds) if seconds is not None else "this machine's clock is off"
        message = (
            f"{told} (AWS refuses requests signed more than about 5 minutes off its time; "
            f"synchronise the clock, e.g. chrony or NTP); AWS said: {error.message}"
        )
        return AwsError(ErrorKind.CLOCK_SKEW, error.operation, error.code, message)

    def _pages(self, operation: str, method: str, key: str, **kwargs: Any) -> Iterator[Any]:
        for items in self._page_lists(operation, method, key, **kwargs):
            yield from items

    def _page_lists(
        self, operation: str, method: str, key: str, **kwargs: Any
    ) -> Iterator[list[Any]]:
        paginator = self._read.get_paginator(method)
        pages = paginator.paginate(**kwargs, PaginationConfig={"PageSize": PAGE_SIZE})
        iterator = iter(pages)
        while True:
            page = self._call(operation, lambda: next(iterator, None))
            if page is None:
                return
            yield page.get(key) or []

    # --- plans --------------------------------------------------------------------------

    def list_plans(self) -> tuple[list[Plan], list[Malformed]]:
        """Every plan in the target (all statuses), parsed; unreadable ones apart."""
        plans: list[Plan] = []
        bad: list[Malformed] = []
        for page, unreadable in self.plan_pages():
            plans.extend(page)
            bad.extend(unreadable)
        return plans, bad

    def plan_pages(self) -> Iterator[tuple[list[Plan], list[Malformed]]]:
        """`list_plans`, a page at a time, as each page arrives."""
        for items in self._page_lists(
            "ListTrainingPlans", "list_training_plans", "TrainingPlanSummaries"
        ):
            plans: list[Plan] = []
            bad: list[Malformed] = []
            for item in items:
                try:
                    plans.append(parse_plan(item, self.target.name))
                except Malformed as exc:
                    bad.append(exc)
            yield plans, bad

    def describe_plan(self, name_or_arn: str) -> Plan:
        item = self._call(
            "DescribeTrainingPlan",
            lambda: self._read.describe_training_plan(TrainingPlanName=name_or_arn),
        )
        try:
            return parse_plan(item, self.target.name)
        except Malformed as exc:
            raise AwsError(ErrorKind.OTHER, "DescribeTrainingPlan", "Malformed", str(exc)) from exc

    def tags(self, arn: str) -> dict[str, str]:
        items = self._pages("ListTags", "list_tags", "Tags", ResourceArn=arn)
        tags: dict[str, str] = {}
        for item in items:
            key = item.get("Key") if isinstance(item, dict) else None
            if not isinstance(key, str) or not key:
                # Policies and approvals match on tags: deciding on a partial set could pick
                # the wrong policy, so this resource's evaluation fails instead.
                raise AwsError(ErrorKind.INVALID, "ListTags", "UnreadableTag", f"{item!r}")
            value = item.get("Value", "")
            tags[key] = value if isinstance(value, str) else str(value)
        return tags

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        self._call("DeleteTags", lambda: self._write.delete_tags(ResourceArn=arn, TagKeys=keys))

    # --- extensions ---------------------------------------------------------------------

    def extension_history(self, plan_arn: str) -> tuple[list[Extension], list[Malformed]]:
        extensions: list[Extension] = []
        bad: list[Malformed] = []
        for item in self._pages(
            "DescribeTrainingPlanExtensionHistory",
            "describe_training_plan_extension_history",
            "TrainingPlanExtensions",
            TrainingPlanArn=plan_arn,
        ):
            try:
                extensions.append(parse_extension(item, plan_arn))
            except Malformed as exc:
                bad.append(exc)
        return extensions, bad

    def search_extension_offerings(
        self, plan_arn: str, duration_hours: int | None
    ) -> tuple[list[ExtensionOffering], list[Malformed]]:
        request: dict[str, Any] = {"TrainingPlanArn": plan_arn}
        if duration_hours is not None:
            request["DurationHours"] = duration_hours
        response = self._call(
            "SearchTrainingPlanOfferings",
            lambda: self._read.search_training_plan_offerings(**request),
        )
        offerings: list[ExtensionOffering] = []
        bad: list[Malformed] = []
        for item in response.get("TrainingPlanExtensionOfferings") or []:
            try:
                offerings.append(parse_offering(item, plan_arn))
            except Malformed as exc:
                bad.append(exc)
        return offerings, bad

    def extend(self, offering_id: str, plan_arn: str) -> list[Extension]:
        """Buy an extension: one attempt, never retried. Raises AwsError (maybe AMBIGUOUS)."""
        response = self._call(
            "ExtendTrainingPlan",
            lambda: self._write.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id),
        )
        result: list[Extension] = []
        for item in response.get("TrainingPlanExtensions") or []:
            try:
                result.append(parse_extension(item, plan_arn))
            except Malformed:
                continue
        return result

    # --- consumers ----------------------------------------------------------------------

    def in_progress_jobs(self, created_after: datetime | None = None) -> list[JobSummary]:
        """Every InProgress job in the target (empty pages with a NextToken are followed)."""
        request: dict[str, Any] = {"StatusEquals": "InProgress"}
        if created_after is not None:
            request["CreationTimeAfter"] = created_after
        return self._jobs(request)

    def jobs_changed_since(self, since: datetime, created_after: datetime) -> list[JobSummary]:
        """Jobs of any status whose LastModifiedTime (bumped by every status change) is after
        `since`, among those created after `created_after`."""
        return self._jobs({"LastModifiedTimeAfter": since, "CreationTimeAfter": created_after})

    def _jobs(self, request: dict[str, Any]) -> list[JobSummary]:
        jobs: list[JobSummary] = []
        for item in self._pages(
            "ListTrainingJobs", "list_training_jobs", "TrainingJobSummaries", **request
        ):
            try:
                jobs.append(parse_job_summary(item))
            except Malformed:
                continue
        return jobs

    def describe_job(self, name: str) -> JobFacts:
        item = self._call(
            "DescribeTrainingJob", lambda: self._read.describe_training_job(TrainingJobName=name)
        )
        try:
            return parse_job(item)
        except Malformed as exc:
            raise AwsError(ErrorKind.OTHER, "DescribeTrainingJob", "Malformed", str(exc)) from exc

    def clusters(self) -> list[ClusterSummary]:
        """Every cluster in the target with the plans its instance groups use."""
        found: list[ClusterSummary] = []
        for item in self._pages("ListClusters", "list_clusters", "ClusterSummaries"):
            try:
                found.append(parse_cluster_summary(item))
            except Malformed:
                continue
        return found
