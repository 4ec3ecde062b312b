"""Every decision value of the SPEC table, reached by the engine against the simulator through
real boto3 clients, each with the AWS requests that decision may (and may not) cost."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    READS,
    Engine,
    by_name,
    client,
    exact_offering,
    kinds,
    make_config,
    no_retry_backoff,
    policy,
)
from watcher.clock import ManualClock
from watcher.journal.records import IntentState
from watcher.sandbox import SimSettings
from watcher.sandbox.faults import ScriptedFault

# With the simulator's T0 (Monday 09:00 UTC), `ends_at=t0 + 40h` snaps to Wednesday 11:30:
# 50.5 h left, inside the 72 h window; the deadline (2 h margin) is Wednesday 09:30.
DUE = timedelta(hours=40)


def _due_plan_with_job(sim: Any, t0: datetime, name: str = "llm-a", over: int = 20) -> str:
    """A due plan under a job that runs `over` hours past the plan's end (need: 1 day)."""
    arn = str(sim.add_plan(name, ends_at=t0 + DUE, instance_count=4))
    end = sim.plan_end(name)
    started = t0 - timedelta(days=1)
    sim.add_job(
        f"{name}-job",
        plan=name,
        started_at=started,
        max_runtime=end - started + timedelta(hours=over),
    )
    return arn


def _engine(tmp_path: Path, clock: ManualClock, **config: Any) -> Engine:
    return Engine(make_config(tmp_path / "j.db", **config), clock, tmp_path / "j.db")


def _no_purchase_calls(calls: Any) -> None:
    assert calls["ExtendTrainingPlan"] == 0


# --- extended / would_extend / proposed ---------------------------------------------------


