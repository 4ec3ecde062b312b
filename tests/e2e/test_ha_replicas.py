"""Two real `plan-watcher run` processes sharing one DynamoDB journal (a moto server) and one
simulator server: across many cycles and a forced stall of the leader, every needed
extension is bought exactly once, and the stalled leader's first purchase attempt after it
wakes up is fenced out by the table.

The simulator holds every SearchTrainingPlanOfferings for 2 s, so a cycle spends seconds
surveying before it buys. The leader is frozen (SIGSTOP) while it surveys, longer than its
lease; the other replica takes the lease over (a higher token) and buys; then the old leader
is thawed (SIGCONT) and finishes its cycle with offerings it read before the stall.

Each replica buys at most one extension per cycle (`safety.limits.purchases_per_cycle`), so
when the old leader is thawed, right after the new leader's first purchase, one plan is still
unbought and the new leader is seconds (a poll, then its survey) from buying it: the old
leader tries it first and is fenced. Without the limit the new leader could buy both plans
before the thaw, and the old leader, seeing both bought, would rightly try nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.conftest import REPO_ROOT, SandboxProcess, free_port, start_sandbox, stop_sandbox
from tests.e2e.test_daemon_process import wait_for
from watcher.journal.table import create_table

TABLE = "plan-watcher-ha"
TIMEOUT = 90.0  # generous: these wait on real processes, never assert on timing
LEASE_SECONDS = 4
PLANS = ("llm-a", "llm-b")
SCENARIO: dict[str, Any] = {
    "name": "ha-replicas",
    "settings": {"payment_delay": "0s"},
    "plans": [{"name": p, "ends_in": "40h", "started": "-3d", "instance_count": 2} for p in PLANS],
    "jobs": [
        {"name": f"run-{p}", "plan": p, "started": "-1d", "max_runtime": "6d", "instance_count": 2}
        for p in PLANS
    ],
    "faults": {"operations": {"SearchTrainingPlanOfferings": {"latency_ms": 2000}}},
}
PURCHASE_EVENTS = {"purchase_intent", "purchase_fenced", "purchase_skipped"}


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[str]
    port: int
    lines: list[dict[str, Any]] = field(default_factory=list)

    def events(self, since: int = 0) -> list[str]:
        return [line.get("event", "") for line in self.lines[since:]]

    def metric(self, name: str) -> float | None:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None


def _wait_for(what: str, check: Callable[[], bool]) -> None:
    wait_for(check, timeout=TIMEOUT, what=what)


@pytest.fixture
def dynamodb() -> Iterator[str]:
    """A moto server for DynamoDB (one request at a time) with the journal table."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.dynamodb_server", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().split()[-1]
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        create_table(client, TABLE)
        yield endpoint
    finally:
        process.kill()
        process.communicate(timeout=10)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SandboxProcess]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    server = start_sandbox(str(path))
    try:
        yield server
    finally:
        stop_sandbox(server)


def _start(name: str, tmp_path: Path, sagemaker: str, dynamodb: str) -> Replica:
    port = free_port()
    config = {
        "mode": "enforce",
        "poll": {"interval": "1s", "jitter": "0s"},
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {
                "name": "all",
                "action": "extend",
                "extend_before": "14d",
                "safety_margin": "2h",
                "require_demand": True,
                "extension": {"min_duration": "1d", "max_duration": "1d"},
            }
        ],
        "safety": {"limits": {"purchases_per_cycle": 1}},
        "state": {
            "journal": f"dynamodb://{TABLE}",
            "lease": {"duration": f"{LEASE_SECONDS}s", "renew_every": "1s"},
        },
        "metrics": {"listen": f"127.0.0.1:{port}"},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ)
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "PLAN_WATCHER_MODE"):
        env.pop(variable, None)
    env.update(
        {
            # SageMaker goes to the simulator, DynamoDB to the moto server.
            "AWS_ENDPOINT_URL_SAGEMAKER": sagemaker,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONUNBUFFERED": "1",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher", "run", "--config", str(path)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / f"{name}.stderr").open("w"),
        text=True,
    )
    replica = Replica(name, process, port)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                replica.lines.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return replica


