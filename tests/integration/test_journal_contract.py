"""The journal contract, held by every backend: SQLite (one replica) and DynamoDB (several).

Every method of `Journal` and its conditional guarantees: one intent per plan and end (also
under concurrent writers), a failed intent can be retried, one live proposal per plan and
end, conditional proposal transitions, settings, and the audit trail in write order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config

from tests.integration.dynamodb_support import REGION, TABLE, serialised_dynamodb
from watcher.clock import ManualClock
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.records import (
    LIVE_PROPOSAL_STATES,
    Intent,
    IntentState,
    Journal,
    Proposal,
    ProposalState,
)
from watcher.journal.sqlite import SqliteJournal
from watcher.journal.table import JournalUnavailable
from watcher.model import Money

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLAN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"
OTHER = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/vision-b"
END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def journal(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Journal]:
    if request.param == "sqlite":
        sqlite = SqliteJournal(tmp_path / "journal.db")
        yield sqlite
        sqlite.close()
        return
    with serialised_dynamodb(monkeypatch) as client:
        yield DynamoJournal(TABLE, client, ManualClock(T0))


def intent(offering: str = "tpeo-1", plan: str = PLAN, end: datetime = END, **kw: Any) -> Intent:
    fields: dict[str, Any] = {
        "plan_arn": plan,
        "plan_end": end,
        "offering_id": offering,
        "target": "prod",
        "fee": Money(Decimal("18876.48"), "USD"),
        "duration_hours": 24,
        "created_at": T0,
    }
    fields.update(kw)
    return Intent(**fields)


def proposal(pid: str, plan: str = PLAN, end: datetime = END, **kw: Any) -> Proposal:
    fields: dict[str, Any] = {
        "proposal_id": pid,
        "plan_arn": plan,
        "plan_name": plan.rsplit("/", 1)[-1],
        "target": "prod",
        "plan_end": end,
        "offering_id": f"tpeo-{pid}",
        "duration_hours": 48,
        "fee": Money(Decimal("37752.96"), "USD"),
        "reason": "the job runs 2 days past the plan's end",
        "created_at": T0,
        "expires_at": END - timedelta(hours=2),
    }
    fields.update(kw)
    return Proposal(**fields)


def race(count: int, attempt: Callable[[int], T]) -> list[T]:
    """Run `attempt(i)` in `count` threads released together; their results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = attempt(index)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


# --- intents ---------------------------------------------------------------------------------


def test_an_intent_is_written_once_per_plan_and_end(journal: Journal) -> None:
    assert journal.open_intent(intent("tpeo-1"))
    assert not journal.open_intent(intent("tpeo-2"))  # same plan and end: the second loses
    assert journal.open_intent(intent("tpeo-3", end=END + timedelta(days=1)))
    assert journal.open_intent(intent("tpeo-4", plan=OTHER))

    [first, later, other] = sorted(journal.open_intents(), key=lambda i: (i.plan_arn, i.plan_end))
    assert (first.offering_id, later.offering_id, other.offering_id) == (
        "tpeo-1",
        "tpeo-3",
        "tpeo-4",
    )
    assert first == intent("tpeo-1")  # every field, money exact, times timezone-aware
    assert first.fee.amount == Decimal("18876.48") and first.fee.currency == "USD"
    assert first.state is IntentState.OPEN and first.resolved_at is None


def test_a_failed_intent_can_be_retried_but_a_bought_one_cannot(journal: Journal) -> None:
    failed = intent("tpeo-1")
    assert journal.open_intent(failed)
    journal.close_intent(failed, IntentState.FAILED, "ValidationException", T0)
    retry = intent("tpeo-2", created_at=T0 + timedelta(minutes=5))
    assert journal.open_intent(retry)
    [open_now] = journal.open_intents()
    assert open_now.offering_id == "tpeo-2" and open_now.state is IntentState.OPEN

    journal.close_intent(retry, IntentState.BOUGHT, "accepted", T0 + timedelta(minutes=6))
    assert not journal.open_intent(intent("tpeo-3", created_at=T0 + timedelta(minutes=7)))
    assert journal.open_intents() == []


def test_a_bought_intent_aws_lists_as_failed_is_closed_as_failed_and_can_be_retried(
    journal: Journal,
) -> None:
    """A bought extension whose payment failed: its intent is closed a second time, as
    failed, and only a new offering's intent replaces it; the audit trail keeps both."""
    bought = intent("tpeo-1")
    assert journal.open_intent(bought)
    journal.close_intent(bought, IntentState.BOUGHT, "accepted", T0)
    later = T0 + timedelta(minutes=20)
    journal.close_intent(bought, IntentState.FAILED, "AWS reports the extension failed", later)
    [failed] = journal.intents_since(T0)
    assert (failed.state, failed.note, failed.resolved_at) == (
        IntentState.FAILED,
        "AWS reports the extension failed",
        later,
    )
    # Closing names its offering: a stale close of tpeo-1 cannot touch tpeo-2's intent.
    retry = intent("tpeo-2", created_at=later + timedelta(minutes=10))
    assert journal.open_intent(retry)
    journal.close_intent(bought, IntentState.FAILED, "again", later + timedelta(minutes=11))
    [current] = journal.intents_since(T0)
    assert (current.offering_id, current.state) == ("tpeo-2", IntentState.OPEN)
    events = [event for _, _, event, _ in journal.events(PLAN)]
    assert events[:4] == ["intent", "bought", "failed", "intent"]


