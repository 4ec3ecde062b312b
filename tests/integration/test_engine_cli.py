"""The one-shot commands through `watcher.cli.main`, in-process, against the simulator on the
system clock (the CLI reads the real time): JSON on stdout, logs on stderr, SPEC exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    client,
    config_dict,
    exact_offering,
    no_retry_backoff,
    policy,
)
from watcher.cli import main
from watcher.clock import SystemClock
from watcher.sandbox import sandboxed
from watcher.sandbox.faults import Faults, ScriptedFault

DECISION_FIELDS = {
    "plan_arn",
    "plan_name",
    "target",
    "status",
    "end_time",
    "deadline",
    "demand_end",
    "decision",
    "reason",
    "offering_id",
    "duration_hours",
    "upfront_fee",
    "currency",
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI points structlog at this test's stderr; put the default back afterwards."""
    yield
    structlog.reset_defaults()


def _seed(sim: Any) -> None:
    """llm-a is due under a job that outlives it; idle-b is due with nothing on it."""
    now = datetime.now(UTC)
    sim.add_plan("llm-a", ends_at=now + timedelta(hours=40), instance_count=4)
    end = sim.plan_end("llm-a")
    started = now - timedelta(days=1)
    sim.add_job(
        "run", plan="llm-a", started_at=started, max_runtime=end - started + timedelta(hours=20)
    )
    sim.add_plan("idle-b", ends_at=now + timedelta(hours=40), instance_count=4)


def _write_config(tmp_path: Path, **top: Any) -> Path:
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(config_dict(tmp_path / "journal.db", **top)))
    return path


def _no_floats(value: Any) -> None:
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)


def _log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_once_json_is_one_object_with_the_spec_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        code, out, err = _run(capsys, "once", "--config", str(config), "--output", "json")
        purchases = list(sim.record.purchases)

    assert code == 0
    report = json.loads(out)  # the whole of stdout is one JSON object
    assert set(report) >= {"started_at", "mode", "decisions", "errors"}
    assert report["mode"] == "enforce"
    assert report["errors"] == []
    assert ISO_UTC.match(report["started_at"])
    _no_floats(report)
    decisions = {d["plan_name"]: d for d in report["decisions"]}
    assert set(decisions) == {"llm-a", "idle-b"}
    for d in decisions.values():
        assert set(d) >= DECISION_FIELDS
        assert d["target"] == "default"
        assert d["status"] == "Active"
        for key in ("end_time", "deadline"):
            assert ISO_UTC.match(d[key]), (key, d[key])

    bought = decisions["llm-a"]
    assert bought["decision"] == "extended"
    assert bought["upfront_fee"] == DAY_FEE_4 and MONEY.match(bought["upfront_fee"])
    assert bought["currency"] == "USD"
    assert bought["duration_hours"] == 24
    assert ISO_UTC.match(bought["demand_end"])
    assert [p.offering_id for p in purchases] == [bought["offering_id"]]

    idle = decisions["idle-b"]
    assert idle["decision"] == "no_demand"
    assert idle["offering_id"] is None and idle["upfront_fee"] is None
    assert idle["currency"] is None and idle["duration_hours"] is None
    assert idle["demand_end"] is None

    # Logs went to stderr, one JSON object per line, including the purchase.
    events = [line["event"] for line in _log_lines(err)]
    assert "purchase_intent" in events and "purchase_succeeded" in events
    assert events.count("decision") == 2


def test_once_dry_run_would_extend_and_calls_no_extend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        code, out, _ = _run(
            capsys, "once", "--dry-run", "--config", str(config), "--output", "json"
        )
        extend_calls = sim.record.calls.get("ExtendTrainingPlan", 0)
        searches = sim.record.calls.get("SearchTrainingPlanOfferings", 0)

    assert code == 0
    report = json.loads(out)
    assert report["mode"] == "dry-run"
    decisions = {d["plan_name"]: d for d in report["decisions"]}
    assert decisions["llm-a"]["decision"] == "would_extend"
    assert decisions["llm-a"]["upfront_fee"] == DAY_FEE_4
    assert extend_calls == 0
    assert searches == 1


def test_plan_command_never_buys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        code, out, _ = _run(capsys, "plan", "--config", str(config), "--output", "json")
        extend_calls = sim.record.calls.get("ExtendTrainingPlan", 0)

    assert code == 0
    report = json.loads(out)
    assert report["mode"] == "dry-run"
    kinds = {d["plan_name"]: d["decision"] for d in report["decisions"]}
    assert kinds == {"llm-a": "would_extend", "idle-b": "no_demand"}
    assert extend_calls == 0


