"""Approvals through the real `plan-watcher` process against the simulator served over HTTP:
`plan` writes nothing, `once` proposes, a human approves by command or by tag (added with
boto3, as an operator would with the AWS CLI), rejects by command or tag, and `pause` holds
the approved purchases until `resume`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve
from tests.e2e.test_engine_process import _config as _engine_config

__all__ = ["serve"]  # the fixture that starts the simulator server on a scenario

PLANS = ("by-command", "by-tag", "rejected-by-command", "rejected-by-tag")
SCENARIO: dict[str, Any] = {
    "name": "approvals",
    "plans": [
        {"name": name, "ends_in": "40h", "started": "-3d", "instance_count": 4} for name in PLANS
    ],
    "jobs": [
        {"name": f"{name}-run", "plan": name, "started": "-1d", "max_runtime": "6d"}
        for name in PLANS
    ],
}


def _config(tmp_path: Path) -> Path:
    """The engine tests' config, with the policy's action switched to propose."""
    path = _engine_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["policies"][0]["action"] = "propose"
    path.write_text(yaml.safe_dump(data))
    return path


def _runner(
    tmp_path: Path, server: SandboxProcess
) -> Callable[..., subprocess.CompletedProcess[str]]:
    config = _config(tmp_path)
    env = _env(server.endpoint)
    env["USER"] = "alice"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _watcher(*args, "--config", str(config)),
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    return run


def _decisions(stdout: str) -> dict[str, dict[str, Any]]:
    return {d["plan_name"]: d for d in json.loads(stdout)["decisions"]}


def test_proposals_approved_and_rejected_through_the_cli_and_tags(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    run = _runner(tmp_path, server)
    sm = server.client()
    arns = {p["TrainingPlanName"]: p["TrainingPlanArn"] for p in _list(sm)}

    planned = run("plan", "--output", "json")
    assert planned.returncode == 0, planned.stderr
    report = json.loads(planned.stdout)
    assert report["proposals"] == [] and report["purchases_paused"] is None
    assert {d["decision"] for d in report["decisions"]} == {"proposed"}
    assert {d["proposal_id"] for d in report["decisions"]} == {None}

    proposed = run("once", "--output", "json")
    assert proposed.returncode == 0, proposed.stderr
    decisions = _decisions(proposed.stdout)
    ids = {name: d["proposal_id"] for name, d in decisions.items()}
    assert set(ids) == set(PLANS) and all(pid.startswith("p-") for pid in ids.values())
    listed = json.loads(run("proposals", "--output", "json").stdout)
    assert {p["proposal_id"]: p["state"] for p in listed["proposals"]} == {
        pid: "pending" for pid in ids.values()
    }
    by_id = {p["proposal_id"]: p for p in listed["proposals"]}
    assert by_id[ids["by-command"]]["expires_at"] == decisions["by-command"]["deadline"]

    assert run("approve", ids["by-command"]).returncode == 0
    missing = run("approve", "p-00000000")
    assert missing.returncode == 1 and "no proposal 'p-00000000'" in missing.stderr
    assert run("reject", ids["rejected-by-command"], "--reason", "not this quarter").returncode == 0
    assert run("approve", ids["rejected-by-command"]).returncode == 1
    sm.add_tags(
        ResourceArn=arns["by-tag"],
        Tags=[{"Key": "plan-watcher/approve", "Value": ids["by-tag"]}],
    )
    sm.add_tags(
        ResourceArn=arns["rejected-by-tag"],
        Tags=[{"Key": "plan-watcher/reject", "Value": ids["rejected-by-tag"]}],
    )

    # Paused: the approved purchases are held, and the pause is reported.
    assert run("pause", "--reason", "change freeze").returncode == 0
    held = run("once", "--output", "json")
    assert held.returncode == 0, held.stderr
    held_report = json.loads(held.stdout)
    assert held_report["purchases_paused"]["reason"] == "change freeze"
    assert held_report["purchases_paused"]["by"] == "cli:alice"
    held_decisions = _decisions(held.stdout)
    for name in ("by-command", "by-tag"):
        assert held_decisions[name]["decision"] == "would_extend"
        assert "not bought: purchases paused" in held_decisions[name]["reason"]
    assert all(_extensions(sm, arn) == [] for arn in arns.values())

    assert run("resume").returncode == 0
    bought = run("once", "--output", "json")
    assert bought.returncode == 0, bought.stderr
    final = _decisions(bought.stdout)
    assert final["by-command"]["decision"] == "extended"
    assert final["by-tag"]["decision"] == "extended"
    assert final["rejected-by-command"]["decision"] == "no_offering"
    assert "not this quarter" in final["rejected-by-command"]["reason"]
    assert final["rejected-by-tag"]["decision"] == "no_offering"
    assert [len(_extensions(sm, arns[name])) for name in PLANS] == [1, 1, 0, 0]
    for arn in arns.values():
        keys = {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert not keys & {"plan-watcher/approve", "plan-watcher/reject"}

    closed = json.loads(run("proposals", "--all", "--output", "json").stdout)
    states = {p["proposal_id"]: (p["state"], p["decided_by"]) for p in closed["proposals"]}
    assert states[ids["by-command"]] == ("purchased", "plan-watcher")
    assert states[ids["by-tag"]] == ("purchased", "plan-watcher")
    assert states[ids["rejected-by-command"]] == ("rejected", "cli:alice")
    assert states[ids["rejected-by-tag"]] == ("rejected", "tag")
    assert json.loads(run("proposals", "--output", "json").stdout)["proposals"] == []


def _list(sm: Any) -> list[dict[str, Any]]:
    return list(sm.list_training_plans()["TrainingPlanSummaries"])
