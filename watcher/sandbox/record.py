"""The simulator's own account of what happened: purchases, interruptions, faults, calls.

It is written by the simulator as AWS would see things, never by plan-watcher, so the soak
(bench/soak) can check plan-watcher's behaviour against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass
class Interruption:
    kind: str  # "job" | "cluster"
    consumer: str
    plan_arn: str
    at: datetime


@dataclass
class Pause:
    """A training job sent back to Pending between two reserved capacities of its plan."""

    job: str
    plan_arn: str
    at: datetime
    until: datetime


@dataclass
class Purchase:
    plan_arn: str
    offering_id: str
    at: datetime
    fee: Decimal
    currency: str
    duration_hours: int
    start: datetime
    end: datetime
    ambiguous: bool = False
    # The plan's end time just before this purchase (what the extension was bought from).
    plan_end_before: datetime | None = None


@dataclass
class Unanswered:
    """A call whose caller got no usable answer (a fault): what it asked, and whether the
    simulator acted on it before answering badly."""

    operation: str
    plan_arn: str | None
    offering_id: str
    mode: str  # how the caller was answered (answers.AmbiguousMode)
    acted: bool
    at: datetime


@dataclass
class Record:
    """What the simulator saw happen, independent of plan-watcher's own account."""

    purchases: list[Purchase] = field(default_factory=list)
    interruptions: list[Interruption] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    unanswered: list[Unanswered] = field(default_factory=list)

    def count_fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def count_call(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
