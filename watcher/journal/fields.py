"""How journal values are stored as DynamoDB items: money and times as strings (a fee is
never a float), counts as numbers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from watcher.journal.records import Intent, IntentState, Proposal, ProposalState
from watcher.journal.table import (
    INTENTS,
    PROPOSALS,
    Item,
    key,
    n,
    number,
    optional_text,
    s,
    text,
)
from watcher.model import Money


def iso(value: datetime) -> str:
    return value.isoformat()


def plan_key(plan_arn: str, plan_end: datetime) -> str:
    """The sort key of everything kept per (plan ARN, plan end), as SQLite keys it."""
    return f"{plan_arn}#{iso(plan_end)}"


def intent_item(intent: Intent) -> Item:
    item: Item = {
        **key(INTENTS, plan_key(intent.plan_arn, intent.plan_end)),
        "plan_arn": s(intent.plan_arn),
        "plan_end": s(iso(intent.plan_end)),
        "offering_id": s(intent.offering_id),
        "target": s(intent.target),
        "fee": s(str(intent.fee.amount)),
        "currency": s(intent.fee.currency),
        "duration_hours": n(intent.duration_hours),
        "created_at": s(iso(intent.created_at)),
        "state": s(intent.state.value),
        "note": s(intent.note),
    }
    if intent.resolved_at is not None:
        item["resolved_at"] = s(iso(intent.resolved_at))
    return item


def intent_from(item: Mapping[str, Any]) -> Intent:
    resolved = optional_text(item, "resolved_at")
    return Intent(
        plan_arn=text(item, "plan_arn"),
        plan_end=datetime.fromisoformat(text(item, "plan_end")),
        offering_id=text(item, "offering_id"),
        target=text(item, "target"),
        fee=Money(Decimal(text(item, "fee")), text(item, "currency")),
        duration_hours=number(item, "duration_hours"),
        created_at=datetime.fromisoformat(text(item, "created_at")),
        state=IntentState(text(item, "state")),
        note=text(item, "note"),
        resolved_at=datetime.fromisoformat(resolved) if resolved else None,
    )


def proposal_item(p: Proposal, seq: int) -> Item:
    item: Item = {
        **key(PROPOSALS, p.proposal_id),
        "seq": n(seq),
        "plan_arn": s(p.plan_arn),
        "plan_name": s(p.plan_name),
        "target": s(p.target),
        "plan_end": s(iso(p.plan_end)),
        "offering_id": s(p.offering_id),
        "duration_hours": n(p.duration_hours),
        "fee": s(str(p.fee.amount)),
        "currency": s(p.fee.currency),
        "reason": s(p.reason),
        "created_at": s(iso(p.created_at)),
        "expires_at": s(iso(p.expires_at)),
        "state": s(p.state.value),
        "decided_by": s(p.decided_by),
        "note": s(p.note),
    }
    if p.decided_at is not None:
        item["decided_at"] = s(iso(p.decided_at))
    return item


def proposal_from(item: Mapping[str, Any]) -> Proposal:
    decided = optional_text(item, "decided_at")
    return Proposal(
        proposal_id=text(item, "sk"),
        plan_arn=text(item, "plan_arn"),
        plan_name=text(item, "plan_name"),
        target=text(item, "target"),
        plan_end=datetime.fromisoformat(text(item, "plan_end")),
        offering_id=text(item, "offering_id"),
        duration_hours=number(item, "duration_hours"),
        fee=Money(Decimal(text(item, "fee")), text(item, "currency")),
        reason=text(item, "reason"),
        created_at=datetime.fromisoformat(text(item, "created_at")),
        expires_at=datetime.fromisoformat(text(item, "expires_at")),
        state=ProposalState(text(item, "state")),
        decided_by=text(item, "decided_by"),
        decided_at=datetime.fromisoformat(decided) if decided else None,
        note=text(item, "note"),
    )
