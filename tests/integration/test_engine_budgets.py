"""Budgets in the engine: spend is AWS's extension history plus journalled purchases AWS does
not show yet, and due plans spend it earliest deadline first, one purchase at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    REGION,
    Engine,
    buy_offering,
    by_name,
    client,
    exact_offering,
    kinds,
    make_config,
    policy,
)
from watcher.aws.errors import AwsError, ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.clock import ManualClock
from watcher.journal.records import Intent, IntentState
from watcher.journal.sqlite import SqliteJournal
from watcher.model import Money
from watcher.reconcile import Reconciler
from watcher.sandbox.settings import SimSettings

FEE = Decimal(DAY_FEE_4)  # one day of a 4-instance plan, what each due plan here needs
GHOST = Decimal("1000.00")  # a purchase the journal holds and AWS does not show yet


def _due(sim: Any, name: str, ends_at: datetime, t0: datetime) -> str:
    arn = str(sim.add_plan(name, ends_at=ends_at, instance_count=4))
    end = sim.plan_end(arn)
    started = t0 - timedelta(days=1)
    sim.add_job(
        f"{name}-job",
        plan=name,
        started_at=started,
        max_runtime=end - started + timedelta(hours=20),
    )
    return arn


@pytest.mark.parametrize(
    ("headroom", "bought"),
    [
        (Decimal("-0.01"), ["zzz-early"]),  # one cent short of both: only the earlier deadline
        (Decimal("0.00"), ["zzz-early", "aaa-late"]),  # exactly enough for both
    ],
)
def test_two_plans_compete_for_the_last_of_a_budget(
    sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    headroom: Decimal,
    bought: list[str],
) -> None:
    # Two due plans; the one named first alphabetically has the later deadline.
    late = _due(sim, "aaa-late", t0 + timedelta(hours=64), t0)
    early = _due(sim, "zzz-early", t0 + timedelta(hours=40), t0)
    assert sim.plan_end(early) < sim.plan_end(late)
    # A third plan already extended through AWS (visible in its history, paid)...
    spent = str(sim.add_plan("ccc-spent", ends_at=t0 + timedelta(days=3), instance_count=4))
    sm = client()
    offer = exact_offering(sm, spent, 24, sim.plan_end(spent))
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    assert Decimal(offer["UpfrontFee"]) == FEE
    clock.advance(minutes=15)
    # ...and a purchase of this process that AWS does not list yet.
    journal_path = tmp_path / "j.db"
    limit = FEE + GHOST + 2 * FEE + headroom
    budgets = [{"name": "ml", "limit": f"{limit} USD", "window": "calendar-month"}]
    config = make_config(journal_path, [policy(extend_before="96h")], budgets)
    engine = Engine(config, clock, journal_path)
    ghost = Intent(
        plan_arn=spent,
        plan_end=t0 - timedelta(days=1),
        offering_id="tpeo-not-listed-yet",
        target="default",
        fee=Money(GHOST, "USD"),
        duration_hours=24,
        created_at=clock.now(),
    )
    assert engine.reconciler.journal.open_intent(ghost)
    engine.reconciler.journal.close_intent(ghost, IntentState.BOUGHT, "accepted", clock.now())

    cycle, calls = engine.cycle()

    # Spend before this cycle's purchases: AWS's record plus the journalled purchase.
    [budget] = cycle.budgets
    assert budget.state.spent == Money(FEE + GHOST, "USD")
    assert budget.problem is None
    got = kinds(cycle)
    assert got["zzz-early"] == "extended"
    assert calls["ExtendTrainingPlan"] == len(bought)
    assert [p.plan_arn.rsplit("/", 1)[-1] for p in sim.record.purchases] == ["ccc-spent", *bought]
    if len(bought) == 1:
        assert got["aaa-late"] == "over_budget"
        reason = by_name(cycle)["aaa-late"].decision.reason
        assert "ml" in reason
        # The budget already holds the early plan's purchase from this very cycle.
        assert str(FEE + GHOST + FEE) in reason
    else:
        assert got["aaa-late"] == "extended"


def test_a_failed_journalled_purchase_does_not_count(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _due(sim, "llm-a", t0 + timedelta(hours=40), t0)
    journal_path = tmp_path / "j.db"
    budgets = [{"name": "ml", "limit": f"{FEE} USD"}]
    engine = Engine(make_config(journal_path, budgets=budgets), clock, journal_path)
    refused = Intent(
        arn, t0 - timedelta(days=2), "tpeo-refused", "default", Money(GHOST, "USD"), 24, clock.now()
    )
    assert engine.reconciler.journal.open_intent(refused)
    engine.reconciler.journal.close_intent(refused, IntentState.FAILED, "refused", clock.now())

    cycle, calls = engine.cycle()

    assert cycle.budgets[0].state.spent == Money(Decimal("0"), "USD")
    assert kinds(cycle) == {"llm-a": "extended"}
    assert calls["ExtendTrainingPlan"] == 1


def test_budget_for_other_policies_does_not_limit_this_plan(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due(sim, "llm-a", t0 + timedelta(hours=40), t0)
    _due(sim, "cv-a", t0 + timedelta(hours=40), t0)
    policies = [policy("llm", match={"names": ["llm-*"]}), policy("cv", match={"names": ["cv-*"]})]
    budgets = [{"name": "cv-only", "limit": "1.00 USD", "policies": ["cv"]}]
    journal_path = tmp_path / "j.db"
    engine = Engine(make_config(journal_path, policies, budgets), clock, journal_path)

    cycle, calls = engine.cycle()

    assert kinds(cycle) == {"cv-a": "over_budget", "llm-a": "extended"}
    assert calls["ExtendTrainingPlan"] == 1


def test_a_target_that_cannot_be_listed_leaves_the_budgets_it_shares_unknown(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget spans targets. While one of them cannot be listed, neither AWS's record of its
    plans' extensions nor the journal's purchases for them can be placed under a policy, so
    what the budget has spent is unknown and it admits nothing (as for one plan's unreadable
    history): a throttled listing in one account must not let another spend past the limit."""
    _due(sim, "east-due", t0 + timedelta(hours=40), t0)
    west = str(sim.add_plan("west-spent", ends_at=t0 + timedelta(days=9), region="us-west-2"))
    journal_path = tmp_path / "j.db"
    targets = [{"name": "east", "region": REGION}, {"name": "west", "region": "us-west-2"}]
    budgets = [{"name": "ml", "limit": f"{FEE + GHOST - 1} USD", "window": "calendar-month"}]
    config = make_config(journal_path, budgets=budgets, targets=targets)
    journal = SqliteJournal(journal_path)
    spent = Intent(west, t0 + timedelta(days=8), "tpeo-west", "west", Money(GHOST, "USD"), 24, t0)
    assert journal.open_intent(spent)
    journal.close_intent(spent, IntentState.BOUGHT, "bought", t0)
    gateways = {
        t.name: SageMakerGateway(TargetSpec(t.name, t.region), boto3.Session(region_name=t.region))
        for t in config.targets
    }
    reconciler = Reconciler(config, clock, journal, gateways)
    plan_pages = SageMakerGateway.plan_pages

    def west_throttled(self: SageMakerGateway) -> Any:
        if self.target.name == "west":
            raise AwsError(ErrorKind.THROTTLED, "ListTrainingPlans", "ThrottlingException", "slow")
        return plan_pages(self)

    monkeypatch.setattr(SageMakerGateway, "plan_pages", west_throttled)
    try:
        cycle = reconciler.run_cycle()
    finally:
        reconciler.close()
    assert cycle.target_up == {"east": True, "west": False}
    [budget] = cycle.budgets
    assert budget.problem is not None and "west" in budget.problem
    assert kinds(cycle)["east-due"] == "over_budget"
    assert sim.record.purchases == []


