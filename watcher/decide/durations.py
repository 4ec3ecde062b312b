"""What AWS sells and when: extension sizes and the purchase window.

AWS sells extensions in whole days up to 14 days and in whole weeks up to 182 days (4368 h),
from 56 days down to 1 hour before the plan ends (reference sections 2.1 and 9). Some copies of
the docs say 57 days; 56 is the conservative reading.
"""

from __future__ import annotations

from datetime import timedelta

HOUR = timedelta(hours=1)
DAY_HOURS = 24
WEEK_HOURS = 7 * DAY_HOURS
MAX_DAILY_HOURS = 14 * DAY_HOURS
MAX_EXTENSION_HOURS = 182 * DAY_HOURS

AWS_MIN_LEAD = timedelta(hours=1)
AWS_MAX_LEAD = timedelta(days=56)


def _ceil_to(hours: int, step: int) -> int:
    return -(-hours // step) * step


def is_sellable(hours: int) -> bool:
    """True when AWS sells an extension of exactly `hours`."""
    if hours <= 0 or hours > MAX_EXTENSION_HOURS:
        return False
    if hours <= MAX_DAILY_HOURS:
        return hours % DAY_HOURS == 0
    return hours % WEEK_HOURS == 0


def sellable_hours(hours: int) -> int | None:
    """The shortest duration AWS sells that is at least `hours`; None past 182 days."""
    if hours > MAX_EXTENSION_HOURS:
        return None
    if hours <= MAX_DAILY_HOURS:
        return max(DAY_HOURS, _ceil_to(hours, DAY_HOURS))
    return _ceil_to(hours, WEEK_HOURS)


def largest_sellable_at_most(hours: int) -> int | None:
    """The longest duration AWS sells that is at most `hours`; None below one day."""
    if hours < DAY_HOURS:
        return None
    if hours <= MAX_DAILY_HOURS:
        return hours // DAY_HOURS * DAY_HOURS
    return min(hours, MAX_EXTENSION_HOURS) // WEEK_HOURS * WEEK_HOURS


def hours_up(span: timedelta) -> int:
    """Whole hours, rounding any fraction up (a need of 1h01m is 2h)."""
    return -(-span // HOUR)


def hours_down(span: timedelta) -> int:
    """Whole hours, dropping any fraction (a cap of 1h59m allows 1h)."""
    return span // HOUR
