"""The default journal: one SQLite file, safe across processes on the same host."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from watcher.act.journal import Intent, IntentState
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

    def open_intent(self, intent: Intent) -> bool:
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
                self._event(cur, intent.created_at, intent.plan_arn, "intent", _describe(intent))
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

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


def _describe(intent: Intent) -> str:
    return (
        f"{intent.offering_id} {intent.duration_hours}h for {intent.fee} "
        f"(plan end {intent.plan_end.isoformat()})"
    )
