"""Notices never die silently and never print a secret: a lane outlives any error, a token
that cannot be a header value is refused by name, a webhook's answer is read only so far,
and `plan-watcher once` keeps its pauses between attempts."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import CapturingLogger

from tests.conftest import SandboxProcess
from tests.integration.test_notify_dispatch import _notice
from tests.integration.test_notify_process import _logs, server  # noqa: F401 - a fixture
from tests.integration.test_notify_support import MemoryChannel, webhook_receiver
from watcher.aws.calls import CallCounter
from watcher.notify import Dispatcher, WebhookChannel
from watcher.notify.channels import ChannelError
from watcher.notify.notice import Notice

SECRET = "Bearer 9f8e7d6c5b4a-planted-token"


def _dispatcher(*channels: Any, **options: Any) -> tuple[Dispatcher, CapturingLogger, CallCounter]:
    capture = CapturingLogger()
    stats = CallCounter()
    options.setdefault("first_backoff", 0.0)
    dispatcher = Dispatcher(
        list(channels),
        stats=stats,
        log=structlog.wrap_logger(capture, processors=[]),
        flush_at_exit=False,
        **options,
    )
    return dispatcher, capture, stats


def _events(capture: CapturingLogger, name: str) -> list[dict[str, Any]]:
    return [c.kwargs for c in capture.calls if c.kwargs.get("event") == name]


class ExplodingChannel(MemoryChannel):
    """Raises an error that is not a ChannelError (a bug, a library surprise) `fail` times."""

    def send(self, notice: Notice) -> None:
        with self._lock:
            self.attempts += 1
            if self.fail > 0:
                self.fail -= 1
                raise RuntimeError(f"surprise carrying {SECRET}")
            self.sent.append(notice)


def test_an_unexpected_error_is_a_counted_failure_and_the_lane_goes_on() -> None:
    channel = ExplodingChannel("odd", fail=1)
    dispatcher, capture, stats = _dispatcher(channel, retries=0)
    dispatcher.submit(_notice("llm-a"))
    dispatcher.submit(_notice("llm-b"))
    dispatcher.close(timeout=10)

    assert [n.plan_name for n in channel.sent] == ["llm-b"]  # the lane survived llm-a
    [failure] = _events(capture, "notification_failed")
    assert failure["channel"] == "odd" and failure["plan"] == "llm-a"
    assert "RuntimeError" in failure["error"]
    assert stats.snapshot() == {("odd", "failed"): 1, ("odd", "sent"): 1}
    assert "planted-token" not in repr(capture.calls)


@pytest.mark.parametrize(
    ("token", "problem"),
    [(SECRET + "\n", "line break"), (SECRET + "\r\n", "line break"), (SECRET + "€", "Latin-1")],
)
def test_a_token_that_cannot_be_a_header_is_refused_by_its_variable_name(
    token: str, problem: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with webhook_receiver() as receiver:
        channel = WebhookChannel(receiver.url, token_env="PW_TOKEN", environ={"PW_TOKEN": token})
        dispatcher, capture, stats = _dispatcher(channel, retries=1)
        dispatcher.submit(_notice("llm-a"))
        dispatcher.submit(_notice("llm-b"))
        dispatcher.close(timeout=10)

    assert receiver.received == []
    failures = _events(capture, "notification_failed")
    assert [(f["plan"], f["attempt"]) for f in failures] == [
        ("llm-a", 1),
        ("llm-a", 2),
        ("llm-b", 1),
        ("llm-b", 2),
    ]
    assert all("PW_TOKEN" in f["error"] and problem in f["error"] for f in failures)
    assert stats.snapshot() == {("webhook", "failed"): 2}
    out, err = capfd.readouterr()
    assert "planted-token" not in repr(capture.calls) + out + err


@contextmanager
def endless_answer() -> Iterator[tuple[str, dict[str, int]]]:
    """A webhook that answers 200 and then streams body bytes until the client goes away."""
    listener = socket.create_server(("127.0.0.1", 0))
    sent = {"bytes": 0}

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
            chunk = b"x" * 65536
            try:
                while sent["bytes"] < 1_000_000_000:
                    conn.sendall(chunk)
                    sent["bytes"] += len(chunk)
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", sent
    finally:
        listener.close()
        thread.join(30)


def test_a_webhook_answer_is_read_only_up_to_its_bound() -> None:
    with endless_answer() as (url, sent):
        WebhookChannel(url, timeout=30).send(_notice())
        done = sent["bytes"]

    # Once the bound is read the connection is closed; what the server managed to write is
    # the bound plus what the two socket buffers held, far from the gigabyte it offered.
    assert done < 64 * 1024 * 1024


def test_once_keeps_its_pauses_between_attempts_within_its_exit_budget(
    server: SandboxProcess,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    import subprocess

    import yaml

    from tests.conftest import REPO_ROOT
    from tests.e2e.test_engine_process import _config, _env, _watcher

    with webhook_receiver(down_for=1.0) as receiver:
        path = _config(tmp_path)
        config = yaml.safe_load(path.read_text())
        config["notifications"] = {"webhook": {"url": receiver.url}, "retries": 3}
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run(
            _watcher("once", "--config", str(path), "--output", "json"),
            cwd=REPO_ROOT,
            env=_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decisions"]
    logs = _logs(done.stderr)
    sent = [e for e in logs if e["event"] == "notification_sent"]
    # The webhook was down for its first second: attempts spaced 0.5 s, 1 s, ... reach it.
    assert {e["plan"] for e in sent} == {"llm-a", "llm-b"}, [e["event"] for e in logs]
    assert not [e for e in logs if e["event"] == "notification_dropped"]


@contextmanager
def echoing_refusal() -> Iterator[str]:
    """A webhook that refuses with a status line quoting the request line and its token (as a
    careless proxy or a hostile receiver may)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                head = conn.recv(65536).split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
                token = [h.split(":", 1)[1].strip() for h in head if h.startswith("Authorization")]
                reason = f"Bad Gateway {head[0]} {' '.join(token)} " + "x" * 5000
                conn.sendall(f"HTTP/1.1 502 {reason}\r\nContent-Length: 0\r\n\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(30)


def test_a_refusal_that_quotes_the_request_says_no_secret() -> None:
    with echoing_refusal() as base:
        url = f"{base}/hooks/pathSECRET42?sig=querySECRET42"
        channel = WebhookChannel(url, token_env="PW_TOKEN", environ={"PW_TOKEN": SECRET})
        with pytest.raises(ChannelError) as refused:
            channel.send(_notice())

    text = str(refused.value)
    assert text.startswith("HTTP 502 Bad Gateway POST "), text[:200]
    for secret in ("pathSECRET42", "querySECRET42", "planted-token"):
        assert secret not in text
    assert len(text) < 400  # a status line is bounded however long the receiver made it
