"""Preferred purchase windows through the real `plan-watcher` process against the simulator
server, in real time: a window that opens tomorrow delays a due plan's purchase (`once` buys
nothing and says until when), and when waiting would pass the deadline the plan is bought at
the last safe cycle, outside the window, saying so. The windows are computed from the clock
when the test runs, as an operator would write them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve
from watcher.decide.purchase_windows import DAY_NAMES

__all__ = ["serve"]

SCENARIO: dict[str, Any] = {
    "name": "windows",
    "settings": {"payment_delay": "0s"},
    "plans": [{"name": "llm-a", "ends_in": "40h", "started": "-3d", "instance_count": 4}],
    "jobs": [{"name": "run", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
}


def _tomorrow() -> datetime:
    """Tomorrow 00:00 UTC, at least two minutes away (so the test and plan-watcher agree)."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if midnight - now < timedelta(minutes=2):
        time.sleep((midnight - now).total_seconds() + 1)
        midnight += timedelta(days=1)
    return midnight


def _config(tmp_path: Path, policy: dict[str, Any], poll: dict[str, str]) -> Path:
    data = {
        "mode": "enforce",
        "poll": poll,
        "targets": [{"name": "default", "region": "us-east-1"}],
        "policies": [
            {
                "name": "office",
                "action": "extend",
                "extension": {"min_duration": "1d", "max_duration": "1d"},
                **policy,
            }
        ],
        "state": {"journal": str(tmp_path / "journal.db")},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / "watcher.yaml"
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
    [decision] = json.loads(done.stdout)["decisions"]
    return dict(decision)


def test_a_window_delays_the_purchase_and_the_deadline_overrides_it(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    env = _env(server.endpoint)
    [plan] = sm.list_training_plans()["TrainingPlanSummaries"]
    arn, end = plan["TrainingPlanArn"], plan["EndTime"]
    tomorrow = _tomorrow()
    window = {"days": [DAY_NAMES[tomorrow.weekday()]], "hours": "00:00-24:00"}

    # Due now (less than 72 h left), but the only window opens tomorrow: it waits.
    office = {"extend_before": "72h", "purchase_windows": [window]}
    waiting = _once(_config(tmp_path, office, {"interval": "5m", "jitter": "30s"}), env)
    assert waiting["decision"] == "not_due"
    assert waiting["next_action"] == tomorrow.isoformat().replace("+00:00", "Z")
    assert f"waits until the next one opens at {tomorrow:%Y-%m-%dT%H:%M:%SZ}" in waiting["reason"]
    assert _extensions(sm, arn) == []

    # The same window, with the deadline ten minutes away and a 15-minute poll: the next
    # cycle may come after the deadline, so this one is past the last safe cycle and buys.
    left = int((end - datetime.now(UTC)).total_seconds() // 60)
    margin = left - 10
    urgent = {
        "extend_before": f"{margin + 2 * 24 * 60}m",
        "safety_margin": f"{margin}m",
        "purchase_windows": [window],
    }
    bought = _once(_config(tmp_path, urgent, {"interval": "15m", "jitter": "0s"}), env)
    assert bought["decision"] == "extended", bought["reason"]
    assert "outside the policy's purchase windows" in bought["reason"]
    assert "but this is past the last safe cycle" in bought["reason"]
    assert len(_extensions(sm, arn)) == 1
