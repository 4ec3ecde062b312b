"""Safety valves checked right before every purchase: the kill switch, the pause flag, the
circuit breaker and per-plan backoff. Their state lives in the journal's settings, so a
`plan-watcher pause` in one process stops purchases in the daemon at its next purchase.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watcher.act.purchase import PurchaseResult
from watcher.config import Safety
from watcher.decide.backoff import retry_at
from watcher.decide.text import iso
from watcher.journal.records import Journal

PAUSE_KEY = "purchases.paused"
FAILURES_KEY = "purchases.failures_in_a_row"
BACKOFF_PREFIX = "backoff:"
BREAKER_BY = "circuit-breaker"
KILL_SWITCH_VARIABLE = "PLAN_WATCHER_MODE"


@dataclass(frozen=True)
class Pause:
    """Purchases are held until someone runs `plan-watcher resume`."""

    reason: str
    by: str
    at: datetime

    @property
    def breaker(self) -> bool:
        return self.by == BREAKER_BY

    def describe(self) -> str:
        return f"purchases paused by {self.by} at {iso(self.at)}: {self.reason}"


@dataclass(frozen=True)
class Backoff:
    failures: int
    failed_at: datetime
    plan_end: datetime
    detail: str = ""  # why the last purchase failed


class Valves:
    """Reads and writes the valves' state in `journal`; `environ` holds the kill switch."""

    def __init__(
        self, journal: Journal, safety: Safety, environ: Mapping[str, str] | None = None
    ) -> None:
        self.journal = journal
        self.safety = safety
        self._environ = environ

    # --- pause and kill switch ----------------------------------------------------------

    def paused(self) -> Pause | None:
        raw = _load(self.journal.get_setting(PAUSE_KEY))
        if raw is None:
            return None
        return Pause(str(raw["reason"]), str(raw["by"]), datetime.fromisoformat(str(raw["at"])))

    def pause(self, reason: str, by: str, at: datetime) -> Pause:
        pause = Pause(reason, by, at)
        value = {"reason": reason, "by": by, "at": at.isoformat()}
        self.journal.set_setting(PAUSE_KEY, json.dumps(value))
        return pause

    def resume(self) -> Pause | None:
        """Clear the pause flag and the breaker's count; return the pause that was cleared."""
        was = self.paused()
        self.journal.set_setting(PAUSE_KEY, None)
        self.journal.set_setting(FAILURES_KEY, None)
        return was

    def blocked(self) -> str | None:
        """Why no purchase may start right now (kill switch or pause), or None."""
        environ = os.environ if self._environ is None else self._environ
        if environ.get(KILL_SWITCH_VARIABLE, "").strip().lower() == "dry-run":
            return f"{KILL_SWITCH_VARIABLE}=dry-run is set (kill switch)"
        pause = self.paused()
        return pause.describe() if pause is not None else None

    # --- circuit breaker and backoff ----------------------------------------------------

    def failures_in_a_row(self) -> int:
        raw = _load(self.journal.get_setting(FAILURES_KEY))
        return int(raw["count"]) if raw is not None else 0

    def backoff(self, plan_arn: str, plan_end: datetime) -> Backoff | None:
        raw = _load(self.journal.get_setting(BACKOFF_PREFIX + plan_arn))
        if raw is None:
            return None
        state = Backoff(
            int(raw["failures"]),
            datetime.fromisoformat(str(raw["failed_at"])),
            datetime.fromisoformat(str(raw["plan_end"])),
            str(raw.get("detail", "")),
        )
        # A plan whose end moved was extended since: its old failures say nothing now.
        return state if state.plan_end == plan_end else None

    def holding(
        self, plan_arn: str, plan_end: datetime, deadline: datetime, now: datetime
    ) -> str | None:
        """Why this plan's purchase waits (backoff after failures), or None."""
        state = self.backoff(plan_arn, plan_end)
        if state is None:
            return None
        until = retry_at(self.safety.retry_backoff, state.failures, state.failed_at, deadline)
        if now >= until:
            return None
        last = f" ({state.detail})" if state.detail else ""
        return (
            f"backing off until {iso(until)} after {state.failures} failed purchase(s), "
            f"the last at {iso(state.failed_at)}{last}"
        )

    def record(
        self,
        plan_arn: str,
        plan_end: datetime,
        deadline: datetime | None,
        result: PurchaseResult,
        detail: str,
        now: datetime,
        log: Any,
        throttled: bool = False,
    ) -> Pause | None:
        """Count a purchase's outcome; return the pause if this one opened the breaker.
        `deadline` (None where the plan's policy is not at hand) only dates the log's retry.

        A purchase bought resets both counts. A failed one counts for the plan's backoff and
        the breaker. An ambiguous one counts for the breaker only (the plan is in_flight until
        AWS's record settles it, which already stops a second purchase for it). A throttled
        one counts for the plan's backoff only: AWS said "not now", which is no sign that
        purchases go wrong, and a breaker that only a human closes must not open on it.
        """
        if result is PurchaseResult.BOUGHT:
            self.journal.set_setting(FAILURES_KEY, None)
            self.journal.set_setting(BACKOFF_PREFIX + plan_arn, None)
            return None
        if result not in (PurchaseResult.FAILED, PurchaseResult.AMBIGUOUS):
            return None
        if result is PurchaseResult.FAILED:
            before = self.backoff(plan_arn, plan_end)
            failures = (before.failures if before else 0) + 1
            value = {
                "failures": failures,
                "failed_at": now.isoformat(),
                "plan_end": plan_end,
                "detail": detail,
            }
            self.journal.set_setting(BACKOFF_PREFIX + plan_arn, json.dumps(value, default=_iso))
            until = retry_at(self.safety.retry_backoff, failures, now, deadline or plan_end)
            log.warning(
                "purchase_backoff",
                failures=failures,
                retry_at=iso(until),
                deadline=iso(deadline) if deadline else None,
            )
        if throttled:
            return None
        count = self.failures_in_a_row() + 1
        self.journal.set_setting(FAILURES_KEY, json.dumps({"count": count, "at": now.isoformat()}))
        limit = self.safety.circuit_breaker_failures
        if count < limit or self.paused() is not None:
            return None
        reason = (
            f"circuit breaker: {count} purchase failures in a row "
            f"(circuit_breaker_failures {limit}); last: {detail}"
        )
        pause = self.pause(reason, BREAKER_BY, now)
        log.error("circuit_breaker_open", failures=count, reason=reason)
        return pause


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else None
