"""A simulated plan and its reserved capacities: the plan's own, and one per extension.

An extension in the zone of the capacity it continues (touching or overlapping it) lengthens
that capacity; one in another zone, or after a gap, is a reserved capacity of its own, with
its own zone, as AWS lists it in `ReservedCapacitySummaries`. Where the work has to move (a
gap, a zone change) training jobs go back to `Pending` (`world.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from watcher.sandbox.settings import SimSettings


@dataclass
class Segment:
    """One reserved capacity: a span of time in one availability zone."""

    start: datetime
    end: datetime
    zone: str = ""
    zone_id: str = ""


@dataclass
class SimExtension:
    offering_id: str
    plan_arn: str
    extended_at: datetime
    start: datetime
    end: datetime
    availability_zone: str
    availability_zone_id: str
    duration_hours: int
    fee: Decimal
    currency: str
    resolves_at: datetime
    will_fail: bool
    resolved: bool = False
    # The ID AWS lists it under (SimSettings.extension_ids); the offering's by default.
    listed_id: str = ""

    def __post_init__(self) -> None:
        self.listed_id = self.listed_id or self.offering_id

    @property
    def failed(self) -> bool:
        return self.resolved and self.will_fail

    def status(self, now: datetime) -> str:
        if not self.resolved:
            return "Pending"
        if self.will_fail:
            return "Failed"
        if now >= self.end:
            return "Expired"
        return "Active" if now >= self.start else "Scheduled"

    def payment_status(self) -> str:
        if not self.resolved:
            return "Pending"
        return "Failed" if self.will_fail else "Completed"


@dataclass
class SimPlan:
    name: str
    arn: str
    account: str
    region: str
    instance_type: str
    instance_count: int
    availability_zone: str
    availability_zone_id: str
    created_at: datetime
    payment_at: datetime
    start: datetime
    base_end: datetime
    fee: Decimal
    currency: str
    target_resources: list[str]
    tags: dict[str, str]
    reserved_capacity_arn: str
    extensions: list[SimExtension] = field(default_factory=list)
    # Instances in use by consumers the simulator does not list (InUseInstanceCount counts
    # them while the plan is Active).
    unlisted_in_use: int = 0
    # A plan whose purchase failed: `Failed` for good, never usable nor extendable.
    failed: bool = False
    # UltraServer capacity (ReservedCapacityType UltraServer): the type and how many.
    ultraserver_type: str | None = None
    ultraserver_count: int = 0

    def counted_extensions(self, settings: SimSettings) -> list[SimExtension]:
        if settings.end_time_moves == "on_payment":
            return [e for e in self.extensions if e.resolved and not e.will_fail]
        if settings.failed_extension_keeps_end:
            return list(self.extensions)
        return [e for e in self.extensions if not e.failed]

    def segments(self, settings: SimSettings) -> list[Segment]:
        """The reserved capacities, in time order (see the module docstring)."""
        spans = [
            Segment(self.start, self.base_end, self.availability_zone, self.availability_zone_id)
        ]
        spans += [
            Segment(e.start, e.end, e.availability_zone, e.availability_zone_id)
            for e in self.counted_extensions(settings)
        ]
        spans.sort(key=lambda s: s.start)
        merged: list[Segment] = []
        for span in spans:
            last = merged[-1] if merged else None
            if last is not None and span.zone == last.zone and span.start <= last.end:
                last.end = max(last.end, span.end)
            else:
                merged.append(Segment(span.start, span.end, span.zone, span.zone_id))
        return merged

    def end_time(self, settings: SimSettings) -> datetime:
        return max(s.end for s in self.segments(settings))

    def capacity_at(self, when: datetime, settings: SimSettings) -> Segment | None:
        """The reserved capacity running at `when`, or None if there is none."""
        return next((s for s in self.segments(settings) if s.start <= when < s.end), None)

    def capacity_end_at(self, when: datetime, settings: SimSettings) -> datetime | None:
        """The end of the reserved capacity running at `when`, or None if there is none."""
        running = self.capacity_at(when, settings)
        return running.end if running is not None else None

    def next_capacity_after(self, when: datetime, settings: SimSettings) -> Segment | None:
        """The first reserved capacity that starts after `when`."""
        return next((s for s in self.segments(settings) if s.start > when), None)

    def zone_at_end(self, settings: SimSettings) -> str:
        """The zone of the reserved capacity the plan ends with."""
        return self.segments(settings)[-1].zone

    def status(self, now: datetime, settings: SimSettings) -> str:
        if self.failed:
            return "Failed"
        if now < self.payment_at:
            return "Pending"
        segments = self.segments(settings)
        if any(s.start <= now < s.end for s in segments):
            return "Active"
        return "Scheduled" if now < segments[-1].end else "Expired"

    def pending_extension(self) -> SimExtension | None:
        return next((e for e in self.extensions if not e.resolved), None)