def test_a_plan_whose_tags_cannot_be_read_leaves_the_budgets_it_may_fall_under_unknown(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Policies match on tags: a plan whose tags cannot be read has no known policy, so what
    it spent (the journal's purchases for it included) cannot be placed under a budget. The
    budgets of every policy it may fall under admit nothing that cycle, as when its history
    cannot be read."""
    _due(sim, "due", t0 + timedelta(hours=40), t0)
    tagless = str(sim.add_plan("tagless", ends_at=t0 + timedelta(days=9)))
    journal_path = tmp_path / "j.db"
    spent = Intent(
        tagless, t0 + timedelta(days=8), "tpeo-t", "default", Money(GHOST, "USD"), 24, t0
    )
    journal = SqliteJournal(journal_path)
    assert journal.open_intent(spent)
    journal.close_intent(spent, IntentState.BOUGHT, "bought", t0)
    journal.close()
    policies = [policy("ml", match={"names": ["*"], "tags": {"team": "ml"}}), policy()]
    budgets = [{"name": "ml", "limit": f"{FEE + GHOST - 1} USD", "window": "calendar-month"}]
    engine = Engine(make_config(journal_path, policies, budgets), clock, journal_path)
    tags = SageMakerGateway.tags

    def throttled(self: SageMakerGateway, arn: str) -> dict[str, str]:
        if arn == tagless:
            raise AwsError(ErrorKind.THROTTLED, "ListTags", "ThrottlingException", "slow")
        return tags(self, arn)

    monkeypatch.setattr(SageMakerGateway, "tags", throttled)
    cycle, calls = engine.cycle()
    assert kinds(cycle) == {"due": "over_budget", "tagless": "error"}
    [budget] = cycle.budgets
    assert budget.problem is not None and "tagless" in budget.problem
    assert calls["ExtendTrainingPlan"] == 0


def test_a_purchase_made_elsewhere_on_a_due_plan_counts_in_the_same_cycle(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    """A due plan's history is read afresh; its budgets count that fresh history, not the one
    the cache kept. Bought in the console since the last cycle and still pending (the end
    not moved yet), an extension the cache does not hold must not leave room in the budget
    for another plan's purchase."""
    sim = make_sim(settings=SimSettings(end_time_moves="on_payment"))
    _due(sim, "aaa-first", t0 + timedelta(hours=40), t0)
    other = _due(sim, "bbb-other", t0 + timedelta(hours=50), t0)
    journal_path = tmp_path / "j.db"
    budgets = [{"name": "ml", "limit": f"{2 * FEE - 1} USD", "window": "calendar-month"}]
    engine = Engine(make_config(journal_path, budgets=budgets), clock, journal_path)
    first, _ = engine.cycle(dry_run=True)  # both histories are read and kept, empty
    assert kinds(first) == {"aaa-first": "would_extend", "bbb-other": "would_extend"}
    clock.advance(minutes=5)
    buy_offering(client(), other, 24, sim.plan_end(other), f"{REGION}a")
    assert len(sim.record.purchases) == 1

    cycle, calls = engine.cycle()
    assert kinds(cycle) == {"aaa-first": "over_budget", "bbb-other": "in_flight"}
    [budget] = cycle.budgets
    assert budget.state.spent == Money(FEE, "USD")
    assert calls["ExtendTrainingPlan"] == 0


def test_a_purchase_that_straddles_the_window_start_counts_in_the_new_window(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A purchase journalled a second before a calendar month starts is stamped `ExtendedAt`
    by AWS a few seconds later, in the new month. Until AWS's history lists it, the journal's
    copy counts in the new month (it was made within `safety.settle_after` of the start), so
    a second purchase cannot take the new month past its limit once AWS lists the first."""
    sim = make_sim(settings=SimSettings(history_delay=timedelta(minutes=45)))
    april = datetime(2026, 4, 1, tzinfo=t0.tzinfo)
    clock.advance(april - t0 - timedelta(seconds=1))  # 23:59:59 on the last day of March
    now = clock.now()
    first = _due(sim, "aaa-first", now + timedelta(hours=40), now)
    _due(sim, "bbb-second", now + timedelta(hours=40), now)
    journal_path = tmp_path / "j.db"
    budgets = [{"name": "ml", "limit": f"{FEE + FEE / 2} USD", "window": "calendar-month"}]
    engine = Engine(make_config(journal_path, budgets=budgets), clock, journal_path)
    extend = SageMakerGateway.extend

    def slow_extend(self: SageMakerGateway, offering_id: str, plan_arn: str) -> Any:
        clock.advance(seconds=3)  # the request reaches AWS after midnight
        return extend(self, offering_id, plan_arn)

    monkeypatch.setattr(SageMakerGateway, "extend", slow_extend)

    march, _ = engine.cycle()
    assert kinds(march) == {"aaa-first": "extended", "bbb-second": "over_budget"}
    [intent] = engine.reconciler.journal.intents_since(t0)
    assert intent.created_at < april
    [bought] = sim.record.purchases
    assert bought.plan_arn == first

    clock.advance(minutes=5)  # April; AWS's history does not list the purchase yet
    early, calls = engine.cycle()
    assert calls["ExtendTrainingPlan"] == 0
    assert kinds(early)["bbb-second"] == "over_budget"
    assert early.budgets[0].state.spent == Money(FEE, "USD")

    clock.advance(hours=1)  # AWS lists it now, stamped in April: the history decides
    listed, calls = engine.cycle()
    assert listed.budgets[0].state.spent == Money(FEE, "USD")
    assert kinds(listed)["bbb-second"] == "over_budget"
    assert len(sim.record.purchases) == 1
