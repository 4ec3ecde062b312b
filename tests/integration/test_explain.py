"""`plan-watcher explain` against the in-process simulator (simulated time): every part of a
plan's decision checked field by field, and nothing bought or written, not even the
settlement of an open intent that the next cycle would make."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    REGION,
    Engine,
    make_config,
    policy,
)
from watcher.app import default_gateway
from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.cli.explain import render
from watcher.clock import ManualClock
from watcher.config import Config
from watcher.explain import NotFound, explain, explain_json
from watcher.journal.sqlite import SqliteJournal
from watcher.sandbox.faults import Faults, ScriptedFault

WRITES = {"ExtendTrainingPlan", "AddTags", "DeleteTags", "CreateTrainingPlan"}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _seed(sim: Any, t0: datetime) -> None:
    """llm-a is due under a job that needs a day more; llm-b likewise; scratch matches no
    policy."""
    for name in ("llm-a", "llm-b"):
        arn = sim.add_plan(
            name, ends_at=t0 + timedelta(hours=40), instance_count=4, tags={"team": "llm"}
        )
        end = sim.plan_end(arn)
        started = t0 - timedelta(days=1)
        sim.add_job(
            f"{name}-run",
            plan=name,
            started_at=started,
            max_runtime=end - started + timedelta(hours=20),
        )
    sim.add_plan("scratch", ends_at=t0 + timedelta(days=20), instance_count=2)


def _config(journal: Path) -> Config:
    return make_config(
        journal,
        [
            policy("gpt", match={"names": ["gpt-*"]}, action="notify"),
            policy(
                "llm",
                match={"names": ["llm-*"], "tags": {"team": "llm"}},
                extension={"min_duration": "1d", "max_duration": "14d"},
            ),
        ],
        [{"name": "ml", "limit": "250000.00 USD", "window": "calendar-month"}],
        safety={"limits": {"purchases_per_24h": 3}},
        metrics={"plan_labels_from_tags": ["team"]},
    )


def _dump(path: Path) -> list[str]:
    journal = SqliteJournal(path)
    try:
        return list(journal._db.iterdump())
    finally:
        journal.close()


def test_explain_gives_every_part_of_the_decision_and_writes_nothing(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # llm-b's purchase hits a 5xx: AWS did nothing, its intent stays open (outcome unknown).
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", "llm-b")]))
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    config = _config(journal)
    engine = Engine(config, clock, journal)
    first, _ = engine.cycle()
    assert {r.plan_name: r.decision.kind.value for r in first.results} == {
        "llm-a": "extended",
        "llm-b": "in_flight",
        "scratch": "unmanaged",
    }
    arn = next(r.plan_arn for r in first.results if r.plan_name == "llm-b")
    engine.reconciler.journal.close()
    clock.advance(minutes=31)  # past settle_after: the next cycle would settle llm-b's intent
    before = _dump(journal)
    counter = CallCounter()

    def factory(spec: TargetSpec, _: CallCounter) -> SageMakerGateway:
        return default_gateway(spec, counter)

    found = explain(config, "llm-b", clock=clock, factory=factory)
    data = explain_json(found, config)
    found.journal.close()

    assert _dump(journal) == before  # the journal is untouched
    assert not WRITES & {op for op, _ in counter.snapshot()}
    assert len(sim.record.purchases) == 1

    plan = data["plan"]
    assert plan["arn"] == arn and plan["name"] == "llm-b" and plan["target"] == "default"
    assert plan["status"] == "Active"
    assert plan["end_time"] == "2026-03-04T11:30:00Z"
    assert plan["instances"] == {"total": 4, "in_use": 1, "available": 3}
    assert plan["availability_zones"] == [f"{REGION}a"]
    assert plan["tags"] == {"team": "llm"}

    assert data["policy"]["name"] == "llm" and data["policy"]["action"] == "extend"
    assert data["policy"]["why"] == ["name 'llm-b' matches 'llm-*'", "tag team=llm", "any target"]
    assert data["policy"]["skipped"] == [
        {"policy": "gpt", "why_not": ["no: name 'llm-b' matches none of 'gpt-*'"]}
    ]
    assert data["policy"]["extend_before"] == "3d" and data["policy"]["safety_margin"] == "2h"

    # The next cycle settles the open intent as not bought first, then buys: explain shows
    # that decision, and the intent as the journal still holds it.
    decision = data["decision"]
    assert decision["decision"] == "would_extend"
    assert decision["duration_hours"] == 24 and decision["upfront_fee"] == DAY_FEE_4
    assert decision["deadline"] == "2026-03-04T09:30:00Z"

    [consumer] = data["consumers"]
    assert consumer == {
        "kind": "job",
        "name": "llm-b-run",
        "status": "InProgress",
        "demand_end": "2026-03-05T07:30:00Z",
        "needs_the_plan_until": "2026-03-05T08:00:00Z",
    }
    assert data["need"]["hours"] == 24
    assert "need 21h, asking for 24h (1d)" in data["need"]["reason"]

    [intent] = data["journal"]["intents"]
    assert intent["state"] == "open" and intent["fee"] == DAY_FEE_4
    assert intent["duration_hours"] == 24 and intent["currency"] == "USD"
    assert intent["next_cycle_settles_as"]["state"] == "failed"
    assert data["journal"]["open_intent"] is True
    assert data["history"] == []

    [budget] = data["budgets"]
    assert budget == {
        "budget": "ml",
        "window": "calendar-month",
        "limit": "250000.00",
        # llm-a's purchase; llm-b's journalled one is settled as not bought first, as the
        # next cycle will
        "spent": DAY_FEE_4,
        "currency": "USD",
        "problem": None,
    }
    [limit] = data["limits"]
    assert (limit["limit"], limit["max"], limit["used"]) == (
        "safety.limits.purchases_per_24h",
        3,
        1,
    )
    assert data["purchase_windows"] is None
    assert data["next_action"] == "2026-03-02T09:31:00Z"


def test_explain_lists_offerings_with_their_verdicts_and_the_history(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    config = _config(journal)
    Engine(config, clock, journal).cycle()  # buys a day for llm-a and llm-b
    clock.advance(hours=3)  # llm-a is due again, and a longer job now runs on it
    sim.add_job("llm-a-longer", plan="llm-a", max_runtime=timedelta(days=5))

    found = explain(config, "llm-a", clock=clock)
    data = explain_json(found, config)
    found.journal.close()

    assert data["decision"]["decision"] == "would_extend"
    verdicts = {o["verdict"]: o for o in data["offerings"]}
    assert set(verdicts) == {"chosen", "rejected"}
    chosen = verdicts["chosen"]
    assert chosen["offering_id"] == data["decision"]["offering_id"]
    assert chosen["availability_zone"] == f"{REGION}a" and chosen["reasons"] == []
    assert chosen["duration_hours"] == data["need"]["hours"]
    rejected = [o for o in data["offerings"] if o["verdict"] == "rejected"]
    assert len(rejected) == 2
    assert any(
        "availability zone us-east-1b is not the zone the plan ends in" in r
        for o in rejected
        for r in o["reasons"]
    )
    assert any("not where the plan ends" in r for o in rejected for r in o["reasons"])
    [bought] = data["history"]
    assert bought["duration_hours"] == 24 and bought["upfront_fee"] == DAY_FEE_4
    assert bought["status"] == "Scheduled" and bought["payment_status"] == "Completed"
    [intent] = data["journal"]["intents"]
    assert intent["state"] == "bought" and intent["offering_id"] == bought["offering_id"]
    assert len(sim.record.purchases) == 2  # nothing more bought


def test_an_unknown_or_ambiguous_plan_is_refused(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _seed(sim, t0)
    config = _config(tmp_path / "j.db")
    with pytest.raises(NotFound) as missing:
        explain(config, "nope", clock=clock)
    assert not missing.value.ambiguous
    assert not (tmp_path / "j.db").exists()  # not even an empty journal is created
    twice = make_config(
        tmp_path / "j.db",
        targets=[{"name": "one", "region": REGION}, {"name": "two", "region": REGION}],
    )
    with pytest.raises(NotFound) as both:
        explain(twice, "llm-a", clock=clock)
    assert both.value.ambiguous and "one, two" in str(both.value)
    found = explain(twice, "llm-a", target="two", clock=clock)
    assert found.result.target == "two"
    found.journal.close()


def test_explain_decides_as_the_next_cycle_will_after_settling_an_open_intent(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A purchase that did not happen is settled as not bought at the start of the next cycle,
    so its fee no longer counts in budgets or limits: explain must not refuse the plan for
    money the next cycle will not count."""
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", "llm-a")]))
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    config = make_config(
        journal,
        [policy("llm", match={"names": ["llm-a"]})],
        [{"name": "ml", "limit": f"{DAY_FEE_4} USD", "window": "calendar-month"}],
        safety={"limits": {"purchases_per_24h": 1}},
    )
    engine = Engine(config, clock, journal)
    first, _ = engine.cycle()
    assert {r.plan_name: r.decision.kind.value for r in first.results}["llm-a"] == "in_flight"
    engine.reconciler.journal.close()
    clock.advance(minutes=31)  # past settle_after: the next cycle settles it as not bought

    found = explain(config, "llm-a", clock=clock)
    data = explain_json(found, config)
    found.journal.close()

    assert data["decision"]["decision"] == "would_extend", data["decision"]["reason"]
    assert [b["spent"] for b in data["budgets"]] == ["0"]
    assert [(s["limit"], s["used"]) for s in data["limits"]] == [
        ("safety.limits.purchases_per_24h", 0)
    ]
    [intent] = data["journal"]["intents"]  # shown as the journal still holds it
    assert intent["state"] == "open" and intent["next_cycle_settles_as"]["state"] == "failed"

    after = Engine(config, clock, journal)
    cycle, _ = after.cycle()
    assert {r.plan_name: r.decision.kind.value for r in cycle.results}["llm-a"] == "extended"


