"""Every AWS client is built in one place (watcher/aws/clients.py): DynamoDB, SNS and STS
requests are counted in plan_watcher_aws_calls_total beside SageMaker's, and every client
names itself with plan-watcher's user agent."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

from tests.integration.dynamodb_support import REGION, TABLE
from tests.integration.test_engine_support import config_dict, policy
from tests.integration.test_notify_support import due_with_job, topic_with_inbox
from watcher import USER_AGENT
from watcher.aws.clients import make_client
from watcher.clock import ManualClock
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.journal.table import create_table
from watcher.notify.dispatch import Dispatcher

ROLE = "arn:aws:iam::210987654321:role/plan-watcher-target"


def _aws_calls(daemon: Daemon) -> dict[tuple[str, str], float]:
    """plan_watcher_aws_calls_total as /metrics serves it: (operation, outcome) -> count."""
    return {
        (sample.labels["operation"], sample.labels["outcome"]): sample.value
        for family in daemon.registry.collect()
        if family.name == "plan_watcher_aws_calls"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_dynamodb_sns_and_sts_requests_are_counted_with_sagemakers(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim()
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    topic, _, _ = topic_with_inbox()
    data = config_dict(
        tmp_path / "unused.db",
        targets=[
            {"name": "default", "region": REGION},
            {"name": "other", "region": REGION, "role_arn": ROLE},
        ],
        policies=[policy("all")],
        state={"journal": f"dynamodb://{TABLE}"},
        metrics={"listen": "127.0.0.1:9108"},
        notifications={"sns_topic_arn": topic, "retries": 0},
    )
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    daemon = Daemon(load_config(path), path, clock=clock)
    daemon.leadership.start()
    try:
        cycle = daemon.run_cycle()
        assert cycle is not None
        assert {r.plan_name: r.decision.kind.value for r in cycle.results} == {"llm-a": "extended"}
        notifier = daemon.notifier
        assert isinstance(notifier, Dispatcher)
        notifier.close(timeout=10)
    finally:
        daemon.leadership.stop()

    calls = _aws_calls(daemon)
    assert calls[("ExtendTrainingPlan", "ok")] == 1
    # The journal and the lease (DynamoDB), the notice (SNS), the assumed role (STS).
    for operation in ("TransactWriteItems", "Query", "UpdateItem", "Publish", "AssumeRole"):
        assert calls.get((operation, "ok"), 0) >= 1, (operation, sorted(calls))


def test_every_client_carries_the_user_agent_and_the_retry_mode(sim: Any) -> None:
    session = boto3.Session(region_name=REGION)
    for service in ("sagemaker", "dynamodb", "sns", "sts"):
        client = make_client(session, service, attempts=2)
        config = client.meta.config
        assert USER_AGENT in (config.user_agent_extra or ""), service
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}, service
