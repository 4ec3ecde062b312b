"""How far this machine's clock is from AWS's, measured on every answer.

AWS refuses a request signed more than about 5 minutes away from its own time (SageMaker
says `InvalidSignatureException: Signature expired: ...`), and every deadline plan-watcher
computes comes from the local clock. So every answer, refusals included, is compared: the
`Date` header AWS put on it against the time the request was signed (botocore signs with
the system clock, the same clock the daemon reads). The difference, AWS minus local, is
kept per gateway for `plan_watcher_clock_skew_seconds`, and a refusal caused by the clock
is reported as such, with the difference measured.

The measure has a resolution of a second and includes the request's own latency (a few
hundred milliseconds at most), so only differences of several seconds mean anything.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

_SIGNING_FORMAT = "%Y%m%dT%H%M%SZ"
#: Codes AWS answers a signature with when the clocks disagree (the message says which).
_SIGNATURE_CODES = frozenset({"InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"})
#: Codes that mean the clocks disagree whatever the message.
_CLOCK_CODES = frozenset({"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture"})
_CLOCK_MESSAGE = re.compile(r"signature (expired|not yet current)", re.IGNORECASE)
# "Signature expired: 20260302T090000Z is now earlier than 20260302T090200Z
# (20260302T090700Z - 5 min.)": the request's time, then AWS's own in parentheses.
_MESSAGE_TIMES = re.compile(r"(\d{8}T\d{6}Z)\b.*\((\d{8}T\d{6}Z)")


def is_clock_refusal(code: str, message: str) -> bool:
    """True when AWS refused a request because it was signed too far from AWS's time."""
    if code in _CLOCK_CODES:
        return True
    return code in _SIGNATURE_CODES and bool(_CLOCK_MESSAGE.search(message))


def _signing_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, _SIGNING_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def measure(context: Mapping[str, Any] | None, headers: Mapping[str, Any] | None) -> float | None:
    """AWS's time minus the request's signing time, in seconds, or None if either is unknown.

    `context` is botocore's request context (the signer writes `timestamp` there), `headers`
    the answer's HTTP headers."""
    signed = _signing_time((context or {}).get("timestamp"))
    date = _header(headers or {}, "date")
    if signed is None or date is None:
        return None
    try:
        answered = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if answered.tzinfo is None:
        answered = answered.replace(tzinfo=UTC)
    return (answered - signed).total_seconds()


def from_refusal(message: str) -> float | None:
    """The difference a clock refusal's message states (AWS's time minus the request's)."""
    found = _MESSAGE_TIMES.search(message)
    if found is None:
        return None
    signed, aws = (_signing_time(text) for text in found.groups())
    if signed is None or aws is None:
        return None
    return (aws - signed).total_seconds()


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def describe(seconds: float) -> str:
    """'this machine's clock is 7m 3s behind AWS's' (AWS minus local = +423 s)."""
    size = round(abs(seconds))
    minutes, rest = divmod(size, 60)
    amount = f"{minutes}m {rest}s" if minutes else f"{rest}s"
    if size == 0:
        return "this machine's clock agrees with AWS's"
    way = "behind" if seconds > 0 else "ahead of"
    return f"this machine's clock is {amount} {way} AWS's"


class ClockSkew:
    """The last difference measured on a gateway's answers; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: float | None = None

    def observe(self, context: Mapping[str, Any] | None, headers: Mapping[str, Any] | None) -> None:
        seconds = measure(context, headers)
        if seconds is not None:
            with self._lock:
                self._seconds = seconds

    @property
    def seconds(self) -> float | None:
        """AWS's clock minus this machine's at the last answer, or None before any."""
        with self._lock:
            return self._seconds
