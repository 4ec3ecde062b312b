"""The purchase journal: intents written before `ExtendTrainingPlan`, outcomes after.

An intent is keyed by (plan ARN, the plan's end time when the purchase was decided). Opening
one is conditional: it succeeds only if no intent exists for that key, or the one that exists
definitely failed. So two writers racing for the same plan and end time cannot both buy.
`SqliteJournal` is the default backend; others implement `Journal`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from watcher.model import Money


class IntentState(StrEnum):
    OPEN = "open"  # written; the call is being made, or its outcome is unknown
    BOUGHT = "bought"  # AWS accepted the purchase (directly, or found in its history)
    FAILED = "failed"  # AWS definitely refused it, or it is known not to have happened


@dataclass(frozen=True)
class Intent:
    plan_arn: str
    plan_end: datetime
    offering_id: str
    target: str
    fee: Money
    duration_hours: int
    created_at: datetime
    state: IntentState = IntentState.OPEN
    note: str = ""
    resolved_at: datetime | None = None

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.plan_arn, self.plan_end)

    def closed(self, state: IntentState, note: str, at: datetime) -> Intent:
        return replace(self, state=state, note=note, resolved_at=at)


class Journal(Protocol):
    """What every journal backend guarantees."""

    def open_intent(self, intent: Intent) -> bool:
        """Record `intent` unless one for its key is open or bought; True if written."""
        ...

    def close_intent(self, intent: Intent, state: IntentState, note: str, at: datetime) -> None:
        """Record the outcome of an open intent."""
        ...

    def open_intents(self) -> list[Intent]:
        """Every intent whose outcome is not known yet."""
        ...

    def intents_since(self, since: datetime) -> list[Intent]:
        """Intents created at or after `since`, any state (for budgets and history)."""
        ...

    def events(self, plan_arn: str | None = None) -> list[tuple[datetime, str, str, str]]:
        """The append-only audit trail: (at, plan ARN, event, detail)."""
        ...

    def close(self) -> None: ...
