"""Blast-radius limits (safety.limits) in the engine against the simulator: a limit holds
across a restart (and even a lost journal, from AWS's record), across two replicas sharing a
DynamoDB journal (a purchase whose outcome is unknown counts from the journal alone), and is
reported with a reason naming it, a notice and its metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog

from tests.integration.approvals_support import samples
from tests.integration.dynamodb_support import REGION, TABLE
from tests.integration.test_engine_support import (
    DAY_FEE_4,
    Engine,
    by_name,
    kinds,
    make_config,
    policy,
)
from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.clock import ManualClock
from watcher.config import Config
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.table import create_table
from watcher.notify.notice import notices_for
from watcher.reconcile import Reconciler
from watcher.results import CycleResult
from watcher.sandbox.faults import Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

PLANS = ("llm-a", "llm-b", "llm-c")


def _seed(sim: Any, t0: datetime, names: tuple[str, ...] = PLANS) -> None:
    """Plans ending 50.5 h after t0, each under a job that needs one more day."""
    for name in names:
        arn = sim.add_plan(name, ends_at=t0 + timedelta(hours=40), instance_count=4)
        end = sim.plan_end(arn)
        started = t0 - timedelta(days=1)
        sim.add_job(
            f"{name}-run",
            plan=name,
            started_at=started,
            max_runtime=end - started + timedelta(hours=20),
        )


def _config(journal: Path | str, **limits: Any) -> Config:
    state = {"journal": str(journal)}
    return make_config(
        Path("unused.db"),
        [policy(extend_before="72h")],
        state=state,
        safety={"limits": limits},
    )


def _bought(cycle: CycleResult) -> list[str]:
    return sorted(name for name, kind in kinds(cycle).items() if kind == "extended")


def test_a_daily_limit_holds_across_restarts_and_a_lost_journal(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    config = _config(journal, purchases_per_cycle=1, purchases_per_24h=2)
    engine = Engine(config, clock, journal)

    first, _ = engine.cycle()
    assert len(_bought(first)) == 1, [(r.plan_name, r.decision.reason) for r in first.results]
    refused = [r for r in first.results if r.decision.kind.value == "over_budget"]
    assert len(refused) == 2
    for result in refused:
        assert "would pass a safety limit: safety.limits.purchases_per_cycle: 1 purchase(s)" in (
            result.decision.reason
        )

    clock.advance(minutes=15)
    engine.start()  # a restart: new process, same journal
    second, _ = engine.cycle()
    assert len(_bought(second)) == 1

    clock.advance(minutes=15)
    engine.start()
    third, _ = engine.cycle()
    [waiting] = [r for r in third.results if r.decision.kind.value != "not_due"]
    assert waiting.decision.kind.value == "over_budget"
    assert (
        "safety.limits.purchases_per_24h: 2 purchase(s) in the last 24 hours already, the "
        "limit is 2" in waiting.decision.reason
    )
    [notice] = [n for n in notices_for(third) if n.kind.value == "over_budget"]
    assert notice.plan_name == waiting.plan_name
    assert "which a safety limit refuses" in notice.summary
    metrics = samples(third)
    assert (
        metrics[("plan_watcher_safety_limit", (("currency", ""), ("limit", "purchases_per_24h")))]
        == 2
    )
    assert (
        metrics[
            ("plan_watcher_safety_limit_used", (("currency", ""), ("limit", "purchases_per_24h")))
        ]
        == 2
    )
    assert (
        metrics[
            ("plan_watcher_safety_limit_used", (("currency", ""), ("limit", "purchases_per_cycle")))
        ]
        == 0
    )

    # The journal is lost (a container without its volume): AWS's record still counts.
    fresh = tmp_path / "fresh.db"
    lost = Engine(_config(fresh, purchases_per_24h=2), clock, fresh)
    again, _ = lost.cycle()
    assert by_name(again)[waiting.plan_name].decision.kind.value == "over_budget"
    assert "not (bought outside plan-watcher, or not journalled)" in (
        next(s for s in again.limits if s.key == "purchases_per_24h").describe()
    )

    # 24 hours after the first purchase, the limit has room again.
    clock.set(t0 + timedelta(hours=24, minutes=1))
    later, _ = engine.cycle()
    assert _bought(later) == [waiting.plan_name]


def test_a_spend_limit_counts_money_per_rolling_day(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _seed(sim, t0, ("llm-a", "llm-b"))
    journal = tmp_path / "j.db"
    engine = Engine(_config(journal, spend_per_24h="15000.00 USD"), clock, journal)

    cycle, _ = engine.cycle()

    assert sorted(kinds(cycle).values()) == ["extended", "over_budget"]
    refused = next(r for r in cycle.results if r.decision.kind.value == "over_budget")
    assert (
        f"safety.limits.spend_per_24h: {DAY_FEE_4} USD committed in the last 24 hours + "
        f"{DAY_FEE_4} USD = 18877.44 USD would pass the limit 15000.00 USD"
    ) in refused.decision.reason
    [state] = cycle.limits
    assert (state.key, f"{state.used:f}", state.currency) == ("spend_per_24h", DAY_FEE_4, "USD")


# --- two replicas on one DynamoDB journal ---------------------------------------------------


def _replica(config: Config, clock: ManualClock) -> Reconciler:
    """One replica: its own gateway and caches, the shared table."""
    gateway = SageMakerGateway(
        TargetSpec("default", REGION), boto3.Session(region_name=REGION), CallCounter()
    )
    journal = DynamoJournal(TABLE, boto3.client("dynamodb", region_name=REGION), clock)
    log = structlog.wrap_logger(structlog.testing.CapturingLogger(), processors=[])
    return Reconciler(config, clock, journal, {"default": gateway}, log)


@pytest.mark.parametrize("fault", [None, "5xx"])
def test_two_replicas_share_a_limit_through_the_journal(
    make_sim: Any, clock: ManualClock, t0: datetime, fault: str | None
) -> None:
    # With "5xx" the first replica's purchase has an unknown outcome and AWS shows nothing:
    # only the shared journal can tell the second replica that the limit is used.
    scripted = [ScriptedFault("ExtendTrainingPlan", "5xx")] if fault else []
    sim = make_sim(faults=Faults(scripted=scripted))
    _seed(sim, t0, ("llm-a", "llm-b"))
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    config = _config(f"dynamodb://{TABLE}", purchases_per_24h=1)
    one, two = _replica(config, clock), _replica(config, clock)

    first = one.run_cycle()
    expected = "in_flight" if fault else "extended"
    assert sorted(kinds(first).values()) == sorted([expected, "over_budget"])
    first_plan = next(r.plan_name for r in first.results if r.decision.kind.value == expected)
    assert len(sim.record.purchases) == (0 if fault else 1)

    clock.advance(minutes=5)
    second = two.run_cycle()
    other = next(name for name in ("llm-a", "llm-b") if name != first_plan)
    result = by_name(second)[other]
    assert result.decision.kind.value == "over_budget"
    assert "safety.limits.purchases_per_24h: 1 purchase(s) in the last 24 hours" in (
        result.decision.reason
    )
    assert len(sim.record.purchases) == (0 if fault else 1)


def test_a_purchase_aws_lists_under_its_own_id_counts_once(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """AWS may list an extension under an ID other than the offering's; the journal's purchase
    is matched to it as a purchase is settled, so it is one purchase against the limits, not
    two (counted twice, it would refuse a plan the limits have room for)."""
    sim = make_sim(settings=SimSettings(extension_ids="own", payment_delay=timedelta(0)))
    _seed(sim, t0)
    journal = tmp_path / "j.db"
    engine = Engine(
        _config(journal, purchases_per_cycle=1, purchases_per_24h=2, spend_per_24h="20000 USD"),
        clock,
        journal,
    )

    first, _ = engine.cycle()
    assert len(_bought(first)) == 1
    [bought] = sim.record.purchases
    listed = {
        e.offering_id
        for e in engine.reconciler.gateways["default"].extension_history(bought.plan_arn)[0]
    }
    assert bought.offering_id not in listed  # AWS lists it under an ID of its own

    clock.advance(minutes=15)
    second, _ = engine.cycle()
    assert len(_bought(second)) == 1, [(r.plan_name, r.decision.reason) for r in second.results]
    used = {s.key: s.used for s in second.limits}
    assert used["purchases_per_24h"] == 2
    assert used["spend_per_24h"] == 2 * Decimal(DAY_FEE_4)

    clock.advance(minutes=15)
    third, _ = engine.cycle()
    assert _bought(third) == []
    assert {s.key: s.used for s in third.limits}["purchases_per_24h"] == 2


def test_a_purchase_made_just_before_the_24_hours_counts_until_aws_lists_it(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A purchase journalled just over 24 hours ago, that AWS stamped `ExtendedAt` a few
    seconds later and does not list yet, still counts against purchases_per_24h: it was
    journalled within `safety.settle_after` of the 24 hours' start."""
    sim = make_sim(settings=SimSettings(history_delay=timedelta(hours=25)))
    _seed(sim, t0, ("llm-a", "llm-b"))
    journal = tmp_path / "j.db"
    engine = Engine(_config(journal, purchases_per_24h=1), clock, journal)
    extend = SageMakerGateway.extend

    def slow_extend(self: SageMakerGateway, offering_id: str, plan_arn: str) -> Any:
        clock.advance(seconds=3)  # AWS stamps the purchase after the request was journalled
        return extend(self, offering_id, plan_arn)

    monkeypatch.setattr(SageMakerGateway, "extend", slow_extend)
    first, _ = engine.cycle()
    assert _bought(first) == ["llm-a"]

    clock.advance(timedelta(hours=24) - timedelta(seconds=2))  # 24h 1s after the journal
    later, calls = engine.cycle()
    assert calls["ExtendTrainingPlan"] == 0
    assert kinds(later)["llm-b"] == "over_budget"
    assert "purchases_per_24h" in by_name(later)["llm-b"].decision.reason
