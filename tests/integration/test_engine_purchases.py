"""Buying safely (SPEC section 5): an ambiguous purchase is never repeated, and a process that
died between its intent and its call is resolved from AWS's record on the next start."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    Engine,
    by_name,
    client,
    exact_offering,
    make_config,
)
from watcher.act.purchase import SETTLE_AFTER
from watcher.clock import ManualClock
from watcher.journal.records import Intent, IntentState
from watcher.model import Money
from watcher.sandbox.faults import AmbiguousMode, Faults, ScriptedFault

# The simulator's default payment delay is 10 minutes.
AFTER_PAYMENT = timedelta(minutes=15)
COVERED = {"not_due", "demand_covered"}


def _seed(sim: Any, t0: datetime) -> str:
    """A due plan (50.5 h left) under a job that runs 20 h past its end: it needs one day."""
    arn = str(sim.add_plan("llm-a", ends_at=t0 + timedelta(hours=40), instance_count=4))
    end = sim.plan_end(arn)
    started = t0 - timedelta(days=1)
    sim.add_job(
        "run", plan="llm-a", started_at=started, max_runtime=end - started + timedelta(hours=20)
    )
    return arn


def _engine(tmp_path: Path, clock: ManualClock) -> Engine:
    return Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")


def _decision(cycle: Any) -> str:
    return str(by_name(cycle)["llm-a"].decision.kind.value)


# --- ambiguous purchases ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_ambiguous_purchase_is_never_repeated_and_settles_as_bought(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, mode: AmbiguousMode
) -> None:
    """AWS applies the purchase, then the caller sees a 500 (or the connection drops)."""
    fault = ScriptedFault("ExtendTrainingPlan", "ambiguous", plan="llm-a", ambiguous_mode=mode)
    sim = make_sim(faults=Faults(scripted=[fault]))
    arn = _seed(sim, t0)
    end = sim.plan_end(arn)
    engine = _engine(tmp_path, clock)

    first, calls = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "in_flight"
    assert "outcome unknown" in result.decision.reason
    assert calls["ExtendTrainingPlan"] == 1
    assert engine.counter.snapshot()[("ExtendTrainingPlan", "ambiguous")] == 1
    [purchase] = sim.record.purchases
    assert purchase.ambiguous
    [intent] = engine.reconciler.journal.open_intents()
    assert intent.offering_id == purchase.offering_id
    assert len(engine.events("purchase_ambiguous")) == 1
    # Only plan-watcher's own logic stands between the 500 and a second purchase: the
    # offering is still searchable and buyable for a caller that tried again.

    # Next cycle, payment still pending: the intent settles as bought, the plan is in flight.
    clock.advance(minutes=2)
    second, calls = engine.cycle()
    assert _decision(second) == "in_flight"
    assert calls["ExtendTrainingPlan"] == 0
    assert engine.reconciler.journal.open_intents() == []
    [settled] = engine.reconciler.journal.intents_since(t0)
    assert settled.state is IntentState.BOUGHT
    assert "found in extension history" in settled.note

    # After the payment delay: covered, and still exactly one purchase.
    clock.advance(AFTER_PAYMENT)
    third, calls = engine.cycle()
    assert _decision(third) in COVERED
    assert calls["ExtendTrainingPlan"] == 0
    assert len(sim.record.purchases) == 1
    assert sim.plan_end(arn) == end + timedelta(hours=24)


def test_ambiguous_purchase_that_never_happened_is_bought_once_after_settling(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A 5xx before AWS did anything looks the same to the caller: wait, then buy once."""
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx")]))
    _seed(sim, t0)
    engine = _engine(tmp_path, clock)

    first, calls = engine.cycle()
    assert _decision(first) == "in_flight"
    assert calls["ExtendTrainingPlan"] == 1
    assert sim.record.purchases == []

    clock.advance(minutes=10)
    waiting, calls = engine.cycle()
    assert _decision(waiting) == "in_flight"
    assert calls["ExtendTrainingPlan"] == 0

    clock.advance(SETTLE_AFTER)
    settled, calls = engine.cycle()
    assert _decision(settled) == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    assert len(sim.record.purchases) == 1
    # The intent was settled as not bought (the journal keeps one intent per plan and end
    # time; the audit trail keeps both outcomes).
    trail = [(e, d.split(":")[0]) for _, _, e, d in engine.reconciler.journal.events()]
    [bought] = sim.record.purchases
    assert [e for e, _ in trail] == ["intent", "failed", "intent", "bought"]
    assert trail[3] == ("bought", bought.offering_id)


