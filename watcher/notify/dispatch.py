"""Sending notices without holding up a cycle.

The dispatcher is the reconciler's notifier: handed a finished cycle, it works out the
notices (pure), drops repeats of standing conditions (`Deduper`), and puts each notice on every
channel's bounded queue. That is all the cycle waits for. One background thread per channel
sends, retrying a failed notice a few times with a short, growing pause; a channel that hangs
or fails delays only its own queue. A full queue drops the notice (logged and counted). At
process exit the queues get a bounded flush: a few seconds at most, the pauses between
attempts kept within it, then whatever is left is logged as dropped. Nothing a channel raises
ends its thread: any failure is a logged and counted `notification_failed`, whose text never
carries a header value, a token or a URL's query.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from watcher.aws.calls import CallCounter
from watcher.notify.channels import Channel, ChannelError
from watcher.notify.dedupe import Deduper
from watcher.notify.notice import Notice, notices_for
from watcher.observe.logs import get_logger
from watcher.results import CycleResult

QUEUE_SIZE = 100
FIRST_BACKOFF = 0.5  # seconds; doubles per attempt
MAX_BACKOFF = 5.0
FLUSH_SECONDS = 3.0
ABORT_JOIN_SECONDS = 0.2

#: Outcomes counted per channel (plan_watcher_notifications_total{channel,outcome}).
OUTCOMES = ("sent", "failed", "dropped")

_STOP = object()


class _Lane:
    """One channel's queue and the thread that empties it."""

    def __init__(self, channel: Channel, owner: Dispatcher) -> None:
        self.channel = channel
        self.owner = owner
        self.queue: queue.Queue[object] = queue.Queue(maxsize=owner.queue_size)
        self.thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        with self._start_lock:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name=f"notify-{self.channel.name}", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            if not isinstance(item, Notice):
                continue
            try:
                self.owner.deliver(self.channel, item)
            except Exception as exc:  # the lane outlives any failure; the notice does not
                self.owner.failed_outright(self.channel, item, exc)


class Dispatcher:
    """The notifier: `dispatcher(cycle)` queues the cycle's notices and returns at once."""

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        retries: int = 3,
        stats: CallCounter | None = None,
        log: Any = None,
        queue_size: int = QUEUE_SIZE,
        first_backoff: float = FIRST_BACKOFF,
        flush_seconds: float = FLUSH_SECONDS,
        flush_at_exit: bool = True,
    ) -> None:
        """`stats` counts notices by (channel, outcome), outcome one of OUTCOMES."""
        self.retries = retries
        self.stats = stats or CallCounter()
        self.log = log or get_logger()
        self.queue_size = queue_size
        self.first_backoff = first_backoff
        self.flush_seconds = flush_seconds
        self.deduper = Deduper()
        self._lanes = [_Lane(channel, self) for channel in channels]
        # Set when the flush at close ran out of time: pauses between attempts end at once.
        self._abort = threading.Event()
        self._deadline: float | None = None  # while closing: when the flush must be over
        self._closed = False
        self._at_exit = flush_at_exit
        if flush_at_exit:
            atexit.register(self.close)

    @property
    def channels(self) -> list[Channel]:
        return [lane.channel for lane in self._lanes]

    def __call__(self, cycle: CycleResult) -> None:
        try:
            notices = self.deduper.admit(cycle, notices_for(cycle))
            for notice in notices:
                self.submit(notice)
        except Exception as exc:  # a notification problem must never break a cycle
            self.log.exception("notification_error", error=str(exc), cycle_id=cycle.cycle_id)

    def submit(self, notice: Notice) -> None:
        """Queue `notice` on every channel without waiting; a full queue drops it."""
        for lane in self._lanes:
            if self._closed:
                self._dropped(lane.channel, notice, "the notifier is closed")
                continue
            lane.start()
            try:
                lane.queue.put_nowait(notice)
            except queue.Full:
                self._dropped(lane.channel, notice, f"queue full ({self.queue_size} waiting)")

    def deliver(self, channel: Channel, notice: Notice) -> bool:
        """Send with retries (called on the channel's thread); True once it was accepted."""
        attempts = 1 + self.retries
        delay = self.first_backoff
        for attempt in range(1, attempts + 1):
            try:
                channel.send(notice)
            except Exception as exc:
                last = attempt == attempts
                self.log.warning(
                    "notification_failed",
                    channel=channel.name,
                    attempt=attempt,
                    attempts=attempts,
                    will_retry=not last,
                    kind=notice.kind.value,
                    plan=notice.plan_name,
                    target=notice.target,
                    notice_id=notice.notice_id,
                    error=_error_text(exc),
                )
                if last:
                    self.stats.add(channel.name, "failed")
                    return False
                if not self._pause(delay):
                    self._dropped(channel, notice, "not sent before the process exited")
                    return False
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self.stats.add(channel.name, "sent")
            self.log.info(
                "notification_sent",
                channel=channel.name,
                attempt=attempt,
                kind=notice.kind.value,
                plan=notice.plan_name,
                target=notice.target,
                notice_id=notice.notice_id,
            )
            return True
        return False  # pragma: no cover - the loop always returns

    def _pause(self, seconds: float) -> bool:
        """Wait before the next attempt; False when the exit flush has no time left for it."""
        deadline = self._deadline
        if deadline is not None and time.monotonic() + seconds >= deadline:
            return False
        return not self._abort.wait(seconds)

    def failed_outright(self, channel: Channel, notice: Notice, exc: Exception) -> None:
        """A failure outside a send (logging, counting): counted, and the lane goes on."""
        self.stats.add(channel.name, "failed")
        with contextlib.suppress(Exception):
            self.log.error(
                "notification_failed",
                channel=channel.name,
                kind=notice.kind.value,
                plan=notice.plan_name,
                target=notice.target,
                notice_id=notice.notice_id,
                will_retry=False,
                error=_error_text(exc),
            )

    def _dropped(self, channel: Channel, notice: Notice, reason: str) -> None:
        self.stats.add(channel.name, "dropped")
        self.log.error(
            "notification_dropped",
            channel=channel.name,
            kind=notice.kind.value,
            plan=notice.plan_name,
            target=notice.target,
            notice_id=notice.notice_id,
            reason=reason,
        )

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, for at most `timeout` seconds (default `flush_seconds`), then
        log what is left as dropped. Later notices are dropped. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._at_exit:
            atexit.unregister(self.close)
        deadline = time.monotonic() + (self.flush_seconds if timeout is None else timeout)
        self._deadline = deadline
        for lane in self._lanes:
            if lane.thread is None:
                continue
            with contextlib.suppress(queue.Full):  # a hung channel: joined with a deadline
                lane.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        self._abort.set()  # a lane still pausing gives its notice up now
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(ABORT_JOIN_SECONDS)
        for lane in self._lanes:
            self._drain(lane)

    def _drain(self, lane: _Lane) -> None:
        while True:
            try:
                item = lane.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Notice):
                self._dropped(lane.channel, item, "not sent before the process exited")


def _error_text(exc: BaseException) -> str:
    """What a log line may say about a failure. A ChannelError's text is written to be safe;
    anything else may quote a header value or a URL, so only its type is kept."""
    if isinstance(exc, ChannelError):
        return str(exc)
    return f"{type(exc).__name__} (details withheld: they may quote a credential)"
