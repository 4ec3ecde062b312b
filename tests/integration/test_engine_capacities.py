"""plan-watcher against plans with more than one reserved capacity, and against Failed and
UltraServer plans: where the work has to move or wait, and what can be extended at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import (
    Engine,
    buy_offering,
    by_name,
    client,
    kinds,
    make_config,
    policy,
)
from watcher.clock import ManualClock

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"


def _engine(tmp_path: Path, clock: ManualClock, extend_before: str) -> Engine:
    config = make_config(tmp_path / "j.db", policies=[policy(extend_before=extend_before)])
    return Engine(config, clock, tmp_path / "j.db")


def _run_until(engine: Engine, clock: ManualClock, until: datetime) -> list[str]:
    """Cycles every 3 hours until `until`; the decisions for llm-a."""
    seen = []
    while clock.now() < until:
        cycle, _ = engine.cycle()
        seen.append(kinds(cycle).get("llm-a", "expired and no longer evaluated"))
        clock.advance(hours=3)
    return seen


def test_the_extension_carries_on_in_the_zone_the_plan_ends_in(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Someone extended the plan in another zone: the plan now ends in us-east-1b, and an
    extension in us-east-1a (5% cheaper) would make the job move again."""
    arn = sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40), instance_count=4)
    end = sim.plan_end(arn)
    buy_offering(client(), arn, 24, end, ZONE_B)
    started = t0 - timedelta(days=1)
    runtime = end + timedelta(days=1, hours=20) - started
    sim.add_job("run", plan="llm-a", started_at=started, max_runtime=runtime)
    clock.advance(minutes=15)
    engine = _engine(tmp_path, clock, "96h")

    first, _ = engine.cycle()

    decision = by_name(first)["llm-a"].decision
    assert decision.kind.value == "extended"
    assert decision.chosen is not None and decision.chosen.availability_zone == ZONE_B
    assert "not the zone the plan ends in (us-east-1b)" in " ".join(
        r.reason for r in decision.rejected
    )
    _run_until(engine, clock, end + timedelta(days=2, hours=1))
    assert len(sim.record.purchases) == 2
    assert len(sim.record.pauses) == 1  # only the move to us-east-1b someone else bought
    assert sim.record.interruptions == []


def test_a_job_waiting_between_capacities_keeps_its_plan_long_enough(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Someone bought two days that start a day after the plan's end. The job, which would
    end 2 hours before the new end, waits in Pending for that day: it needs one more day."""
    arn = sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40), instance_count=4)
    end = sim.plan_end(arn)
    buy_offering(client(), arn, 48, end + timedelta(days=1), ZONE_A)
    started = t0 - timedelta(days=1)
    runtime = end + timedelta(days=3, hours=-2) - started
    sim.add_job("run", plan="llm-a", started_at=started, max_runtime=runtime)
    clock.advance(minutes=15)
    engine = _engine(tmp_path, clock, "7d")

    first, _ = engine.cycle()

    decision = by_name(first)["llm-a"].decision
    assert decision.kind.value == "extended"
    assert "counting 1d 30m back in Pending between reserved capacities" in decision.reason
    assert decision.need_hours == 24
    decisions = _run_until(engine, clock, end + timedelta(days=4, hours=1))
    assert "extended" not in decisions[1:]
    assert sim.record.interruptions == []
    assert len(sim.record.purchases) == 2
    job = client().describe_training_job(TrainingJobName="run")
    assert job["TrainingJobStatus"] == "Completed"


def test_a_failed_plan_is_never_searched_nor_bought_for(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A plan whose purchase failed is listed, with its job, and left alone (only Active and
    Scheduled plans are evaluated)."""
    arn = sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40), failed=True)
    sim.add_job("run", plan=arn, max_runtime=timedelta(days=5))
    engine = _engine(tmp_path, clock, "72h")

    cycle, calls = engine.cycle()

    assert "llm-a" not in kinds(cycle) and not cycle.failed
    assert calls["ListTrainingPlans"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 0 and calls["ExtendTrainingPlan"] == 0


def test_an_ultraserver_plan_is_extended_like_any_other(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = sim.add_plan(
        "llm-a",
        ends_at=t0 + timedelta(hours=40),
        instance_type="ml.p6e-gb200.36xlarge",
        instance_count=18,
        ultraserver_type="ml.u-p6e-gb200x72",
        ultraserver_count=1,
    )
    end = sim.plan_end(arn)
    started = t0 - timedelta(days=1)
    sim.add_job(
        "run",
        plan="llm-a",
        started_at=started,
        max_runtime=end + timedelta(hours=20) - started,
        instance_count=18,
        instance_type="ml.p6e-gb200.36xlarge",
    )
    engine = _engine(tmp_path, clock, "72h")

    cycle, _ = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "extended"
    assert result.plan is not None and result.plan.instance_type == "ml.p6e-gb200.36xlarge"
    assert sim.plan_end(arn) == end + timedelta(days=1)
