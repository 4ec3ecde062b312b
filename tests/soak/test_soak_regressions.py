"""Defects the soak found, each pinned by a test against the in-process simulator.

A test marked xfail(strict=True) names a fix that belongs to another file's owner; once the
fix lands the test passes, strict xfail fails the run, and the marker must come off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import Engine, by_name, make_config
from watcher.clock import ManualClock


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
