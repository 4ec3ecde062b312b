"""The leader lease on the journal's table, and the heartbeat that keeps it.

Acquire, renew, takeover after expiry with a higher token, release; a stale fence cannot open
an intent (nothing is written); the keeper stops counting itself leader before its lease runs
out, logs leader_acquired / leader_lost / lease_renew_failed, and gives the lease up on stop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.dynamodb_support import TABLE, serialised_dynamodb
from watcher.clock import ManualClock
from watcher.ha.leader import LeaseKeeper, SoleReplica
from watcher.ha.lease import Lease
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.records import Fence, FencedOut, Intent
from watcher.journal.table import LEASE, LEASE_SK, epoch_ms, get_item
from watcher.model import Money

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DURATION = timedelta(seconds=60)
RENEW = timedelta(seconds=15)
PLAN = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"


class Log:
    """Records structlog-style calls: (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.lines.append((level, event, fields))

    def events(self) -> list[str]:
        return [event for _, event, _ in self.lines]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with serialised_dynamodb(monkeypatch) as dynamodb:
        yield dynamodb


def lease(client: Any, clock: ManualClock, owner: str) -> Lease:
    return Lease(client, TABLE, owner, DURATION, clock)


def lease_item(client: Any) -> dict[str, Any]:
    """The lease as the table holds it."""
    item = get_item(client, TABLE, LEASE, LEASE_SK, "read lease")
    assert item is not None
    return item


def intent(offering: str, end: datetime = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)) -> Intent:
    return Intent(PLAN, end, offering, "prod", Money(Decimal("100.00"), "USD"), 24, T0)


def test_one_holder_at_a_time_and_renewal_keeps_it(client: Any, clock: ManualClock) -> None:
    a, b = lease(client, clock, "a"), lease(client, clock, "b")

    fence = a.acquire()
    assert fence == Fence("a", 1)
    assert b.acquire() is None
    clock.advance(seconds=50)
    assert a.renew(fence)
    clock.advance(seconds=50)  # 100 s after the first write, 50 s after the renewal
    assert b.acquire() is None
    record = lease_item(client)
    assert (record["holder"], record["token"]) == ("a", 1)
    assert record["expires_at"] == epoch_ms(T0 + timedelta(seconds=50) + DURATION)


def test_an_expired_lease_is_taken_over_with_a_higher_token(
    client: Any, clock: ManualClock
) -> None:
    a, b = lease(client, clock, "a"), lease(client, clock, "b")
    old = a.acquire()
    assert old is not None
    clock.advance(DURATION)

    new = b.acquire()

    assert new == Fence("b", 2)
    assert not a.renew(old)  # the stalled holder finds out at its next heartbeat
    assert not a.release(old)
    assert a.acquire() is None
    assert lease_item(client)["holder"] == "b"


def test_a_stale_fence_cannot_open_an_intent(client: Any, clock: ManualClock) -> None:
    journal = DynamoJournal(TABLE, client, clock)
    a, b = lease(client, clock, "a"), lease(client, clock, "b")
    old = a.acquire()
    assert old is not None
    assert journal.open_intent(intent("tpeo-1"), old)  # while it holds the lease
    clock.advance(DURATION)
    new = b.acquire()
    assert new is not None

    with pytest.raises(FencedOut):
        journal.open_intent(intent("tpeo-2", end=datetime(2026, 3, 5, 11, 30, tzinfo=UTC)), old)

    assert [i.offering_id for i in journal.open_intents()] == ["tpeo-1"]
    assert [e[2] for e in journal.events()] == ["intent"]  # nothing of the fenced write
    assert journal.open_intent(intent("tpeo-3", end=datetime(2026, 3, 5, 11, 30, tzinfo=UTC)), new)


def test_a_fence_is_refused_once_its_lease_expired_even_if_nobody_took_over(
    client: Any, clock: ManualClock
) -> None:
    journal = DynamoJournal(TABLE, client, clock)
    a = lease(client, clock, "a")
    fence = a.acquire()
    assert fence is not None
    clock.advance(DURATION)

    with pytest.raises(FencedOut):
        journal.open_intent(intent("tpeo-1"), fence)
    assert journal.open_intents() == []
    assert a.renew(fence)  # nobody else held it in between, so the token is still good
    assert journal.open_intent(intent("tpeo-1"), fence)


def test_a_never_issued_fence_and_a_foreign_fence_are_refused(
    client: Any, clock: ManualClock
) -> None:
    journal = DynamoJournal(TABLE, client, clock)
    with pytest.raises(FencedOut):
        journal.open_intent(intent("tpeo-1"), Fence("a", 0))  # no lease item at all
    fence = lease(client, clock, "a").acquire()
    assert fence is not None
    with pytest.raises(FencedOut):
        journal.open_intent(intent("tpeo-1"), Fence("b", fence.token))
    assert journal.open_intents() == []


