"""An extension whose payment fails: AWS lists it as `Failed` in the plan's extension history
and leaves (or puts back) the plan's end where it was. The journal's purchase becomes a failed
one, visibly, so a later cycle can buy from the same end under every other rule; nothing is
bought twice while AWS has not said that the first purchase failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog

from tests.integration.approvals_support import due_plan, samples
from tests.integration.dynamodb_support import TABLE
from tests.integration.test_engine_support import (
    REGION,
    Engine,
    by_name,
    kinds,
    make_config,
)
from watcher.clock import ManualClock
from watcher.history import Period, gather
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.records import IntentState
from watcher.journal.table import create_table
from watcher.notify.notice import NoticeKind, notices_for
from watcher.reconcile import Reconciler
from watcher.report import cycle_json
from watcher.results import CycleResult
from watcher.sandbox.faults import Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

DAY_FEE_4 = "9438.72"  # 98.32 USD x 4 instances x 24 h
FAILED_AT_AWS = "AWS reports the extension failed"


def _engine(tmp_path: Path, clock: ManualClock, backend: str = "sqlite", **top: Any) -> Engine:
    """An engine over the simulator, its journal in SQLite or in a DynamoDB table."""
    engine = Engine(make_config(tmp_path / "j.db", **top), clock, tmp_path / "j.db")
    if backend == "dynamodb":
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        old = engine.reconciler
        log = structlog.wrap_logger(engine.logger, processors=[])
        journal = DynamoJournal(TABLE, dynamodb, clock)
        engine.reconciler = Reconciler(old.config, clock, journal, old.gateways, log)
    return engine


def _every(engine: Engine, clock: ManualClock, until: datetime, minutes: int) -> Iterator[Any]:
    """Cycles every `minutes` up to `until`, as the daemon runs them."""
    while clock.now() < until:
        yield engine.cycle()[0]
        clock.advance(minutes=minutes)


def _payment_fails_once(sim: Any, t0: datetime, engine: Engine) -> tuple[str, datetime]:
    """`llm-a` is due under a running job; its first extension's payment will fail."""
    arn = due_plan(sim, t0)
    end = sim.plan_end(arn)
    sim.market.set_terms("llm-a", payment_failure_rate=1.0)
    first, _ = engine.cycle()
    assert kinds(first)["llm-a"] == "extended"
    sim.market.set_terms("llm-a", payment_failure_rate=0.0)  # the next payment goes through
    return arn, end


def _settling_cycle(engine: Engine, clock: ManualClock) -> CycleResult:
    """Cycles every 5 minutes until one records the purchase as failed."""
    clock.advance(minutes=5)
    for cycle in _every(engine, clock, clock.now() + timedelta(hours=2), 5):
        if cycle.settled:
            return cycle
    raise AssertionError("no cycle recorded the failed extension")


@pytest.mark.parametrize(
    ("backend", "settings"),
    [
        ("sqlite", SimSettings()),
        ("dynamodb", SimSettings()),
        # The end never moves for it, and AWS lists it under its own ID (matched by time).
        ("sqlite", SimSettings(end_time_moves="on_payment", extension_ids="own")),
    ],
    ids=["sqlite", "dynamodb", "on_payment-own_ids"],
)
def test_a_plan_whose_extension_payment_failed_is_extended_again_before_its_work_is_cut(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    backend: str,
    settings: SimSettings,
) -> None:
    """Bought once, the payment fails: bought once more from the same end, and the job on
    the plan is never interrupted."""
    sim = make_sim(settings=settings)
    engine = _engine(tmp_path, clock, backend)
    arn, end = _payment_fails_once(sim, t0, engine)

    for _ in _every(engine, clock, t0 + timedelta(hours=2), 5):
        pass
    list(_every(engine, clock, end + timedelta(hours=1), 60))

    first, second = sim.record.purchases
    assert first.plan_end_before == second.plan_end_before == end
    assert sim.plan_end(arn) == end + timedelta(hours=24)
    assert sim.record.interruptions == []
    states = sorted(i.state.value for i in engine.reconciler.journal.intents_since(t0))
    assert states == ["bought"]  # the failed one was replaced by the purchase that held


