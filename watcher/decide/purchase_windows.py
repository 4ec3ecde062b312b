"""Preferred purchase windows: a policy may buy only on some days and hours, in a time zone,
so that purchases happen while people are at their desks; never at the cost of the deadline.

A window holds only the purchase itself: a due plan's offerings, budgets, limits and proposal
are worked out as usual while it waits (watcher/decide/choose.py). Outside every window the
purchase waits for the next one to open, but only if it opens no later than the last safe
cycle, `deadline - 3 x poll - retry_backoff` (poll = interval + jitter, the longest gap
between two cycles): the first cycle from then on comes within one poll, and if its purchase
fails, its retries (after `safety.retry_backoff`, never more than a quarter of the time left:
watcher/decide/backoff.py) still have cycles before the deadline.
Otherwise the purchase waits until the last safe cycle and is made there, outside the windows,
and the reason says so. From the last safe cycle on, windows are never consulted: the deadline
always wins.
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


def last_safe_cycle(deadline: datetime, poll: timedelta, retry: timedelta) -> datetime:
    """From this moment a cycle must buy. The first cycle from it comes within one poll, more
    than `2 x poll + retry` before the deadline; if its purchase fails, the retry waits `retry`
    (the backoff after a first failure), and the cycle after it comes within one more poll,
    still before the deadline. Later failures wait at most a quarter of the time left, so
    their retries come before it too."""
    return deadline - 3 * poll - retry


def _safe(deadline: datetime, poll: timedelta, retry: timedelta) -> str:
    return (
        f"the last safe cycle {iso(last_safe_cycle(deadline, poll, retry))} (deadline "
        f"{iso(deadline)} - three polls of {span_seconds(poll)} - retry_backoff "
        f"{span_seconds(retry)}, room for a retry)"
    )


def hold(
    windows: Sequence[PurchaseWindow],
    now: datetime,
    deadline: datetime,
    poll: timedelta,
    retry: timedelta,
) -> Hold | None:
    """Whether a due plan's purchase waits for a purchase window; None means buy now (inside
    a window, no windows, or at the last safe cycle or later)."""
    if not windows or is_open(windows, now):
        return None
    last = last_safe_cycle(deadline, poll, retry)
    if now >= last:
        return None
    opening = next_opening(windows, now)
    if opening is not None and opening <= last:
        return Hold(
            opening,
            f"outside the policy's purchase windows ({describe(windows)}): the purchase waits "
            f"until the next one opens at {iso(opening)}, before {_safe(deadline, poll, retry)}",
        )
    after = f"the next opens at {iso(opening)}" if opening else "none opens within a week"
    return Hold(
        last,
        f"outside the policy's purchase windows ({describe(windows)}) and {after}, after "
        f"{_safe(deadline, poll, retry)}: the purchase waits until then and is made outside "
        "the windows rather than miss the deadline",
    )


def until_last_safe(
    now: datetime, deadline: datetime, poll: timedelta, retry: timedelta, waits_for: str
) -> Hold | None:
    """A purchase that waits for `waits_for` or, at the latest, for the last safe cycle, where
    it is made; None from the last safe cycle on."""
    last = last_safe_cycle(deadline, poll, retry)
    if now >= last:
        return None
    return Hold(
        last,
        f"the purchase waits {waits_for}, or until {_safe(deadline, poll, retry)}, and is "
        "made then",
    )


def outside_note(
    windows: Sequence[PurchaseWindow],
    now: datetime,
    deadline: datetime,
    poll: timedelta,
    retry: timedelta,
) -> str | None:
    """What to add to a purchase's reason when it is made outside every window (only ever from
    the last safe cycle on); None inside a window or without windows."""
    if not windows or is_open(windows, now):
        return None
    return (
        f"outside the policy's purchase windows ({describe(windows)}), but this is past "
        f"{_safe(deadline, poll, retry)}, so the deadline wins"
    )


def describe(windows: Sequence[PurchaseWindow]) -> str:
    return "; ".join(w.label or _spell(w) for w in windows)


def _spell(window: PurchaseWindow) -> str:
    days = ",".join(DAY_NAMES[d] for d in sorted(window.days))
    end = window.end.strftime("%H:%M") if window.end is not None else "24:00"
    return f"{days} {window.start.strftime('%H:%M')}-{end} {window.zone}"
