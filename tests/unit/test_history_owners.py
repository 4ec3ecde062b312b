"""Whose extension a history row is: an extension AWS lists under an ID of its own is still
plan-watcher's when the journal's purchase matches it as a purchase is settled; a purchase
AWS refused never claims one someone else bought from the same end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog

from watcher.act.purchase_notes import note_purchase
from watcher.history import Period, rows_for
from watcher.journal.records import Intent, IntentState
from watcher.journal.sqlite import SqliteJournal
from watcher.model import Extension, Money, Plan, PlanStatus

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"
FEE = Money(Decimal("9438.72"), "USD")
DAY = timedelta(hours=24)


def _ext(listed: str, at: datetime, start: datetime, status: str = "Active") -> Extension:
    return Extension(listed, ARN, at, start, start + DAY, status, "Completed", 24, FEE)


def _journal(tmp_path: Path, *intents: tuple[Intent, IntentState]) -> SqliteJournal:
    journal = SqliteJournal(tmp_path / "j.db")
    log = structlog.get_logger()
    for intent, state in intents:
        assert journal.open_intent(intent)
        note_purchase(journal, intent, "llm", f"reason for {intent.offering_id}", None, log)
        if state is not IntentState.OPEN:
            journal.close_intent(intent, state, "", intent.created_at)
    return journal


def _who(rows: list[dict[str, object]]) -> dict[object, tuple[object, object]]:
    return {r["offering_id"]: (r["bought_by"], r["decision_reason"]) for r in rows}


def test_rows_name_the_journalled_purchase_behind_an_extension_listed_under_its_own_id(
    tmp_path: Path,
) -> None:
    # AWS refused tpeo-a; someone then bought a day from the same end by hand (ext-h); later
    # plan-watcher bought tpeo-b from the new end, which AWS lists as ext-b; tpeo-c, from the
    # end after that, was answered ambiguously, and AWS lists it as ext-c.
    refused = Intent(ARN, END, "tpeo-a", "default", FEE, 24, AT)
    bought = Intent(ARN, END + DAY, "tpeo-b", "default", FEE, 24, AT + timedelta(hours=1))
    unknown = Intent(ARN, END + 2 * DAY, "tpeo-c", "default", FEE, 24, AT + timedelta(hours=2))
    journal = _journal(
        tmp_path,
        (refused, IntentState.FAILED),
        (bought, IntentState.BOUGHT),
        (unknown, IntentState.OPEN),
    )
    history = [
        _ext("ext-h", AT + timedelta(minutes=10), END),
        _ext("ext-b", bought.created_at, END + DAY),
        _ext("ext-c", unknown.created_at + timedelta(seconds=3), END + 2 * DAY, "Pending"),
    ]
    plan = Plan(ARN, "llm-a", "default", PlanStatus.ACTIVE, AT - DAY, END + 3 * DAY)

    intents = journal.intents_since(AT)
    rows = rows_for(plan, "default", history, intents, journal, Period(), {}, [])

    assert _who(rows) == {
        "ext-h": ("outside plan-watcher", None),
        "ext-b": ("plan-watcher", "reason for tpeo-b"),
        "ext-c": ("plan-watcher", "reason for tpeo-c"),
    }


def test_a_payment_that_failed_under_its_own_id_stays_plan_watchers(tmp_path: Path) -> None:
    # tpeo-a was bought, and AWS lists it as ext-a with Status Failed (its payment failed):
    # the journal has recorded the purchase as failed, and nothing has been bought since.
    journal = _journal(
        tmp_path, (Intent(ARN, END, "tpeo-a", "default", FEE, 24, AT), IntentState.FAILED)
    )
    history = [_ext("ext-a", AT + timedelta(seconds=2), END, "Failed")]
    plan = Plan(ARN, "llm-a", "default", PlanStatus.ACTIVE, AT - DAY, END)

    rows = rows_for(plan, "default", history, journal.intents_since(AT), journal, Period(), {}, [])

    assert _who(rows) == {"ext-a": ("plan-watcher", "reason for tpeo-a")}
