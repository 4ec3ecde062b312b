"""The real `plan-watcher` process against the simulator served over HTTP: killed in the middle
of a purchase, restarted, and never buying twice; and `plan` output that pipes into jq."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.config import Config

from tests.conftest import REPO_ROOT, SandboxProcess, start_sandbox, stop_sandbox

TIMEOUT = 60.0  # generous: these wait on real processes, never assert on timing

SCENARIO: dict[str, Any] = {
    "name": "kill-during-purchase",
    "settings": {"payment_delay": "20m"},
    "plans": [{"name": "llm-a", "ends_in": "40h", "started": "-3d", "instance_count": 4}],
    "jobs": [{"name": "run", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
}


def _config(tmp_path: Path) -> Path:
    data = {
        "mode": "enforce",
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {
                "name": "all",
                "action": "extend",
                "extend_before": "72h",
                "extension": {"min_duration": "1d", "max_duration": "14d"},
            }
        ],
        "state": {"journal": str(tmp_path / "journal.db")},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], SandboxProcess]]:
    """Start the simulator server on a scenario written into tmp_path; stop it afterwards."""
    started: list[SandboxProcess] = []

    def start(scenario: dict[str, Any]) -> SandboxProcess:
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        server = start_sandbox(str(path))
        started.append(server)
        return server

    yield start
    for server in started:
        stop_sandbox(server)


def _env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("AWS_PROFILE", None)
    env.pop("PLAN_WATCHER_MODE", None)
    return env


def _watcher(*args: str) -> list[str]:
    return [sys.executable, "-m", "watcher", *args]


def _open_intents(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT COUNT(*) FROM intents WHERE state = 'open'").fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    return int(row[0])


def _wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _extensions(sm: Any, plan_arn: str) -> list[dict[str, Any]]:
    found = sm.describe_training_plan_extension_history(TrainingPlanArn=plan_arn)
    return list(found["TrainingPlanExtensions"])


def _events(stderr: str) -> list[str]:
    return [json.loads(line)["event"] for line in stderr.splitlines() if line.strip()]


def test_killed_during_the_purchase_never_buys_twice(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    # The server holds each ExtendTrainingPlan request for 2 s before applying it: the
    # process is killed while its purchase is on the wire, its outcome unknown to it.
    scenario = dict(SCENARIO, faults={"operations": {"ExtendTrainingPlan": {"latency_ms": 2000}}})
    server = serve(scenario)
    sm = server.client(config=Config(retries={"total_max_attempts": 3}, read_timeout=20))
    [plan] = sm.list_training_plans()["TrainingPlanSummaries"]
    arn = plan["TrainingPlanArn"]
    config = _config(tmp_path)
    journal = tmp_path / "journal.db"
    env = _env(server.endpoint)

    first = subprocess.Popen(
        _watcher("once", "--config", str(config), "--output", "json"),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(
            "an open purchase intent",
            lambda: _open_intents(journal) == 1 or first.poll() is not None,
        )
        assert first.poll() is None, f"once finished before it was killed: {first.communicate()}"
        # The intent is written just before the request is sent; give the request time to
        # reach the server (it is held there for 2 s), then kill.
        time.sleep(0.7)
        first.send_signal(signal.SIGKILL)
        _, first_err = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert "purchase_intent" in _events(first_err)
    assert "purchase_succeeded" not in first_err and "purchase_ambiguous" not in first_err
    assert _open_intents(journal) == 1  # the dead process left its intent open

    # The request it sent still lands once the server's delay is over: one extension.
    _wait_for("the purchase to land", lambda: len(_extensions(sm, arn)) == 1)
    [bought] = _extensions(sm, arn)

    second = subprocess.run(
        _watcher("once", "--config", str(config), "--output", "json"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    [decision] = report["decisions"]
    assert decision["plan_name"] == "llm-a"
    # The extension's payment is still pending (20 simulated minutes): in flight.
    assert decision["decision"] in ("in_flight", "demand_covered", "not_due"), decision
    assert decision["offering_id"] is None
    events = _events(second.stderr)
    assert "purchase_resolved" in events
    assert "purchase_intent" not in events
    assert [e["TrainingPlanExtensionOfferingId"] for e in _extensions(sm, arn)] == [
        bought["TrainingPlanExtensionOfferingId"]
    ]
    assert _open_intents(journal) == 0
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT offering_id, state FROM intents").fetchall()
    assert rows == [(bought["TrainingPlanExtensionOfferingId"], "bought")]


def test_plan_output_is_pure_json_with_logs_on_stderr(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    [plan] = server.client().list_training_plans()["TrainingPlanSummaries"]

    result = subprocess.run(
        _watcher("plan", "--config", str(_config(tmp_path)), "--output", "json"),
        cwd=REPO_ROOT,
        env=_env(server.endpoint),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "dry-run"
    [decision] = report["decisions"]
    assert decision["decision"] == "would_extend"
    assert decision["duration_hours"] is not None and decision["duration_hours"] % 24 == 0
    assert isinstance(decision["upfront_fee"], str)
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert "cycle_finished" in [line["event"] for line in logs]
    assert _extensions(server.client(), plan["TrainingPlanArn"]) == []
