"""One record shape for every backend: the fields of an intent and of a proposal as stored.

Both journals keep the same fields under the same names: money and times as strings (a fee is
never a float; a time keeps its offset), counts as integers, a time not set yet as None.
SQLite maps them to columns of the same names (sqlite.py), DynamoDB to attributes
(dynamodb.py); neither spells a field out again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from watcher.journal.records import Intent, IntentState, Proposal, ProposalState
from watcher.model import Money

Stored = str | int | None


def stored_time(value: datetime) -> str:
    """How a time is stored (and keyed): ISO 8601 with its offset."""
    return value.isoformat()


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _at(values: Mapping[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(str(values[name]))


def _fee(values: Mapping[str, Any]) -> Money:
    return Money(Decimal(str(values["fee"])), str(values["currency"]))


def intent_values(intent: Intent) -> dict[str, Stored]:
    return {
        "plan_arn": intent.plan_arn,
        "plan_end": stored_time(intent.plan_end),
        "offering_id": intent.offering_id,
        "target": intent.target,
        "fee": str(intent.fee.amount),
        "currency": intent.fee.currency,
        "duration_hours": intent.duration_hours,
        "created_at": stored_time(intent.created_at),
        "state": intent.state.value,
        "note": intent.note,
        "resolved_at": stored_time(intent.resolved_at) if intent.resolved_at else None,
    }


def intent_from(values: Mapping[str, Any]) -> Intent:
    return Intent(
        plan_arn=str(values["plan_arn"]),
        plan_end=_at(values, "plan_end"),
        offering_id=str(values["offering_id"]),
        target=str(values["target"]),
        fee=_fee(values),
        duration_hours=int(values["duration_hours"]),
        created_at=_at(values, "created_at"),
        state=IntentState(values["state"]),
        note=str(values["note"]),
        resolved_at=_time(values.get("resolved_at")),
    )


def proposal_values(p: Proposal) -> dict[str, Stored]:
    return {
        "proposal_id": p.proposal_id,
        "plan_arn": p.plan_arn,
        "plan_name": p.plan_name,
        "target": p.target,
        "plan_end": stored_time(p.plan_end),
        "offering_id": p.offering_id,
        "duration_hours": p.duration_hours,
        "fee": str(p.fee.amount),
        "currency": p.fee.currency,
        "reason": p.reason,
        "created_at": stored_time(p.created_at),
        "expires_at": stored_time(p.expires_at),
        "state": p.state.value,
        "decided_by": p.decided_by,
        "decided_at": stored_time(p.decided_at) if p.decided_at else None,
        "note": p.note,
        "policy": p.policy,
    }


def proposal_from(values: Mapping[str, Any]) -> Proposal:
    return Proposal(
        proposal_id=str(values["proposal_id"]),
        plan_arn=str(values["plan_arn"]),
        plan_name=str(values["plan_name"]),
        target=str(values["target"]),
        plan_end=_at(values, "plan_end"),
        offering_id=str(values["offering_id"]),
        duration_hours=int(values["duration_hours"]),
        fee=_fee(values),
        reason=str(values["reason"]),
        created_at=_at(values, "created_at"),
        expires_at=_at(values, "expires_at"),
        state=ProposalState(values["state"]),
        decided_by=str(values["decided_by"]),
        decided_at=_time(values.get("decided_at")),
        note=str(values["note"]),
        policy=str(values.get("policy") or ""),
    )
