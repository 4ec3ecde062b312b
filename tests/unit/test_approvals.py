"""The pure approval step (watcher/decide/approval.py): examples for every verdict, and the
properties that keep money safe: nothing is bought at or past the deadline, nothing costing
more than the approved fee plus its tolerance, nothing unapproved unless the auto rule holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.strategies import amounts, durations, instants
from watcher.decide import ApprovalRules
from watcher.decide.approval import Offer, Standing, Step, auto_approves, fee_ceiling, judge
from watcher.model import Money

END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
DEADLINE = END - timedelta(hours=2)
NOW = DEADLINE - timedelta(hours=24)
FEE = Money(Decimal("9438.72"), "USD")
RULES = ApprovalRules(fee_tolerance=Decimal("0.05"))


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def standing(approved: bool, fee: Money = FEE, hours: int = 24, end: datetime = END) -> Standing:
    return Standing(fee, hours, end, approved)


def test_no_proposal_and_an_offer_creates_one() -> None:
    verdict = judge(None, END, DEADLINE, NOW, Offer(FEE, 24), RULES)
    assert verdict.step is Step.CREATE and not verdict.auto


def test_no_offer_waits_even_when_approved() -> None:
    assert judge(standing(True), END, DEADLINE, NOW, None, RULES).step is Step.WAIT
    assert judge(None, END, DEADLINE, NOW, None, RULES).step is Step.WAIT


def test_pending_waits_and_approved_buys() -> None:
    offer = Offer(FEE, 24)
    assert judge(standing(False), END, DEADLINE, NOW, offer, RULES).step is Step.WAIT
    assert judge(standing(True), END, DEADLINE, NOW, offer, RULES).step is Step.BUY


@pytest.mark.parametrize(
    ("fee", "step"),
    [
        ("9910.65", Step.BUY),  # 9438.72 * 1.05 = 9910.656: just under the ceiling
        ("9910.66", Step.REPLACE),  # just over
        ("5000.00", Step.BUY),  # cheaper is always fine
    ],
)
def test_fee_tolerance_at_purchase_time(fee: str, step: Step) -> None:
    verdict = judge(standing(True), END, DEADLINE, NOW, Offer(usd(fee), 24), RULES)
    assert verdict.step is step
    if step is Step.REPLACE:
        assert "the price moved: 9910.66 USD now, 9438.72 USD proposed" in verdict.reason
        assert "fee_tolerance 5% allows up to 9910.6560 USD" in verdict.reason


def test_another_duration_or_currency_is_a_new_proposal() -> None:
    longer = judge(standing(True), END, DEADLINE, NOW, Offer(FEE, 48), RULES)
    assert longer.step is Step.REPLACE and "48h (2d) now, 24h (1d) proposed" in longer.reason
    euros = Money(Decimal("1.00"), "EUR")
    assert judge(standing(True), END, DEADLINE, NOW, Offer(euros, 24), RULES).step is Step.REPLACE


def test_a_moved_plan_end_replaces_the_proposal() -> None:
    verdict = judge(standing(True, end=END), END + timedelta(days=1), DEADLINE, NOW, None, RULES)
    assert verdict.step is Step.REPLACE
    assert "the plan's end moved from 2026-03-04T11:30:00Z" in verdict.reason


def test_the_deadline_expires_a_proposal_even_an_approved_one() -> None:
    for approved in (False, True):
        verdict = judge(standing(approved), END, DEADLINE, DEADLINE, Offer(FEE, 24), RULES)
        assert verdict.step is Step.EXPIRE
        assert "approvals fail closed" in verdict.reason


def test_auto_approval_needs_the_window_a_lower_fee_and_the_same_currency() -> None:
    rules = ApprovalRules(
        auto_approve_below=usd("10000.00"), auto_approve_within=timedelta(hours=6)
    )
    inside = DEADLINE - timedelta(hours=6)
    outside = inside - timedelta(seconds=1)
    offer = Offer(FEE, 24)
    assert auto_approves(offer, DEADLINE, inside, rules)
    assert not auto_approves(offer, DEADLINE, outside, rules)
    assert not auto_approves(Offer(usd("10000.00"), 24), DEADLINE, inside, rules)
    assert not auto_approves(Offer(Money(FEE.amount, "EUR"), 24), DEADLINE, inside, rules)
    assert not auto_approves(offer, DEADLINE, inside, ApprovalRules())

    pending = judge(standing(False), END, DEADLINE, inside, offer, rules)
    assert pending.step is Step.BUY and pending.auto
    assert "approved automatically" in pending.reason
    created = judge(None, END, DEADLINE, inside, offer, rules)
    assert created.step is Step.CREATE and created.auto
    assert judge(standing(False), END, DEADLINE, outside, offer, rules).step is Step.WAIT


def test_auto_approval_of_a_pending_proposal_whose_price_moved_proposes_anew() -> None:
    rules = ApprovalRules(auto_approve_below=usd("99999.00"))
    moved = Offer(usd("20000.00"), 24)
    verdict = judge(standing(False), END, DEADLINE, DEADLINE - timedelta(hours=1), moved, rules)
    assert verdict.step is Step.REPLACE


# --- properties ----------------------------------------------------------------------------

rules_st = st.builds(
    ApprovalRules,
    fee_tolerance=st.decimals(min_value=0, max_value=1, places=4),
    auto_approve_below=st.one_of(st.none(), st.builds(Money, amounts(50_000), st.just("USD"))),
    auto_approve_within=durations(48),
)
offers_st = st.one_of(
    st.none(),
    st.builds(
        Offer,
        st.builds(Money, amounts(50_000), st.sampled_from(["USD", "USD", "EUR"])),
        st.sampled_from([24, 48]),
    ),
)
standings_st = st.one_of(
    st.none(),
    st.builds(
        Standing,
        st.builds(Money, amounts(50_000), st.just("USD")),
        st.sampled_from([24, 48]),
        st.sampled_from([END, END - timedelta(days=1)]),
        st.booleans(),
    ),
)


@given(standings_st, offers_st, instants(), rules_st)
def test_judge_never_buys_what_was_not_approved_within_its_terms(
    live: Standing | None, offer: Offer | None, now: datetime, rules: ApprovalRules
) -> None:
    verdict = judge(live, END, DEADLINE, now, offer, rules)
    if verdict.step is not Step.BUY:
        return
    assert now < DEADLINE
    assert live is not None and offer is not None and live.plan_end == END
    assert offer.duration_hours == live.duration_hours
    assert offer.fee.currency == live.fee.currency
    assert offer.fee.amount <= fee_ceiling(live.fee, rules.fee_tolerance).amount
    assert live.approved or (verdict.auto and auto_approves(offer, DEADLINE, now, rules))


@given(standings_st, offers_st, instants(), rules_st)
def test_judge_expires_exactly_at_or_past_the_deadline(
    live: Standing | None, offer: Offer | None, now: datetime, rules: ApprovalRules
) -> None:
    verdict = judge(live, END, DEADLINE, now, offer, rules)
    moved = live is not None and live.plan_end != END
    assert (verdict.step is Step.EXPIRE) == (now >= DEADLINE and not moved)
