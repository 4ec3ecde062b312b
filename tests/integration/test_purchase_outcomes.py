"""What a purchase's answer means (docs/decisions.md, "What a purchase's answer means"), row by
row, through the simulator over real boto3.

For every answer, the simulator either made the extension server-side (AWS acted) or did not,
then answered the engine that way. Over the following cycles exactly the purchases that
should happen happen: one in all where AWS acted, one more after settling where it did not;
the plan is `in_flight` while the outcome is unknown, and `error` (backing off) after a
definite refusal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.approvals_support import due_plan
from tests.integration.test_engine_support import Engine, by_name, kinds, make_config
from watcher.act.purchase import SETTLE_AFTER, PurchaseResult
from watcher.clock import ManualClock
from watcher.journal.records import IntentState
from watcher.sandbox.answers import AMBIGUOUS_MODES, AmbiguousMode
from watcher.sandbox.faults import FaultKind, Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

# The simulator settles a payment after 10 minutes.
AFTER_PAYMENT = timedelta(minutes=15)
COVERED = {"not_due", "demand_covered"}
# Refusals AWS documents, and failures before the request left the client: AWS did not act.
DEFINITE = ("refuse", "not_found", "denied", "throttle", "limit")
NOT_SENT = ("unreachable", "connect_timeout", "no_credentials")


def _engine(tmp_path: Path, clock: ManualClock) -> Engine:
    return Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")


def _scripted(fault: FaultKind, mode: AmbiguousMode = "500") -> Faults:
    return Faults(scripted=[ScriptedFault("ExtendTrainingPlan", fault, "llm-a", 1, mode)])


def _one_purchase_in_the_end(engine: Engine, sim: Any, clock: ManualClock, arn: str) -> None:
    """Once the payment settles the plan is covered, and AWS made exactly one extension: a
    day from the end the plan had before it."""
    clock.advance(AFTER_PAYMENT)
    later, calls = engine.cycle()
    assert kinds(later)["llm-a"] in COVERED
    assert calls["ExtendTrainingPlan"] == 0
    [purchase] = sim.record.purchases
    assert sim.plan_end(arn) == purchase.plan_end_before + timedelta(hours=24)


def test_an_answer_listing_the_extension_is_bought(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock)

    first, _ = engine.cycle()

    assert kinds(first)["llm-a"] == "extended"
    assert by_name(first)["llm-a"].purchase.result is PurchaseResult.BOUGHT
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.BOUGHT
    _one_purchase_in_the_end(engine, sim, clock, arn)


def test_an_answer_listing_the_extension_under_its_own_id_is_bought(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS may list the new extension under an ID other than the offering's: an extension
    requested since the intent that starts where the plan ended is the evidence."""
    sim = make_sim(settings=SimSettings(extension_ids="own"))
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock)

    first, _ = engine.cycle()

    assert kinds(first)["llm-a"] == "extended"
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.BOUGHT
    _one_purchase_in_the_end(engine, sim, clock, arn)


@pytest.mark.parametrize("mode", AMBIGUOUS_MODES)
def test_a_bad_answer_after_aws_acted_settles_as_bought_and_buys_nothing_more(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, mode: AmbiguousMode
) -> None:
    sim = make_sim(faults=_scripted("ambiguous", mode))
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock)

    first, calls = engine.cycle()
    result = by_name(first)["llm-a"]
    assert (result.decision.kind.value, calls["ExtendTrainingPlan"]) == ("in_flight", 1)
    assert result.purchase is not None and result.purchase.result is PurchaseResult.AMBIGUOUS
    assert [u.acted for u in sim.record.unanswered] == [True]
    assert len(sim.record.purchases) == 1
    assert engine.events("purchase_succeeded") == []

    clock.advance(minutes=2)
    second, calls = engine.cycle()
    assert (kinds(second)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 0)
    [settled] = engine.reconciler.journal.intents_since(t0)
    assert settled.state is IntentState.BOUGHT
    assert [s.state for s in second.settled] == [IntentState.BOUGHT]
    _one_purchase_in_the_end(engine, sim, clock, arn)


@pytest.mark.parametrize("mode", AMBIGUOUS_MODES)
def test_a_bad_answer_where_aws_did_not_act_is_bought_once_after_settling(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, mode: AmbiguousMode
) -> None:
    sim = make_sim(faults=_scripted("lost", mode))
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock)

    first, calls = engine.cycle()
    assert (kinds(first)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 1)
    assert [u.acted for u in sim.record.unanswered] == [False]
    assert sim.record.purchases == []

    clock.advance(minutes=10)
    waiting, calls = engine.cycle()
    assert (kinds(waiting)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 0)

    clock.advance(SETTLE_AFTER)
    settled, calls = engine.cycle()
    assert (kinds(settled)["llm-a"], calls["ExtendTrainingPlan"]) == ("extended", 1)
    assert [s.state for s in settled.settled] == [IntentState.FAILED]
    _one_purchase_in_the_end(engine, sim, clock, arn)


@pytest.mark.parametrize("fault", DEFINITE + NOT_SENT)
def test_a_refusal_or_a_request_never_sent_fails_and_is_bought_after_backing_off(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, fault: FaultKind
) -> None:
    sim = make_sim(faults=_scripted(fault))
    arn = due_plan(sim, t0)
    engine = _engine(tmp_path, clock)

    first, calls = engine.cycle()
    result = by_name(first)["llm-a"]
    assert (result.decision.kind.value, calls["ExtendTrainingPlan"]) == ("error", 1)
    assert result.purchase is not None and result.purchase.result is PurchaseResult.FAILED
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.FAILED
    assert sim.record.purchases == []

    clock.advance(minutes=16)  # past the default retry_backoff of 15 minutes
    retried, calls = engine.cycle()
    assert (kinds(retried)["llm-a"], calls["ExtendTrainingPlan"]) == ("extended", 1)
    _one_purchase_in_the_end(engine, sim, clock, arn)