def test_release_lets_another_replica_take_over_at_once(client: Any, clock: ManualClock) -> None:
    a, b = lease(client, clock, "a"), lease(client, clock, "b")
    old = a.acquire()
    assert old is not None
    assert a.release(old)

    assert b.acquire() == Fence("b", 2)  # no waiting for the expiry; the token still grows
    assert a.acquire() is None


def test_reacquiring_its_own_lease_issues_a_new_token(client: Any, clock: ManualClock) -> None:
    a = lease(client, clock, "a")
    first = a.acquire()
    second = a.acquire()
    assert first == Fence("a", 1) and second == Fence("a", 2)
    assert first is not None and not a.renew(first)


# --- the keeper (heartbeat) ------------------------------------------------------------------


def keeper(client: Any, clock: ManualClock, owner: str, log: Log, flips: list[bool]) -> LeaseKeeper:
    return LeaseKeeper(lease(client, clock, owner), RENEW, clock, log, on_change=flips.append)


def test_the_keeper_leads_until_a_heartbeat_before_expiry(client: Any, clock: ManualClock) -> None:
    log, flips = Log(), []
    a = keeper(client, clock, "a", log, flips)
    assert not a.is_leader()
    assert a.fence() == Fence("a", 0)  # never led: fenced out

    a.beat()

    assert a.is_leader() and a.fence() == Fence("a", 1)
    assert log.events() == ["leader_acquired"] and flips == [True]
    clock.advance(DURATION - RENEW)  # no heartbeat in between (a stall)
    assert not a.is_leader()  # it stops acting before anyone may take over
    a.beat()  # nobody took over: renewed with the same token
    assert a.is_leader() and a.fence() == Fence("a", 1)


def test_a_stalled_leader_is_replaced_and_its_fence_is_refused(
    client: Any, clock: ManualClock
) -> None:
    log_a, log_b, flips_a, flips_b = Log(), Log(), [], []
    a = keeper(client, clock, "a", log_a, flips_a)
    b = keeper(client, clock, "b", log_b, flips_b)
    a.beat()
    b.beat()
    assert a.is_leader() and not b.is_leader()

    clock.advance(DURATION)  # a is stalled past its lease
    b.beat()
    assert b.is_leader() and b.fence() == Fence("b", 2)
    journal = DynamoJournal(TABLE, client, clock)
    with pytest.raises(FencedOut):
        journal.open_intent(intent("tpeo-1"), a.fence())  # what a's cycle would carry
    a.beat()  # a wakes up

    assert not a.is_leader()
    assert log_a.events() == ["leader_acquired", "leader_lost"]
    assert flips_a == [True, False] and flips_b == [True]
    assert journal.open_intents() == []


def test_an_unreachable_table_is_logged_and_leadership_lapses_at_expiry(
    client: Any, clock: ManualClock
) -> None:
    log, flips = Log(), []
    a = keeper(client, clock, "a", log, flips)
    a.beat()
    client.delete_table(TableName=TABLE)

    a.beat()
    assert a.is_leader()  # one failed renewal: still inside the lease
    clock.advance(DURATION - RENEW)
    a.beat()

    assert not a.is_leader()
    assert log.events() == [
        "leader_acquired",
        "lease_renew_failed",
        "lease_renew_failed",
        "leader_lost",
    ]
    assert flips == [True, False]
    assert "not_found" in str(log.lines[1][2]["error"])


def test_stop_releases_the_lease(client: Any, clock: ManualClock) -> None:
    log_a, log_b, flips = Log(), Log(), []
    a = keeper(client, clock, "a", log_a, flips)
    b = keeper(client, clock, "b", log_b, [])
    a.start()
    deadline = time.monotonic() + 30
    while not a.is_leader():  # the heartbeat thread's first beat acquires at once
        assert time.monotonic() < deadline, "the heartbeat never acquired the lease"
        time.sleep(0.01)
    a.stop()

    b.beat()
    assert b.is_leader()
    assert log_a.events() == ["leader_acquired", "leader_released"]
    assert flips == [True, False]


def test_a_sole_replica_always_leads_without_a_fence() -> None:
    flips: list[bool] = []
    sole = SoleReplica(on_change=flips.append)
    sole.start()
    assert sole.is_leader() and sole.fence() is None and flips == [True]
    assert sole.healthy() == (True, "ok")
