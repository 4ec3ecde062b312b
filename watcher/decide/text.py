"""How the core writes times, amounts and spans into reasons an operator reads at 3 a.m."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from watcher.model import Money


def iso(when: datetime) -> str:
    """2025-09-23T11:30:00Z: UTC, to the second."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Money) -> str:
    """123.45 USD."""
    return str(amount)


def per_hour(fee: Money, hours: int) -> str:
    """A fee spread over `hours`, shown to the cent (display only; comparisons stay exact)."""
    rate = (fee.amount / Decimal(hours)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{rate:f} {fee.currency}/h"


def hours_text(hours: int) -> str:
    """48h (2d), 504h (3w), 5h."""
    if hours > 0 and hours % 168 == 0:
        return f"{hours}h ({hours // 168}w)"
    if hours > 0 and hours % 24 == 0:
        return f"{hours}h ({hours // 24}d)"
    return f"{hours}h"


def span(delta: timedelta) -> str:
    """3d 4h 5m; negative spans get a leading minus."""
    sign = "-" if delta < timedelta(0) else ""
    total_minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return sign + " ".join(parts)


def span_seconds(delta: timedelta) -> str:
    """`span` keeping the seconds where there are any (a poll of 5m 30s), for a reason whose
    reader adds it up against times written to the second."""
    seconds = int(abs(delta).total_seconds()) % 60
    if not seconds:
        return span(delta)
    if abs(delta) < timedelta(minutes=1):
        return f"{'-' if delta < timedelta(0) else ''}{seconds}s"
    return f"{span(delta)} {seconds}s"
