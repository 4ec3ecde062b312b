"""Preferred purchase windows: a policy may buy only on some days and hours, in a time zone,
so that purchases happen while people are at their desks; never at the cost of the deadline.

A due plan outside every window waits for the next one to open, but only if a cycle is sure
to run inside it before the deadline: the window must open no later than the last safe cycle,
`deadline - poll` (poll = interval + jitter, the longest gap between two cycles). Otherwise the
plan waits until the last safe cycle and is bought there, outside the windows, and the reason
says so. From the last safe cycle on, windows are never consulted: the deadline always wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from watcher.decide.text import iso, span_seconds

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ahead to look for the next opening: every weekly window opens within 8 days (a
#: week, plus a day for time zones and daylight-saving shifts).
_HORIZON_DAYS = 9


@dataclass(frozen=True)
class PurchaseWindow:
    """Open on `days` (0 = Monday, local) from `start` until `end` (None: midnight), in `zone`."""

    days: frozenset[int]
    start: time
    end: time | None
    zone: tzinfo
    label: str = ""  # how the config spelled it, for reasons

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if local.weekday() not in self.days:
            return False
        wall = local.time().replace(tzinfo=None)
        return self.start <= wall and (self.end is None or wall < self.end)

    def openings(self, after: datetime) -> list[datetime]:
        """The moments this window opens in the days around `after` (UTC instants); a local
        opening time that a daylight-saving jump skips becomes the first instant after it."""
        local = after.astimezone(self.zone)
        found: list[datetime] = []
        for offset in range(-1, _HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            candidate = datetime.combine(day, self.start, tzinfo=self.zone)
            found.append(candidate.astimezone(after.tzinfo))
        return found


@dataclass(frozen=True)
class Hold:
    """A due plan waits: until `until` (`next_action`), and why."""

    until: datetime
    reason: str


def is_open(windows: Sequence[PurchaseWindow], at: datetime) -> bool:
    """True when `at` falls in any window (no windows: always open)."""
    return not windows or any(w.contains(at) for w in windows)


def next_opening(windows: Sequence[PurchaseWindow], after: datetime) -> datetime | None:
    """The first moment after `after` at which some window is open; None if none opens within
    the next week (a window set that never opens: validation refuses those)."""
    candidates = sorted(moment for w in windows for moment in w.openings(after) if moment > after)
    for moment in candidates:
        # A candidate that a daylight-saving jump pushed out of its own window is no opening;
        # the minute after it may be (the window then opens at the jump).
        for probe in (moment, moment + timedelta(minutes=1)):
            if is_open(windows, probe):
                return probe
    return None


def last_safe_cycle(deadline: datetime, poll: timedelta) -> datetime:
    """From this moment a cycle must buy: the next one may come one poll later, at or past the
    deadline."""
    return deadline - poll


def hold(
    windows: Sequence[PurchaseWindow], now: datetime, deadline: datetime, poll: timedelta
) -> Hold | None:
    """Whether a due plan waits for a purchase window; None means act now (inside a window, no
    windows, or at the last safe cycle or later)."""
    if is_open(windows, now):
        return None
    last = last_safe_cycle(deadline, poll)
    if now >= last:
        return None
    opening = next_opening(windows, now)
    if opening is not None and opening <= last:
        return Hold(
            opening,
            f"due, but outside the policy's purchase windows ({describe(windows)}); waits "
            f"until the next one opens at {iso(opening)}, before the last safe cycle "
            f"{iso(last)} (deadline {iso(deadline)} - one poll {span_seconds(poll)})",
        )
    after = f"the next opens at {iso(opening)}" if opening else "none opens within a week"
    return Hold(
        last,
        f"due, but outside the policy's purchase windows ({describe(windows)}) and {after}, "
        f"after the last safe cycle {iso(last)} (deadline {iso(deadline)} - one poll "
        f"{span_seconds(poll)}); waits until then and buys outside the windows rather than "
        "miss the deadline",
    )


def outside_note(
    windows: Sequence[PurchaseWindow], now: datetime, deadline: datetime, poll: timedelta
) -> str | None:
    """What to add to a purchase's reason when it is made outside every window (only ever at
    the last safe cycle); None inside a window or without windows."""
    if is_open(windows, now):
        return None
    return (
        f"outside the policy's purchase windows ({describe(windows)}), but this is the last "
        f"safe cycle before the deadline {iso(deadline)} (one poll is {span_seconds(poll)}), so "
        "the deadline wins"
    )


def describe(windows: Sequence[PurchaseWindow]) -> str:
    return "; ".join(w.label or _spell(w) for w in windows)


def _spell(window: PurchaseWindow) -> str:
    days = ",".join(DAY_NAMES[d] for d in sorted(window.days))
    end = window.end.strftime("%H:%M") if window.end is not None else "24:00"
    return f"{days} {window.start.strftime('%H:%M')}-{end} {window.zone}"