def test_closing_records_the_outcome_and_intents_since_counts_every_state(
    journal: Journal,
) -> None:
    old = intent("tpeo-old", plan=OTHER, created_at=T0 - timedelta(days=40))
    bought = intent("tpeo-1", created_at=T0)
    pending = intent("tpeo-2", end=END + timedelta(days=1), created_at=T0 + timedelta(hours=1))
    for each in (old, bought, pending):
        assert journal.open_intent(each)
    at = T0 + timedelta(minutes=3)
    journal.close_intent(bought, IntentState.BOUGHT, "accepted by ExtendTrainingPlan", at)

    since = journal.intents_since(T0 - timedelta(days=1))
    assert [i.offering_id for i in since] == ["tpeo-1", "tpeo-2"]  # oldest first
    assert since[0].state is IntentState.BOUGHT
    assert since[0].note == "accepted by ExtendTrainingPlan" and since[0].resolved_at == at
    assert [i.offering_id for i in journal.open_intents()] == ["tpeo-old", "tpeo-2"]
    assert len(journal.intents_since(T0 - timedelta(days=41))) == 3


def test_concurrent_writers_of_one_intent_exactly_one_wins(journal: Journal) -> None:
    results = race(8, lambda i: journal.open_intent(intent(f"tpeo-{i}")))

    assert results.count(True) == 1
    [winner] = journal.open_intents()
    assert winner.offering_id == f"tpeo-{results.index(True)}"
    assert [e[2] for e in journal.events(PLAN)] == ["intent"]


# --- events and settings ---------------------------------------------------------------------


def test_events_are_an_audit_trail_in_write_order(journal: Journal) -> None:
    first = intent("tpeo-1")
    journal.open_intent(first)
    journal.open_intent(intent("tpeo-9", plan=OTHER))
    journal.close_intent(first, IntentState.BOUGHT, "accepted", T0)  # same time as its intent
    journal.add_proposal(proposal("p1", end=END + timedelta(days=1)))

    trail = journal.events(PLAN)
    assert [(e[1], e[2]) for e in trail] == [
        (PLAN, "intent"),
        (PLAN, "bought"),
        (PLAN, "proposal"),
    ]
    assert trail[1][3] == "tpeo-1: accepted"
    assert trail[0][0] == T0
    assert [e[2] for e in journal.events()] == ["intent", "intent", "bought", "proposal"]
    assert [e[1] for e in journal.events(OTHER)] == [OTHER]


def test_settings_are_set_overwritten_and_deleted(journal: Journal) -> None:
    assert journal.get_setting("paused") is None
    journal.set_setting("paused", "cli:alice 2026-03-02")
    assert journal.get_setting("paused") == "cli:alice 2026-03-02"
    journal.set_setting("paused", "cli:bob")
    assert journal.get_setting("paused") == "cli:bob"
    journal.set_setting("paused", None)
    assert journal.get_setting("paused") is None
    journal.set_setting("paused", None)  # deleting twice is fine


# --- proposals -------------------------------------------------------------------------------


def test_one_live_proposal_per_plan_and_end(journal: Journal) -> None:
    assert journal.add_proposal(proposal("p1"))
    assert not journal.add_proposal(proposal("p2"))
    assert journal.add_proposal(proposal("p3", end=END + timedelta(days=1)))
    assert journal.add_proposal(proposal("p4", plan=OTHER))
    approved = journal.transition_proposal(
        "p1", frozenset({ProposalState.PENDING}), ProposalState.APPROVED, "cli:alice", "ok", T0
    )
    assert approved is not None and approved.live
    assert not journal.add_proposal(proposal("p5"))  # approved is still live

    journal.transition_proposal(
        "p1", LIVE_PROPOSAL_STATES, ProposalState.SUPERSEDED, "plan-watcher", "offer gone", T0
    )
    assert journal.add_proposal(proposal("p6"))  # nothing live any more for that plan and end
    assert journal.proposal("p2") is None


def test_a_proposal_keeps_the_policy_it_was_made_under(journal: Journal) -> None:
    assert journal.add_proposal(proposal("p1", policy="llm"))
    assert journal.add_proposal(proposal("p2", plan=OTHER))
    assert journal.proposal("p1") == proposal("p1", policy="llm")
    assert [p.policy for p in journal.proposals()] == ["llm", ""]


