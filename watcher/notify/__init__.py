"""Notices to people: an SNS topic and/or a webhook, sent after each cycle without blocking it."""

from __future__ import annotations

from collections.abc import Callable

from watcher.config import Config
from watcher.results import CycleResult


def build_notifier(config: Config) -> Callable[[CycleResult], None] | None:
    """The notifier the config asks for, or None when no channel is configured."""
    return None