def test_an_extension_aws_lists_as_failed_is_seen_in_the_log_a_notice_a_metric_and_status(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim()
    engine = _engine(tmp_path, clock)
    _payment_fails_once(sim, t0, engine)
    [bought] = sim.record.purchases

    settling = _settling_cycle(engine, clock)

    result = by_name(settling)["llm-a"]
    assert result.decision.kind.value == "in_flight"
    assert FAILED_AT_AWS in result.decision.reason and bought.offering_id in result.decision.reason
    [status] = [d for d in cycle_json(settling)["decisions"] if d["plan_name"] == "llm-a"]
    assert FAILED_AT_AWS in status["reason"]
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.FAILED and "Status Failed" in intent.note
    [event] = engine.events("extension_failed")
    assert (event["offering_id"], event["was"]) == (bought.offering_id, "bought")
    assert "payment method" in event["check"]
    [notice] = [n for n in notices_for(settling) if n.kind is NoticeKind.EXTENSION_FAILED]
    assert notice.offering_id == bought.offering_id and FAILED_AT_AWS in notice.summary
    metrics = samples(settling)
    assert metrics[("plan_watcher_extensions_reported_failed_total", ())] == 1.0
    # It was not a purchase with an unknown outcome.
    settled = "plan_watcher_purchases_settled_total"
    assert metrics[(settled, (("outcome", "not_bought"),))] == 0.0

    clock.advance(minutes=5)
    backing_off, calls = engine.cycle()
    retry = by_name(backing_off)["llm-a"].decision
    assert (retry.kind.value, calls["ExtendTrainingPlan"]) == ("error", 0)
    assert "backing off until" in retry.reason and FAILED_AT_AWS in retry.reason


def test_an_ambiguous_purchase_whose_extension_failed_is_settled_as_failed(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """The answer was lost after AWS acted; the history then lists the extension as Failed:
    the open intent settles as failed (not as bought), and the plan is bought for again."""
    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "ambiguous", "llm-a", 1)])
    # The payment fails before the next cycle settles the intent.
    sim = make_sim(faults=faults, settings=SimSettings(payment_delay=timedelta(minutes=1)))
    engine = _engine(tmp_path, clock)
    arn, end = _payment_fails_once_ambiguous(sim, t0, engine)

    settling = _settling_cycle(engine, clock)
    [settled] = settling.settled
    assert settled.state is IntentState.FAILED and settled.failed is not None
    assert by_name(settling)["llm-a"].decision.kind.value == "in_flight"
    metrics = samples(settling)
    assert metrics[("plan_watcher_purchases_settled_total", (("outcome", "not_bought"),))] == 1
    assert metrics[("plan_watcher_extensions_reported_failed_total", ())] == 1.0
    [notice] = [n for n in notices_for(settling) if n.kind is NoticeKind.EXTENSION_FAILED]
    assert notice.plan_name == "llm-a"

    list(_every(engine, clock, end + timedelta(hours=1), 30))
    assert len(sim.record.purchases) == 2
    assert sim.plan_end(arn) == end + timedelta(hours=24)
    assert sim.record.interruptions == []


def _payment_fails_once_ambiguous(sim: Any, t0: datetime, engine: Engine) -> tuple[str, datetime]:
    arn = due_plan(sim, t0)
    end = sim.plan_end(arn)
    sim.market.set_terms("llm-a", payment_failure_rate=1.0)
    first, _ = engine.cycle()
    assert kinds(first)["llm-a"] == "in_flight" and len(sim.record.purchases) == 1
    sim.market.set_terms("llm-a", payment_failure_rate=0.0)
    return arn, end


