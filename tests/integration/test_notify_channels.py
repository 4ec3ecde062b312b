"""The two channels for real: SNS through moto (read back from a subscribed SQS queue) and a
webhook POSTed to a local HTTP server, both built from the config as the daemon builds them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import CapturingLogger

from tests.integration.test_engine_support import REGION, make_config
from tests.integration.test_notify_support import topic_with_inbox, webhook_receiver
from watcher.aws.calls import CallCounter
from watcher.config import Config, Mode
from watcher.model import Money
from watcher.notify import Dispatcher, SnsChannel, WebhookChannel, build_notifier
from watcher.notify.notice import Notice, NoticeKind

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "Bearer s3cret-hook-token"


def _notice() -> Notice:
    return Notice(
        NoticeKind.PURCHASE_SUCCEEDED,
        plan_arn="arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-a",
        plan_name="llm-a",
        target="prod",
        summary="extended llm-a (prod) by 24h for 9438.72 USD (tpeo-1)",
        reason="the job outlives the plan",
        cycle_id="c1",
        mode=Mode.ENFORCE,
        at=NOW,
        plan_end=NOW + timedelta(days=2),
        deadline=NOW + timedelta(days=2, hours=-2),
        offering_id="tpeo-1",
        duration_hours=24,
        fee=Money(Decimal("9438.72"), "USD"),
    )


def _config(tmp_path: Path, notifications: dict[str, Any]) -> Config:
    return make_config(tmp_path / "journal.db", notifications=notifications)


def _notifier(
    config: Config, stats: CallCounter | None = None
) -> tuple[Dispatcher, CapturingLogger]:
    capture = CapturingLogger()
    notifier = build_notifier(config, stats, structlog.wrap_logger(capture, processors=[]))
    assert notifier is not None
    notifier.first_backoff = 0.0
    return notifier, capture


def _events(capture: CapturingLogger, name: str) -> list[dict[str, Any]]:
    return [c.kwargs for c in capture.calls if c.kwargs.get("event") == name]


def test_no_channel_configured_means_no_notifier(tmp_path: Path) -> None:
    assert build_notifier(_config(tmp_path, {})) is None
    assert build_notifier(make_config(tmp_path / "j.db")) is None


def test_both_channels_are_built_from_the_config(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {
            "sns_topic_arn": f"arn:aws:sns:{REGION}:123456789012:plan-watcher",
            "webhook": {"url": "https://hooks.example.com/pw", "timeout": "2s"},
            "retries": 1,
        },
    )
    notifier = build_notifier(config)
    assert notifier is not None
    try:
        kinds = [type(c) for c in notifier.channels]
        assert kinds == [SnsChannel, WebhookChannel]
        assert notifier.retries == 1
    finally:
        notifier.close(timeout=1)


# --- SNS ------------------------------------------------------------------------------------


@pytest.fixture
def topic_inbox() -> Iterator[tuple[str, Any, str]]:
    """An SNS topic in moto with an SQS queue subscribed: (topic ARN, sqs client, queue URL)."""
    from moto import mock_aws

    with mock_aws():
        topic, sqs, queue_url = topic_with_inbox(REGION)
        yield topic, sqs, queue_url


def _inbox(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages")
    return [json.loads(m["Body"]) for m in messages or []]


def test_sns_message_is_the_notice_json_with_subject_and_kind(
    tmp_path: Path, topic_inbox: tuple[str, Any, str]
) -> None:
    topic, sqs, queue_url = topic_inbox
    stats = CallCounter()
    notifier, _ = _notifier(_config(tmp_path, {"sns_topic_arn": topic}), stats)
    notice = _notice()
    notifier.submit(notice)
    notifier.close(timeout=10)

    [envelope] = _inbox(sqs, queue_url)
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "plan-watcher purchase_succeeded: llm-a (prod)"
    body = json.loads(envelope["Message"])
    assert body == notice.to_json()
    assert body["upfront_fee"] == "9438.72" and body["currency"] == "USD"
    attributes = envelope["MessageAttributes"]
    assert attributes["kind"] == {"Type": "String", "Value": "purchase_succeeded"}
    assert attributes["target"]["Value"] == "prod"
    assert stats.snapshot() == {("sns", "sent"): 1}


def test_sns_failure_is_retried_then_logged(tmp_path: Path) -> None:
    from moto import mock_aws

    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    stats = CallCounter()
    with mock_aws():
        notifier, capture = _notifier(
            _config(tmp_path, {"sns_topic_arn": missing, "retries": 2}), stats
        )
        notifier.submit(_notice())
        notifier.close(timeout=10)

    failures = _events(capture, "notification_failed")
    assert [(f["channel"], f["attempt"]) for f in failures] == [("sns", 1), ("sns", 2), ("sns", 3)]
    assert "NotFound" in failures[0]["error"]
    assert stats.snapshot() == {("sns", "failed"): 1}


# --- webhook --------------------------------------------------------------------------------


def _hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"webhook": {"url": url, **extra}}


def test_webhook_posts_the_notice_with_the_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW_HOOK_TOKEN", TOKEN)
    stats = CallCounter()
    with webhook_receiver() as receiver:
        hook = _hook(receiver.url, token_env="PW_HOOK_TOKEN", header="X-Plan-Watcher-Token")
        notifier, capture = _notifier(_config(tmp_path, hook), stats)
        notice = _notice()
        notifier.submit(notice)
        notifier.close(timeout=10)

    [request] = receiver.received
    assert request.path == "/hooks/plan-watcher"
    assert request.headers["X-Plan-Watcher-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == notice.to_json()
    assert stats.snapshot() == {("webhook", "sent"): 1}
    assert "s3cret" not in repr(capture.calls)


def test_webhook_retries_on_500_and_never_logs_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW_HOOK_TOKEN", TOKEN)
    stats = CallCounter()
    with webhook_receiver(statuses=[500, 503]) as receiver:
        notifier, capture = _notifier(
            _config(tmp_path, _hook(receiver.url, token_env="PW_HOOK_TOKEN")), stats
        )
        notifier.submit(_notice())
        notifier.close(timeout=10)

    assert len(receiver.received) == 3
    # The same notice each time, so a receiver can drop repeats by id.
    assert len({r.body["id"] for r in receiver.received}) == 1
    assert all(r.headers["Authorization"] == TOKEN for r in receiver.received)
    failures = _events(capture, "notification_failed")
    assert [(f["channel"], f["attempt"]) for f in failures] == [("webhook", 1), ("webhook", 2)]
    assert "HTTP 500" in failures[0]["error"] and "HTTP 503" in failures[1]["error"]
    assert stats.snapshot() == {("webhook", "sent"): 1}
    assert "s3cret" not in repr(capture.calls)


def test_webhook_without_its_token_sends_nothing_and_says_which_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PW_HOOK_TOKEN", raising=False)
    stats = CallCounter()
    with webhook_receiver() as receiver:
        hook = _hook(receiver.url, token_env="PW_HOOK_TOKEN")
        notifier, capture = _notifier(_config(tmp_path, {**hook, "retries": 0}), stats)
        notifier.submit(_notice())
        notifier.close(timeout=10)

    assert receiver.received == []
    [failure] = _events(capture, "notification_failed")
    assert "PW_HOOK_TOKEN is not set" in failure["error"]
    assert stats.snapshot() == {("webhook", "failed"): 1}


def test_webhook_that_refuses_connections_fails_without_raising(tmp_path: Path) -> None:
    from tests.conftest import free_port

    stats = CallCounter()
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    notifier, capture = _notifier(_config(tmp_path, {**_hook(url), "retries": 1}), stats)
    notifier.submit(_notice())
    notifier.close(timeout=10)

    failures = _events(capture, "notification_failed")
    assert len(failures) == 2 and "ConnectionRefused" in failures[0]["error"]
    assert stats.snapshot() == {("webhook", "failed"): 1}
