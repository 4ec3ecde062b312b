"""Backoff never schedules a retry past the deadline (property), and the valves' state in the
journal: pause and resume, the breaker's count, per-plan backoff that forgets a moved plan end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import CapturingLogger

from tests.unit.strategies import durations, instants
from watcher.act.purchase import PurchaseResult
from watcher.act.valves import Valves
from watcher.config import Safety
from watcher.decide.backoff import backoff_delay, retry_at
from watcher.journal.sqlite import SqliteJournal

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = T + timedelta(hours=50)
DEADLINE = END - timedelta(hours=2)
ARN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"


@given(durations(24 * 7), st.integers(min_value=1, max_value=10_000), instants(), instants())
def test_a_retry_is_never_scheduled_past_the_deadline(
    base: timedelta, failures: int, failed_at: datetime, deadline: datetime
) -> None:
    at = retry_at(base, failures, failed_at, deadline)
    assert at >= failed_at
    if failed_at < deadline:
        assert at < deadline or base == timedelta(0) and at == failed_at
        assert at - failed_at <= (deadline - failed_at) / 4


@given(durations(24 * 7), st.integers(min_value=1, max_value=15), durations(24 * 60))
def test_backoff_doubles_until_the_quarter_cap(
    base: timedelta, failures: int, left: timedelta
) -> None:
    delay = backoff_delay(base, failures, T, T + left)
    assert delay == min(base * 2 ** (failures - 1), left / 4)
    assert backoff_delay(base, failures + 1, T, T + left) >= delay


def _valves(**safety: Any) -> tuple[Valves, Any]:
    log = structlog.wrap_logger(CapturingLogger(), processors=[])
    return Valves(SqliteJournal(":memory:"), Safety(**safety), environ={}), log


def test_pause_resume_and_the_kill_switch() -> None:
    valves, _ = _valves()
    assert valves.blocked() is None
    valves.pause("freeze", "cli:alice", T)
    assert valves.blocked() == "purchases paused by cli:alice at 2026-03-02T09:00:00Z: freeze"
    assert valves.resume() is not None
    assert valves.blocked() is None and valves.resume() is None
    killed = Valves(valves.journal, Safety(), environ={"PLAN_WATCHER_MODE": " Dry-Run "})
    assert killed.blocked() == "PLAN_WATCHER_MODE=dry-run is set (kill switch)"


def test_breaker_counts_failures_and_ambiguity_and_a_purchase_resets_it() -> None:
    valves, log = _valves(circuit_breaker_failures=3)
    for result in (PurchaseResult.FAILED, PurchaseResult.AMBIGUOUS):
        assert valves.record(ARN, END, DEADLINE, result, "x", T, log) is None
    valves.record(ARN, END, DEADLINE, PurchaseResult.LOST_RACE, "x", T, log)
    assert valves.failures_in_a_row() == 2
    valves.record(ARN, END, DEADLINE, PurchaseResult.BOUGHT, "", T, log)
    assert valves.failures_in_a_row() == 0 and valves.backoff(ARN, END) is None
    for _ in range(2):
        valves.record(ARN, END, DEADLINE, PurchaseResult.FAILED, "refused", T, log)
    opened = valves.record(ARN, END, DEADLINE, PurchaseResult.FAILED, "refused", T, log)
    assert opened is not None and opened.breaker
    assert valves.paused() == opened
    valves.resume()
    assert valves.failures_in_a_row() == 0 and valves.paused() is None


def test_backoff_holds_the_plan_and_forgets_a_moved_end() -> None:
    valves, log = _valves(retry_backoff="15m")
    valves.record(ARN, END, DEADLINE, PurchaseResult.FAILED, "refused", T, log)
    held = valves.holding(ARN, END, DEADLINE, T + timedelta(minutes=14))
    assert held is not None and "until 2026-03-02T09:15:00Z after 1 failed" in held
    assert valves.holding(ARN, END, DEADLINE, T + timedelta(minutes=15)) is None
    assert valves.holding(ARN, END + timedelta(days=1), DEADLINE, T) is None
