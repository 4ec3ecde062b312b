"""Budget spend at a window's start: a journalled purchase AWS does not list yet counts in the
window it may belong to, and once AWS lists it, `ExtendedAt` places it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from watcher.budget_spend import CoveredExtensions, journal_since, spend
from watcher.config import Budget
from watcher.journal.records import Intent, IntentState
from watcher.model import Extension, Money

START = datetime(2026, 4, 1, tzinfo=UTC)  # a calendar month starts
NOW = START + timedelta(minutes=5)
SETTLE = timedelta(minutes=30)
PLAN = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-a"
BUDGET = Budget(name="ml", limit=Money(Decimal("1000.00"), "USD"), window="calendar-month")


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def intent(created_at: datetime, state: IntentState = IntentState.BOUGHT) -> Intent:
    end = START + timedelta(days=2)
    return Intent(PLAN, end, "tpeo-a", "default", usd("100.00"), 24, created_at, state)


def listed(extended_at: datetime) -> Extension:
    return Extension(
        offering_id="tpeo-a",
        plan_arn=PLAN,
        extended_at=extended_at,
        start=START + timedelta(days=2),
        end=START + timedelta(days=3),
        status="Active",
        payment_status="Completed",
        duration_hours=24,
        upfront_fee=usd("100.00"),
    )


def spent(history: list[Extension], intents: list[Intent]) -> Money:
    plans = [CoveredExtensions(PLAN, "all", history)]
    result = spend(BUDGET, NOW, plans, intents, SETTLE)
    assert result.problem is None
    return result.state.spent


@pytest.mark.parametrize(
    ("journalled", "counted"),
    [
        (START - timedelta(seconds=1), "100.00"),  # AWS may stamp it after the start
        (START - SETTLE, "100.00"),  # the earliest that may still belong to this window
        (START - SETTLE - timedelta(seconds=1), "0"),  # AWS has had settle_after to stamp it
    ],
)
def test_a_purchase_aws_does_not_list_yet_counts_if_made_just_before_the_start(
    journalled: datetime, counted: str
) -> None:
    assert spent([], [intent(journalled)]) == usd(counted)
    assert journal_since([BUDGET], NOW, SETTLE) == START - SETTLE


def test_a_failed_purchase_made_just_before_the_start_does_not_count() -> None:
    assert spent([], [intent(START - timedelta(seconds=1), IntentState.FAILED)]) == usd("0")


@pytest.mark.parametrize(
    ("extended_at", "counted"),
    [
        (START + timedelta(seconds=2), "100.00"),  # stamped in this window
        (START - timedelta(seconds=1), "0"),  # stamped in the last one
    ],
)
def test_once_aws_lists_the_purchase_its_extended_at_decides(
    extended_at: datetime, counted: str
) -> None:
    journalled = intent(START - timedelta(seconds=3))
    assert spent([listed(extended_at)], [journalled]) == usd(counted)
