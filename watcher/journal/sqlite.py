"""The default journal: one SQLite file, safe across processes on the same host.

One replica only: a fence passed to `open_intent` is accepted and not checked (there is no
lease to check it against; several replicas need the DynamoDB journal).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from watcher.journal.records import (
    LIVE_PROPOSAL_STATES,
    Fence,
    Intent,
    IntentState,
    Proposal,
    ProposalState,
)
from watcher.model import Money

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
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS proposals_plan ON proposals (plan_arn, plan_end);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
_COLUMNS = (
    "plan_arn, plan_end, offering_id, target, fee, currency, duration_hours, created_at, "
    "state, note, resolved_at"
)


def _ts(value: datetime) -> str:
    return value.isoformat()


def _row_to_intent(row: tuple[str, ...]) -> Intent:
    (arn, end, offering, target, fee, currency, hours, created, state, note, resolved) = row
    return Intent(
        plan_arn=arn,
        plan_end=datetime.fromisoformat(end),
        offering_id=offering,
        target=target,
        fee=Money(Decimal(fee), currency),
        duration_hours=int(hours),
        created_at=datetime.fromisoformat(created),
        state=IntentState(state),
        note=note,
        resolved_at=datetime.fromisoformat(resolved) if resolved else None,
    )


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
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def open_intent(self, intent: Intent, fence: Fence | None = None) -> bool:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                row = cur.execute(
                    "SELECT state FROM intents WHERE plan_arn = ? AND plan_end = ?",
                    (intent.plan_arn, _ts(intent.plan_end)),
                ).fetchone()
                if row is not None and row[0] != IntentState.FAILED:
                    cur.execute("ROLLBACK")
                    return False
                cur.execute(
                    f"INSERT OR REPLACE INTO intents ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        intent.plan_arn,
                        _ts(intent.plan_end),
                        intent.offering_id,
                        intent.target,
                        str(intent.fee.amount),
                        intent.fee.currency,
                        intent.duration_hours,
                        _ts(intent.created_at),
                        IntentState.OPEN.value,
                        intent.note,
                        None,
                    ),
                )
                self._event(
                    cur, intent.created_at, intent.plan_arn, "intent", intent.event_detail()
                )
                cur.execute("COMMIT")
                return True
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def close_intent(self, intent: Intent, state: IntentState, note: str, at: datetime) -> None:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "UPDATE intents SET state = ?, note = ?, resolved_at = ? "
                    "WHERE plan_arn = ? AND plan_end = ? AND offering_id = ?",
                    (
                        state.value,
                        note,
                        _ts(at),
                        intent.plan_arn,
                        _ts(intent.plan_end),
                        intent.offering_id,
                    ),
                )
                self._event(cur, at, intent.plan_arn, state.value, f"{intent.offering_id}: {note}")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def open_intents(self) -> list[Intent]:
        return self._select("WHERE state = ?", (IntentState.OPEN.value,))

    def intents_since(self, since: datetime) -> list[Intent]:
        rows = self._select("", ())
        return [i for i in rows if i.created_at >= since]

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
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                row = cur.execute(
                    "SELECT proposal_id FROM proposals WHERE plan_arn = ? AND plan_end = ? "
                    f"AND state IN ({', '.join('?' for _ in live)})",
                    (proposal.plan_arn, _ts(proposal.plan_end), *live),
                ).fetchone()
                if row is not None:
                    cur.execute("ROLLBACK")
                    return False
                cur.execute(
                    f"INSERT INTO proposals ({_PROPOSAL_COLUMNS}) "
                    f"VALUES ({', '.join('?' for _ in range(16))})",
                    _proposal_row(proposal),
                )
                self._event(
                    cur, proposal.created_at, proposal.plan_arn, "proposal", proposal.event_detail()
                )
                cur.execute("COMMIT")
                return True
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def proposal(self, proposal_id: str) -> Proposal | None:
        found = self._proposals("WHERE proposal_id = ?", (proposal_id,))
        return found[0] if found else None

    def proposals(self, states: frozenset[ProposalState] | None = None) -> list[Proposal]:
        if states is None:
            return self._proposals("", ())
        values = tuple(sorted(state.value for state in states))
        return self._proposals(f"WHERE state IN ({', '.join('?' for _ in values)})", values)

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
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "UPDATE proposals SET state = ?, decided_by = ?, decided_at = ?, note = ? "
                    f"WHERE proposal_id = ? AND state IN ({', '.join('?' for _ in values)})",
                    (to.value, by, _ts(at), note, proposal_id, *values),
                )
                if cur.rowcount != 1:
                    cur.execute("ROLLBACK")
                    return None
                row = cur.execute(
                    f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE proposal_id = ?",
                    (proposal_id,),
                ).fetchone()
                updated = _row_to_proposal(row)
                self._event(
                    cur,
                    at,
                    updated.plan_arn,
                    f"proposal_{to.value}",
                    f"{proposal_id} by {by}: {note}",
                )
                cur.execute("COMMIT")
                return updated
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _proposals(self, where: str, args: tuple[str, ...]) -> list[Proposal]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_PROPOSAL_COLUMNS} FROM proposals {where} ORDER BY created_at, rowid",
                args,
            ).fetchall()
        return [_row_to_proposal(r) for r in rows]

    def _select(self, where: str, args: tuple[str, ...]) -> list[Intent]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM intents {where} ORDER BY created_at", args
            ).fetchall()
        return [_row_to_intent(r) for r in rows]

    @staticmethod
    def _event(cur: sqlite3.Cursor, at: datetime, plan_arn: str, event: str, detail: str) -> None:
        cur.execute(
            "INSERT INTO events (at, plan_arn, event, detail) VALUES (?, ?, ?, ?)",
            (_ts(at), plan_arn, event, detail),
        )


_PROPOSAL_COLUMNS = (
    "proposal_id, plan_arn, plan_name, target, plan_end, offering_id, duration_hours, fee, "
    "currency, reason, created_at, expires_at, state, decided_by, decided_at, note"
)


def _proposal_row(p: Proposal) -> tuple[object, ...]:
    return (
        p.proposal_id,
        p.plan_arn,
        p.plan_name,
        p.target,
        _ts(p.plan_end),
        p.offering_id,
        p.duration_hours,
        str(p.fee.amount),
        p.fee.currency,
        p.reason,
        _ts(p.created_at),
        _ts(p.expires_at),
        p.state.value,
        p.decided_by,
        _ts(p.decided_at) if p.decided_at else None,
        p.note,
    )


def _row_to_proposal(row: tuple[object, ...]) -> Proposal:
    (pid, arn, name, target, end, offering, hours, fee, currency, reason) = row[:10]
    (created, expires, state, by, decided, note) = row[10:]
    return Proposal(
        proposal_id=str(pid),
        plan_arn=str(arn),
        plan_name=str(name),
        target=str(target),
        plan_end=datetime.fromisoformat(str(end)),
        offering_id=str(offering),
        duration_hours=int(str(hours)),
        fee=Money(Decimal(str(fee)), str(currency)),
        reason=str(reason),
        created_at=datetime.fromisoformat(str(created)),
        expires_at=datetime.fromisoformat(str(expires)),
        state=ProposalState(str(state)),
        decided_by=str(by),
        decided_at=datetime.fromisoformat(str(decided)) if decided else None,
        note=str(note),
    )
