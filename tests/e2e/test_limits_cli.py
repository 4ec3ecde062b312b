"""Blast-radius limits through the real `plan-watcher` process against the simulator server:
a daily limit holds across restarts (each `once` is a new process), two replicas on one
DynamoDB journal share it, and the daemon's /metrics shows each limit and its use."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess, free_port
from tests.e2e.test_daemon_process import get, wait_for
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve
from tests.e2e.test_ha_replicas import TABLE, dynamodb

__all__ = ["dynamodb", "serve"]  # fixtures: the DynamoDB server, the simulator server

PLANS = ("llm-a", "llm-b", "llm-c")
SCENARIO: dict[str, Any] = {
    "name": "limits",
    "settings": {"payment_delay": "0s"},
    "plans": [
        {"name": name, "ends_in": "40h", "started": "-3d", "instance_count": 4} for name in PLANS
    ],
    "jobs": [
        {"name": f"{name}-run", "plan": name, "started": "-1d", "max_runtime": "6d"}
        for name in PLANS
    ],
}
LIMITS = {"purchases_per_cycle": 1, "purchases_per_24h": 2, "spend_per_24h": "100000.00 USD"}


def _config(tmp_path: Path, name: str, journal: str, port: int | None = None) -> Path:
    data: dict[str, Any] = {
        "mode": "enforce",
        "poll": {"interval": "1s", "jitter": "0s"},
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {
                "name": "all",
                "action": "extend",
                "extend_before": "72h",
                # Each plan's whole need is bought at once, so a plan bought for is not due
                # again (whatever the time of day, which moves the plans' 11:30 UTC ends).
                "extension": {"min_duration": "1d", "max_duration": "14d"},
            }
        ],
        "safety": {"limits": LIMITS},
        "state": {"journal": journal},
        "logging": {"level": "info", "format": "json"},
    }
    if port is not None:
        data["metrics"] = {"listen": f"127.0.0.1:{port}"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _once(config: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        _watcher("once", "--config", str(config), "--output", "json"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _by_decision(report: dict[str, Any], decision: str) -> list[dict[str, Any]]:
    return [d for d in report["decisions"] if d["decision"] == decision]


def test_a_daily_limit_holds_across_restarts(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    env = _env(server.endpoint)
    config = _config(tmp_path, "watcher", str(tmp_path / "journal.db"))

    first = _once(config, env)
    assert len(_by_decision(first, "extended")) == 1
    assert len(_by_decision(first, "over_budget")) == 2
    second = _once(config, env)
    assert len(_by_decision(second, "extended")) == 1
    third = _once(config, env)
    [refused] = _by_decision(third, "over_budget")
    assert _by_decision(third, "extended") == []
    assert (
        "would pass a safety limit: safety.limits.purchases_per_24h: 2 purchase(s) in the last "
        "24 hours already, the limit is 2" in refused["reason"]
    )
    limits = {item["limit"]: item for item in third["limits"]}
    assert limits["safety.limits.purchases_per_24h"] == {
        "limit": "safety.limits.purchases_per_24h",
        "max": 2,
        "used": 2,
        "currency": None,
        "unknown": None,
    }
    arns = {p["TrainingPlanName"]: p["TrainingPlanArn"] for p in _plans(sm)}
    assert sorted(len(_extensions(sm, arns[name])) for name in PLANS) == [0, 1, 1]
    assert len(_extensions(sm, arns[refused["plan_name"]])) == 0
    assert limits["safety.limits.spend_per_24h"]["used"] == f"{_fees(sm):f}"


def test_two_replicas_share_a_limit_and_the_daemon_exports_it(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess], dynamodb: str
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    env = _env(server.endpoint)
    del env["AWS_ENDPOINT_URL"]
    env["AWS_ENDPOINT_URL_SAGEMAKER"] = server.endpoint
    env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb
    journal = f"dynamodb://{TABLE}"
    port = free_port()
    one = _config(tmp_path, "one", journal)
    two = _config(tmp_path, "two", journal, port)

    assert len(_by_decision(_once(one, env), "extended")) == 1
    assert len(_by_decision(_once(two, env), "extended")) == 1
    refused = _by_decision(_once(one, env), "over_budget")
    assert [d["plan_name"] for d in refused] != []
    assert all("safety.limits.purchases_per_24h" in d["reason"] for d in refused)

    daemon = subprocess.Popen(
        _watcher("run", "--config", str(two)),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:

        def scraped() -> bool:
            status, body = get(f"http://127.0.0.1:{port}/metrics")
            return status == 200 and "plan_watcher_safety_limit_used" in body

        wait_for(scraped, timeout=TIMEOUT, what="the limits on /metrics")
        _, body = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=TIMEOUT)
    lines = set(body.splitlines())
    assert 'plan_watcher_safety_limit{currency="",limit="purchases_per_24h"} 2.0' in lines
    assert 'plan_watcher_safety_limit_used{currency="",limit="purchases_per_24h"} 2.0' in lines
    assert 'plan_watcher_safety_limit{currency="USD",limit="spend_per_24h"} 100000.0' in lines
    spent = float(_fees(sm))
    assert (
        f'plan_watcher_safety_limit_used{{currency="USD",limit="spend_per_24h"}} {spent}' in lines
    )
    assert 'plan_watcher_safety_limit_used{currency="",limit="purchases_per_cycle"} 0.0' in lines
    arns = [p["TrainingPlanArn"] for p in _plans(sm)]
    assert sum(len(_extensions(sm, arn)) for arn in arns) == 2


def _fees(sm: Any) -> Decimal:
    """What every extension bought so far cost, from AWS's record."""
    arns = [p["TrainingPlanArn"] for p in _plans(sm)]
    return sum((Decimal(e["UpfrontFee"]) for a in arns for e in _extensions(sm, a)), Decimal(0))


def _plans(sm: Any) -> list[dict[str, Any]]:
    return list(sm.list_training_plans()["TrainingPlanSummaries"])
