"""Two approvers through the real `plan-watcher` process against the simulator server: above
`approval.two_person_above` one `approve` does not buy, the same person cannot approve twice,
and a second person's approval buys at the next cycle."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve

__all__ = ["serve"]

SCENARIO: dict[str, Any] = {
    "name": "two-person",
    "settings": {"payment_delay": "0s"},
    "plans": [{"name": "llm-a", "ends_in": "40h", "started": "-3d", "instance_count": 4}],
    "jobs": [{"name": "run", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
}


def _config(tmp_path: Path) -> Path:
    data = {
        "mode": "enforce",
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {
                "name": "big",
                "action": "propose",
                "extend_before": "72h",
                "extension": {"min_duration": "1d", "max_duration": "1d"},
                "approval": {"two_person_above": "5000.00 USD"},
            }
        ],
        "state": {"journal": str(tmp_path / "journal.db")},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_two_person_proposal_needs_two_people(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    [plan] = sm.list_training_plans()["TrainingPlanSummaries"]
    config = _config(tmp_path)

    def run(user: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = _env(server.endpoint)
        env["USER"] = user
        return subprocess.run(
            _watcher(*args, "--config", str(config)),
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def once() -> dict[str, Any]:
        done = run("daemon", "once", "--output", "json")
        assert done.returncode == 0, done.stderr
        [decision] = json.loads(done.stdout)["decisions"]
        return dict(decision)

    proposed = once()
    assert proposed["decision"] == "proposed"
    pid = proposed["proposal_id"]

    first = run("alice", "approve", pid)
    assert first.returncode == 0, first.stderr
    assert f"first of 2 approvals of {pid} recorded (cli:alice)" in first.stdout
    again = run("alice", "approve", pid)
    assert again.returncode == 1 and "a different person must give the second" in again.stderr

    waiting = once()
    assert waiting["decision"] == "proposed" and waiting["proposal_id"] == pid
    assert "1 of 2 so far (cli:alice" in waiting["reason"]
    assert _extensions(sm, plan["TrainingPlanArn"]) == []
    listed = json.loads(run("alice", "proposals", "--output", "json").stdout)["proposals"]
    assert [
        (p["state"], p["approvals_needed"], [a["by"] for a in p["approvals"]]) for p in listed
    ] == [("pending", 2, ["cli:alice"])]

    second = run("bob", "approve", pid)
    assert second.returncode == 0, second.stderr
    assert f"approved {pid}" in second.stdout
    bought = once()
    assert bought["decision"] == "extended", bought["reason"]
    assert "approved by cli:bob" in bought["reason"]
    assert len(_extensions(sm, plan["TrainingPlanArn"])) == 1
