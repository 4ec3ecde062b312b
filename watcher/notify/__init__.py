"""Notices to people: an SNS topic and/or a webhook, sent after each cycle without blocking it.

`notice.py` says what a cycle is worth telling (pure), `dedupe.py` keeps standing conditions
from being told every cycle, `channels.py` sends one notice once, and `dispatch.py` queues,
retries and flushes. See docs/operations.md, "Notifications".
"""

from __future__ import annotations

from typing import Any

from watcher.aws.calls import CallCounter
from watcher.config import Config
from watcher.notify.channels import Channel, ChannelError, SnsChannel, WebhookChannel
from watcher.notify.dispatch import OUTCOMES, Dispatcher
from watcher.notify.notice import Notice, NoticeKind, notices_for

__all__ = [
    "OUTCOMES",
    "Channel",
    "ChannelError",
    "Dispatcher",
    "Notice",
    "NoticeKind",
    "SnsChannel",
    "WebhookChannel",
    "build_notifier",
    "channels_for",
    "notices_for",
]


def channels_for(config: Config, calls: CallCounter | None = None) -> list[Channel]:
    """The channels `notifications` configures, SNS first (its requests counted in `calls`)."""
    settings = config.notifications
    channels: list[Channel] = []
    if settings.sns_topic_arn:
        channels.append(SnsChannel(settings.sns_topic_arn, counter=calls))
    if settings.webhook is not None:
        hook = settings.webhook
        channels.append(
            WebhookChannel(
                hook.url,
                timeout=hook.timeout.total_seconds(),
                token_env=hook.token_env,
                header=hook.header,
            )
        )
    return channels


def build_notifier(
    config: Config,
    stats: CallCounter | None = None,
    log: Any = None,
    calls: CallCounter | None = None,
) -> Dispatcher | None:
    """The notifier the config asks for, or None when no channel is configured.

    `stats` receives (channel, outcome) counts for plan_watcher_notifications_total, `calls`
    the SNS requests for plan_watcher_aws_calls_total.
    """
    channels = channels_for(config, calls)
    if not channels:
        return None
    return Dispatcher(channels, retries=config.notifications.retries, stats=stats, log=log)
