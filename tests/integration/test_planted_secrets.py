"""Planted secrets never come out: with an AWS secret key, a session token and a webhook token
(and a webhook URL whose query is a secret) in the environment, every logged exception path
the tests can reach (a purchase refused, a notifier failing, a cycle crashing in a frame that
holds the secrets) leaves no trace of them in stdout, stderr, /status or /metrics."""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from tests.integration.test_engine_support import config_dict, make_config
from tests.integration.test_notify_support import due_with_job, webhook_receiver
from watcher.cli import main
from watcher.clock import ManualClock
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.notify.dispatch import Dispatcher
from watcher.observe.http import EndpointServer
from watcher.observe.logs import configure
from watcher.sandbox.faults import Faults, ScriptedFault

KEY = "AKIAplantedSECRETkey0123456789abcdefghij"
SESSION = "IQoJplantedSESSIONtoken0123456789"
HOOK = "plantedHOOKtoken0123456789"
QUERY = "plantedQUERYsig0123456789"
PLANTED = (KEY, SESSION, HOOK, QUERY)


@pytest.fixture
def _json_logs_to_stdout() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _get(address: tuple[str, int], path: str) -> str:
    host, port = address
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as response:
        return str(response.read().decode())


def _crash(*_: Any, **__: Any) -> Any:
    secret, token = os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_SESSION_TOKEN"]
    raise RuntimeError(f"the journal broke ({len(secret) + len(token)} bytes of credentials)")


@pytest.mark.usefixtures("_json_logs_to_stdout")
def test_no_planted_secret_reaches_an_output(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION)
    # What `kubectl create secret --from-file` often gives: the file's final newline.
    monkeypatch.setenv("PW_TOKEN", f"Bearer {HOOK}\n")
    configure("info", "json", sys.stdout)  # as `run` does at start; the stdout capfd captures
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "refuse")]))
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)

    with webhook_receiver() as receiver:
        hook = {"url": f"{receiver.url}?sig={QUERY}", "token_env": "PW_TOKEN"}
        config = make_config(tmp_path / "journal.db", notifications={"webhook": hook})
        daemon = Daemon(config, clock=clock, listen=("127.0.0.1", 0))
        server = EndpointServer("127.0.0.1", 0, daemon.registry, daemon)
        server.start()
        try:
            assert daemon.run_cycle() is not None  # the purchase is refused
            monkeypatch.setattr(daemon.reconciler.journal, "intents_since", _crash)
            clock.advance(minutes=5)
            assert daemon.run_cycle() is None  # the cycle crashed
            notifier = daemon.notifier
            assert isinstance(notifier, Dispatcher)
            notifier.close(timeout=10)
            status = _get(server.address, "/status")
            metrics = _get(server.address, "/metrics")
        finally:
            server.stop()
            daemon.journal.close()
    out, err = capfd.readouterr()

    events = out + err
    for reached in ("purchase_failed", "notification_failed", "cycle_crashed"):
        assert f'"event": "{reached}"' in events, reached  # each path was driven
    assert receiver.received == []
    for secret in PLANTED:
        for name, text in (("stdout", out), ("stderr", err), ("/status", status)):
            assert secret not in text, f"{secret} in {name}"
        assert secret not in metrics


@contextmanager
def endpoint_quoting_its_request() -> Iterator[str]:
    """An endpoint standing in for AWS (a careless proxy, a wrong AWS_ENDPOINT_URL) that
    refuses every request with a message quoting its headers, the session token among them."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            quoted = "; ".join(f"{k}={v}" for k, v in self.headers.items())
            body = json.dumps({"__type": "ValidationException", "message": quoted}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.usefixtures("_json_logs_to_stdout")
def test_an_answer_quoting_the_session_token_reaches_no_output(
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")  # botocore would send this one instead
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(config_dict(tmp_path / "journal.db")))
    with endpoint_quoting_its_request() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        code = main(["once", "--config", str(path), "--output", "json"], clock=clock)
        once = capsys.readouterr()
        daemon = Daemon(load_config(path), path, clock=clock, listen=("127.0.0.1", 0))
        server = EndpointServer("127.0.0.1", 0, daemon.registry, daemon)
        server.start()
        try:
            daemon.run_cycle()
            status = _get(server.address, "/status")
        finally:
            server.stop()
            daemon.journal.close()

    assert code == 1
    [error] = json.loads(once.out)["errors"]
    assert "X-Amz-Security-Token=***" in error  # the endpoint's answer did quote it
    for name, text in (("stdout", once.out), ("stderr", once.err), ("/status", status)):
        assert SESSION not in text, name
        assert KEY not in text, name
