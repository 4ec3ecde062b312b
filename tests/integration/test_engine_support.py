"""Shared pieces for the engine tests (test_engine_*.py): configs, an in-process engine
wired to the simulator through real boto3 clients, and per-cycle AWS call counts.

This module holds no tests itself; pytest collects it and finds none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from botocore.config import Config as BotoConfig
from structlog.testing import CapturingLogger

from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.clock import Clock
from watcher.config import Config, parse_config
from watcher.journal.sqlite import SqliteJournal
from watcher.reconcile import Reconciler
from watcher.results import CycleResult, PlanResult

REGION = "us-east-1"
NO_RETRY = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})

# The simulator's default market: 98.32 USD per instance-hour, plans of 4 instances.
PRICE = "98.32"
DAY_FEE_4 = "9438.72"  # 98.32 * 4 instances * 24 h

READS = (
    "DescribeTrainingPlanExtensionHistory",
    "ListTrainingJobs",
    "DescribeTrainingJob",
    "ListClusters",
    "SearchTrainingPlanOfferings",
)


def policy(name: str = "all", **overrides: Any) -> dict[str, Any]:
    """An `extend` policy matching every plan: due 72h before the end, 1d..14d extensions."""
    base: dict[str, Any] = {
        "name": name,
        "match": {"names": ["*"]},
        "action": "extend",
        "extend_before": "72h",
        "safety_margin": "2h",
        "require_demand": True,
        "extension": {"min_duration": "1d", "max_duration": "14d"},
    }
    base.update(overrides)
    return base


def make_config(
    journal: Path,
    policies: list[dict[str, Any]] | None = None,
    budgets: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Config:
    data: dict[str, Any] = {
        "mode": "enforce",
        "targets": [{"name": "default", "region": REGION}],
        "policies": policies if policies is not None else [policy()],
        "state": {"journal": str(journal)},
    }
    if budgets:
        data["budgets"] = budgets
    data.update(top)
    return parse_config(data, environ={"AWS_REGION": REGION})


def config_dict(journal: Path, **top: Any) -> dict[str, Any]:
    """The same config as `make_config`, as plain data (for YAML files)."""
    data: dict[str, Any] = {
        "mode": "enforce",
        "targets": [{"name": "default", "region": REGION}],
        "policies": [policy()],
        "state": {"journal": str(journal)},
        "logging": {"level": "info", "format": "json"},
    }
    data.update(top)
    return data


@dataclass
class Engine:
    """A Reconciler over the in-process simulator, counting every HTTP request it makes."""

    config: Config
    clock: Clock
    journal_path: Path
    read_attempts: int = 1
    counter: CallCounter = field(default_factory=CallCounter)
    logger: CapturingLogger = field(default_factory=CapturingLogger)
    reconciler: Reconciler = field(init=False)

    def __post_init__(self) -> None:
        self.reconciler = self.start()

    def start(self) -> Reconciler:
        """A fresh process's reconciler: new gateway, new caches, the same journal file."""
        gateway = SageMakerGateway(
            TargetSpec("default", REGION),
            boto3.Session(region_name=REGION),
            self.counter,
            read_attempts=self.read_attempts,
        )
        log = structlog.wrap_logger(self.logger, processors=[])
        self.reconciler = Reconciler(
            self.config, self.clock, SqliteJournal(self.journal_path), {"default": gateway}, log
        )
        return self.reconciler

    def cycle(self, *, dry_run: bool = False) -> tuple[CycleResult, Counter[str]]:
        """Run one cycle; return it with the requests it made, per operation."""
        before = self.counter.snapshot()
        result = self.reconciler.run_cycle(dry_run=dry_run)
        return result, calls_since(self.counter, before)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [c.kwargs for c in self.logger.calls if c.kwargs.get("event") == name]


def calls_since(counter: CallCounter, before: dict[tuple[str, str], int]) -> Counter[str]:
    """Requests per operation (all outcomes) since `before` was taken."""
    now = counter.snapshot()
    diff: Counter[str] = Counter()
    for (operation, outcome), n in now.items():
        extra = n - before.get((operation, outcome), 0)
        if extra:
            diff[operation] += extra
    return diff


def by_name(cycle: CycleResult) -> dict[str, PlanResult]:
    return {r.plan_name: r for r in cycle.results}


def kinds(cycle: CycleResult) -> dict[str, str]:
    return {r.plan_name: r.decision.kind.value for r in cycle.results}


def client() -> Any:
    """A boto3 SageMaker client with no retries, for seeding and checking from the test."""
    return boto3.client("sagemaker", region_name=REGION, config=NO_RETRY)


def exact_offering(sm: Any, plan_arn: str, hours: int, end: datetime) -> dict[str, Any]:
    """Search like plan-watcher does and return the offering it would accept."""
    found = sm.search_training_plan_offerings(TrainingPlanArn=plan_arn, DurationHours=hours)
    offers = [
        o
        for o in found["TrainingPlanExtensionOfferings"]
        if o["StartDate"] == end and o["AvailabilityZone"] == f"{REGION}a"
    ]
    assert len(offers) == 1, found
    return dict(offers[0])


def no_retry_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retries (their count matters) but not their sleeps."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def buy_offering(sm: Any, plan_arn: str, hours: int, start: datetime, zone: str) -> None:
    """Buy, as a person would in the console, the offering that starts at `start` in `zone`."""
    found = sm.search_training_plan_offerings(TrainingPlanArn=plan_arn, DurationHours=hours)
    [offer] = [
        o
        for o in found["TrainingPlanExtensionOfferings"]
        if o["StartDate"] == start and o["AvailabilityZone"] == zone
    ]
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
