"""`plan-watcher history --output csv|json` for finance, against the in-process simulator: one
row per extension, checked field by field, for a purchase under `extend`, one approved by two
people under `propose`, one made outside plan-watcher, and one whose outcome is still
unknown; and the date range."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.approvals_support import Operated, due_plan
from tests.integration.test_engine_support import DAY_FEE_4, REGION, client, exact_offering, policy
from watcher.cli.one_shot import run_history
from watcher.clock import ManualClock
from watcher.history import COLUMNS, Period
from watcher.sandbox.faults import Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _world(make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path) -> tuple[Any, Operated]:
    # The third purchase plan-watcher makes (llm-c's) hits a 5xx: its outcome stays unknown.
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", "llm-c")]))
    for name, team in (("llm-a", "llm"), ("big-b", "vision"), ("llm-c", "llm")):
        due_plan(sim, t0, name)
        client().add_tags(
            ResourceArn=_arn(name),
            Tags=[{"Key": "team", "Value": team}, {"Key": "cost-center", "Value": f"cc-{name}"}],
        )
    sim.add_plan("manual-d", ends_at=t0 + timedelta(days=5), instance_count=4)
    policies = [
        policy(
            "big",
            match={"names": ["big-*"]},
            action="propose",
            approval={"two_person_above": "5000.00 USD"},
        ),
        policy("llm", match={"names": ["llm-*"]}),
    ]
    setup = Operated(
        tmp_path,
        clock,
        policies=policies,
        metrics={"plan_labels_from_tags": ["team", "cost-center"]},
    )
    return sim, setup


def _arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-plan/{name}"


def _csv(
    setup: Operated, capsys: pytest.CaptureFixture[str], period: Period | None = None
) -> list[dict[str, str]]:
    capsys.readouterr()
    assert run_history(setup.engine.config, "csv", setup.engine.clock, period) == 0
    text = capsys.readouterr().out
    header = text.splitlines()[0].split(",")
    assert header == [*COLUMNS, "tag:team", "tag:cost-center"]
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_extension_field_by_field(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, setup = _world(make_sim, clock, t0, tmp_path)
    first, _ = setup.engine.cycle()  # buys llm-a; llm-c's purchase is ambiguous; big-b proposed
    [proposal] = setup.proposals()
    for user in ("alice", "bob"):
        monkeypatch.setenv("USER", user)
        assert setup.cli("approve", proposal.proposal_id) == 0
    clock.advance(minutes=5)
    setup.engine.cycle()  # buys big-b
    # Someone buys a day for manual-d in the console, five minutes later.
    clock.advance(minutes=5)
    sm = client()
    offer = exact_offering(sm, _arn("manual-d"), 24, sim.plan_end(_arn("manual-d")))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.advance(minutes=5)

    rows = {r["plan_name"]: r for r in _csv(setup, capsys)}
    assert set(rows) == {"llm-a", "big-b", "llm-c", "manual-d"}
    purchases = {p.plan_arn: p for p in sim.record.purchases}

    a = rows["llm-a"]
    bought = purchases[_arn("llm-a")]
    assert a["extended_at"] == "2026-03-02T09:00:00Z"
    assert (a["plan_arn"], a["target"], a["account"], a["region"]) == (
        _arn("llm-a"),
        "default",
        ACCOUNT,
        REGION,
    )
    assert a["offering_id"] == bought.offering_id
    assert (a["start"], a["end"]) == ("2026-03-04T11:30:00Z", "2026-03-05T11:30:00Z")
    assert (a["duration_hours"], a["upfront_fee"], a["currency"]) == ("24", DAY_FEE_4, "USD")
    assert (a["status"], a["payment_status"]) == ("Scheduled", "Completed")
    assert (a["bought_by"], a["approved_by"], a["policy"]) == (
        "plan-watcher",
        "policy llm (automatic)",
        "llm",
    )
    assert "need 21h, asking for 24h (1d)" in a["decision_reason"]
    assert (a["tag:team"], a["tag:cost-center"]) == ("llm", "cc-llm-a")

    b = rows["big-b"]
    assert b["extended_at"] == "2026-03-02T09:05:00Z"
    assert (b["bought_by"], b["approved_by"], b["policy"]) == (
        "plan-watcher",
        "cli:alice; cli:bob",
        "big",
    )
    assert f"buying under proposal {proposal.proposal_id}" in b["decision_reason"]
    assert (b["tag:team"], b["tag:cost-center"]) == ("vision", "cc-big-b")

    c = rows["llm-c"]
    assert c["status"].startswith("Unknown (purchase outcome not known yet")
    assert (c["payment_status"], c["bought_by"], c["upfront_fee"]) == (
        "Unknown",
        "plan-watcher",
        DAY_FEE_4,
    )
    assert c["extended_at"] == "2026-03-02T09:00:00Z" and c["end"] == ""

    d = rows["manual-d"]
    assert d["extended_at"] == "2026-03-02T09:10:00Z"
    assert (d["bought_by"], d["approved_by"], d["policy"], d["decision_reason"]) == (
        "outside plan-watcher",
        "",
        "",
        "",
    )
    assert (d["duration_hours"], d["upfront_fee"]) == ("24", offer["UpfrontFee"])
    assert (d["tag:team"], d["tag:cost-center"]) == ("", "")

    # A date range: only what was bought in [09:05, 09:10).
    ranged = _csv(setup, capsys, Period(t0 + timedelta(minutes=5), t0 + timedelta(minutes=10)))
    assert [r["plan_name"] for r in ranged] == ["big-b"]

    # The JSON form carries the same rows (tags as an object) beside the per-plan view.
    assert run_history(setup.engine.config, "json", clock) == 0
    report = json.loads(capsys.readouterr().out)
    by_plan = {r["plan_name"]: r for r in report["extensions"]}
    assert by_plan["big-b"]["approved_by"] == "cli:alice; cli:bob"
    assert by_plan["big-b"]["tags"] == {"team": "vision", "cost-center": "cc-big-b"}
    assert by_plan["llm-a"]["duration_hours"] == 24
    assert {p["plan_name"] for p in report["plans"]} == set(rows)


def test_purchases_aws_lists_under_their_own_ids_are_plan_watchers(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """AWS may list an extension under an ID other than the offering's: the journal still
    knows it (the same match that settles a purchase), so its row says plan-watcher bought it,
    with the policy and reason, and a purchase whose outcome is still open is one row, not
    two."""
    sim = make_sim(
        settings=SimSettings(extension_ids="own"),
        faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "ambiguous", "llm-c")]),
    )
    for name in ("llm-a", "llm-c"):
        due_plan(sim, t0, name)
    setup = Operated(tmp_path, clock, policies=[policy("llm", match={"names": ["llm-*"]})])
    first, _ = setup.engine.cycle()  # buys llm-a; llm-c's purchase is made, its answer lost
    assert {r.plan_name: r.decision.kind.value for r in first.results} == {
        "llm-a": "extended",
        "llm-c": "in_flight",
    }
    intents = {i.plan_arn: i for i in setup.engine.reconciler.journal.intents_since(t0)}
    listed = {p.plan_arn: p for p in sim.record.purchases}
    assert listed.keys() == intents.keys()
    clock.advance(minutes=1)

    rows = _csv_of(setup, capsys)
    assert sorted(r["plan_name"] for r in rows) == ["llm-a", "llm-c"]
    for row in rows:
        intent = intents[row["plan_arn"]]
        assert row["offering_id"] != intent.offering_id  # listed under AWS's own ID
        assert (row["bought_by"], row["approved_by"], row["policy"]) == (
            "plan-watcher",
            "policy llm (automatic)",
            "llm",
        )
        assert "asking for 24h (1d)" in row["decision_reason"]
        assert row["status"] in ("Pending", "Scheduled", "Active")


def _csv_of(setup: Operated, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    capsys.readouterr()
    assert run_history(setup.engine.config, "csv", setup.engine.clock, None) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
