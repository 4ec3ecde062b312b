"""`plan-watcher history --output csv` through the real process against the simulator server:
a purchase plan-watcher made and one made by hand, each a row checked field by field; the
date range; bad ranges refused with exit 2."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SandboxProcess
from tests.e2e.test_engine_process import TIMEOUT, _env, _extensions, _watcher, serve

__all__ = ["serve"]

SCENARIO: dict[str, Any] = {
    "name": "history",
    "settings": {"payment_delay": "0s"},
    "plans": [
        {
            "name": "llm-a",
            "ends_in": "40h",
            "started": "-3d",
            "instance_count": 4,
            "tags": {"team": "llm", "cost-center": "cc-7"},
        },
        {"name": "by-hand", "ends_in": "10d", "started": "-3d", "instance_count": 2},
    ],
    "jobs": [{"name": "run", "plan": "llm-a", "started": "-1d", "max_runtime": "6d"}],
}


def _config(tmp_path: Path) -> Path:
    data = {
        "mode": "enforce",
        "targets": [{"name": "prod", "region": "us-east-1"}],
        "policies": [
            {
                "name": "llm",
                "match": {"names": ["llm-*"]},
                "action": "extend",
                "extension": {"min_duration": "1d", "max_duration": "1d"},
            }
        ],
        "state": {"journal": str(tmp_path / "journal.db")},
        "metrics": {"plan_labels_from_tags": ["team", "cost-center"]},
        "logging": {"level": "info", "format": "json"},
    }
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_history_csv_for_finance(
    tmp_path: Path, serve: Callable[[dict[str, Any]], SandboxProcess]
) -> None:
    server = serve(SCENARIO)
    sm = server.client()
    config = _config(tmp_path)
    arns = {
        p["TrainingPlanName"]: p["TrainingPlanArn"]
        for p in sm.list_training_plans()["TrainingPlanSummaries"]
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _watcher(*args, "--config", str(config)),
            cwd=REPO_ROOT,
            env=_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    assert run("once", "--output", "json").returncode == 0
    found = sm.search_training_plan_offerings(TrainingPlanArn=arns["by-hand"], DurationHours=24)
    offer = next(
        o
        for o in found["TrainingPlanExtensionOfferings"]
        if o["AvailabilityZone"] == "us-east-1a"
        and o["StartDate"] == sm.describe_training_plan(TrainingPlanName="by-hand")["EndTime"]
    )
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )

    done = run("history", "--output", "csv")
    assert done.returncode == 0, done.stderr
    reader = csv.DictReader(io.StringIO(done.stdout))
    assert reader.fieldnames is not None and reader.fieldnames[-2:] == [
        "tag:team",
        "tag:cost-center",
    ]
    rows = {r["plan_name"]: r for r in reader}
    assert set(rows) == {"llm-a", "by-hand"}

    [ours] = _extensions(sm, arns["llm-a"])
    a = rows["llm-a"]
    assert a["plan_arn"] == arns["llm-a"] and a["target"] == "prod"
    assert (a["account"], a["region"]) == ("123456789012", "us-east-1")
    assert a["offering_id"] == ours["TrainingPlanExtensionOfferingId"]
    assert a["extended_at"] == _iso(ours["ExtendedAt"])
    assert (a["start"], a["end"]) == (_iso(ours["StartDate"]), _iso(ours["EndDate"]))
    assert (a["duration_hours"], a["upfront_fee"], a["currency"]) == (
        "24",
        ours["UpfrontFee"],
        ours["CurrencyCode"],
    )
    assert (a["status"], a["payment_status"]) == (ours["Status"], ours["PaymentStatus"])
    assert (a["bought_by"], a["approved_by"], a["policy"]) == (
        "plan-watcher",
        "policy llm (automatic)",
        "llm",
    )
    assert "buying it" in a["decision_reason"] and "job run may run until" in a["decision_reason"]
    assert (a["tag:team"], a["tag:cost-center"]) == ("llm", "cc-7")

    [theirs] = _extensions(sm, arns["by-hand"])
    h = rows["by-hand"]
    assert h["offering_id"] == theirs["TrainingPlanExtensionOfferingId"]
    assert (h["bought_by"], h["approved_by"], h["policy"], h["decision_reason"]) == (
        "outside plan-watcher",
        "",
        "",
        "",
    )
    assert h["upfront_fee"] == theirs["UpfrontFee"]

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = run("history", "--output", "csv", "--since", tomorrow)
    assert later.returncode == 0 and later.stdout.count("\n") == 1  # the header only
    # plan-watcher bought first, the person afterwards: each range holds one of them.
    before = run("history", "--output", "csv", "--until", _iso(theirs["ExtendedAt"]))
    assert [r["plan_name"] for r in csv.DictReader(io.StringIO(before.stdout))] == ["llm-a"]
    after = run("history", "--output", "csv", "--since", _iso(theirs["ExtendedAt"]))
    assert [r["plan_name"] for r in csv.DictReader(io.StringIO(after.stdout))] == ["by-hand"]
    today = datetime.now(UTC).date().isoformat()
    bad = run("history", "--output", "csv", "--since", "last week")
    assert bad.returncode == 2 and "is not a date" in bad.stderr
    backwards = run("history", "--output", "csv", "--since", tomorrow, "--until", today)
    assert backwards.returncode == 2 and "--until must be later than --since" in backwards.stderr


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