# --- a crash between the intent and the call --------------------------------------------------


def _dead_process_intent(
    engine: Engine, sim: Any, arn: str, offering_id: str, at: datetime
) -> Intent:
    """Write the intent exactly as `buy` does before calling AWS, then "die"."""
    intent = Intent(
        plan_arn=arn,
        plan_end=sim.plan_end(arn),
        offering_id=offering_id,
        target="default",
        fee=Money(Decimal(DAY_FEE_4), "USD"),
        duration_hours=24,
        created_at=at,
    )
    assert engine.reconciler.journal.open_intent(intent)
    engine.reconciler.journal.close()
    return intent


def test_crash_before_the_call_resolves_as_not_bought_then_buys_once(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _seed(sim, t0)
    offer = exact_offering(client(), arn, 24, sim.plan_end(arn))
    dead = _engine(tmp_path, clock)
    intent = _dead_process_intent(
        dead, sim, arn, offer["TrainingPlanExtensionOfferingId"], clock.now()
    )

    # Restarted soon after: the outcome is unknown, so nothing is bought.
    clock.advance(minutes=1)
    engine = _engine(tmp_path, clock)
    early, calls = engine.cycle()
    assert _decision(early) == "in_flight"
    assert "unresolved purchase intent" in by_name(early)["llm-a"].decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    assert calls["SearchTrainingPlanOfferings"] == 0
    assert sim.record.purchases == []

    # Restarted again once SETTLE_AFTER has passed: not bought, so buy now, once.
    clock.advance(SETTLE_AFTER)
    engine = _engine(tmp_path, clock)
    late, calls = engine.cycle()
    assert _decision(late) == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    [purchase] = sim.record.purchases
    assert purchase.offering_id != intent.offering_id  # a fresh offering, searched again
    trail = [(e, d.split(":")[0]) for _, _, e, d in engine.reconciler.journal.events()]
    assert trail[1] == ("failed", intent.offering_id)
    assert trail[3] == ("bought", purchase.offering_id)
    assert [e for e, _ in trail] == ["intent", "failed", "intent", "bought"]
    [resolved] = engine.events("purchase_resolved")
    assert resolved["outcome"] == "not_bought"


def test_crash_after_the_call_resolves_as_bought_and_buys_nothing_more(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _seed(sim, t0)
    end = sim.plan_end(arn)
    sm = client()
    offer = exact_offering(sm, arn, 24, end)
    dead = _engine(tmp_path, clock)
    intent = _dead_process_intent(
        dead, sim, arn, offer["TrainingPlanExtensionOfferingId"], clock.now()
    )
    # The dead process's call reached AWS: the purchase happened.
    sm.extend_training_plan(TrainingPlanExtensionOfferingId=intent.offering_id)

    clock.advance(minutes=1)
    engine = _engine(tmp_path, clock)
    cycle, calls = engine.cycle()

    assert _decision(cycle) == "in_flight"  # its payment is still pending at AWS
    assert calls["ExtendTrainingPlan"] == 0
    [settled] = engine.reconciler.journal.intents_since(t0)
    assert (settled.offering_id, settled.state) == (intent.offering_id, IntentState.BOUGHT)
    [resolved] = engine.events("purchase_resolved")
    assert resolved["outcome"] == "bought"

    clock.advance(AFTER_PAYMENT)
    later, calls = engine.cycle()
    assert _decision(later) in COVERED
    assert calls["ExtendTrainingPlan"] == 0
    assert [p.offering_id for p in sim.record.purchases] == [intent.offering_id]
    assert sim.plan_end(arn) == end + timedelta(hours=24)


def test_open_intent_is_resolved_before_any_new_purchase(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """On start-up the intent is settled first: its history is read before any search."""
    arn = _seed(sim, t0)
    offer = exact_offering(client(), arn, 24, sim.plan_end(arn))
    dead = _engine(tmp_path, clock)
    _dead_process_intent(dead, sim, arn, offer["TrainingPlanExtensionOfferingId"], clock.now())
    clock.advance(SETTLE_AFTER + timedelta(minutes=1))
    engine = _engine(tmp_path, clock)

    cycle, _ = engine.cycle()

    assert _decision(cycle) == "extended"
    names = [c.kwargs["event"] for c in engine.logger.calls]
    assert names.index("purchase_resolved") < names.index("purchase_intent")
    assert len(sim.record.purchases) == 1
