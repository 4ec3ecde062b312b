"""What the engine reads and how often: job facts cached across cycles, plans far from their
window left alone, and ListTrainingJobs' empty pages followed to the job behind them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import Engine, by_name, client, kinds, make_config
from watcher.clock import ManualClock


def _engine(tmp_path: Path, clock: ManualClock, **config: Any) -> Engine:
    return Engine(make_config(tmp_path / "j.db", **config), clock, tmp_path / "j.db")


def test_a_jobs_description_is_read_once_across_cycles(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40))
    sim.add_job("run", plan="llm-a", started_at=t0, max_runtime=timedelta(days=6))
    sim.add_plan("far", ends_at=t0 + timedelta(days=20))
    # dry-run: nothing is bought, so the plan stays due and is looked at every cycle.
    engine = _engine(tmp_path, clock, mode="dry-run")

    totals: dict[str, int] = {}
    for _ in range(4):
        cycle, calls = engine.cycle()
        assert kinds(cycle) == {"far": "not_due", "llm-a": "would_extend"}
        for op, n in calls.items():
            totals[op] = totals.get(op, 0) + n
        clock.advance(minutes=5)

    assert totals["DescribeTrainingJob"] == 1
    assert totals["ListTrainingJobs"] == 4  # the scan runs each cycle: jobs come and go
    assert totals["SearchTrainingPlanOfferings"] == 4  # only for the due plan
    # The due plan's history is read afresh each cycle; the far plan's once, then cached.
    assert totals["DescribeTrainingPlanExtensionHistory"] == 4 + 1
    assert totals["ListTrainingPlans"] == 4


def test_far_plans_cause_no_consumer_lookup_and_no_search(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    for n in range(3):
        sim.add_plan(f"far-{n}", ends_at=t0 + timedelta(days=10 + n))
        sim.add_job(f"far-job-{n}", plan=f"far-{n}", max_runtime=timedelta(days=25))
    engine = _engine(tmp_path, clock)

    totals: dict[str, int] = {}
    for _ in range(3):
        cycle, calls = engine.cycle()
        assert set(kinds(cycle).values()) == {"not_due"}
        for op, n in calls.items():
            totals[op] = totals.get(op, 0) + n
        clock.advance(minutes=5)

    assert totals == {"ListTrainingPlans": 3, "DescribeTrainingPlanExtensionHistory": 3}
    assert sim.record.calls.get("ListTrainingJobs", 0) == 0
    assert sim.record.calls.get("SearchTrainingPlanOfferings", 0) == 0


def test_the_only_running_job_behind_empty_pages_is_found(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """ListTrainingJobs takes MaxResults jobs, then filters by status: pages can be empty
    with a NextToken, and the InProgress job is only on a later page."""
    arn = sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40))
    for n in range(150):
        sim.add_job(
            f"done-{n:03d}",
            plan="llm-a",
            started_at=t0 - timedelta(days=10) + timedelta(minutes=n),
            max_runtime=timedelta(hours=1),
            status="Completed",
        )
    sim.add_job(
        "the-one", plan="llm-a", started_at=t0 - timedelta(days=1), max_runtime=timedelta(days=6)
    )
    first = client().list_training_jobs(StatusEquals="InProgress", MaxResults=100)
    assert first["TrainingJobSummaries"] == [] and "NextToken" in first
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "extended"
    assert [c.name for c in result.consumers] == ["the-one"]
    assert calls["ListTrainingJobs"] == 2
    assert calls["DescribeTrainingJob"] == 1
    assert calls["ExtendTrainingPlan"] == 1
    assert [p.plan_arn for p in sim.record.purchases] == [arn]
