"""Time is injected: every reader of "now" takes a Clock.

`SystemClock` is the real one; `ManualClock` is advanced by tests, the soak harness and the
demo (`plan-watcher sandbox`, one poll interval per cycle); `AcceleratedClock` runs real
time faster, for the simulator's server (`python -m watcher.sandbox serve`).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by keyword units (`hours=3`, `days=2`)."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            if when.astimezone(UTC) < self._now:
                raise ValueError("time does not run backwards")
            self._now = when.astimezone(UTC)


class AcceleratedClock:
    """Real time, `factor` times faster, starting from `start`."""

    def __init__(self, start: datetime, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = start.astimezone(UTC)
        self._factor = factor
        self._origin = time.monotonic()

    @property
    def factor(self) -> float:
        return self._factor

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._origin
        return self._start + timedelta(seconds=elapsed * self._factor)
