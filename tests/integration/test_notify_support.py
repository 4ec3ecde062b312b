"""Shared pieces for the notification tests: a local webhook receiver and an in-memory channel.

This module holds no tests itself; pytest collects it and finds none.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from watcher.notify.channels import ChannelError
from watcher.notify.notice import Notice
from watcher.sandbox import DEFAULT_ACCOUNT, DEFAULT_REGION


def due_with_job(
    sim: Any, name: str, ends_at: datetime, now: datetime, account: str = DEFAULT_ACCOUNT
) -> str:
    """A 4-instance plan ending at `ends_at`, under a job that runs 20h past its end."""
    arn = str(sim.add_plan(name, ends_at=ends_at, instance_count=4, account=account))
    end = sim.plan_end(name, account=account)
    started = now - timedelta(days=1)
    sim.add_job(
        f"{name}-job",
        plan=name,
        started_at=started,
        max_runtime=end - started + timedelta(hours=20),
        account=account,
    )
    return arn


def topic_with_inbox(region: str = DEFAULT_REGION) -> tuple[str, Any, str]:
    """Inside moto: an SNS topic with an SQS queue subscribed (topic ARN, sqs, queue URL)."""
    sns = boto3.client("sns", region_name=region)
    sqs = boto3.client("sqs", region_name=region)
    topic = sns.create_topic(Name="plan-watcher")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="plan-watcher-inbox")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])
    return topic, sqs, queue_url


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook endpoint on a free local port that answers with scripted statuses.

    `statuses` are used in order, then 200. With `hold` set, every request waits (after it
    was recorded and `arrived` set) until `release` is set. With `down_for`, every request
    in that many seconds after the first one is answered 503 (an endpoint down for a while).
    """

    statuses: list[int] = field(default_factory=list)
    hold: bool = False
    down_for: float | None = None
    first_at: float | None = None
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def status(self) -> int:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        if self.down_for is not None and now - self.first_at < self.down_for:
            return 503
        return self.statuses.pop(0) if self.statuses else 200


@contextmanager
def webhook_receiver(
    statuses: list[int] | None = None, *, hold: bool = False, down_for: float | None = None
) -> Iterator[Receiver]:
    receiver = Receiver(statuses=list(statuses or []), hold=hold, down_for=down_for)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            receiver.received.append(Received(self.path, dict(self.headers), body))
            receiver.arrived.set()
            if receiver.hold:
                receiver.release.wait(30)
            status = receiver.status()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.answered.set()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/plan-watcher"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


class MemoryChannel:
    """A channel that keeps what it is sent; `fail` makes the next sends raise."""

    def __init__(self, name: str = "memory", fail: int = 0) -> None:
        self.name = name
        self.fail = fail
        self.attempts = 0
        self.sent: list[Notice] = []
        self._lock = threading.Lock()

    def send(self, notice: Notice) -> None:
        with self._lock:
            self.attempts += 1
            if self.fail > 0:
                self.fail -= 1
                raise ChannelError("refused by the test")
            self.sent.append(notice)


class BlockedChannel:
    """A channel whose every send waits until `release` is set (a hung endpoint)."""

    def __init__(self, name: str = "blocked") -> None:
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[Notice] = []

    def send(self, notice: Notice) -> None:
        self.entered.set()
        self.release.wait(30)
        self.sent.append(notice)
