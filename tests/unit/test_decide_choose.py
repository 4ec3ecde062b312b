"""Stage 3: offering acceptance, ranking, budgets and the action per policy and mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.core_path import decided
from watcher.decide import BudgetState, Need, PolicyRules, choose
from watcher.decide.rules import Mode
from watcher.model import (
    Capacity,
    Consumer,
    ConsumerKind,
    Decision,
    DecisionKind,
    ExtensionOffering,
    Money,
    Plan,
    PlanStatus,
)

END = datetime(2025, 10, 1, 11, 30, tzinfo=UTC)
NOW = END - timedelta(hours=48)
PLAN = Plan(
    arn="arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a",
    name="llm-a",
    target="prod",
    status=PlanStatus.ACTIVE,
    start_time=END - timedelta(days=14),
    end_time=END,
    upfront_fee=Money.parse("40000.00 USD"),
    availability_zones=("us-east-1a",),
)
RULES = PolicyRules(
    name="llm",
    max_duration=timedelta(days=14),
    max_upfront_fee=Money.parse("60000.00 USD"),
    max_fee_per_hour=Money.parse("3000.00 USD"),
)
NEED = Need(duration_hours=72, demand_end=END + timedelta(hours=60), reason="job a needs 60h")


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def offer(
    oid: str,
    hours: int,
    fee: str,
    *,
    start: datetime = END,
    zone: str | None = "us-east-1a",
    currency: str = "USD",
) -> ExtensionOffering:
    return ExtensionOffering(
        offering_id=oid,
        plan_arn=PLAN.arn,
        availability_zone=zone,
        start=start,
        end=start + timedelta(hours=hours),
        duration_hours=hours,
        upfront_fee=Money.parse(f"{fee} {currency}"),
    )


def run(
    offerings: Sequence[ExtensionOffering],
    *,
    rules: PolicyRules = RULES,
    budgets: Sequence[BudgetState] = (),
    plan: Plan = PLAN,
    need: Need = NEED,
    mode: Mode = "enforce",
) -> Decision:
    return choose(plan, rules, need, offerings, budgets, NOW, mode)


def reason_for(decision: Decision, oid: str) -> str:
    return next(r.reason for r in decision.rejected if r.offering.offering_id == oid)


def test_extend_in_enforce_mode_buys_the_cheapest() -> None:
    decision = run([offer("b", 72, "9000.00"), offer("a", 96, "8000.00")])
    assert decision.kind is DecisionKind.EXTENDED
    assert decision.chosen is not None and decision.chosen.offering_id == "a"
    assert decision.need_hours == 72 and decision.demand_end == NEED.demand_end
    assert decision.deadline == END - timedelta(hours=2) and decision.next_action == NOW
    assert "8000.00 USD" in decision.reason and decision.policy == "llm"


@pytest.mark.parametrize(
    ("action", "mode", "kind", "words"),
    [
        ("extend", "dry-run", DecisionKind.WOULD_EXTEND, "dry-run"),
        ("propose", "enforce", DecisionKind.PROPOSED, "approval"),
        ("propose", "dry-run", DecisionKind.PROPOSED, "approval"),
        ("notify", "enforce", DecisionKind.WOULD_EXTEND, "notify"),
    ],
)
def test_action_and_mode(action: str, mode: Mode, kind: DecisionKind, words: str) -> None:
    rules = replace(RULES, action=action)
    decision = run([offer("a", 72, "9000.00")], rules=rules, mode=mode)
    assert decision.kind is kind and words in decision.reason
    assert decision.chosen is not None


def test_no_offerings_at_all_is_no_offering_saying_none_offered() -> None:
    decision = run([])
    assert decision.kind is DecisionKind.NO_OFFERING and decision.chosen is None
    assert "offered no extension" in decision.reason


def test_every_rejection_is_listed_with_its_reason() -> None:
    offerings = [
        offer("late", 72, "100.00", start=END + timedelta(hours=1)),
        offer("early-ok", 72, "100.00", start=END - timedelta(minutes=5)),
        offer("odd", 15 * 24, "100.00"),
        offer("long", 21 * 24, "100.00"),
        offer("dear", 72, "60000.01"),
        offer("rate", 24, "50000.00"),
        offer("zone", 72, "100.00", zone="us-east-1b"),
        offer("nozone", 72, "100.00", zone=None),
        offer("euro", 72, "100.00", currency="EUR"),
        replace(offer("other", 72, "100.00"), plan_arn="arn:other"),
        replace(offer("backwards", 72, "100.00"), end=END - timedelta(hours=1)),
    ]
    decision = run(offerings, rules=replace(RULES, max_fee_per_hour=usd("2000.00")))
    assert decision.chosen is not None and decision.chosen.offering_id == "early-ok"
    assert "not where the plan ends" in reason_for(decision, "late")
    assert "not one AWS sells" in reason_for(decision, "odd")
    assert "exceeds max_duration" in reason_for(decision, "long")
    assert "exceeds max_upfront_fee 60000.00 USD" in reason_for(decision, "dear")
    assert "2083.33 USD/h" in reason_for(decision, "rate")
    assert "max_fee_per_hour" in reason_for(decision, "rate")
    assert "us-east-1b" in reason_for(decision, "zone")
    assert "unknown" in reason_for(decision, "nozone")
    assert "not in USD" in reason_for(decision, "euro")
    assert "another plan" in reason_for(decision, "other")
    assert "before it starts" in reason_for(decision, "backwards")
    assert len(decision.rejected) == len(offerings) - 1


def test_fee_per_hour_exactly_at_the_cap_is_accepted() -> None:
    decision = run([offer("edge", 24, "72000.00")], rules=replace(RULES, max_upfront_fee=None))
    assert decision.kind is DecisionKind.EXTENDED


def test_all_rejected_is_no_offering_with_a_summary() -> None:
    decision = run([offer("dear", 72, "70000.00"), offer("zone", 72, "1.00", zone="x")])
    assert decision.kind is DecisionKind.NO_OFFERING
    assert "all 2 offering(s) were rejected" in decision.reason
    assert "dear:" in decision.reason and "zone:" in decision.reason


def test_other_zone_is_fine_when_not_asked() -> None:
    rules = replace(RULES, same_availability_zone=False)
    assert run([offer("zone", 72, "1.00", zone="us-east-1b")], rules=rules).chosen is not None


def test_plan_without_zones_rejects_when_same_zone_is_asked() -> None:
    decision = run([offer("a", 72, "1.00")], plan=replace(PLAN, availability_zones=()))
    assert decision.kind is DecisionKind.NO_OFFERING
    assert "plan reports no zone" in decision.reason


def test_plan_without_fee_takes_the_currency_of_the_caps() -> None:
    plan = replace(PLAN, upfront_fee=None)
    decision = run([offer("e", 72, "1.00", currency="EUR"), offer("u", 72, "2.00")], plan=plan)
    assert decision.chosen is not None and decision.chosen.offering_id == "u"


def test_currency_unknown_rejects_everything() -> None:
    plan = replace(PLAN, upfront_fee=None)
    rules = replace(RULES, max_upfront_fee=None, max_fee_per_hour=None)
    decision = run([offer("u", 72, "2.00")], plan=plan, rules=rules)
    assert decision.kind is DecisionKind.NO_OFFERING
    assert "cannot tell which currency" in decision.reason


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [("cheapest", "d3"), ("shortest_covering", "d4"), ("longest_within_caps", "w2")],
)
def test_ranking_by_prefer(prefer: str, expected: str) -> None:
    offerings = [
        offer("d2", 48, "1000.00"),
        offer("d3", 72, "900.00"),
        offer("d4", 96, "5000.00"),
        offer("d4b", 96, "5000.00"),
        offer("w2", 336, "20000.00"),
    ]
    need = replace(NEED, duration_hours=96)
    decision = run(offerings, rules=replace(RULES, prefer=prefer), need=need)
    assert decision.chosen is not None and decision.chosen.offering_id == expected


def test_shortest_covering_without_a_covering_offer_takes_the_longest() -> None:
    rules = replace(RULES, prefer="shortest_covering")
    need = replace(NEED, duration_hours=240)
    decision = run([offer("d2", 48, "1.00"), offer("d3", 72, "9.00")], rules=rules, need=need)
    assert decision.chosen is not None and decision.chosen.offering_id == "d3"


def test_cheapest_ties_go_to_the_shorter_then_the_id() -> None:
    decision = run([offer("z", 72, "5.00"), offer("y", 48, "5.00"), offer("x", 48, "5.00")])
    assert decision.chosen is not None and decision.chosen.offering_id == "x"


def test_over_budget_names_the_budget_and_figures() -> None:
    budget = BudgetState("ml-monthly", usd("250000.00"), usd("245000.00"))
    decision = run([offer("a", 72, "9000.00")], budgets=[budget])
    assert decision.kind is DecisionKind.OVER_BUDGET and decision.chosen is None
    assert "ml-monthly" in decision.reason
    assert "245000.00 USD spent + 9000.00 USD = 254000.00 USD" in decision.reason
    assert "250000.00 USD" in decision.reason
    assert "ml-monthly" in reason_for(decision, "a")


def test_budget_exactly_reached_is_allowed() -> None:
    budget = BudgetState("ml", usd("10000.00"), usd("1000.00"))
    assert run([offer("a", 72, "9000.00")], budgets=[budget]).kind is DecisionKind.EXTENDED


def test_falls_back_to_a_cheaper_acceptable_offering_that_fits_and_says_so() -> None:
    rules = replace(RULES, prefer="longest_within_caps")
    budget = BudgetState("ml", usd("10000.00"), usd("5000.00"))
    decision = run(
        [offer("big", 168, "9000.00"), offer("small", 72, "4000.00")], rules=rules, budgets=[budget]
    )
    assert decision.kind is DecisionKind.EXTENDED
    assert decision.chosen is not None and decision.chosen.offering_id == "small"
    assert "fell back" in decision.reason and "big" in decision.reason


def test_every_budget_must_fit_and_other_currencies_refuse() -> None:
    fits = BudgetState("team", usd("100000.00"), usd("0.00"))
    euro = BudgetState("eu", Money.parse("100000.00 EUR"), Money.parse("0.00 EUR"))
    decision = run([offer("a", 72, "10.00")], budgets=[fits, euro])
    assert decision.kind is DecisionKind.OVER_BUDGET
    assert "eu is kept in EUR" in decision.reason


def test_choose_still_refuses_after_the_deadline() -> None:
    decision = choose(PLAN, RULES, NEED, [offer("a", 72, "1.00")], [], END, "enforce")
    assert decision.kind is DecisionKind.EXPIRED and decision.chosen is None


def test_decide_runs_every_stage_to_a_purchase() -> None:
    jobs = [Consumer(ConsumerKind.JOB, "a", "arn:job/a", PLAN.arn, "InProgress", END + NEED_60H)]
    decision = decided(PLAN, RULES, [], False, jobs, [offer("a", 72, "10.00")], [], NOW, "enforce")
    assert decision.kind is DecisionKind.EXTENDED and decision.need_hours == 72
    assert decided(PLAN, None, [], False, jobs, [], [], NOW, "enforce").kind is (
        DecisionKind.UNMANAGED
    )
    no_jobs = decided(PLAN, RULES, [], False, [], [offer("a", 72, "1.00")], [], NOW, "enforce")
    assert no_jobs.kind is DecisionKind.NO_DEMAND


NEED_60H = timedelta(hours=60)


def test_the_same_zone_is_the_zone_the_plan_ends_in() -> None:
    """Extended before in us-east-1b, the plan lists both zones; only us-east-1b carries on."""
    start = END - timedelta(days=14)
    moved = replace(
        PLAN,
        availability_zones=("us-east-1a", "us-east-1b"),
        capacities=(
            Capacity(start, END - timedelta(days=1), "us-east-1a"),
            Capacity(END - timedelta(days=1), END, "us-east-1b"),
        ),
    )
    decision = run(
        [offer("a", 72, "90.00"), offer("b", 72, "100.00", zone="us-east-1b")], plan=moved
    )
    assert decision.chosen is not None and decision.chosen.offering_id == "b"
    assert "not the zone the plan ends in (us-east-1b)" in reason_for(decision, "a")
