"""A real Prometheus scrapes a real `plan-watcher run` daemon (against the simulator server)
and loads the shipped alert rules: the plan series arrive with the right labels and values, and
every rule evaluates with health ok."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, free_port, start_sandbox
from tests.programs import require_program

RULES = REPO_ROOT / "deploy" / "prometheus" / "rules.yaml"
DEMO_PLANS = {"llm-pretrain", "idle-reserve", "vision-finetune", "speech-train"}


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then kill if it does not exit."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return None
    return body["data"] if body.get("status") == "success" else None


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(Prometheus base URL, a SageMaker client on the simulator); all stopped at the end."""
    prometheus = require_program("prometheus")
    with ExitStack() as cleanup:
        sandbox = start_sandbox("demo")
        cleanup.callback(stop, sandbox.process)

        metrics_port = free_port()
        config = yaml.safe_load((REPO_ROOT / "watcher/sandbox/configs/demo.yaml").read_text())
        config["poll"] = {"interval": "2s", "jitter": "0s"}
        # Nothing is bought: from 11:30 UTC the demo plans are due, and an extension bought
        # before the scrape would move the end times this test compares.
        config["mode"] = "dry-run"
        config["state"]["journal"] = str(tmp_path / "journal.db")
        config["metrics"]["listen"] = f"127.0.0.1:{metrics_port}"
        config["logging"] = {"level": "warning", "format": "json"}
        (tmp_path / "watcher.yaml").write_text(yaml.safe_dump(config))
        env = dict(
            os.environ,
            AWS_ENDPOINT_URL=sandbox.endpoint,
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_REGION="us-east-1",
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "watcher", "run", "--config", str(tmp_path / "watcher.yaml")],
            cwd=tmp_path,
            env=env,
            stdout=open(tmp_path / "daemon.log", "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        cleanup.callback(stop, daemon)

        web_port = free_port()
        scrape = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "plan-watcher",
                    "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                }
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(scrape))
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
                "--log.level=warn",
            ],
            cwd=tmp_path,
            stdout=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        cleanup.callback(stop, server)
        try:
            yield f"http://127.0.0.1:{web_port}", sandbox.client()
        except BaseException:
            for log in ("daemon.log", "prometheus.log"):
                print(f"--- {log}\n{(tmp_path / log).read_text()[-4000:]}")
            raise


def test_prometheus_scrapes_plan_end_times_and_loads_the_rules(stack: tuple[str, Any]) -> None:
    base, sagemaker = stack
    ends = {
        plan["TrainingPlanName"]: plan["EndTime"].astimezone(UTC)
        for plan in sagemaker.list_training_plans()["TrainingPlanSummaries"]
    }
    assert set(ends) == DEMO_PLANS

    def plan_series() -> list[dict[str, Any]] | None:
        data = api(base, "/api/v1/query", query="plan_watcher_plan_end_timestamp_seconds")
        if data is None or len(data["result"]) < len(DEMO_PLANS):
            return None
        result: list[dict[str, Any]] = data["result"]
        return result

    series = wait_for(plan_series, 30, "Prometheus to scrape the plan series")
    # The daemon buys the demo's extensions meanwhile: a plan's end is the one read before the
    # scrape or the one after it, whichever the scraped cycle saw.
    later = {
        plan["TrainingPlanName"]: plan["EndTime"].astimezone(UTC)
        for plan in sagemaker.list_training_plans()["TrainingPlanSummaries"]
    }
    assert sorted(s["metric"]["plan"] for s in series) == sorted(DEMO_PLANS)
    for sample in series:
        labels = sample["metric"]
        assert labels["job"] == "plan-watcher"
        assert labels["target"] == "default"
        seen = {ends[labels["plan"]], later[labels["plan"]]}
        assert all((end.hour, end.minute) == (11, 30) for end in seen)
        assert float(sample["value"][1]) in {end.timestamp() for end in seen}

    expected = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }

    def evaluated_rules() -> list[dict[str, Any]] | None:
        data = api(base, "/api/v1/rules")
        if data is None:
            return None
        rules = [rule for group in data["groups"] for rule in group["rules"]]
        if len(rules) < len(expected) or any(r["health"] == "unknown" for r in rules):
            return None
        return rules

    rules = wait_for(evaluated_rules, 20, "Prometheus to evaluate the rules")
    assert {rule["name"] for rule in rules} == expected
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken
