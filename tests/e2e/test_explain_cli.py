"""`plan-watcher explain` through the real process against the simulator server: the JSON
object field by field, the terminal page's sections, the exit codes, and that it buys and
writes nothing (no journal file appears; an existing one is unchanged)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve

__all__ = ["serve"]

SCENARIO: dict[str, Any] = {
    "name": "explain",
    "settings": {"payment_delay": "0s"},
    "plans": [
        {
            "name": "llm-a",
            "ends_in": "40h",
            "started": "-3d",
            "instance_count": 4,
            "tags": {"team": "llm", "cost-center": "cc-7"},
        }
    ],
    "jobs": [{"name": "run", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
}


def _config(tmp_path: Path) -> Path:
    data = {
        "mode": "enforce",
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {"name": "gpt", "match": {"names": ["gpt-*"]}, "action": "notify"},
            {
                "name": "llm",
                "match": {"names": ["llm-*"], "tags": {"team": "llm"}},
                "action": "extend",
                "extension": {"max_duration": "14d", "max_upfront_fee": "60000.00 USD"},
            },
        ],
        "budgets": [{"name": "ml", "limit": "250000.00 USD"}],
        "safety": {"limits": {"purchases_per_24h": 3}},
        "state": {"journal": str(tmp_path / "journal.db")},
        "metrics": {"plan_labels_from_tags": ["team", "cost-center"]},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


def test_explain_through_the_cli_buys_and_writes_nothing(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    config = _config(tmp_path)
    journal = tmp_path / "journal.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _watcher(*args, "--config", str(config)),
            cwd=REPO_ROOT,
            env=_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    [plan] = sm.list_training_plans()["TrainingPlanSummaries"]
    arn = plan["TrainingPlanArn"]
    done = run("explain", "llm-a", "--output", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert not journal.exists()
    assert _extensions(sm, arn) == []

    assert data["plan"]["arn"] == arn and data["plan"]["status"] == "Active"
    assert data["plan"]["tags"] == {"cost-center": "cc-7", "team": "llm"}
    assert data["plan"]["end_time"] == plan["EndTime"].isoformat().replace("+00:00", "Z")
    assert data["policy"]["name"] == "llm"
    assert data["policy"]["why"] == ["name 'llm-a' matches 'llm-*'", "tag team=llm", "any target"]
    assert data["policy"]["skipped"] == [
        {"policy": "gpt", "why_not": ["no: name 'llm-a' matches none of 'gpt-*'"]}
    ]
    decision = data["decision"]
    assert decision["decision"] == "would_extend"
    [consumer] = data["consumers"]
    assert (consumer["kind"], consumer["name"], consumer["status"]) == ("job", "run", "InProgress")
    assert data["need"]["hours"] == decision["duration_hours"]
    verdicts = sorted(o["verdict"] for o in data["offerings"])
    assert verdicts == ["chosen", "rejected", "rejected"]
    [chosen] = [o for o in data["offerings"] if o["verdict"] == "chosen"]
    assert chosen["offering_id"] == decision["offering_id"]
    assert chosen["upfront_fee"] == decision["upfront_fee"]
    assert [b["budget"] for b in data["budgets"]] == ["ml"]
    assert [(x["limit"], x["used"]) for x in data["limits"]] == [
        ("safety.limits.purchases_per_24h", 0)
    ]
    assert data["history"] == [] and data["journal"]["intents"] == []
    assert data["next_action"] == decision["next_action"]

    bought = run("once", "--output", "json")
    assert bought.returncode == 0, bought.stderr
    before = _dump(journal)
    page = run("explain", arn, "--output", "table")
    assert page.returncode == 0, page.stderr
    for section in (
        "plan llm-a in target default",
        "policy: llm",
        "decision: ",
        "consumers",
        "need: ",
        "budgets and limits",
        "extension history (AWS)",
        "journal",
        "next action",
    ):
        assert section in page.stdout, section
    assert "safety.limits.purchases_per_24h: 1 of 3 purchase(s) used" in page.stdout
    assert _dump(journal) == before
    assert len(_extensions(sm, arn)) == 1

    missing = run("explain", "nope")
    assert missing.returncode == 1 and "no training plan 'nope'" in missing.stderr
