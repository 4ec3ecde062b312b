"""No `assert` guards a money path: `python -O` strips asserts, so what they check would
silently stop being checked. Impossible states on the way to a purchase are explicit checks
that buy nothing and report an error."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from watcher.act.checkout import checkout
from watcher.act.outcome import reported
from watcher.model import Decision, DecisionKind, ExtensionOffering, Money, Plan, PlanStatus

REPO = Path(__file__).resolve().parents[2]
#: Everything between a decision and AWS's ExtendTrainingPlan, and the journal it writes.
MONEY_PATHS = [
    *sorted((REPO / "watcher" / "act").glob("*.py")),
    *sorted((REPO / "watcher" / "journal").glob("*.py")),
    REPO / "watcher" / "reconcile.py",
]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("path", MONEY_PATHS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_assert_statement_on_a_money_path(path: Path) -> None:
    tree = ast.parse(path.read_text())
    found = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert found == [], f"{path.name}: assert on lines {found}"


class NoPurchases:
    """A gateway that fails the test if anything is bought."""

    def extend(self, offering_id: str, plan_arn: str) -> Any:
        raise AssertionError("nothing may be bought")


class OpenValves:
    def blocked(self) -> None:
        return None

    def holding(self, *args: Any) -> None:
        return None


def _decision() -> tuple[Plan, Decision]:
    end = NOW + timedelta(hours=40)
    plan = Plan(
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-a",
        name="llm-a",
        target="default",
        status=PlanStatus.ACTIVE,
        start_time=NOW - timedelta(days=3),
        end_time=end,
    )
    offering = ExtensionOffering(
        offering_id="tpeo-1",
        plan_arn=plan.arn,
        start=end,
        end=end + timedelta(days=1),
        duration_hours=24,
        upfront_fee=Money(Decimal("9438.72"), "USD"),
        availability_zone="us-east-1a",
    )
    decision = Decision(
        plan.arn, DecisionKind.EXTENDED, "due", chosen=offering, deadline=end - timedelta(hours=2)
    )
    return plan, decision


@pytest.mark.parametrize("missing", ["deadline", "chosen"])
def test_a_decision_missing_what_a_purchase_needs_buys_nothing(missing: str) -> None:
    plan, decision = _decision()
    broken = replace(decision, **{missing: None})
    done = checkout(
        NoPurchases(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        OpenValves(),  # type: ignore[arg-type]
        plan,
        broken,
        lambda: NOW,
        None,
        None,
        None,
    )
    assert done.purchase is None
    assert reported(broken, (done.step,)).kind is DecisionKind.ERROR
    assert "not bought" in reported(broken, (done.step,)).reason
