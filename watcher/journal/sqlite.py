"""The default journal: one SQLite file, safe across processes on the same host.

One replica only: a fence passed to `open_intent` is accepted and not checked (there is no
lease to check it against; several replicas need the DynamoDB journal).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from watcher.journal.fields import (
    Stored,
    intent_from,
    intent_values,
    proposal_from,
    proposal_values,
    stored_time,
)
from watcher.journal.records import (
    LIVE_PROPOSAL_STATES,
    Fence,
    Intent,
    IntentState,
    Proposal,
    ProposalState,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    plan_arn TEXT NOT NULL,
    plan_end TEXT NOT NULL,
    offering_id TEXT NOT NULL,
    target TEXT NOT NULL,
    fee TEXT NOT NULL,
    currency TEXT NOT NULL,
    duration_hours INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    resolved_at TEXT,
    PRIMARY KEY (plan_arn, plan_end)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    plan_arn TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS proposals (
    proposal_id TEXT PRIMARY KEY,
    plan_arn TEXT NOT NULL,
    plan_name TEXT NOT NULL,
    target TEXT NOT NULL,
    plan_end TEXT NOT NULL,
    offering_id TEXT NOT NULL,
    duration_hours INTEGER NOT NULL,
    fee TEXT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    policy TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS proposals_plan ON proposals (plan_arn, plan_end);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


class SqliteJournal:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) where they matter.
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row  # rows by column name: the names of the fields
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._transaction() as cur:
            columns = {row["name"] for row in cur.execute("PRAGMA table_info(proposals)")}
            if "policy" not in columns:  # a journal from before proposals named their policy
                cur.execute("ALTER TABLE proposals ADD COLUMN policy TEXT NOT NULL DEFAULT ''")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction, taken before its first read (BEGIN IMMEDIATE), so what it
        read still holds when it writes: committed when the block ends, rolled back if it
        raises. A block that wrote nothing commits nothing."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def open_intent(self, intent: Intent, fence: Fence | None = None) -> bool:
        opened = replace(intent, state=IntentState.OPEN, resolved_at=None)
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT state FROM intents WHERE plan_arn = ? AND plan_end = ?",
                (intent.plan_arn, stored_time(intent.plan_end)),
            ).fetchone()
            if row is not None and row[0] != IntentState.FAILED:
                return False
            _insert(cur, "INSERT OR REPLACE INTO intents", intent_values(opened))
            self._event(cur, intent.created_at, intent.plan_arn, "intent", intent.event_detail())
            return True

    def close_intent(self, intent: Intent, state: IntentState, note: str, at: datetime) -> None:
        with self._transaction() as cur:
            cur.execute(
                "UPDATE intents SET state = ?, note = ?, resolved_at = ? "
                "WHERE plan_arn = ? AND plan_end = ? AND offering_id = ?",
                (
                    state.value,
                    note,
                    stored_time(at),
                    intent.plan_arn,
                    stored_time(intent.plan_end),
                    intent.offering_id,
                ),
            )
            self._event(cur, at, intent.plan_arn, state.value, f"{intent.offering_id}: {note}")

    def open_intents(self) -> list[Intent]:
        return self._intents("WHERE state = ?", (IntentState.OPEN.value,))

    def intents_since(self, since: datetime) -> list[Intent]:
        return [i for i in self._intents("", ()) if i.created_at >= since]

    def events(self, plan_arn: str | None = None) -> list[tuple[datetime, str, str, str]]:
        query = "SELECT at, plan_arn, event, detail FROM events"
        args: tuple[str, ...] = ()
        if plan_arn is not None:
            query += " WHERE plan_arn = ?"
            args = (plan_arn,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [(datetime.fromisoformat(r[0]), r[1], r[2], r[3]) for r in rows]

    def get_setting(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value)
                )

    # --- proposals ----------------------------------------------------------------------

    def add_proposal(self, proposal: Proposal) -> bool:
        live = tuple(state.value for state in LIVE_PROPOSAL_STATES)
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT proposal_id FROM proposals WHERE plan_arn = ? AND plan_end = ? "
                f"AND state IN ({_marks(len(live))})",
                (proposal.plan_arn, stored_time(proposal.plan_end), *live),
            ).fetchone()
            if row is not None:
                return False
            _insert(cur, "INSERT INTO proposals", proposal_values(proposal))
            self._event(
                cur, proposal.created_at, proposal.plan_arn, "proposal", proposal.event_detail()
            )
            return True

    def proposal(self, proposal_id: str) -> Proposal | None:
        found = self._proposals("WHERE proposal_id = ?", (proposal_id,))
        return found[0] if found else None

    def proposals(self, states: frozenset[ProposalState] | None = None) -> list[Proposal]:
        if states is None:
            return self._proposals("", ())
        values = tuple(sorted(state.value for state in states))
        return self._proposals(f"WHERE state IN ({_marks(len(values))})", values)

    def transition_proposal(
        self,
        proposal_id: str,
        expected: frozenset[ProposalState],
        to: ProposalState,
        by: str,
        note: str,
        at: datetime,
    ) -> Proposal | None:
        values = tuple(sorted(state.value for state in expected))
        with self._transaction() as cur:
            cur.execute(
                "UPDATE proposals SET state = ?, decided_by = ?, decided_at = ?, note = ? "
                f"WHERE proposal_id = ? AND state IN ({_marks(len(values))})",
                (to.value, by, stored_time(at), note, proposal_id, *values),
            )
            if cur.rowcount != 1:
                return None
            row = cur.execute(
                "SELECT * FROM proposals WHERE proposal_id = ?", (proposal_id,)
            ).fetchone()
            updated = proposal_from(dict(row))
            self._event(
                cur, at, updated.plan_arn, f"proposal_{to.value}", f"{proposal_id} by {by}: {note}"
            )
            return updated

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _proposals(self, where: str, args: tuple[str, ...]) -> list[Proposal]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM proposals {where} ORDER BY created_at, rowid", args
            ).fetchall()
        return [proposal_from(dict(r)) for r in rows]

    def _intents(self, where: str, args: tuple[str, ...]) -> list[Intent]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM intents {where} ORDER BY created_at", args
            ).fetchall()
        return [intent_from(dict(r)) for r in rows]

    @staticmethod
    def _event(cur: sqlite3.Cursor, at: datetime, plan_arn: str, event: str, detail: str) -> None:
        cur.execute(
            "INSERT INTO events (at, plan_arn, event, detail) VALUES (?, ?, ?, ?)",
            (stored_time(at), plan_arn, event, detail),
        )


def _insert(cur: sqlite3.Cursor, into: str, values: Mapping[str, Stored]) -> None:
    """`into` ("INSERT INTO table") the record's fields, each in the column of its name."""
    cur.execute(
        f"{into} ({', '.join(values)}) VALUES ({_marks(len(values))})", tuple(values.values())
    )
