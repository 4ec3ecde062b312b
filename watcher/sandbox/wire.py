"""Small helpers shared by the simulated operations: times, tokens, duration rules."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

from watcher.sandbox.errors import validation

MAX_EXTENSION_HOURS = 182 * 24
PLAN_END = time(11, 30, tzinfo=UTC)


def as_utc(value: Any) -> datetime:
    """A request timestamp (datetime, epoch number or ISO string) as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return as_utc(datetime.fromisoformat(value))
    raise validation(f"invalid timestamp {value!r}")


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation("Invalid pagination token") from exc


def max_results(params: dict[str, Any], default: int = 100) -> int:
    value = params.get("MaxResults", default)
    if not isinstance(value, int) or not 1 <= value <= 100:
        raise validation(
            f"Value '{value}' at 'maxResults' failed to satisfy constraint: "
            "Member must have value between 1 and 100"
        )
    return value


def paginate(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    offset = decode_token(params.get("NextToken"))
    limit = max_results(params)
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, (encode_token(offset + limit) if more else None)


def extension_hours(requested: int) -> int:
    """AWS's rule: round up to whole days; whole days up to 14, whole weeks up to 182 days."""
    if requested < 1:
        raise validation("DurationHours must be at least 1")
    hours = math.ceil(requested / 24) * 24
    days = hours // 24
    if hours > MAX_EXTENSION_HOURS:
        raise validation(f"DurationHours {requested} exceeds the maximum extension of 182 days")
    if days > 14 and days % 7:
        raise validation(
            f"DurationHours {requested} ({days} days) is not offered: extensions longer than "
            "14 days are sold in whole weeks"
        )
    return hours


def snap_to_plan_end(when: datetime) -> datetime:
    """Plans end at 11:30 UTC: the first 11:30 UTC at or after `when`."""
    when = when.astimezone(UTC)
    candidate = datetime.combine(when.date(), PLAN_END)
    return candidate if candidate >= when else candidate + timedelta(days=1)


def hours_minutes(span: timedelta) -> tuple[int, int]:
    minutes = int(span.total_seconds() // 60)
    return minutes // 60, minutes % 60
