"""deploy/grafana/dashboard.json: importable JSON whose every query reads metrics the code
really exports (the same in-process cycles as the alert rules' check)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_prometheus_rules import exposed_sample_names, metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboard.json"
DATASOURCE = "${DS_PROMETHEUS}"


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"]["query"]


def test_dashboard_shape() -> None:
    dashboard = load()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("target", "plan"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == DATASOURCE


def test_panels_have_unique_ids_and_a_datasource() -> None:
    panels = list(all_panels(load()["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE}, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE
            assert target["expr"].strip()


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in all_panels(load()["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


def test_per_plan_panels_follow_the_variables() -> None:
    for where, expr in queries(load()):
        if "plan_watcher_plan_" in expr and not where.startswith("variable"):
            assert 'target=~"$target"' in expr and 'plan=~"$plan"' in expr, where


@pytest.mark.parametrize("where,expr", list(queries(load())))
def test_query_reads_exported_metrics(where: str, expr: str) -> None:
    used = metric_names(expr)
    assert used, f"{where}: no plan_watcher metric in {expr!r}"
    missing = used - exposed_sample_names()
    assert not missing, f"{where} queries metrics the code does not export: {missing}"


def test_dashboard_covers_every_daemon_family() -> None:
    used = set().union(*(metric_names(expr) for _, expr in queries(load())))
    for name in (
        "plan_watcher_plan_end_timestamp_seconds",
        "plan_watcher_plan_deadline_timestamp_seconds",
        "plan_watcher_plan_demand_end_timestamp_seconds",
        "plan_watcher_plan_decision",
        "plan_watcher_decisions_total",
        "plan_watcher_budget_spent",
        "plan_watcher_budget_limit",
        "plan_watcher_spend_total",
        "plan_watcher_extensions_total",
        "plan_watcher_aws_calls_total",
        "plan_watcher_reconcile_duration_seconds_bucket",
        "plan_watcher_reconcile_last_success_timestamp_seconds",
        "plan_watcher_target_up",
    ):
        assert name in used, f"the dashboard does not show {name}"
