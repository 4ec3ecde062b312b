"""Counts of AWS calls by operation and outcome, for metrics and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """Thread-safe tallies: one per HTTP request made, keyed (operation, outcome)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, operation: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(operation, outcome)] += n

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
