"""Defects the soak found, each pinned by a test against the in-process simulator.

A test marked xfail(strict=True) names a fix that belongs to another file's owner; once the
fix lands the test passes, strict xfail fails the run, and the marker must come off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import Engine, by_name, kinds, make_config
from watcher.clock import ManualClock
from watcher.sandbox.faults import Faults, ScriptedFault


def test_job_ending_with_its_plan_is_not_killed_by_the_30_minute_cutoff(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A user sizes MaxRuntime to run until the plan's end; SageMaker stops the job 30
    minutes earlier, so the plan needs an extension for the job to finish."""
    arn = sim.add_plan("llm-edge", ends_at=t0 + timedelta(hours=40), instance_count=4)
    end = sim.plan_end(arn)
    started = t0 - timedelta(days=1)
    sim.add_job("sized-to-end", plan="llm-edge", started_at=started, max_runtime=end - started)
    engine = Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")

    first, _ = engine.cycle()

    assert by_name(first)["llm-edge"].decision.kind.value == "extended"
    clock.set(end)
    engine.cycle()
    assert sim.record.interruptions == []


def _due_with_job(sim: Any, t0: datetime, name: str) -> None:
    """A plan 40 hours from its end under a job that runs a day past it."""
    arn = sim.add_plan(name, ends_at=t0 + timedelta(hours=40), instance_count=4)
    started = t0 - timedelta(days=1)
    runtime = sim.plan_end(arn) - started + timedelta(hours=20)
    sim.add_job(f"{name}-run", plan=name, started_at=started, max_runtime=runtime)


def test_a_burst_of_throttled_purchases_does_not_stop_purchases_for_good(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS throttles three purchases in a row, then stops throttling. Hours later, with the
    plans still due and nobody at the console, plan-watcher must buy them."""
    sim = make_sim(
        faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "throttle", times=3)])
    )
    for name in ("llm-a", "llm-b", "llm-c"):
        _due_with_job(sim, t0, name)
    engine = Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")

    first, _ = engine.cycle()
    assert set(kinds(first).values()) == {"error"}  # the three throttled purchases

    clock.advance(hours=4)
    later, calls = engine.cycle()

    assert set(kinds(later).values()) == {"extended"}, kinds(later)
    assert calls["ExtendTrainingPlan"] == 3
    assert len(sim.record.purchases) == 3
