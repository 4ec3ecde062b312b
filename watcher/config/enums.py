"""The config file's own closed vocabularies (logging, budget windows) and the arithmetic of
budget windows. The policy vocabularies (mode, action, prefer, on_unattributed_use) are the
decision core's, in watcher/decide/rules.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class BudgetWindow(StrEnum):
    """Calendar windows start at 00:00 UTC (weeks on Monday); rolling windows end now."""

    CALENDAR_WEEK = "calendar-week"
    CALENDAR_MONTH = "calendar-month"
    CALENDAR_QUARTER = "calendar-quarter"
    CALENDAR_YEAR = "calendar-year"
    ROLLING_7D = "rolling-7d"
    ROLLING_30D = "rolling-30d"
    ROLLING_90D = "rolling-90d"

    def start(self, now: datetime) -> datetime:
        """The first instant of the window that contains `now` (UTC)."""
        now = now.astimezone(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.startswith("rolling-"):
            return now - timedelta(days=int(self.removeprefix("rolling-").removesuffix("d")))
        if self is BudgetWindow.CALENDAR_WEEK:
            return midnight - timedelta(days=now.weekday())
        if self is BudgetWindow.CALENDAR_MONTH:
            return midnight.replace(day=1)
        if self is BudgetWindow.CALENDAR_QUARTER:
            return midnight.replace(month=(now.month - 1) // 3 * 3 + 1, day=1)
        return midnight.replace(month=1, day=1)
