"""The dispatcher: retries per notice, failures logged per attempt, full queues drop, one
channel's trouble stays its own, and the flush at exit is bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.testing import CapturingLogger

from tests.integration.test_notify_support import BlockedChannel, MemoryChannel
from watcher.aws.calls import CallCounter
from watcher.config import Mode
from watcher.notify import Dispatcher
from watcher.notify.notice import Notice, NoticeKind
from watcher.results import CycleResult

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _notice(name: str = "llm-a") -> Notice:
    return Notice(
        NoticeKind.NO_OFFERING,
        plan_arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-plan/{name}",
        plan_name=name,
        target="prod",
        summary=f"{name} has no acceptable offering",
        reason="none offered",
        cycle_id="c1",
        mode=Mode.ENFORCE,
        at=NOW,
    )


def _dispatcher(*channels: Any, **options: Any) -> tuple[Dispatcher, CapturingLogger]:
    capture = CapturingLogger()
    options.setdefault("first_backoff", 0.0)
    dispatcher = Dispatcher(
        list(channels),
        log=structlog.wrap_logger(capture, processors=[]),
        flush_at_exit=False,
        **options,
    )
    return dispatcher, capture


def _events(capture: CapturingLogger, name: str) -> list[dict[str, Any]]:
    return [c.kwargs for c in capture.calls if c.kwargs.get("event") == name]


def test_a_failed_send_is_retried_and_each_failure_logged() -> None:
    channel = MemoryChannel(fail=2)
    stats = CallCounter()
    dispatcher, capture = _dispatcher(channel, retries=3, stats=stats)
    dispatcher.submit(_notice())
    dispatcher.close(timeout=10)

    assert channel.attempts == 3 and [n.plan_name for n in channel.sent] == ["llm-a"]
    failures = _events(capture, "notification_failed")
    assert [(f["channel"], f["attempt"], f["will_retry"]) for f in failures] == [
        ("memory", 1, True),
        ("memory", 2, True),
    ]
    assert stats.snapshot() == {("memory", "sent"): 1}


def test_a_notice_is_given_up_after_its_retries() -> None:
    channel = MemoryChannel(fail=100)
    stats = CallCounter()
    dispatcher, capture = _dispatcher(channel, retries=2, stats=stats)
    dispatcher.submit(_notice())
    dispatcher.close(timeout=10)

    assert channel.attempts == 3 and channel.sent == []
    failures = _events(capture, "notification_failed")
    assert [f["attempt"] for f in failures] == [1, 2, 3]
    assert failures[-1]["will_retry"] is False and failures[-1]["attempts"] == 3
    assert "refused by the test" in failures[-1]["error"]
    assert stats.snapshot() == {("memory", "failed"): 1}


def test_a_failing_channel_does_not_stop_the_other() -> None:
    broken, working = MemoryChannel("broken", fail=100), MemoryChannel("working")
    stats = CallCounter()
    dispatcher, _ = _dispatcher(broken, working, retries=1, stats=stats)
    dispatcher.submit(_notice("a"))
    dispatcher.submit(_notice("b"))
    dispatcher.close(timeout=10)

    assert [n.plan_name for n in working.sent] == ["a", "b"]
    assert stats.snapshot() == {("broken", "failed"): 2, ("working", "sent"): 2}


def test_a_full_queue_drops_and_says_so() -> None:
    channel = BlockedChannel()
    stats = CallCounter()
    dispatcher, capture = _dispatcher(channel, queue_size=1, stats=stats)
    dispatcher.submit(_notice("first"))
    assert channel.entered.wait(10)  # the sender holds "first"; the queue is empty again
    dispatcher.submit(_notice("second"))  # waits in the queue
    dispatcher.submit(_notice("third"))  # no room
    channel.release.set()
    dispatcher.close(timeout=10)

    assert [n.plan_name for n in channel.sent] == ["first", "second"]
    [dropped] = _events(capture, "notification_dropped")
    assert dropped["plan"] == "third" and "queue full" in dropped["reason"]
    assert stats.snapshot() == {("blocked", "sent"): 2, ("blocked", "dropped"): 1}


def test_closing_with_a_hung_channel_gives_up_on_what_is_left() -> None:
    channel = BlockedChannel()
    stats = CallCounter()
    dispatcher, capture = _dispatcher(channel, stats=stats)
    dispatcher.submit(_notice("first"))
    assert channel.entered.wait(10)
    dispatcher.submit(_notice("second"))

    dispatcher.close(timeout=0.2)  # returns although "first" is still being sent

    assert channel.sent == []
    dropped = _events(capture, "notification_dropped")
    assert [d["plan"] for d in dropped] == ["second"]
    assert "before the process exited" in dropped[0]["reason"]
    dispatcher.submit(_notice("late"))  # after close: dropped, never queued
    assert stats.snapshot() == {("blocked", "dropped"): 2}
    channel.release.set()


def test_a_broken_cycle_is_logged_not_raised() -> None:
    channel = MemoryChannel()
    dispatcher, capture = _dispatcher(channel)
    # A closed "proposal" that is not one stands in for any bug in the notice code.
    cycle = CycleResult("c9", NOW, Mode.ENFORCE)
    cycle.proposals_closed = [object()]  # type: ignore[list-item]

    dispatcher(cycle)  # must not raise

    [error] = _events(capture, "notification_error")
    assert error["cycle_id"] == "c9"
    dispatcher.close(timeout=10)
