"""Notices from real cycles against the simulator: what a bought extension, a plan with no
acceptable offering and a budget refusal tell, what is not told twice, and that a hung
channel never holds up a cycle."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    REGION,
    Engine,
    kinds,
    make_config,
)
from tests.integration.test_notify_support import (
    MemoryChannel,
    due_with_job,
    topic_with_inbox,
    webhook_receiver,
)
from watcher.aws.calls import CallCounter
from watcher.clock import ManualClock
from watcher.notify import Dispatcher, SnsChannel, WebhookChannel
from watcher.report import decision_fields

DUE = timedelta(hours=40)


def _due_with_job(sim: Any, t0: datetime, name: str) -> str:
    return due_with_job(sim, name, t0 + DUE, t0)


def _engine(tmp_path: Path, clock: ManualClock, *channels: Any, **config: Any) -> Engine:
    engine = Engine(make_config(tmp_path / "j.db", **config), clock, tmp_path / "j.db")
    engine.reconciler.notifier = Dispatcher(list(channels), flush_at_exit=False, first_backoff=0)
    return engine


def _close(engine: Engine) -> None:
    notifier = engine.reconciler.notifier
    assert isinstance(notifier, Dispatcher)
    notifier.close(timeout=10)


def test_a_purchase_and_a_plan_without_offerings_are_told_once(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    bought_arn = _due_with_job(sim, t0, "llm-a")
    stuck_arn = _due_with_job(sim, t0, "llm-stuck")
    sim.market.set_terms("llm-stuck", available=False)
    channel = MemoryChannel()
    engine = _engine(tmp_path, clock, channel)

    first, _ = engine.cycle()
    clock.advance(minutes=15)
    second, _ = engine.cycle()
    _close(engine)

    assert kinds(first) == {"llm-a": "extended", "llm-stuck": "no_offering"}
    assert kinds(second)["llm-stuck"] == "no_offering"
    told = [(n.kind.value, n.plan_name, n.cycle_id) for n in channel.sent]
    assert told == [
        ("purchase_succeeded", "llm-a", first.cycle_id),
        ("no_offering", "llm-stuck", first.cycle_id),
    ]
    bought, stuck = channel.sent
    assert bought.plan_arn == bought_arn and stuck.plan_arn == stuck_arn
    [purchase] = sim.record.purchases
    assert bought.offering_id == purchase.offering_id
    body = bought.to_json()
    assert body["upfront_fee"] == DAY_FEE_4 and body["currency"] == "USD"
    assert body["duration_hours"] == 24 and body["target"] == "default"
    # Times as in the cycle's JSON (and /status): UTC with a Z.
    [stuck_result] = [r for r in first.results if r.plan_name == "llm-stuck"]
    assert stuck.to_json()["plan_end"] == decision_fields(stuck_result)["end_time"]
    assert stuck.to_json()["plan_end"].endswith("Z")
    assert stuck.deadline == sim.plan_end("llm-stuck") - timedelta(hours=2)


def test_a_budget_refusal_is_told_with_the_fee_it_refused(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_with_job(sim, t0, "llm-a")
    channel = MemoryChannel()
    budgets = [{"name": "tight", "limit": "100.00 USD", "window": "calendar-month"}]
    engine = _engine(tmp_path, clock, channel, budgets=budgets)

    cycle, _ = engine.cycle()
    _close(engine)

    assert kinds(cycle) == {"llm-a": "over_budget"}
    [notice] = channel.sent
    assert notice.kind.value == "over_budget"
    assert notice.fee is not None and str(notice.fee) == f"{DAY_FEE_4} USD"
    assert sim.record.purchases == []


def test_dry_run_tells_conditions_marked_and_buys_nothing(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_with_job(sim, t0, "llm-a")
    _due_with_job(sim, t0, "llm-stuck")
    sim.market.set_terms("llm-stuck", available=False)
    channel = MemoryChannel()
    engine = _engine(tmp_path, clock, channel, mode="dry-run")

    cycle, _ = engine.cycle()
    _close(engine)

    assert kinds(cycle) == {"llm-a": "would_extend", "llm-stuck": "no_offering"}
    [notice] = channel.sent  # would_extend is not a notice; no purchase happened
    assert notice.kind.value == "no_offering" and notice.to_json()["dry_run"] is True


def test_a_hung_webhook_does_not_hold_up_the_cycle_or_the_topic(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_with_job(sim, t0, "llm-stuck")
    sim.market.set_terms("llm-stuck", available=False)
    topic, sqs, queue_url = topic_with_inbox(REGION)
    stats = CallCounter()

    with webhook_receiver(hold=True) as receiver:
        engine = _engine(tmp_path, clock)
        notifier = Dispatcher(
            [WebhookChannel(receiver.url, timeout=30), SnsChannel(topic)],
            stats=stats,
            flush_at_exit=False,
        )
        engine.reconciler.notifier = notifier

        cycle, _ = engine.cycle()

        # The cycle is back while the webhook still holds the request open.
        assert kinds(cycle) == {"llm-stuck": "no_offering"}
        assert receiver.arrived.wait(10)
        assert not receiver.answered.is_set()
        # SNS went out meanwhile: its lane does not wait behind the webhook's.
        pause = threading.Event()  # never set: a plain wait between polls
        for _ in range(300):
            if stats.snapshot().get(("sns", "sent")):
                break
            pause.wait(0.1)
        messages = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
        assert not receiver.answered.is_set()
        [message] = messages
        assert json.loads(json.loads(message["Body"])["Message"])["kind"] == "no_offering"

        receiver.release.set()
        notifier.close(timeout=10)

    assert stats.snapshot() == {("sns", "sent"): 1, ("webhook", "sent"): 1}
    [request] = receiver.received
    assert request.body["plan_name"] == "llm-stuck" and request.body["cycle_id"] == cycle.cycle_id
