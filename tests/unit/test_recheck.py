"""A journalled purchase against AWS's extension history: only `Status: Failed` turns a bought
purchase into a failed one (and frees its plan end); anything else keeps blocking. The limits
stop counting a purchase as soon as AWS lists it as Failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import CapturingLogger

from watcher.act.purchase import PurchaseResult, buy
from watcher.act.recheck import Recheck
from watcher.decide.limits import LimitRules
from watcher.journal.records import Intent, IntentState
from watcher.journal.sqlite import SqliteJournal
from watcher.limit_ledger import LimitLedger
from watcher.model import Extension, ExtensionOffering, Money, Plan, PlanStatus

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"
FEE = Money(Decimal("9438.72"), "USD")
SETTLE = timedelta(minutes=30)


def _plan(end: datetime = END) -> Plan:
    return Plan(ARN, "llm-a", "default", PlanStatus.ACTIVE, AT - timedelta(days=3), end)


def _ext(status: str, payment: str, offering: str = "tpeo-a") -> Extension:
    start = END
    return Extension(
        offering, ARN, AT, start, start + timedelta(hours=24), status, payment, 24, FEE
    )


def _bought(tmp_path: Path) -> SqliteJournal:
    journal = SqliteJournal(tmp_path / "j.db")
    intent = Intent(ARN, END, "tpeo-a", "default", FEE, 24, AT)
    assert journal.open_intent(intent)
    journal.close_intent(intent, IntentState.BOUGHT, "accepted by ExtendTrainingPlan", AT)
    return journal


def _recheck(journal: SqliteJournal, now: datetime) -> tuple[Recheck, CapturingLogger]:
    logger = CapturingLogger()
    return Recheck(journal, now, structlog.wrap_logger(logger, processors=[])), logger


def test_a_bought_purchase_aws_lists_as_failed_becomes_a_failed_one(tmp_path: Path) -> None:
    journal = _bought(tmp_path)
    recheck, logger = _recheck(journal, AT + timedelta(minutes=20))

    reason = recheck.hold(_plan(), [_ext("Failed", "Failed")])

    assert reason is not None and "AWS reports the extension failed" in reason
    [intent] = journal.intents_since(AT)
    assert intent.state is IntentState.FAILED and "Status Failed" in intent.note
    [item] = recheck.settled
    assert item.failed is not None and item.intent.state is IntentState.BOUGHT
    assert [c.kwargs["event"] for c in logger.calls] == ["extension_failed"]
    # The journal opens the way to a new purchase from the same end.
    assert journal.open_intent(Intent(ARN, END, "tpeo-b", "default", FEE, 24, AT))


@pytest.mark.parametrize(
    ("status", "payment"),
    [("Active", "Completed"), ("Scheduled", "Unknown"), ("Expired", "Completed")],
)
def test_a_bought_purchase_listed_in_any_other_status_still_blocks(
    tmp_path: Path, status: str, payment: str
) -> None:
    journal = _bought(tmp_path)
    recheck, _ = _recheck(journal, AT + timedelta(minutes=20))

    reason = recheck.hold(_plan(), [_ext(status, payment)])

    assert reason is not None and f"with Status {status}" in reason
    assert "only AWS listing it as Failed allows another purchase" in reason
    [intent] = journal.intents_since(AT)
    assert intent.state is IntentState.BOUGHT and recheck.settled == []


def test_a_bought_purchase_aws_does_not_list_still_blocks(tmp_path: Path) -> None:
    journal = _bought(tmp_path)
    recheck, _ = _recheck(journal, AT + timedelta(minutes=20))
    reason = recheck.hold(_plan(), [])
    assert reason is not None and "does not list it" in reason
    assert journal.intents_since(AT)[0].state is IntentState.BOUGHT


@pytest.mark.parametrize(
    ("status", "payment"),
    [("Pending", "Pending"), ("Pending", "Failed"), ("Cancelled", "Failed")],
)
def test_a_pending_or_unknown_status_is_left_to_triage_which_blocks(
    tmp_path: Path, status: str, payment: str
) -> None:
    journal = _bought(tmp_path)
    recheck, _ = _recheck(journal, AT + timedelta(minutes=20))
    ext = _ext(status, payment)
    assert recheck.hold(_plan(), [ext]) is None and ext.in_flight
    assert journal.intents_since(AT)[0].state is IntentState.BOUGHT


def test_a_plan_not_due_only_has_its_failed_purchases_recorded(tmp_path: Path) -> None:
    """AWS moved the plan's end although the extension failed: the purchase is still
    recorded as failed, and nothing else is said about a plan that is not due."""
    journal = _bought(tmp_path)
    recheck, _ = _recheck(journal, AT + timedelta(minutes=20))
    moved = _plan(END + timedelta(hours=24))
    assert recheck.hold(moved, [_ext("Active", "Completed")], due=False) is None
    reason = recheck.hold(moved, [_ext("Failed", "Failed")], due=False)
    assert reason is not None and recheck.settled[0].end_moved
    assert journal.intents_since(AT)[0].state is IntentState.FAILED


def test_limits_stop_counting_a_purchase_aws_lists_as_failed(tmp_path: Path) -> None:
    journal = _bought(tmp_path)
    rules = LimitRules(purchases_per_24h=1, spend_per_24h=Money(Decimal("10000"), "USD"))
    now = AT + timedelta(minutes=20)

    pending = LimitLedger(rules, journal, [_ext("Pending", "Pending")], SETTLE).states(now)
    failed = LimitLedger(rules, journal, [_ext("Failed", "Failed")], SETTLE).states(now)

    assert [s.used for s in pending] == [1, FEE.amount]
    assert [s.used for s in failed] == [0, 0]


class _Answers:
    """A gateway whose ExtendTrainingPlan answers with `listed`."""

    def __init__(self, listed: list[Extension]) -> None:
        self.listed = listed

    def extend(self, offering_id: str, plan_arn: str) -> list[Extension]:
        return self.listed


def test_an_answer_that_lists_the_extension_as_failed_is_a_failed_purchase(
    tmp_path: Path,
) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    offering = ExtensionOffering(
        "tpeo-a", ARN, "us-east-1a", END, END + timedelta(hours=24), 24, FEE
    )
    log = structlog.wrap_logger(CapturingLogger(), processors=[])
    gateway: Any = _Answers([_ext("Failed", "Failed")])

    outcome = buy(gateway, journal, _plan(), offering, AT, log)

    assert outcome.result is PurchaseResult.FAILED
    assert "AWS reports the extension failed" in outcome.detail
    [intent] = journal.intents_since(AT)
    assert intent.state is IntentState.FAILED
