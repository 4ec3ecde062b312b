"""What the daemon hands its reconciler when it builds one: the gate asked before every
purchase, the leader fence the intent is written under, and the notifier the daemon owns
(closed when a reload replaces it and when the daemon stops), and what a clean stop returns."""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.integration.test_engine_support import config_dict, make_config
from tests.integration.test_notify_support import due_with_job, topic_with_inbox
from watcher.app import build_reconciler
from watcher.clock import ManualClock
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.exit_codes import ExitCode
from watcher.journal.records import Fence
from watcher.journal.sqlite import SqliteJournal
from watcher.notify import Dispatcher
from watcher.results import CycleResult


def test_the_gate_fence_and_notifier_are_passed_in_when_the_reconciler_is_built(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    held = ["purchases are held for the test"]
    fences: list[str] = []
    told: list[CycleResult] = []

    def fence() -> Fence | None:
        fences.append("asked")
        return None

    reconciler = build_reconciler(
        make_config(tmp_path / "j.db"),
        clock,
        SqliteJournal(tmp_path / "j.db"),
        gate=lambda: held[0] if held else None,
        fence=fence,
        notifier=told.append,
    )
    try:
        gated = reconciler.run_cycle()
        held.clear()
        clock.advance(minutes=5)
        bought = reconciler.run_cycle()
    finally:
        reconciler.close()
        reconciler.journal.close()

    [result] = gated.results
    assert result.decision.kind.value == "would_extend"
    assert "purchases are held for the test" in result.decision.reason
    assert [r.decision.kind.value for r in bought.results] == ["extended"]
    assert len(sim.record.purchases) == 1 and fences == ["asked"]  # the intent's write
    assert told == [gated, bought]


def test_a_daemon_stopping_mid_cycle_starts_no_purchase(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_with_job(sim, "llm-a", t0 + timedelta(hours=40), t0)
    daemon = Daemon(make_config(tmp_path / "j.db"), clock=clock, listen=("127.0.0.1", 0))
    try:
        daemon._on_signal(signal.SIGTERM, None)  # arrives while the cycle runs
        cycle = daemon.reconciler.run_cycle()
    finally:
        daemon.reconciler.close()
        daemon.journal.close()

    [result] = cycle.results
    assert "plan-watcher is shutting down" in result.decision.reason
    assert sim.record.purchases == []


def test_the_daemon_owns_its_notifier_across_a_reload_and_closes_it_on_stop(
    sim: Any, clock: ManualClock, tmp_path: Path
) -> None:
    topic, _, _ = topic_with_inbox()
    data = config_dict(tmp_path / "j.db", notifications={"sns_topic_arn": topic})
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    daemon = Daemon(
        load_config(path), path, clock=clock, interval_seconds=3600, listen=("127.0.0.1", 0)
    )
    first = daemon.notifier
    assert isinstance(first, Dispatcher) and daemon.reconciler.notifier is first

    data["notifications"] = {"sns_topic_arn": topic, "retries": 1}
    path.write_text(yaml.safe_dump(data))
    daemon._reload_config()
    daemon._apply_pending_config()
    second = daemon.notifier
    assert isinstance(second, Dispatcher) and second is not first
    assert daemon.reconciler.notifier is second and second.retries == 1
    assert first._closed and not second._closed  # the one replaced had its bounded flush

    codes: list[ExitCode] = []
    runner = threading.Thread(target=lambda: codes.append(daemon.run(install_signals=False)))
    runner.start()
    for _ in range(400):
        if daemon.cycles:
            break
        threading.Event().wait(0.05)
    daemon.request_stop()
    runner.join(30)
    assert not runner.is_alive() and daemon.cycles >= 1
    assert daemon.notifier is second and second._closed
    assert codes == [ExitCode.OK] and codes[0] is ExitCode.OK
