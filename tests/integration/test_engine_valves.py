"""Safety valves against the in-process simulator: the kill switch and the pause flag hold every
purchase, the circuit breaker pauses after N failures in a row until `resume`, and a plan whose
purchase failed backs off, never past its deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.approvals_support import Operated, due_plan, samples
from tests.integration.test_engine_support import by_name, kinds
from watcher.clock import ManualClock
from watcher.sandbox.faults import Faults, ScriptedFault

PLANS = ("llm-a", "llm-b", "llm-c", "llm-d")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_pause_holds_every_purchase_and_resume_allows_them_again(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    due_plan(sim, t0)
    setup = Operated(tmp_path, clock)

    assert setup.cli("pause", "--reason", "quarter-end freeze") == 0
    cycle, calls = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "would_extend"
    assert "not bought: purchases paused by cli:" in result.decision.reason
    assert "quarter-end freeze" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    assert cycle.paused is not None and cycle.paused.reason == "quarter-end freeze"
    assert cycle.purchases_blocked is not None and "quarter-end freeze" in cycle.purchases_blocked

    assert setup.cli("resume") == 0
    clock.advance(minutes=5)
    again, calls = setup.engine.cycle()
    assert kinds(again)["llm-a"] == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    assert again.paused is None and again.purchases_blocked is None


def test_the_kill_switch_is_read_right_before_the_purchase(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config was loaded in enforce mode; PLAN_WATCHER_MODE=dry-run set afterwards (as an
    operator would on a running daemon) still holds the purchase."""
    due_plan(sim, t0)
    setup = Operated(tmp_path, clock)
    monkeypatch.setenv("PLAN_WATCHER_MODE", "dry-run")

    cycle, calls = setup.engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "would_extend"
    assert "PLAN_WATCHER_MODE=dry-run is set (kill switch)" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 0 and sim.record.purchases == []


def test_the_circuit_breaker_opens_after_n_failures_until_resume(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Three plans' purchases are refused in a row: the breaker opens and the fourth plan,
    decided after them, is not bought; `resume` lets the next cycles buy again."""
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "refuse", times=3)])
    sim = make_sim(faults=faults)
    for name in PLANS:  # the same deadline: decided in ARN order, llm-d last
        due_plan(sim, t0, name)
    setup = Operated(tmp_path, clock, safety={"circuit_breaker_failures": 3})

    cycle, calls = setup.engine.cycle()

    assert kinds(cycle) == {
        "llm-a": "error",
        "llm-b": "error",
        "llm-c": "error",
        "llm-d": "would_extend",
    }
    assert calls["ExtendTrainingPlan"] == 3
    assert "not bought: purchases paused by circuit-breaker" in (
        by_name(cycle)["llm-d"].decision.reason
    )
    assert cycle.paused is not None and cycle.paused.reason.startswith("circuit breaker: 3 ")
    assert cycle.failures_in_a_row == 3
    [opened] = setup.engine.events("circuit_breaker_open")
    assert opened["failures"] == 3

    clock.advance(minutes=30)
    held, calls = setup.engine.cycle()
    assert calls["ExtendTrainingPlan"] == 0
    assert set(kinds(held).values()) == {"would_extend"}

    assert setup.cli("resume") == 0
    clock.advance(minutes=5)
    resumed, calls = setup.engine.cycle()
    assert set(kinds(resumed).values()) == {"extended"}
    assert calls["ExtendTrainingPlan"] == 4
    assert resumed.paused is None and resumed.failures_in_a_row == 0


def test_a_failed_purchase_backs_off_then_retries(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "throttle", times=2)])
    sim = make_sim(faults=faults)
    due_plan(sim, t0)
    setup = Operated(tmp_path, clock, safety={"retry_backoff": "15m"})

    first, _ = setup.engine.cycle()
    assert kinds(first)["llm-a"] == "error"

    clock.advance(minutes=10)
    waiting, calls = setup.engine.cycle()
    reason = by_name(waiting)["llm-a"].decision.reason
    assert kinds(waiting)["llm-a"] == "error"
    assert "backing off until 2026-03-02T09:15:00Z after 1 failed purchase(s)" in reason
    assert calls["ExtendTrainingPlan"] == 0

    clock.advance(minutes=6)  # 16 min after the failure: the second attempt fails too
    second, calls = setup.engine.cycle()
    assert calls["ExtendTrainingPlan"] == 1 and kinds(second)["llm-a"] == "error"
    [_, backoff] = setup.engine.events("purchase_backoff")
    assert backoff["failures"] == 2 and backoff["retry_at"] == "2026-03-02T09:46:00Z"

    clock.advance(minutes=31)
    third, calls = setup.engine.cycle()
    assert kinds(third)["llm-a"] == "extended" and calls["ExtendTrainingPlan"] == 1


def test_backoff_near_the_deadline_is_a_quarter_of_the_time_left(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A long retry_backoff (1d) cannot push the retry past the deadline: with 2 h left it
    waits 30 min, and the retry happens before the plan can no longer be extended."""
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "throttle", times=1)])
    sim = make_sim(faults=faults)
    due_plan(sim, t0)
    setup = Operated(tmp_path, clock, safety={"retry_backoff": "1d"})
    deadline = sim.plan_end("llm-a") - timedelta(hours=2)
    clock.set(deadline - timedelta(hours=2))

    first, _ = setup.engine.cycle()
    assert kinds(first)["llm-a"] == "error"
    [backoff] = setup.engine.events("purchase_backoff")
    assert backoff["retry_at"] == "2026-03-04T08:00:00Z"  # deadline 09:30, failed at 07:30

    clock.advance(minutes=31)
    retried, calls = setup.engine.cycle()
    assert kinds(retried)["llm-a"] == "extended" and calls["ExtendTrainingPlan"] == 1


def test_metrics_show_the_breaker_and_the_pause_cause(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "refuse", times=1)])
    sim = make_sim(faults=faults)
    due_plan(sim, t0)
    setup = Operated(tmp_path, clock, safety={"circuit_breaker_failures": 1})

    opened = samples(setup.engine.cycle()[0])

    assert opened[("plan_watcher_purchases_paused", (("cause", "circuit_breaker"),))] == 1
    assert opened[("plan_watcher_purchases_paused", (("cause", "operator"),))] == 0
    assert opened[("plan_watcher_purchase_failures_in_a_row", ())] == 1

    assert setup.cli("resume") == 0
    assert setup.cli("pause") == 0
    paused = samples(setup.engine.cycle()[0])
    assert paused[("plan_watcher_purchases_paused", (("cause", "operator"),))] == 1
    assert paused[("plan_watcher_purchases_paused", (("cause", "circuit_breaker"),))] == 0
    assert paused[("plan_watcher_purchase_failures_in_a_row", ())] == 0


def test_throttled_purchases_never_open_the_breaker(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS throttling purchases says "not now": each plan backs off, but the breaker (which
    only a human closes) stays shut."""
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "throttle", times=3)])
    sim = make_sim(faults=faults)
    for name in PLANS:
        due_plan(sim, t0, name)
    setup = Operated(tmp_path, clock, safety={"circuit_breaker_failures": 3})

    cycle, calls = setup.engine.cycle()

    assert kinds(cycle) == {
        "llm-a": "error",
        "llm-b": "error",
        "llm-c": "error",
        "llm-d": "extended",
    }
    assert calls["ExtendTrainingPlan"] == 4