def test_an_sqlite_journal_from_before_proposals_named_their_policy_is_upgraded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE proposals (proposal_id TEXT PRIMARY KEY, plan_arn TEXT NOT NULL, "
            "plan_name TEXT NOT NULL, target TEXT NOT NULL, plan_end TEXT NOT NULL, "
            "offering_id TEXT NOT NULL, duration_hours INTEGER NOT NULL, fee TEXT NOT NULL, "
            "currency TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL, "
            "expires_at TEXT NOT NULL, state TEXT NOT NULL, decided_by TEXT NOT NULL DEFAULT '', "
            "decided_at TEXT, note TEXT NOT NULL DEFAULT '')"
        )
        old.execute(
            "INSERT INTO proposals VALUES ('p1', ?, 'llm-a', 'prod', ?, 'tpeo-p1', 48, "
            "'37752.96', 'USD', 'why', ?, ?, 'pending', '', NULL, '')",
            (PLAN, END.isoformat(), T0.isoformat(), (END - timedelta(hours=2)).isoformat()),
        )
    journal = SqliteJournal(path)
    try:
        assert journal.proposal("p1") == proposal("p1", reason="why")
        assert journal.add_proposal(proposal("p2", plan=OTHER, policy="llm"))
        assert [p.policy for p in journal.proposals()] == ["", "llm"]
    finally:
        journal.close()


def test_concurrent_proposals_for_one_plan_exactly_one_is_recorded(journal: Journal) -> None:
    results = race(6, lambda i: journal.add_proposal(proposal(f"p{i}")))

    assert results.count(True) == 1
    [live] = journal.proposals(LIVE_PROPOSAL_STATES)
    assert live.proposal_id == f"p{results.index(True)}"


def test_a_transition_happens_only_from_an_expected_state(journal: Journal) -> None:
    journal.add_proposal(proposal("p1"))
    at = T0 + timedelta(hours=1)
    assert (
        journal.transition_proposal(
            "p1", frozenset({ProposalState.APPROVED}), ProposalState.PURCHASED, "x", "", at
        )
        is None
    )
    assert (
        journal.transition_proposal(
            "nope", frozenset({ProposalState.PENDING}), ProposalState.APPROVED, "x", "", at
        )
        is None
    )
    rejected = journal.transition_proposal(
        "p1", frozenset({ProposalState.PENDING}), ProposalState.REJECTED, "cli:bob", "too dear", at
    )
    assert rejected is not None
    assert journal.proposal("p1") == rejected
    assert (rejected.state, rejected.decided_by, rejected.decided_at, rejected.note) == (
        ProposalState.REJECTED,
        "cli:bob",
        at,
        "too dear",
    )
    assert rejected.fee == Money(Decimal("37752.96"), "USD")
    assert [e[2] for e in journal.events(PLAN)] == ["proposal", "proposal_rejected"]


def test_concurrent_transitions_exactly_one_applies(journal: Journal) -> None:
    journal.add_proposal(proposal("p1"))
    pending = frozenset({ProposalState.PENDING})
    targets = [ProposalState.APPROVED, ProposalState.REJECTED] * 3

    results = race(
        len(targets),
        lambda i: journal.transition_proposal("p1", pending, targets[i], f"user{i}", "", T0),
    )

    applied = [r for r in results if r is not None]
    assert len(applied) == 1
    assert journal.proposal("p1") == applied[0]


def test_proposals_are_listed_oldest_first_and_filtered_by_state(journal: Journal) -> None:
    for index, pid in enumerate(["p-c", "p-a", "p-b"]):
        created = T0 + timedelta(minutes=10 - index)  # p-b is the oldest
        journal.add_proposal(proposal(pid, end=END + timedelta(days=index), created_at=created))
    journal.transition_proposal(
        "p-a", frozenset({ProposalState.PENDING}), ProposalState.EXPIRED, "plan-watcher", "", T0
    )

    assert [p.proposal_id for p in journal.proposals()] == ["p-b", "p-a", "p-c"]
    assert [p.proposal_id for p in journal.proposals(LIVE_PROPOSAL_STATES)] == ["p-b", "p-c"]
    assert [p.proposal_id for p in journal.proposals(frozenset({ProposalState.EXPIRED}))] == ["p-a"]


# --- DynamoDB only: a table that cannot be used fails loudly, and safely ---------------------


def test_a_missing_table_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    with serialised_dynamodb(monkeypatch) as client:
        journal = DynamoJournal("no-such-table", client, ManualClock(T0))
        with pytest.raises(JournalUnavailable, match="not_found"):
            journal.open_intent(intent())
        with pytest.raises(JournalUnavailable):
            journal.open_intents()


def test_an_unreachable_table_is_reported_as_unavailable() -> None:
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    journal = DynamoJournal(TABLE, client, ManualClock(T0))
    with pytest.raises(JournalUnavailable, match="unreachable"):
        journal.open_intent(intent())
    with pytest.raises(JournalUnavailable, match="unreachable"):
        journal.get_setting("paused")