def test_history_json_lists_extensions_and_spend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = [{"name": "ml", "limit": "50000.00 USD", "window": "rolling-30d"}]
    config = _write_config(tmp_path, budgets=budgets)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        arn = sim.plan("llm-a").arn
        offer = exact_offering(client(), arn, 24, sim.plan_end(arn))
        client().extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
        code, out, _ = _run(capsys, "history", "--config", str(config), "--output", "json")
        extend_calls = sim.record.calls.get("ExtendTrainingPlan", 0)

    assert code == 0
    report = json.loads(out)
    _no_floats(report)
    assert report["errors"] == []
    plans = {p["plan_name"]: p for p in report["plans"]}
    assert plans["idle-b"]["extensions"] == [] and plans["idle-b"]["spend"] == {}
    [ext] = plans["llm-a"]["extensions"]
    assert ext["offering_id"] == offer["TrainingPlanExtensionOfferingId"]
    assert ext["upfront_fee"] == DAY_FEE_4 and ext["currency"] == "USD"
    assert ext["duration_hours"] == 24
    assert plans["llm-a"]["spend"] == {"USD": DAY_FEE_4}
    [budget] = report["budgets"]
    assert (budget["budget"], budget["spent"], budget["limit"]) == ("ml", DAY_FEE_4, "50000.00")
    assert extend_calls == 1  # only the test's own purchase: history never buys


def test_once_exits_1_when_a_target_cannot_be_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_retry_backoff(monkeypatch)
    config = _write_config(tmp_path)
    faults = Faults(scripted=[ScriptedFault("ListTrainingPlans", "5xx", times=10_000)])
    with sandboxed(SystemClock(), faults=faults) as sim:
        _seed(sim)
        code, out, err = _run(capsys, "once", "--config", str(config), "--output", "json")
        listed = sim.record.calls.get("ListTrainingPlans", 0)

    assert code == 1
    report = json.loads(out)
    assert report["decisions"] == []
    [error] = report["errors"]
    assert error.startswith("target default:") and "InternalFailure" in error
    assert listed == 5  # the gateway's read attempts, then the cycle gives up on the target
    assert "target_failed" in [line["event"] for line in _log_lines(err)]


def test_once_exits_1_when_a_plan_evaluation_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_retry_backoff(monkeypatch)
    config = _write_config(tmp_path)
    faults = Faults(
        scripted=[ScriptedFault("SearchTrainingPlanOfferings", "5xx", plan="llm-a", times=99)]
    )
    with sandboxed(SystemClock(), faults=faults) as sim:
        _seed(sim)
        code, out, _ = _run(capsys, "once", "--config", str(config), "--output", "json")

    assert code == 1
    kinds = {d["plan_name"]: d["decision"] for d in json.loads(out)["decisions"]}
    assert kinds == {"llm-a": "error", "idle-b": "no_demand"}


@pytest.mark.parametrize("command", ["once", "plan", "history"])
def test_bad_config_exits_2_with_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    bad = config_dict(tmp_path / "journal.db")
    bad["policies"] = [policy(extension={"max_upfront_fee": 60000.0})]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with sandboxed(SystemClock()) as sim:
        code, out, err = _run(capsys, command, "--config", str(path), "--output", "json")
        calls = dict(sim.record.calls)

    assert code == 2
    assert out == ""
    assert "policies[0].extension.max_upfront_fee" in err
    assert "Traceback" not in err
    assert calls == {}


def test_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "once", "--config", str(tmp_path / "nope.yaml"))
    assert code == 2 and out == ""
    assert "no such file" in err


def test_table_fits_in_100_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    budgets = [{"name": "a-budget-with-a-long-name", "limit": "100.00 USD"}]
    config = _write_config(tmp_path, budgets=budgets)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        now = datetime.now(UTC)
        long_name = "a-training-plan-with-a-rather-long-name-indeed"
        sim.add_plan(long_name, ends_at=now + timedelta(days=9))
        code, out, _ = _run(capsys, "plan", "--config", str(config), "--output", "table")

    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("llm-a ") and "over_budget" in line for line in lines)
    assert any("not_due" in line for line in lines)
    too_wide = [line for line in lines if len(line) > 100]
    assert too_wide == []


def test_history_table_fits_in_100_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = [{"name": "a-budget-with-a-long-name", "limit": "100.00 USD"}]
    config = _write_config(tmp_path, budgets=budgets)
    with sandboxed(SystemClock()) as sim:
        _seed(sim)
        arn = sim.plan("llm-a").arn
        offer = exact_offering(client(), arn, 24, sim.plan_end(arn))
        client().extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
        code, out, _ = _run(capsys, "history", "--config", str(config), "--output", "table")

    assert code == 0
    assert offer["TrainingPlanExtensionOfferingId"] in out
    assert f"{DAY_FEE_4} of 100.00 USD" in out
    assert [line for line in out.splitlines() if len(line) > 100] == []
