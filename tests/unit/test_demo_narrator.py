"""The sandbox's narration names each budget's own window."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from watcher.act.purchase import PurchaseOutcome, PurchaseResult
from watcher.budget_spend import BudgetSpend
from watcher.config import Budget, BudgetWindow, Mode
from watcher.decide import BudgetState
from watcher.demo import Narrator
from watcher.journal.records import Intent
from watcher.model import Decision, DecisionKind, Money, Plan, PlanStatus
from watcher.results import CycleResult, PlanResult

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"


def test_a_budget_is_told_with_its_window() -> None:
    fee = Money(Decimal("100.00"), "USD")
    end = NOW + timedelta(hours=40)
    plan = Plan(ARN, "llm-a", "default", PlanStatus.ACTIVE, NOW - timedelta(days=1), end)
    intent = Intent(ARN, end, "tpeo-1", "default", fee, 24, NOW)
    bought = PurchaseOutcome(PurchaseResult.BOUGHT, intent, "extension bought")
    decision = Decision(ARN, DecisionKind.EXTENDED, "bought tpeo-1")
    result = PlanResult(ARN, "llm-a", "default", decision, plan, purchase=bought)
    weekly = Budget(name="weekly", limit=Money(Decimal("1000.00"), "USD"), window="rolling-7d")
    spend = BudgetSpend(weekly, BudgetState("weekly", weekly.limit, fee), None)
    cycle = CycleResult("c1", NOW, Mode.ENFORCE, [result], budgets=[spend])
    out = io.StringIO()

    Narrator(out)(cycle)

    told = out.getvalue()
    assert weekly.window is BudgetWindow.ROLLING_7D
    assert "budget weekly: 100.00 USD spent of 1000.00 USD in its rolling-7d window" in told
    assert "month" not in told
