"""deploy/prometheus/rules.yaml: promtool accepts it, its unit tests pass, every alert is tested
both firing and silent, and every metric it queries is one the code really exports."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.programs import require_program

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
RULES_TEST = REPO / "deploy" / "prometheus" / "rules_test.yaml"
SEVERITIES = {"critical", "warning", "info"}

# A metric name in PromQL: plan_watcher_ followed by name characters. Recording-rule names
# (with a colon) and label values such as job="plan-watcher" do not match.
_METRIC = re.compile(r"(?<![\w:])plan_watcher_[a-zA-Z0-9_]+(?![\w:])")


def metric_names(expr: str) -> set[str]:
    """The plan_watcher_* series names a PromQL expression reads."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(_METRIC.findall(without_strings))


@functools.cache
def exposed_sample_names() -> frozenset[str]:
    """Every sample name the metrics code exposes over a few realistic cycles.

    The demo scenario runs in-process three hours after its start, when all four plans are
    due: one is extended, one purchase is ambiguous then bought, one has no acceptable
    offering, one has no demand. The exposition after each cycle is collected. A safety
    limit the demo never reaches is added, so that its families are exported too.
    """
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from watcher.app import build_reconciler
    from watcher.aws.calls import CallCounter
    from watcher.clock import ManualClock
    from watcher.config import parse_config
    from watcher.demo import _sandbox_gateway
    from watcher.observe.metrics import build_registry
    from watcher.sandbox import sandboxed
    from watcher.sandbox.scenario import load_scenario

    scenario = load_scenario("demo")
    assert scenario.start is not None
    demo_config = resources.files("watcher.sandbox") / "configs" / "demo.yaml"
    raw: dict[str, Any] = yaml.safe_load(demo_config.read_text())
    names: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="plan-watcher-metrics-") as tmp:
        raw["state"]["journal"] = str(Path(tmp) / "journal.db")
        raw.setdefault("safety", {}).setdefault("limits", {"purchases_per_24h": 1000})
        config = parse_config(raw)
        clock = ManualClock(scenario.start + timedelta(hours=3))
        counter = CallCounter()
        registry, telemetry, snapshot = build_registry(counter, config.metrics.tag_labels)
        telemetry.leader.set(1)
        with sandboxed(clock, scenario.settings, scenario.market, scenario.faults) as sim:
            scenario.seed(sim)
            reconciler = build_reconciler(config, clock, None, counter, _sandbox_gateway)
            try:
                for _ in range(3):
                    cycle = reconciler.run_cycle()
                    telemetry.observe_cycle(cycle, 0.4)
                    snapshot.update(cycle)
                    text = generate_latest(registry).decode()
                    for family in text_string_to_metric_families(text):
                        names.update(sample.name for sample in family.samples)
                    clock.advance(timedelta(minutes=30))
            finally:
                reconciler.journal.close()
    return frozenset(names)


def promtool() -> str:
    return require_program("promtool")


def run_promtool(*args: str, cwd: Path) -> None:
    env = dict(os.environ, NO_COLOR="1")
    done = subprocess.run(
        [promtool(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def all_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    run_promtool("check", "rules", str(RULES), cwd=RULES.parent)


def test_promtool_unit_tests_pass() -> None:
    run_promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)


def test_exposed_names_come_from_a_full_cycle() -> None:
    names = exposed_sample_names()
    # The helper below must see the families that only appear once plans are due and bought.
    for name in (
        "plan_watcher_plan_end_timestamp_seconds",
        "plan_watcher_plan_demand_end_timestamp_seconds",
        "plan_watcher_plan_consumers",
        "plan_watcher_spend_total",
        "plan_watcher_budget_spent",
        "plan_watcher_target_up",
        "plan_watcher_reconcile_duration_seconds_bucket",
        "plan_watcher_aws_calls_total",
        "plan_watcher_safety_limit_used",
    ):
        assert name in names
    # A family name without its sample suffix is not something a query can read.
    assert "plan_watcher_extensions" not in names


def test_metric_name_parser() -> None:
    expr = (
        'sum by (le) (rate(plan_watcher_reconcile_duration_seconds_bucket{job="plan-watcher"}'
        "[5m])) and on () plan_watcher:recorded unless absent(plan_watcher_build_info)"
    )
    assert metric_names(expr) == {
        "plan_watcher_reconcile_duration_seconds_bucket",
        "plan_watcher_build_info",
    }


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.get("alert") or r.get("record"))
def test_rule_queries_only_exported_metrics(rule: dict[str, Any]) -> None:
    used = metric_names(rule["expr"])
    missing = used - exposed_sample_names()
    assert not missing, f"{rule.get('alert')} queries metrics the code does not export: {missing}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_is_routable_and_explained(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("PlanWatcher")
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook"] == f"docs/observability.md#{rule['alert'].lower()}"
    if "plan_watcher_plan_" in rule["expr"]:
        # An on-call engineer must see which plan, in which target, without a query.
        text = annotations["summary"] + annotations["description"]
        assert "$labels.plan" in text and "$labels.target" in text


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = yaml.safe_load(RULES_TEST.read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


def test_every_alert_has_a_runbook_section() -> None:
    doc = (REPO / "docs" / "observability.md").read_text()
    headings = {
        line.lstrip("#").strip() for line in doc.splitlines() if line.startswith("### PlanWatcher")
    }
    assert {rule["alert"] for rule in alert_rules()} <= headings