def test_explain_lists_a_job_that_could_not_be_described_and_sizes_the_need_with_it(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    denied = ScriptedFault("DescribeTrainingJob", "denied", plan="mystery", times=99)
    sim = make_sim(faults=Faults(scripted=[denied]))
    sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40), instance_count=4, tags={"team": "llm"})
    sim.add_job("mystery", plan="llm-a", max_runtime=timedelta(days=9))
    config = _config(tmp_path / "j.db")

    found = explain(config, "llm-a", clock=clock)
    data = explain_json(found, config)
    found.journal.close()

    assert data["decision"]["decision"] == "would_extend", data["decision"]["reason"]
    assert data["consumers"] == []
    [job] = data["unknown_jobs"]
    assert job["name"] == "mystery" and job["names_this_plan"] is True
    assert job["error"].startswith("AccessDeniedException: ")
    assert data["need"]["hours"] == 24
    assert data["need"]["reason"].startswith(
        "1 instances in use, no consumer found; 1 running job(s) could not be described"
    )
    text = render(data)
    assert "job mystery: could not be described (AccessDeniedException: " in text


def test_explain_claims_no_settlement_it_does_not_write_and_counts_an_in_flight_plans_users(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", "llm-b")]))
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    config = _config(journal)
    engine = Engine(config, clock, journal)
    engine.cycle()
    engine.reconciler.journal.close()

    # While the purchase's outcome is unknown the plan is in_flight: its job is still shown,
    # and counted in the decision.
    found = explain(config, "llm-b", clock=clock)
    data = explain_json(found, config)
    found.journal.close()
    assert data["decision"]["decision"] == "in_flight"
    assert [c["name"] for c in data["consumers"]] == ["llm-b-run"]
    assert data["decision"]["consumers"] == {"job": 1, "cluster": 0}

    # Past settle_after, the next cycle would settle it as not bought; explain only says so in
    # its journal section, and logs no settlement it never writes.
    clock.advance(minutes=31)
    with capture_logs() as logs:
        found = explain(config, "llm-b", clock=clock)
    data = explain_json(found, config)
    found.journal.close()
    [intent] = data["journal"]["intents"]
    assert intent["next_cycle_settles_as"]["state"] == "failed"
    assert [entry["event"] for entry in logs] == []
