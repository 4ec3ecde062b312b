"""The soak's judge must be able to convict: each invariant check, fed a small simulated
account in which the violation really happened (purchases made by hand through boto3), finds
it; and the simulator features the soak relies on behave as documented."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bench.soak.harness import Run, Seeder
from bench.soak.invariants import Findings, check
from bench.soak.worldgen import POLICIES, TARGETS, JobSpec, PlanSpec, SoakBudget, SoakWorld
from watcher.clock import ManualClock
from watcher.sandbox.faults import Faults, OperationFaults
from watcher.sandbox.market import MarketTerms
from watcher.sandbox.wire import snap_to_plan_end

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
# The soak's own `llm` policy: 72h window, 2h margin, demand required, 1 to 7 days.
POLICY = next(p for p in POLICIES if p.name == "llm")


def _world(t0: datetime, limit: str = "100000", market: MarketTerms | None = None) -> SoakWorld:
    end = snap_to_plan_end(t0 + timedelta(hours=40))
    started = t0 - timedelta(days=1)
    plan = PlanSpec("llm-a", "llm", TARGETS[0], t0, started, end, 4, market or MarketTerms())
    job = JobSpec("run", "llm-a", started, end - started + timedelta(hours=20), 4)
    return SoakWorld(
        seed=1,
        start=t0,
        end=t0 + timedelta(days=3),
        poll=timedelta(hours=1),
        plans=(plan,),
        jobs=(job,),
        clusters=(),
        policies=(POLICY,),
        budgets=(SoakBudget("ml", Decimal(limit), "calendar-month", ("llm",)),),
    )


def _judge(sim: Any, world: SoakWorld, tmp_path: Path) -> Findings:
    run = Run(world, tmp_path / "journal.db")
    step = world.start
    while step < world.end:
        run.cycle_starts.append(step)
        step += world.poll
    return check(sim, run)


def _buy_one_day(plan_arn: str) -> str:
    sm = boto3.client("sagemaker", region_name="us-east-1", config=NO_RETRY)
    found = sm.search_training_plan_offerings(TrainingPlanArn=plan_arn, DurationHours=24)
    exact = found["TrainingPlanExtensionOfferings"][0]
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=exact["TrainingPlanExtensionOfferingId"]
    )
    return str(exact["TrainingPlanExtensionOfferingId"])


def test_a_second_extension_for_a_met_need_and_its_missing_records_are_caught(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    world = _world(t0)
    Seeder(world, sim).until(t0)
    first = _buy_one_day(world.plans[0].arn)
    clock.advance(minutes=15)
    second = _buy_one_day(world.plans[0].arn)

    findings = _judge(sim, world, tmp_path)

    doubles = findings.violations["double_extension"]
    assert doubles and all(second in d for d in doubles)
    assert any("was met by its end" in d for d in doubles)
    unrecorded = findings.violations["unrecorded_purchase"]
    assert any(first in d and "no journal entry" in d for d in unrecorded)
    assert any(second in d and "log events" in d for d in unrecorded)


def test_a_failed_payment_nobody_recorded_as_failed_is_caught(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """An extension whose payment failed must end in the journal as failed (or, replaced by
    a later purchase from the same end, in an `extension_failed` event)."""
    world = _world(t0, market=MarketTerms(payment_failure_rate=1.0))
    Seeder(world, sim).until(t0)
    failed = _buy_one_day(world.plans[0].arn)
    clock.advance(minutes=15)

    findings = _judge(sim, world, tmp_path)

    [unrecorded, logged] = findings.violations["unrecorded_purchase"]
    assert failed in unrecorded and "payment failed; no journal entry" in unrecorded
    assert failed in logged and "log events" in logged
    assert findings.violations["double_extension"] == []


def test_spend_over_a_budget_is_caught(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    world = _world(t0, limit="5000")  # one day of this plan costs 9438.72 USD
    Seeder(world, sim).until(t0)
    _buy_one_day(world.plans[0].arn)

    findings = _judge(sim, world, tmp_path)

    [over] = findings.violations["budget_exceeded"]
    assert "9438.72 USD committed" in over and "limit 5000 USD" in over


@pytest.mark.parametrize("outage", [False, True])
def test_an_interruption_is_preventable_only_if_capacity_was_on_sale(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, outage: bool
) -> None:
    """Nobody buys; the job dies 30 minutes before the plan ends. With capacity on sale all
    window long that was preventable; with the market empty throughout it was not."""
    gap = ((t0 - timedelta(days=5), t0 + timedelta(days=5)),) if outage else ()
    world = _world(t0, market=MarketTerms(outages=gap))
    Seeder(world, sim).until(t0)
    clock.set(world.plans[0].end)
    sim.world.settle()

    findings = _judge(sim, world, tmp_path)

    assert [i.consumer for i in sim.record.interruptions] == ["run"]
    assert len(findings.violations["preventable_interruption"]) == (0 if outage else 1)
    assert findings.interruptions["not preventable"] == (1 if outage else 0)


# --- simulator features the soak relies on -------------------------------------------------------


def test_an_outage_empties_searches_only_while_it_lasts(sim: Any, clock: ManualClock) -> None:
    now = clock.now()
    outage = ((now + timedelta(hours=1), now + timedelta(hours=3)),)
    arn = sim.add_plan("llm-b", ends_at=now + timedelta(days=2), market=MarketTerms(outages=outage))
    sm = boto3.client("sagemaker", region_name="us-east-1", config=NO_RETRY)

    def offered() -> int:
        found = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)
        return len(found["TrainingPlanExtensionOfferings"])

    assert offered() == 3
    clock.advance(hours=2)
    assert offered() == 0
    clock.advance(hours=1)
    assert offered() == 3


def test_a_purchase_records_the_end_it_extended_from(sim: Any, clock: ManualClock) -> None:
    arn = sim.add_plan("llm-c", ends_at=clock.now() + timedelta(days=2))
    end = sim.plan_end(arn)
    _buy_one_day(arn)
    clock.advance(minutes=15)
    _buy_one_day(arn)
    assert [p.plan_end_before for p in sim.record.purchases] == [end, end + timedelta(days=1)]


def test_latency_goes_to_wait_with_a_share_of_slow_calls() -> None:
    waited: list[float] = []
    faults = Faults(
        default=OperationFaults(latency_ms=100, slow_rate=0.5, slow_ms=10_000),
        seed=3,
        wait=waited.append,
    )
    for _ in range(200):
        faults.before("ListTrainingPlans")
    assert len(waited) == faults.delayed_calls == 200
    slow = [w for w in waited if w > 1]
    assert set(waited) == {0.1, 10.1} and 60 < len(slow) < 140
    assert faults.delay_ms == pytest.approx(sum(waited) * 1000)


def test_a_scenario_can_declare_outages_and_they_need_a_timezone() -> None:
    from watcher.sandbox.market import terms_from_dict

    outage = {"from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00+00:00"}
    terms = terms_from_dict({"outages": [outage]})
    assert terms.in_outage(datetime.fromisoformat("2026-03-03T12:00:00+00:00"))
    assert not terms.in_outage(datetime.fromisoformat("2026-03-04T00:00:00+00:00"))
    with pytest.raises(ValueError, match="needs a timezone"):
        terms_from_dict({"outages": [{"from": "2026-03-03T00:00:00", "to": "2026-03-04"}]})


def test_per_caller_faults_do_not_depend_on_how_callers_interleave() -> None:
    rules = OperationFaults(throttle_rate=0.3, error_rate=0.1)

    def draws(order: list[str]) -> dict[str, list[object]]:
        faults = Faults(default=rules, seed=5, per_caller=True, sleep=False)
        seen: dict[str, list[object]] = {"a": [], "b": []}
        for caller in order:
            seen[caller].append(faults.before("ListTrainingPlans", caller=caller))
        return seen

    apart = draws(["a"] * 50 + ["b"] * 50)
    assert draws(["a", "b"] * 50) == apart
    assert apart["a"] != apart["b"] and {"throttle", "5xx", None} == set(apart["a"])
