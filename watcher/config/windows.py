"""`policies[].purchase_windows`: the days and hours, in a time zone, in which a policy buys.

Each window is `{days: [mon-fri], hours: "09:00-17:00", time_zone: Europe/Berlin}`. Days are
three-letter names or ranges of them; hours are local wall-clock times, the end exclusive and
later than the start (`24:00` is midnight at the end of the day); a window across midnight is
written as two. A window that can never open (no day, no hour) is an error here; one shorter
than a poll is an error in checks.py, because a cycle might never fall inside it.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from watcher.decide.purchase_windows import DAY_NAMES, PurchaseWindow

_HOURS = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
_DAY_RANGE = re.compile(r"^([a-z]{3})-([a-z]{3})$")
_EVERY_DAY = tuple(DAY_NAMES)


def day_numbers(items: tuple[str, ...]) -> frozenset[int]:
    """`("mon-wed", "fri")` -> {0, 1, 2, 4}; a range may wrap the week (`fri-mon`)."""
    days: set[int] = set()
    for item in items:
        ranged = _DAY_RANGE.match(item)
        if ranged is not None:
            first, last = (DAY_NAMES.index(name) for name in ranged.groups())
            length = (last - first) % 7 + 1
            days.update((first + i) % 7 for i in range(length))
        else:
            days.add(DAY_NAMES.index(item))
    return frozenset(days)


class PurchaseWindowConfig(BaseModel):
    """One preferred purchase window."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    days: tuple[StrictStr, ...] = Field(
        default=_EVERY_DAY,
        description="mon, tue, ... sun, or ranges like mon-fri; default every day",
    )
    hours: StrictStr = Field(
        default="00:00-24:00",
        pattern=r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$",
        description="local HH:MM-HH:MM, the end later than the start (24:00 = midnight)",
    )
    time_zone: StrictStr = Field(default="UTC", description="an IANA time zone name")

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("an empty list never opens; omit the key for every day")
        for item in value:
            ranged = _DAY_RANGE.match(item)
            names = ranged.groups() if ranged else (item,)
            for name in names:
                if name not in DAY_NAMES:
                    raise ValueError(
                        f"{item!r} is not a day: use {', '.join(DAY_NAMES)} or a range like mon-fri"
                    )
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value)
        if match is None:  # pragma: no cover - the pattern above is checked first
            raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"{value!r} is not a time range (00:00 to 24:00)")
        if (h2, m2) <= (h1, m1):
            raise ValueError(
                f"{value!r} never opens: it must end after it starts (a window across "
                "midnight is two windows, one each side)"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name (IANA, like Europe/Berlin or UTC)"
            ) from None
        return value

    @property
    def _bounds(self) -> tuple[time, time | None]:
        h1, m1, h2, m2 = (int(part) for part in self.hours.replace("-", ":").split(":"))
        return time(h1, m1), (None if h2 == 24 else time(h2, m2))

    @property
    def length(self) -> timedelta:
        """How long the window stays open on each of its days (wall-clock)."""
        start, end = self._bounds
        end_minutes = 24 * 60 if end is None else end.hour * 60 + end.minute
        return timedelta(minutes=end_minutes - (start.hour * 60 + start.minute))

    def window(self) -> PurchaseWindow:
        """The value the pure core works with."""
        start, end = self._bounds
        label = f"{','.join(self.days)} {self.hours} {self.time_zone}"
        return PurchaseWindow(day_numbers(self.days), start, end, ZoneInfo(self.time_zone), label)
