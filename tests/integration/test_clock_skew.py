"""A clock that is wrong says so. The simulator answers with AWS's time in `Date`, shifted
from the caller's by `clock_skew`, and refuses requests signed beyond the tolerance as AWS
does. plan-watcher measures the difference on every answer (metric, /status), and a refusal
caused by the clock is its own error kind, naming the difference, in the log, /status and the
plan's decision."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from tests.conftest import REPO_ROOT, SandboxProcess, start_sandbox, stop_sandbox
from tests.integration.test_engine_support import make_config
from tests.integration.test_notify_support import due_with_job
from watcher.clock import ManualClock
from watcher.daemon import Daemon
from watcher.observe.http import EndpointServer
from watcher.sandbox.settings import SimSettings


def told(text: str) -> float:
    """The difference a message tells ("7m 0s behind AWS's" is +420), signed like the metric.

    The measure has a second's resolution and includes the request's latency, so callers
    compare it within a few seconds."""
    found = re.search(r"clock is (?:(\d+)m )?(\d+)s (behind|ahead of) AWS's", text)
    assert found is not None, text
    minutes, seconds, way = found.groups()
    size = int(minutes or 0) * 60 + int(seconds)
    return float(size if way == "behind" else -size)


def _daemon(tmp_path: Path, clock: ManualClock) -> Daemon:
    return Daemon(make_config(tmp_path / "journal.db"), clock=clock, listen=("127.0.0.1", 0))


def _skew(daemon: Daemon, target: str = "default") -> float | None:
    return daemon.registry.get_sample_value("plan_watcher_clock_skew_seconds", {"target": target})


def _status(daemon: Daemon) -> dict[str, Any]:
    server = EndpointServer("127.0.0.1", 0, daemon.registry, daemon)
    server.start()
    try:
        host, port = server.address
        with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=10) as response:
            return dict(json.loads(response.read()))
    finally:
        server.stop()


def test_a_skew_within_the_tolerance_is_measured_and_exported(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(settings=SimSettings(clock_skew=timedelta(minutes=2)))
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    daemon = _daemon(tmp_path, clock)
    with capture_logs():
        cycle = daemon.run_cycle()

    assert cycle is not None and not cycle.errors
    assert [r.decision.kind.value for r in cycle.results] == ["extended"]
    # AWS's clock is 2 minutes ahead: +120 s, give or take the requests' own latency.
    skew = _skew(daemon)
    assert skew is not None and 118 <= skew <= 130, skew
    assert 118 <= _status(daemon)["clock_skew_seconds"]["default"] <= 130


@pytest.mark.parametrize("shift", [timedelta(minutes=7), -timedelta(minutes=9)])
def test_a_refusal_by_the_clock_is_its_own_error_naming_the_difference(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, shift: timedelta
) -> None:
    sim = make_sim(settings=SimSettings(clock_skew=shift))
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    daemon = _daemon(tmp_path, clock)
    with capture_logs() as logs:
        cycle = daemon.run_cycle()

    assert cycle is not None and sim.record.purchases == []
    [error] = cycle.errors
    assert error.startswith("target default: clock_skew: ListTrainingPlans")
    assert abs(told(error) - shift.total_seconds()) <= 10 and "Signature" in error
    [failed] = [e for e in logs if e["event"] == "target_failed"]
    assert failed["log_level"] == "error" and error.endswith(failed["error"])
    status = _status(daemon)
    assert status["errors"] == [error]
    assert abs(status["clock_skew_seconds"]["default"] - shift.total_seconds()) <= 10
    skew = _skew(daemon)
    assert skew is not None and abs(skew - shift.total_seconds()) <= 10
    refused = daemon.registry.get_sample_value(
        "plan_watcher_aws_calls_total",
        {"operation": "ListTrainingPlans", "outcome": "clock_skew"},
    )
    assert refused == 1


def test_a_clock_that_jumps_mid_cycle_fails_the_plans_decision_as_clock_skew(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim()
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    daemon = _daemon(tmp_path, clock)
    [gateway] = daemon.reconciler.gateways.values()

    def jump(**_: Any) -> None:  # the node's clock steps 8 minutes right after the listing
        sim.world.settings.clock_skew = timedelta(minutes=8)

    gateway._read.meta.events.register("after-call.sagemaker.ListTrainingPlans", jump)
    with capture_logs() as logs:
        cycle = daemon.run_cycle()

    assert cycle is not None
    [result] = cycle.results
    assert result.decision.kind.value == "error"
    assert result.decision.reason.startswith("AWS call failed (clock_skew): ")
    assert abs(told(result.decision.reason) - 480) <= 10
    [logged] = [e for e in logs if e["event"] == "decision"]
    assert logged["log_level"] == "error" and logged["reason"] == result.decision.reason
    [decision] = _status(daemon)["decisions"]
    assert decision["decision"] == "error" and "(clock_skew)" in decision["reason"]
    assert sim.record.purchases == []


@pytest.fixture
def skewed_server(tmp_path: Path) -> Iterator[SandboxProcess]:
    scenario = {
        "name": "skewed",
        "settings": {"clock_skew": "-7m"},
        "plans": [{"name": "llm-a", "ends_in": "40h", "started": "-3d", "instance_count": 4}],
        "jobs": [{"name": "run-a", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    server = start_sandbox(str(path))
    try:
        yield server
    finally:
        stop_sandbox(server)


def test_once_over_http_reports_the_clock_and_fails(
    skewed_server: SandboxProcess, tmp_path: Path
) -> None:
    from tests.e2e.test_engine_process import _config, _env, _watcher

    done = subprocess.run(
        _watcher("once", "--config", str(_config(tmp_path)), "--output", "json"),
        cwd=REPO_ROOT,
        env=_env(skewed_server.endpoint),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    [error] = result["errors"]
    assert "clock_skew" in error and abs(told(error) + 420) <= 10
    assert abs(result["clock_skew_seconds"]["default"] + 420) <= 10