def test_a_pending_payment_blocks_until_aws_says_it_failed(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Three hours of `Payment Pending`: in flight all along, nothing bought beside it."""
    sim = make_sim(settings=SimSettings(payment_delay=timedelta(hours=3)))
    engine = _engine(tmp_path, clock)
    _payment_fails_once(sim, t0, engine)

    pending = list(_every(engine, clock, t0 + timedelta(hours=2, minutes=55), 5))
    assert {kinds(c)["llm-a"] for c in pending} == {"in_flight"}
    assert len(sim.record.purchases) == 1

    list(_every(engine, clock, t0 + timedelta(hours=4), 5))
    assert len(sim.record.purchases) == 2


def test_budgets_and_limits_do_not_count_a_failed_extension(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Room for one extension a day and in the budget: the failed one takes none of it."""
    budget = {"name": "month", "limit": "15000.00 USD", "window": "calendar-month"}
    limits = {"purchases_per_24h": 1, "spend_per_24h": "15000.00 USD"}
    sim = make_sim()
    engine = _engine(tmp_path, clock, budgets=[budget], safety={"limits": limits})
    _payment_fails_once(sim, t0, engine)

    settling = _settling_cycle(engine, clock)
    [spent] = settling.budgets
    assert spent.state.spent.amount == 0
    assert {s.key: s.used for s in settling.limits}["purchases_per_24h"] == 0

    list(_every(engine, clock, t0 + timedelta(hours=2), 5))
    assert len(sim.record.purchases) == 2
    last, _ = engine.cycle()
    [spent] = last.budgets
    assert str(spent.state.spent.amount) == DAY_FEE_4


def test_a_failed_payment_counts_for_the_circuit_breaker(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim()
    engine = _engine(tmp_path, clock, safety={"circuit_breaker_failures": 1})
    _payment_fails_once(sim, t0, engine)

    settling = _settling_cycle(engine, clock)
    assert settling.purchases_blocked is not None
    assert "circuit breaker" in settling.purchases_blocked
    list(_every(engine, clock, t0 + timedelta(hours=2), 5))
    assert len(sim.record.purchases) == 1  # paused until a human resumes


def test_a_new_purchase_waits_until_the_failed_extension_cannot_be_taken_for_it(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A payment that fails within a minute, cycles every minute, no backoff: the next
    purchase is made only once the failed extension was requested more than 5 minutes
    before it, so matching the new purchase by time can never find the failed one."""
    sim = make_sim(settings=SimSettings(payment_delay=timedelta(minutes=1)))
    engine = _engine(tmp_path, clock, safety={"retry_backoff": "0s"})
    _payment_fails_once(sim, t0, engine)

    waited = []
    for cycle in _every(engine, clock, t0 + timedelta(minutes=10), 1):
        waited.append(by_name(cycle)["llm-a"].decision.reason)
    first, second = sim.record.purchases
    assert second.at - first.at > timedelta(minutes=5)
    assert any("a new purchase from this end waits until after" in r for r in waited)


def test_if_aws_kept_the_end_of_a_failed_extension_nothing_more_is_bought(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS differs from the assumption: the plan keeps the failed extension's end. The
    purchase is still recorded as failed (and seen), its fee counts nowhere, and the plan,
    which AWS says ends later, is not bought for again."""
    budget = {"name": "month", "limit": "100000.00 USD", "window": "calendar-month"}
    sim = make_sim(settings=SimSettings(failed_extension_keeps_end=True))
    engine = _engine(tmp_path, clock, budgets=[budget])
    arn, end = _payment_fails_once(sim, t0, engine)

    settling = _settling_cycle(engine, clock)
    assert [n.kind for n in notices_for(settling)] == [NoticeKind.EXTENSION_FAILED]
    [spent] = settling.budgets
    assert spent.state.spent.amount == 0
    list(_every(engine, clock, end + timedelta(hours=1), 60))
    assert len(sim.record.purchases) == 1
    assert sim.plan_end(arn) == end + timedelta(hours=24)


def test_the_finance_history_lists_the_failed_extension_as_plan_watchers(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """Once bought again from the same end, the failed purchase's intent is replaced; its
    row still says plan-watcher bought it (from its note), with AWS's `Failed` status."""
    sim = make_sim()
    engine = _engine(tmp_path, clock)
    _payment_fails_once(sim, t0, engine)
    list(_every(engine, clock, t0 + timedelta(hours=2), 5))
    failed, held = sim.record.purchases

    reconciler = engine.reconciler
    found = gather(
        reconciler.config, clock.now(), reconciler.gateways, reconciler.journal, Period()
    )
    rows = {row["offering_id"]: row for row in found.rows}
    assert (rows[failed.offering_id]["status"], rows[failed.offering_id]["bought_by"]) == (
        "Failed",
        "plan-watcher",
    )
    assert rows[failed.offering_id]["policy"] == "all"
    assert rows[held.offering_id]["bought_by"] == "plan-watcher"
