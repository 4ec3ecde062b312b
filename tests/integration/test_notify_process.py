"""`plan-watcher once` as a real process against the simulator server: the notices of its one
cycle go out before it exits, and a webhook that never answers does not keep it alive."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, SandboxProcess, start_sandbox, stop_sandbox
from tests.e2e.test_engine_process import _config, _env, _watcher
from tests.integration.test_notify_support import webhook_receiver

SCENARIO: dict[str, Any] = {
    "name": "notify-once",
    "plans": [
        {"name": "llm-a", "ends_in": "40h", "started": "-3d", "instance_count": 4},
        {"name": "llm-b", "ends_in": "40h", "started": "-3d", "instance_count": 4},
    ],
    "jobs": [
        {"name": "run-a", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"},
        {"name": "run-b", "plan": "llm-b", "started": "-1d", "max_runtime": "6d"},
    ],
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxProcess]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    started = start_sandbox(str(path))
    try:
        yield started
    finally:
        stop_sandbox(started)


def _once(tmp_path: Path, endpoint: str, hook_url: str) -> subprocess.CompletedProcess[str]:
    path = _config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["notifications"] = {"webhook": {"url": hook_url, "token_env": "PW_TOKEN"}, "retries": 0}
    path.write_text(yaml.safe_dump(config))
    env = _env(endpoint)
    env["PW_TOKEN"] = "Bearer once-token"
    return subprocess.run(
        _watcher("once", "--config", str(path), "--output", "json"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _logs(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_once_sends_its_notices_before_it_exits(server: SandboxProcess, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        done = _once(tmp_path, server.endpoint, receiver.url)

    assert done.returncode == 0, done.stderr
    decisions = {d["plan_name"]: d["decision"] for d in json.loads(done.stdout)["decisions"]}
    assert decisions == {"llm-a": "extended", "llm-b": "extended"}
    told = sorted((r.body["kind"], r.body["plan_name"]) for r in receiver.received)
    assert told == [("purchase_succeeded", "llm-a"), ("purchase_succeeded", "llm-b")]
    assert all(r.headers["Authorization"] == "Bearer once-token" for r in receiver.received)
    assert "once-token" not in done.stderr


def test_once_exits_although_the_webhook_never_answers(
    server: SandboxProcess, tmp_path: Path
) -> None:
    with webhook_receiver(hold=True) as receiver:
        done = _once(tmp_path, server.endpoint, receiver.url)
        held = len(receiver.received)
        answered = receiver.answered.is_set()

    assert done.returncode == 0, done.stderr
    assert held == 1 and not answered  # the first notice was still waiting for an answer
    dropped = [e for e in _logs(done.stderr) if e["event"] == "notification_dropped"]
    assert [e["channel"] for e in dropped] == ["webhook"]
    assert "before the process exited" in dropped[0]["reason"]
