"""When a plan whose purchase failed may be tried again: backoff that tightens near the deadline.

The wait doubles per failure from `retry_backoff`, but is never longer than a quarter of the
time left between the failure and the deadline. So a retry always falls before the deadline,
and each later failure leaves a retry inside what remains (cert-manager backs off the same way
but caps at a fixed maximum; a plan's deadline is the cap that matters here).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# 2**20 * 1s is twelve days: enough to pass any cap while keeping the arithmetic small.
_MAX_DOUBLINGS = 20


def backoff_delay(
    base: timedelta, failures: int, failed_at: datetime, deadline: datetime
) -> timedelta:
    """The wait after the `failures`-th failure in a row (failures >= 1) at `failed_at`."""
    doublings: int = min(max(failures - 1, 0), _MAX_DOUBLINGS)
    grown = base * (1 << doublings)
    left = deadline - failed_at
    if left <= timedelta(0):
        return timedelta(0)
    return min(grown, left / 4)


def retry_at(base: timedelta, failures: int, failed_at: datetime, deadline: datetime) -> datetime:
    """The earliest moment another purchase may be tried; before `deadline` whenever the
    failure was."""
    return failed_at + backoff_delay(base, failures, failed_at, deadline)