def test_extended_buys_exactly_once_and_moves_the_end(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _due_plan_with_job(sim, t0)
    end = sim.plan_end("llm-a")
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "extended"
    chosen = result.decision.chosen
    assert chosen is not None
    assert chosen.duration_hours == 24
    assert chosen.upfront_fee.amount == Decimal(DAY_FEE_4)
    assert chosen.start == end
    assert calls["ExtendTrainingPlan"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 1
    assert calls["ListTrainingJobs"] == 1
    assert calls["DescribeTrainingJob"] == 1
    assert calls["ListTrainingPlans"] == 1
    # What AWS saw: one purchase of that offering, and the plan ends a day later.
    assert [p.offering_id for p in sim.record.purchases] == [chosen.offering_id]
    assert sim.plan_end(arn) == end + timedelta(hours=24)
    assert not cycle.failed
    # The journal recorded the purchase as bought, with nothing left open.
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert (intent.offering_id, intent.state) == (chosen.offering_id, IntentState.BOUGHT)
    assert engine.reconciler.journal.open_intents() == []
    names = [c.kwargs["event"] for c in engine.logger.calls]
    assert names.index("purchase_intent") < names.index("purchase_succeeded")


def test_dry_run_would_extend_and_buys_nothing(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    end = sim.plan_end("llm-a")
    engine = _engine(tmp_path, clock, mode="dry-run")

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "would_extend"
    assert result.decision.chosen is not None
    assert result.decision.chosen.upfront_fee.amount == Decimal(DAY_FEE_4)
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)
    assert sim.record.purchases == []
    assert sim.plan_end("llm-a") == end
    assert engine.reconciler.journal.intents_since(t0 - timedelta(days=30)) == []
    assert cycle.mode.value == "dry-run"


def test_enforce_config_with_dry_run_flag_would_extend(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """What `plan` and `once --dry-run` do: the config says enforce, the cycle buys nothing."""
    _due_plan_with_job(sim, t0)
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle(dry_run=True)

    assert kinds(cycle) == {"llm-a": "would_extend"}
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


def test_notify_policy_reports_would_extend_without_buying(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    engine = _engine(tmp_path, clock, policies=[policy(action="notify")])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "would_extend"
    assert "notify" in result.decision.reason
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


def test_propose_policy_proposes_without_buying(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    engine = _engine(tmp_path, clock, policies=[policy(action="propose")])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert result.decision.chosen is not None
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


# --- decided before any consumer look-up ---------------------------------------------------


def test_not_due_costs_no_consumers_or_search(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("later", ends_at=t0 + timedelta(days=10))
    sim.add_job("later-job", plan="later", max_runtime=timedelta(days=20))
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["later"]
    assert result.decision.kind.value == "not_due"
    end = sim.plan_end("later")
    assert result.decision.next_action == end - timedelta(hours=72)
    # The history (cached across cycles) is read to see a pending extension or the lifetime
    # cap; no consumers are looked up and nothing is searched.
    assert calls == {"ListTrainingPlans": 1, "DescribeTrainingPlanExtensionHistory": 1}


def test_lifetime_cap_is_reported_before_the_plan_is_due(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = str(sim.add_plan("capped", ends_at=t0 + timedelta(days=10)))
    sm = client()
    offer = exact_offering(sm, arn, 24, sim.plan_end(arn))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.advance(minutes=15)  # the payment completes
    engine = _engine(tmp_path, clock, policies=[policy(max_extensions=1)])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["capped"]
    assert result.decision.kind.value == "no_offering"
    assert "lifetime cap reached" in result.decision.reason
    assert calls["ListTrainingJobs"] == 0
    assert calls["SearchTrainingPlanOfferings"] == 0
    _no_purchase_calls(calls)


def test_unmanaged_costs_nothing_beyond_the_listing(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0, "scratch-1")
    _due_plan_with_job(sim, t0, "ignored-1")
    policies = [
        policy("ignore-these", match={"names": ["ignored-*"]}, action="ignore"),
        policy("llm", match={"names": ["llm-*"]}),
    ]
    engine = _engine(tmp_path, clock, policies=policies)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {"ignored-1": "unmanaged", "scratch-1": "unmanaged"}
    assert "no policy matches" in by_name(cycle)["scratch-1"].decision.reason
    assert "ignore" in by_name(cycle)["ignored-1"].decision.reason
    assert calls == {"ListTrainingPlans": 1}
    assert sim.record.purchases == []


def test_expired_past_the_deadline_costs_no_consumers_or_search(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # Ends today at 11:30; a 3h margin puts the deadline at 08:30, before now (09:00).
    sim.add_plan("late", ends_at=t0)
    sim.add_job("late-job", plan="late", max_runtime=timedelta(days=5))
    engine = _engine(tmp_path, clock, policies=[policy(safety_margin="3h")])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["late"]
    assert result.decision.kind.value == "expired"
    assert result.decision.deadline == sim.plan_end("late") - timedelta(hours=3)
    for op in ("ListTrainingJobs", "DescribeTrainingJob", "SearchTrainingPlanOfferings"):
        assert calls[op] == 0
    _no_purchase_calls(calls)


def test_past_the_deadline_a_pending_extension_is_in_flight_not_expired(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # The end moves once the payment completes: until then the plan still ends today at
    # 11:30, and a 3h margin puts its deadline at 08:30, before now (09:00).
    sim = make_sim(settings=SimSettings(end_time_moves="on_payment"))
    arn = str(sim.add_plan("late", ends_at=t0))
    sm = client()
    offer = exact_offering(sm, arn, 24, sim.plan_end(arn))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    engine = _engine(tmp_path, clock, policies=[policy(safety_margin="3h")])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["late"]
    assert sim.plan_end(arn) - timedelta(hours=3) < clock.now()
    # An operator must see that a purchase may already have happened (docs/decisions.md:
    # in_flight outranks the deadline), not merely that the plan is about to end.
    assert result.decision.kind.value == "in_flight"
    assert offer["TrainingPlanExtensionOfferingId"] in result.decision.reason
    for op in ("ListTrainingJobs", "SearchTrainingPlanOfferings"):
        assert calls[op] == 0
    _no_purchase_calls(calls)


def test_in_flight_when_aws_shows_a_pending_extension(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _due_plan_with_job(sim, t0, over=60)
    sm = client()
    offer = exact_offering(sm, arn, 24, sim.plan_end(arn))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    # The purchase already moved the end past the window; the pending payment outranks not_due.
    assert sim.plan_end(arn) - clock.now() > timedelta(hours=72)
    assert result.decision.kind.value == "in_flight"
    assert offer["TrainingPlanExtensionOfferingId"] in result.decision.reason
    assert calls["DescribeTrainingPlanExtensionHistory"] == 1
    assert calls["ListTrainingJobs"] == 0
    assert calls["SearchTrainingPlanOfferings"] == 0
    _no_purchase_calls(calls)
    assert len(sim.record.purchases) == 1


# --- decided from demand --------------------------------------------------------------------


def test_no_demand_looks_up_consumers_but_does_not_search(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("idle", ends_at=t0 + DUE)
    sim.add_job("elsewhere", plan=None, max_runtime=timedelta(days=9))
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {"idle": "no_demand"}
    assert calls["ListTrainingJobs"] == 1
    assert calls["ListClusters"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 0
    _no_purchase_calls(calls)


def test_demand_covered_when_the_job_ends_before_the_plan(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("short-job", ends_at=t0 + DUE)
    sim.add_job("short", plan="short-job", started_at=t0, max_runtime=timedelta(hours=24))
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["short-job"]
    assert result.decision.kind.value == "demand_covered"
    assert result.decision.demand_end == t0 + timedelta(hours=24)
    assert calls["ListTrainingJobs"] == 1
    assert calls["DescribeTrainingJob"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 0
    _no_purchase_calls(calls)


def test_a_cluster_is_unbounded_demand(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim.add_plan("hp", ends_at=t0 + DUE, target_resources=("hyperpod-cluster",))
    sim.add_cluster("hp-cluster", groups=[("workers", "hp", 4)])
    engine = _engine(tmp_path, clock, mode="dry-run")

    cycle, calls = engine.cycle()

    result = by_name(cycle)["hp"]
    assert result.decision.kind.value == "would_extend"
    assert result.decision.chosen is not None
    # Unbounded demand asks for max_duration (14 days).
    assert result.decision.chosen.duration_hours == 14 * 24
    assert [c.kind.value for c in result.consumers] == ["cluster"]
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)


# --- decided from offerings -----------------------------------------------------------------


def test_no_offering_when_aws_has_no_capacity(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    sim.market.set_terms("llm-a", available=False)
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "no_offering"
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


def test_no_offering_when_every_offering_breaks_the_price_cap(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    sim.market.set_terms("llm-a", price_per_instance_hour=Decimal("900.00"))
    capped = policy(
        extension={"min_duration": "1d", "max_duration": "14d", "max_upfront_fee": "20000.00 USD"}
    )
    engine = _engine(tmp_path, clock, policies=[capped])

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "no_offering"
    # 900 * 4 * 24 = 86400.00 (and its variants) all refused, each with a reason.
    assert len(result.decision.rejected) == 3
    assert all("max_upfront_fee" in r.reason for r in result.decision.rejected)
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)


def test_over_budget_buys_nothing(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due_plan_with_job(sim, t0)
    budgets = [{"name": "tiny", "limit": "9000.00 USD", "window": "calendar-month"}]
    engine = _engine(tmp_path, clock, budgets=budgets)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "over_budget"
    assert "tiny" in result.decision.reason
    assert calls["SearchTrainingPlanOfferings"] == 1
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


# --- error, and the others carry on ---------------------------------------------------------


def test_error_when_history_keeps_failing_and_other_plans_go_on(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: Any
) -> None:
    from watcher.sandbox.faults import Faults

    no_retry_backoff(monkeypatch)
    faults = Faults(
        scripted=[
            ScriptedFault("DescribeTrainingPlanExtensionHistory", "5xx", plan="broken", times=999)
        ]
    )
    sim = make_sim(faults=faults)
    _due_plan_with_job(sim, t0, "broken")
    _due_plan_with_job(sim, t0, "healthy")
    sim.add_plan("far", ends_at=t0 + timedelta(days=20))
    config = make_config(tmp_path / "j.db")
    # The production retry count: every read is tried five times before it counts as failed.
    engine = Engine(config, clock, tmp_path / "j.db", read_attempts=5)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {"broken": "error", "far": "not_due", "healthy": "extended"}
    broken = by_name(cycle)["broken"]
    assert "DescribeTrainingPlanExtensionHistory" in broken.decision.reason
    assert "InternalFailure" in broken.decision.reason
    # Five failed attempts for the broken plan, one good read for the healthy one.
    # ("far" is not due: its history is read once, for in_flight and the lifetime cap.)
    history = engine.counter.snapshot()
    assert history[("DescribeTrainingPlanExtensionHistory", "other")] == 5
    assert history[("DescribeTrainingPlanExtensionHistory", "ok")] == 2
    assert calls["ExtendTrainingPlan"] == 1
    assert [p.plan_arn.rsplit("/", 1)[-1] for p in sim.record.purchases] == ["healthy"]
    # A plan's error is a failed cycle (exit 1 for `once`), not a failed target.
    assert cycle.failed
    assert cycle.errors == []
    assert cycle.target_up == {"default": True}


def test_error_when_the_purchase_is_refused_then_bought_next_cycle(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A definite refusal (throttled: AWS did nothing) is `error`; the first cycle after the
    retry backoff (safety.retry_backoff, 15m by default) retries."""
    from watcher.sandbox.faults import Faults

    faults = Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "throttle", plan="llm-a")])
    sim = make_sim(faults=faults)
    _due_plan_with_job(sim, t0)
    _due_plan_with_job(sim, t0, "llm-b")
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {"llm-a": "error", "llm-b": "extended"}
    reason = by_name(cycle)["llm-a"].decision.reason
    assert reason.startswith("purchase of tpeo-") and "ThrottlingException" in reason
    assert calls["ExtendTrainingPlan"] == 2
    assert [p.plan_arn.rsplit("/", 1)[-1] for p in sim.record.purchases] == ["llm-b"]
    states = {
        i.plan_arn.rsplit("/", 1)[-1]: i.state for i in engine.reconciler.journal.intents_since(t0)
    }
    assert states == {"llm-a": IntentState.FAILED, "llm-b": IntentState.BOUGHT}

    clock.advance(minutes=16)
    again, calls = engine.cycle()

    assert kinds(again)["llm-a"] == "extended"
    assert calls["ExtendTrainingPlan"] == 1
    assert sorted(p.plan_arn.rsplit("/", 1)[-1] for p in sim.record.purchases) == [
        "llm-a",
        "llm-b",
    ]


@pytest.mark.parametrize("operation", ["ListTrainingJobs", "SearchTrainingPlanOfferings"])
def test_error_when_a_due_plan_lookup_fails(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, operation: str
) -> None:
    from watcher.sandbox.faults import Faults

    sim = make_sim(faults=Faults(scripted=[ScriptedFault(operation, "5xx", times=1)]))
    _due_plan_with_job(sim, t0)
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    result = by_name(cycle)["llm-a"]
    assert result.decision.kind.value == "error"
    assert operation in result.decision.reason
    _no_purchase_calls(calls)
    assert sim.record.purchases == []


def test_every_decision_value_in_one_cycle(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """One cycle, many plans, one policy per behaviour: each plan gets its own decision."""
    _due_plan_with_job(sim, t0, "buy-me")
    _due_plan_with_job(sim, t0, "propose-me")
    _due_plan_with_job(sim, t0, "notify-me")
    _due_plan_with_job(sim, t0, "nocap-me")
    sim.market.set_terms("nocap-me", available=False)
    sim.add_plan("idle-me", ends_at=t0 + DUE)
    sim.add_plan("short-me", ends_at=t0 + DUE)
    sim.add_job("short", plan="short-me", started_at=t0, max_runtime=timedelta(hours=3))
    sim.add_plan("later-me", ends_at=t0 + timedelta(days=9))
    sim.add_plan("stray", ends_at=t0 + DUE)
    sim.add_plan("late-me", ends_at=t0)
    sim.add_job("late", plan="late-me", max_runtime=timedelta(days=3))
    pending = _due_plan_with_job(sim, t0, "pending-me")
    sm = client()
    offer = exact_offering(sm, pending, 24, sim.plan_end(pending))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    budgeted = _due_plan_with_job(sim, t0, "budget-me")
    assert budgeted
    policies = [
        policy("propose", match={"names": ["propose-*"]}, action="propose"),
        policy("notify", match={"names": ["notify-*"]}, action="notify"),
        policy("late", match={"names": ["late-*"]}, safety_margin="3h"),
        policy("budgeted", match={"names": ["budget-*"]}),
        policy("rest", match={"names": ["*-me"]}),
    ]
    budgets = [{"name": "small", "limit": "100.00 USD", "policies": ["budgeted"]}]
    engine = _engine(tmp_path, clock, policies=policies, budgets=budgets)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {
        "budget-me": "over_budget",
        "buy-me": "extended",
        "idle-me": "no_demand",
        "late-me": "expired",
        "later-me": "not_due",
        "nocap-me": "no_offering",
        "notify-me": "would_extend",
        "pending-me": "in_flight",
        "propose-me": "proposed",
        "short-me": "demand_covered",
        "stray": "unmanaged",
    }
    assert calls["ExtendTrainingPlan"] == 1
    # One consumer scan for the whole target, however many plans are due.
    assert calls["ListTrainingJobs"] == 1
    assert calls["ListClusters"] == 1
    # Searched: buy, propose, notify, nocap, budget; not pending/idle/short/later/late/stray.
    assert calls["SearchTrainingPlanOfferings"] == 5
    bought = [p.plan_arn.rsplit("/", 1)[-1] for p in sim.record.purchases]
    assert bought == ["pending-me", "buy-me"]
    assert set(READS) <= set(calls)


def test_error_for_an_unreadable_plan_and_the_others_go_on(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A plan AWS describes with a fee that is not an amount cannot be evaluated."""
    bad = str(sim.add_plan("garbled", ends_at=t0 + DUE, fee=Decimal("NaN")))
    _due_plan_with_job(sim, t0)
    engine = _engine(tmp_path, clock)

    cycle, calls = engine.cycle()

    # Reported under its readable name, with its ARN.
    assert kinds(cycle) == {"garbled": "error", "llm-a": "extended"}
    result = by_name(cycle)["garbled"]
    assert result.plan_arn == bad
    assert result.decision.reason.startswith("unreadable plan: UpfrontFee 'NaN'")
    assert result.plan is None
    # Only the readable plan cost reads beyond the listing.
    assert calls["DescribeTrainingPlanExtensionHistory"] == 1
    assert calls["SearchTrainingPlanOfferings"] == 1
    assert calls["ExtendTrainingPlan"] == 1
    assert cycle.failed and cycle.errors == []
