"""Settling a purchase whose outcome is unknown from AWS's record, without guessing AWS's
timing: the match by offering ID or by time, `safety.settle_after`, what an operator sees when
a purchase is settled as not made, and a plan whose end moved meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from tests.integration.approvals_support import due_plan
from tests.integration.test_engine_support import Engine, by_name, kinds, make_config
from watcher.act.purchase import SETTLE_AFTER
from watcher.clock import ManualClock
from watcher.journal.records import IntentState
from watcher.notify.notice import NoticeKind, notices_for
from watcher.observe.metrics import Telemetry
from watcher.sandbox.answers import AmbiguousMode
from watcher.sandbox.faults import FaultKind, Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

AFTER_PAYMENT = timedelta(minutes=15)
COVERED = {"not_due", "demand_covered"}
DAY_FEE_4 = "9438.72"  # 98.32 USD x 4 instances x 24 h


def _faults(fault: FaultKind, mode: AmbiguousMode = "500") -> Faults:
    return Faults(scripted=[ScriptedFault("ExtendTrainingPlan", fault, "llm-a", 1, mode)])


def test_a_purchase_aws_lists_under_another_id_settles_as_bought_and_counts_once(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(settings=SimSettings(extension_ids="own"), faults=_faults("ambiguous"))
    due_plan(sim, t0)
    budget = {"name": "month", "limit": "100000.00 USD", "window": "calendar-month"}
    engine = Engine(make_config(tmp_path / "j.db", budgets=[budget]), clock, tmp_path / "j.db")

    first, _ = engine.cycle()
    assert kinds(first)["llm-a"] == "in_flight"
    [purchase] = sim.record.purchases

    clock.advance(minutes=2)
    second, calls = engine.cycle()

    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.BOUGHT
    listed = sim.world.extension(purchase.plan_arn, purchase.offering_id).listed_id
    assert listed != purchase.offering_id and f"as {listed}" in intent.note
    assert (kinds(second)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 0)
    [spent] = second.budgets
    assert str(spent.state.spent.amount) == DAY_FEE_4  # the journal's and AWS's record, once
    clock.advance(AFTER_PAYMENT)
    third, calls = engine.cycle()
    assert kinds(third)["llm-a"] in COVERED and calls["ExtendTrainingPlan"] == 0
    assert len(sim.record.purchases) == 1


def test_settle_after_is_a_setting(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(faults=_faults("lost", "not_json"))
    due_plan(sim, t0)
    config = make_config(tmp_path / "j.db", safety={"settle_after": "10m"})
    engine = Engine(config, clock, tmp_path / "j.db")

    first, _ = engine.cycle()
    assert kinds(first)["llm-a"] == "in_flight"
    clock.advance(minutes=9)
    waiting, calls = engine.cycle()
    assert (kinds(waiting)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 0)
    clock.advance(minutes=2)
    settled, calls = engine.cycle()
    assert (kinds(settled)["llm-a"], calls["ExtendTrainingPlan"]) == ("extended", 1)
    [resolved] = engine.events("purchase_resolved")
    assert resolved["outcome"] == "not_bought" and "safety.settle_after 10m" in resolved["note"]
    assert len(sim.record.purchases) == 1


def test_a_purchase_settled_as_not_made_is_visible(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A log event, a notice and a counter, each naming the offering."""
    sim = make_sim(faults=_faults("lost", "empty"))
    due_plan(sim, t0)
    engine = Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")
    registry = CollectorRegistry(auto_describe=False)
    telemetry = Telemetry(registry)

    first, _ = engine.cycle()
    [lost] = sim.record.unanswered
    clock.advance(SETTLE_AFTER + timedelta(minutes=1))
    settled, _ = engine.cycle()
    telemetry.observe_cycle(settled, 1.0)

    [event] = engine.events("purchase_settled_not_bought")
    assert event["offering_id"] == lost.offering_id
    assert "did not happen" in event["note"] and "history" in event["check"]
    [notice] = [n for n in notices_for(settled) if n.kind is NoticeKind.PURCHASE_SETTLED_NOT_BOUGHT]
    assert notice.offering_id == lost.offering_id and notice.plan_name == "llm-a"
    assert "not made" in notice.summary
    sample = registry.get_sample_value(
        "plan_watcher_purchases_settled_total", {"outcome": "not_bought"}
    )
    assert sample == 1.0
    bought = registry.get_sample_value(
        "plan_watcher_purchases_settled_total", {"outcome": "bought"}
    )
    assert bought == 0.0


def test_a_plan_whose_end_moved_is_not_bought_for_in_the_cycle_that_settles_it(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS acted and moved the plan's end, but its history shows the extension only after
    45 minutes, longer than settle_after: the moved end settles it as bought, and the plan
    is decided afresh only in the next cycle."""
    settings = SimSettings(history_delay=timedelta(minutes=45))
    sim = make_sim(settings=settings, faults=_faults("ambiguous", "drop"))
    arn = due_plan(sim, t0)
    end = sim.plan_end(arn)
    engine = Engine(make_config(tmp_path / "j.db"), clock, tmp_path / "j.db")

    first, _ = engine.cycle()
    assert kinds(first)["llm-a"] == "in_flight"

    clock.advance(minutes=2)  # the end moved, the history shows nothing yet
    early, calls = engine.cycle()
    assert (kinds(early)["llm-a"], calls["ExtendTrainingPlan"]) == ("in_flight", 0)
    assert engine.reconciler.journal.open_intents() != []

    clock.advance(SETTLE_AFTER)
    settling, calls = engine.cycle()
    result = by_name(settling)["llm-a"]
    assert (result.decision.kind.value, calls["ExtendTrainingPlan"]) == ("in_flight", 0)
    assert "the plan's end moved" in result.decision.reason
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.state is IntentState.BOUGHT and "end moved from" in intent.note

    clock.advance(minutes=30)
    later, calls = engine.cycle()
    assert kinds(later)["llm-a"] in COVERED and calls["ExtendTrainingPlan"] == 0
    assert len(sim.record.purchases) == 1
    assert sim.plan_end(arn) == end + timedelta(hours=24)
