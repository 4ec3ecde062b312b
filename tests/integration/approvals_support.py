"""Shared pieces for test_engine_approvals.py and test_engine_valves.py: a due plan, an engine
with a config file beside it for the operator commands, and the metrics a cycle would serve.

This module holds no tests itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.integration.test_engine_support import Engine, config_dict, make_config
from watcher.cli import main
from watcher.clock import ManualClock
from watcher.results import CycleResult

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def due_plan(sim: Any, t0: datetime, name: str = "llm-a") -> str:
    """`name` ends 50.5 h after t0 (deadline 48.5 h with the 2 h margin) under a job running
    20 h past its end: due, and it needs one day."""
    arn = str(sim.add_plan(name, ends_at=t0 + timedelta(hours=40), instance_count=4))
    end = sim.plan_end(arn)
    started = t0 - timedelta(days=1)
    sim.add_job(
        f"{name}-run",
        plan=name,
        started_at=started,
        max_runtime=end - started + timedelta(hours=20),
    )
    return arn


class Operated:
    """An engine over the simulator, and `cli(...)` running plan-watcher's commands against
    the same journal through a config file (as an operator beside the daemon would)."""

    def __init__(self, tmp_path: Path, clock: ManualClock, **top: Any) -> None:
        journal = tmp_path / "j.db"
        self.engine = Engine(make_config(journal, **top), clock, journal)
        self.config_file = tmp_path / "watcher.yaml"
        self.config_file.write_text(yaml.safe_dump(config_dict(journal, **top)))

    def cli(self, *argv: str) -> int:
        """Run a command on the engine's clock."""
        return main([*argv, "--config", str(self.config_file)], self.engine.clock)

    def proposals(self) -> list[Any]:
        return self.engine.reconciler.journal.proposals()


def samples(cycle: CycleResult) -> Samples:
    """The metrics a daemon would serve after `cycle`: (name, sorted labels) -> value."""
    from watcher.aws.calls import CallCounter
    from watcher.observe.metrics import build_registry

    registry, telemetry, snapshot = build_registry(CallCounter(), {})
    telemetry.observe_cycle(cycle, 0.1)
    snapshot.update(cycle)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }
