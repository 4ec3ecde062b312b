"""Sessions per target: an assumed role reaches its own account, traceably, and refreshes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from botocore.credentials import DeferredRefreshableCredentials

from watcher.aws.calls import CallCounter
from watcher.aws.errors import AwsError, ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec, role_session_name, target_session
from watcher.clock import ManualClock

OTHER_ACCOUNT = "111122223333"


def test_assumed_role_sees_only_its_account(sim: Any, clock: ManualClock) -> None:
    sim.add_plan("home-plan", ends_at=clock.now() + timedelta(days=3))
    sim.add_plan("away-plan", ends_at=clock.now() + timedelta(days=3), account=OTHER_ACCOUNT)
    spec = TargetSpec(
        "research",
        "us-east-1",
        role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/plan-watcher",
        external_id="audit-7",
    )
    session = target_session(spec)
    credentials = session.get_credentials()
    assert isinstance(credentials, DeferredRefreshableCredentials)
    counter = CallCounter()
    plans, bad = SageMakerGateway(spec, session, counter).list_plans()
    assert [p.name for p in plans] == ["away-plan"] and not bad
    assert all(p.target == "research" for p in plans)
    caller = session.client("sts").get_caller_identity()
    assert caller["Account"] == OTHER_ACCOUNT
    assert caller["Arn"].endswith("/plan-watcher-research")
    assert counter.snapshot() == {("ListTrainingPlans", "ok"): 1}

    home = SageMakerGateway(TargetSpec("home", "us-east-1"), boto3.Session(), CallCounter())
    assert [p.name for p in home.list_plans()[0]] == ["home-plan"]


def test_role_session_name_is_traceable_and_valid() -> None:
    assert role_session_name("prod") == "plan-watcher-prod"
    long = role_session_name("a" * 100 + " odd/name")
    assert len(long) <= 64 and long.startswith("plan-watcher-") and "/" not in long


def test_not_found_and_invalid_are_classified(sim: Any) -> None:
    gateway = SageMakerGateway(TargetSpec("t", "us-east-1"), boto3.Session(), CallCounter())
    try:
        gateway.describe_plan("no-such-plan")
    except AwsError as exc:
        assert exc.kind is ErrorKind.NOT_FOUND
    else:
        raise AssertionError("an unknown plan must raise")
    try:
        gateway.describe_job("no-such-job")
    except AwsError as exc:
        assert exc.kind is ErrorKind.NOT_FOUND  # AWS reports it as a ValidationException
    else:
        raise AssertionError("an unknown job must raise")
