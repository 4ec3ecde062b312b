"""The shipped IAM policies grant exactly the actions the engine calls, found by running it.

One run of the daemon against the simulator (in-process moto) goes down every path that
calls AWS: a purchase, an ambiguous purchase resolved from the plan's record, a proposal
approved by tag (read, then removed), consumers of both kinds, a target reached through an
assumed role, the journal and leader lease in DynamoDB, a notice on SNS, and the operator's
pause and resume. SageMaker calls are read from the call counter; STS, DynamoDB and SNS
calls from botocore itself. Each policy in deploy/iam/ must grant exactly those
actions, and every SageMaker operation the gateway's source names must have been called.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from structlog.testing import capture_logs

from tests.integration.dynamodb_support import REGION, TABLE
from tests.integration.test_engine_support import client, config_dict, policy
from tests.integration.test_notify_support import due_with_job, topic_with_inbox
from tests.unit.test_deploy_iam import IAM, granted, load_policy, sagemaker_calls_in_the_gateway
from watcher.act.approval_tags import APPROVE_TAG
from watcher.aws.sagemaker import OPERATIONS
from watcher.cli import main
from watcher.clock import ManualClock
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.ha.leader import LeaseKeeper
from watcher.ha.lease import Lease
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.table import create_table
from watcher.notify.dispatch import Dispatcher
from watcher.observe.logs import get_logger
from watcher.sandbox.faults import Faults, ScriptedFault

ROLE = "arn:aws:iam::210987654321:role/plan-watcher-target"
# DynamoDB authorises each item of a transaction as its own action.
_TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def record_calls(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """IAM actions of every STS, DynamoDB and SNS call made from now on (SageMaker's are the
    gateway counter's to tell)."""
    from botocore.client import BaseClient

    seen: set[str] = set()
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.signing_name
        if operation == "TransactWriteItems":
            for item in params.get("TransactItems", []):
                seen.update(f"dynamodb:{_TRANSACT_ITEMS[kind]}" for kind in item)
        elif service != "sagemaker":
            seen.add(f"{service}:{operation}")
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return seen


def _cli(*argv: str) -> int:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return main(list(argv))


def test_each_policy_grants_exactly_what_the_engine_calls(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # llm-b's purchase fails with a 5xx before it is made: ambiguous, then resolved from
    # the plan's history and EndTime.
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", plan="llm-b")])
    sim = make_sim(faults=faults)
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    due_with_job(sim, "llm-b", t0 + timedelta(hours=40), t0)
    proposed = due_with_job(sim, "review-c", t0 + timedelta(hours=40), t0)
    sim.add_cluster("hp", groups=[("workers", "llm-a", 2)])
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    topic, _, _ = topic_with_inbox()
    data = config_dict(
        tmp_path / "unused.db",
        targets=[
            {"name": "default", "region": REGION},
            {"name": "other", "region": REGION, "role_arn": ROLE},
        ],
        policies=[
            policy("review", action="propose", match={"names": ["review-*"]}),
            policy("all"),
        ],
        state={"journal": f"dynamodb://{TABLE}"},
        metrics={"listen": "127.0.0.1:9108", "plan_labels_from_tags": ["team"]},
        notifications={"sns_topic_arn": topic, "retries": 0},
    )
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    recorded = record_calls(monkeypatch)

    config = load_config(path)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    lease_clock = ManualClock(clock.now())  # the lease stays held while the cycles' clock moves
    journal = DynamoJournal(TABLE, dynamodb, lease_clock)
    daemon = Daemon(config, path, clock=clock, journal=journal)
    daemon.leadership = LeaseKeeper(
        Lease(dynamodb, TABLE, "replica-a", timedelta(seconds=60), lease_clock),
        timedelta(seconds=15),
        lease_clock,
        get_logger(),
        daemon._leader_changed,
    )
    daemon.reconciler = daemon._reconciler(config)
    with capture_logs() as logs:
        daemon.leadership.start()
        first = daemon.run_cycle()
        assert first is not None, [e for e in logs if e["log_level"] == "error"]
        assert first.target_up == {"default": True, "other": True}
        kinds = {r.plan_name: r.decision.kind.value for r in first.results}
        assert kinds == {"llm-a": "extended", "llm-b": "in_flight", "review-c": "proposed"}
        [proposal] = first.proposals
        client().add_tags(
            ResourceArn=proposed, Tags=[{"Key": APPROVE_TAG, "Value": proposal.proposal_id}]
        )
        clock.advance(minutes=5)
        second = daemon.run_cycle()
        assert second is not None
        assert {r.plan_name: r.decision.kind.value for r in second.results}["review-c"] == (
            "extended"
        )
        notifier = daemon.notifier
        assert isinstance(notifier, Dispatcher)
        notifier.close(timeout=10)
        daemon.leadership.stop()
        assert _cli("pause", "--config", str(path)) == 0
        assert _cli("resume", "--config", str(path)) == 0

    counted = {operation for operation, _ in daemon.calls.snapshot()}
    # STS's and SNS's requests are counted beside SageMaker's (this journal has its own client).
    assert counted - set(OPERATIONS) == {"AssumeRole", "Publish"}
    called = {f"sagemaker:{operation}" for operation in counted & set(OPERATIONS)}
    assert called == {f"sagemaker:{op}" for op in OPERATIONS}
    # Every SageMaker operation the gateway's source can call was called in this run.
    assert {f"sagemaker:{op}" for op in sagemaker_calls_in_the_gateway()} <= called

    runtime = set(granted(load_policy()))
    assert {a for a in runtime if a.startswith("sagemaker:")} == called
    assert runtime - called == {a for a in recorded if a.startswith("sts:")} == {"sts:AssumeRole"}
    journal_policy = set(granted(load_policy(IAM / "dynamodb-policy.json")))
    assert journal_policy == {a for a in recorded if a.startswith("dynamodb:")}
    sns_policy = set(granted(load_policy(IAM / "sns-policy.json")))
    assert sns_policy == {a for a in recorded if a.startswith("sns:")} == {"sns:Publish"}
