"""The journal `explain` reads through: reads pass, the one write a dry-run cycle makes
(settling an open intent) is only remembered, and any other write fails loudly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from watcher.journal.read_only import ReadOnlyJournal, ReadOnlyJournalError
from watcher.journal.records import Intent, IntentState, Proposal
from watcher.journal.sqlite import SqliteJournal
from watcher.model import Money

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTENT = Intent("arn:plan/a", NOW, "tpeo-1", "prod", Money(Decimal("1.00"), "USD"), 24, NOW)


def test_reads_pass_and_writes_do_not() -> None:
    real = SqliteJournal(":memory:")
    assert real.open_intent(INTENT)
    journal = ReadOnlyJournal(real)
    assert journal.open_intents() == [INTENT]

    journal.close_intent(INTENT, IntentState.FAILED, "not in AWS's history", NOW)
    assert journal.would_settle == [(INTENT, IntentState.FAILED, "not in AWS's history")]
    assert real.open_intents() == [INTENT]  # still open in the real journal

    proposal = Proposal(
        "p-1", "arn:plan/a", "a", "prod", NOW, "tpeo-1", 24, INTENT.fee, "why", NOW, NOW
    )
    for write in (
        lambda: journal.open_intent(INTENT),
        lambda: journal.set_setting("purchases.paused", "{}"),
        lambda: journal.add_proposal(proposal),
        lambda: journal.transition_proposal("p-1", frozenset(), proposal.state, "x", "y", NOW),
    ):
        with pytest.raises(ReadOnlyJournalError):
            write()
    assert real.get_setting("purchases.paused") is None
    journal.close()


def test_a_settled_intent_reads_as_settled_for_the_rest_of_the_cycle() -> None:
    real = SqliteJournal(":memory:")
    assert real.open_intent(INTENT)
    journal = ReadOnlyJournal(real)

    journal.close_intent(INTENT, IntentState.FAILED, "not in AWS's history", NOW)

    assert journal.open_intents() == []
    [settled] = journal.intents_since(NOW)
    assert (settled.state, settled.note) == (IntentState.FAILED, "not in AWS's history")
    assert [i.state for i in real.intents_since(NOW)] == [IntentState.OPEN]