def _needed(sm: Any) -> dict[str, tuple[Any, int]]:
    """Per plan: its end now, and how many one-day extensions its job needs (SageMaker stops
    a job 30 minutes before its plan ends, so the plan must outlast the job by that much)."""
    needed: dict[str, tuple[Any, int]] = {}
    for plan in PLANS:
        end = sm.describe_training_plan(TrainingPlanName=plan)["EndTime"]
        job = sm.describe_training_job(TrainingJobName=f"run-{plan}")
        job_end = job["TrainingStartTime"] + timedelta(
            seconds=job["StoppingCondition"]["MaxRuntimeInSeconds"]
        )
        needed_until = job_end + timedelta(minutes=30)
        needed[plan] = (end, math.ceil((needed_until - end) / timedelta(days=1)))
    return needed


def _extensions(sm: Any, plan: str) -> list[dict[str, Any]]:
    arn = sm.describe_training_plan(TrainingPlanName=plan)["TrainingPlanArn"]
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    return list(history["TrainingPlanExtensions"])


def test_two_replicas_buy_every_needed_extension_exactly_once_across_a_leader_stall(
    tmp_path: Path, simulator: SandboxProcess, dynamodb: str
) -> None:
    sm = simulator.client()
    needed = _needed(sm)
    assert all(count >= 3 for _, count in needed.values()), needed  # several cycles each
    replicas = [_start(n, tmp_path, simulator.endpoint, dynamodb) for n in ("one", "two")]
    try:
        _wait_for("a leader", lambda: any("leader_acquired" in r.events() for r in replicas))
        leader = next(r for r in replicas if "leader_acquired" in r.events())
        other = next(r for r in replicas if r is not leader)
        _wait_for("the leader's first cycle", lambda: "cycle_started" in leader.events())
        time.sleep(1.5)  # inside the survey: a search is held by the simulator
        assert "purchase_intent" not in leader.events(), "stalled too late: it already bought"
        leader.process.send_signal(signal.SIGSTOP)
        try:
            _wait_for("the takeover", lambda: "leader_acquired" in other.events())
            _wait_for(
                "a purchase by the new leader", lambda: "purchase_succeeded" in other.events()
            )
        finally:
            thawed_at = len(leader.lines)
            leader.process.send_signal(signal.SIGCONT)

        def all_bought() -> bool:
            return all(len(_extensions(sm, p)) >= n for p, (_, n) in needed.items())

        _wait_for("every needed extension", all_bought)
        _wait_for("the old leader's stale cycle", lambda: "leader_lost" in leader.events(thawed_at))
        time.sleep(3)  # more cycles: nothing more may be bought
        gauges = sorted(r.metric("plan_watcher_leader") or 0.0 for r in replicas)
    finally:
        for replica in replicas:
            replica.process.send_signal(signal.SIGCONT)
            replica.process.send_signal(signal.SIGTERM)
        codes = [r.process.wait(timeout=30) for r in replicas]

    # The simulator's own record: exactly what was needed, each extension once.
    for plan, (end, count) in needed.items():
        bought = _extensions(sm, plan)
        assert len(bought) == count, (plan, bought)
        assert len({e["StartDate"] for e in bought}) == count
        final = sm.describe_training_plan(TrainingPlanName=plan)["EndTime"]
        assert final == end + timedelta(days=count)
    succeeded = sum(r.events().count("purchase_succeeded") for r in replicas)
    assert succeeded == sum(count for _, count in needed.values())

    # The stalled leader woke up still mid-cycle: its first purchase attempt was fenced.
    after = [e for e in leader.events(thawed_at) if e in PURCHASE_EVENTS]
    assert after and after[0] == "purchase_fenced", leader.events(thawed_at)
    takeover = [line for line in other.lines if line.get("event") == "leader_acquired"]
    first = [line for line in leader.lines if line.get("event") == "leader_acquired"]
    assert takeover[0]["fence"] > first[0]["fence"]
    assert gauges == [0.0, 1.0]
    assert codes == [0, 0]
