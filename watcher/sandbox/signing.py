"""The simulator's clock check, as AWS does it: a request signed too far from AWS's time is
refused before anything else happens, and every answer carries AWS's time in `Date`.

AWS's time here is the real time plus `SimSettings.clock_skew`: botocore signs requests with
the caller's real clock, so a skew of 7 minutes plays a caller whose clock is 7 minutes
behind AWS's. The simulated world's own clock (plans, jobs) is not involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from watcher.sandbox.errors import SimError

_SIGNING_FORMAT = "%Y%m%dT%H%M%SZ"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_SIGNING_FORMAT)


def http_date(when: datetime) -> str:
    """`Mon, 02 Mar 2026 09:00:00 GMT`: the form of AWS's `Date` header."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def refusal(signed_at: str | None, aws_now: datetime, tolerance: timedelta) -> SimError | None:
    """The error AWS answers a request signed at `signed_at` (X-Amz-Date) with, or None."""
    if not signed_at:
        return None
    try:
        signed = datetime.strptime(signed_at, _SIGNING_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    minutes = int(tolerance.total_seconds() // 60)
    if signed < aws_now - tolerance:
        return SimError(
            "InvalidSignatureException",
            f"Signature expired: {_stamp(signed)} is now earlier than "
            f"{_stamp(aws_now - tolerance)} ({_stamp(aws_now)} - {minutes} min.)",
            400,
        )
    if signed > aws_now + tolerance:
        return SimError(
            "InvalidSignatureException",
            f"Signature not yet current: {_stamp(signed)} is still later than "
            f"{_stamp(aws_now + tolerance)} ({_stamp(aws_now)} + {minutes} min.)",
            400,
        )
    return None
