"""The journal on one DynamoDB table, for several replicas (`state.journal: dynamodb://TABLE`).

Same guarantees as `SqliteJournal`, from DynamoDB's conditional writes instead of a file lock:

- an intent is written with `attribute_not_exists(pk) OR state = failed`, in one
  TransactWriteItems with its audit event and, given a fence, a ConditionCheck on the leader
  lease (holder, token, unexpired): a replica that lost its lease cannot open an intent;
- a proposal is written together with a guard item per (plan ARN, plan end), so at most one
  live proposal exists for a plan and end; transitions are conditional on the current state;
- events are numbered from an atomic counter, so `events()` returns them in write order.

Every read that decides anything is strongly consistent. A throttled, unreachable or missing
table raises `JournalUnavailable`: the cycle fails and nothing is bought without its intent.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from watcher.clock import Clock, SystemClock
from watcher.journal.fields import (
    intent_from,
    intent_values,
    proposal_from,
    proposal_values,
    stored_time,
)
from watcher.journal.records import Fence, FencedOut, Intent, IntentState, Proposal, ProposalState
from watcher.journal.table import (
    COUNTERS,
    EVENTS,
    INTENTS,
    LIVE_PROPOSALS,
    PK,
    PROPOSALS,
    SETTINGS,
    SK,
    Item,
    JournalUnavailable,
    attributes,
    calling,
    cancellation_codes,
    fence_condition,
    get_item,
    key,
    query_all,
    table_client,
    values_of,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"
_ATTEMPTS = 5  # optimistic retries when another transaction touches the same item

_ABSENT = "attribute_not_exists(#pk)"


class DynamoJournal:
    """`Journal` on table `table`. `clock` is wall time for the fence's expiry check (the
    same clock the lease is written with), not the simulated time of a cycle."""

    def __init__(
        self, table: str, client: DynamoDBClient | None = None, clock: Clock | None = None
    ) -> None:
        self.table = table
        self.client = client or table_client()
        self.clock = clock or SystemClock()

    # --- intents ------------------------------------------------------------------------

    def open_intent(self, intent: Intent, fence: Fence | None = None) -> bool:
        opened = replace(intent, state=IntentState.OPEN, resolved_at=None)
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {**key(INTENTS, plan_key(opened)), **attributes(intent_values(opened))},
                    "ConditionExpression": "attribute_not_exists(#pk) OR #state = :failed",
                    "ExpressionAttributeNames": {"#pk": PK, "#state": "state"},
                    "ExpressionAttributeValues": attributes({":failed": IntentState.FAILED.value}),
                }
            },
            self._event(intent.created_at, intent.plan_arn, "intent", intent.event_detail()),
        ]
        if fence is not None:
            writes.append({"ConditionCheck": fence_condition(self.table, fence, self.clock.now())})
        for _ in range(_ATTEMPTS):
            codes = self._transact(writes, "open_intent")
            if not codes:
                return True
            if fence is not None and codes[2] == _FAILED:
                raise FencedOut(f"{fence.owner} no longer holds the lease with token {fence.token}")
            if codes[0] == _FAILED:
                return False
            _pause()
        raise JournalUnavailable("conflict", "open_intent", "the intent kept conflicting")

    def close_intent(self, intent: Intent, state: IntentState, note: str, at: datetime) -> None:
        event = self._event(at, intent.plan_arn, state.value, f"{intent.offering_id}: {note}")
        update: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self.table,
                "Key": key(INTENTS, plan_key(intent)),
                "UpdateExpression": "SET #state = :state, note = :note, resolved_at = :at",
                "ConditionExpression": "offering_id = :offering",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": attributes(
                    {
                        ":state": state.value,
                        ":note": note,
                        ":at": stored_time(at),
                        ":offering": intent.offering_id,
                    }
                ),
            }
        }
        for _ in range(_ATTEMPTS):
            codes = self._transact([update, event], "close_intent")
            if not codes:
                return
            if codes[0] == _FAILED:
                # No such intent (as with SQLite, nothing to update): the event still counts.
                self._transact([event], "close_intent")
                return
            _pause()
        raise JournalUnavailable("conflict", "close_intent", "the intent kept conflicting")

    def open_intents(self) -> list[Intent]:
        return [i for i in self._intents() if i.state is IntentState.OPEN]

    def intents_since(self, since: datetime) -> list[Intent]:
        return [i for i in self._intents() if i.created_at >= since]

    def _intents(self) -> list[Intent]:
        items = query_all(self.client, self.table, INTENTS, "read intents")
        return sorted(map(intent_from, items), key=lambda i: i.created_at)

    # --- events and settings ------------------------------------------------------------

    def events(self, plan_arn: str | None = None) -> list[tuple[datetime, str, str, str]]:
        items = query_all(self.client, self.table, EVENTS, "read events")
        rows = [
            (datetime.fromisoformat(i["at"]), i["plan_arn"], i["event"], i["detail"])
            for i in items  # sorted by sk: the event's number
        ]
        return [row for row in rows if plan_arn is None or row[1] == plan_arn]

    def get_setting(self, key_: str) -> str | None:
        item = get_item(self.client, self.table, SETTINGS, key_, "read setting")
        return None if item is None else str(item["value"])

    def set_setting(self, key_: str, value: str | None) -> None:
        with calling("write setting"):
            if value is None:
                self.client.delete_item(TableName=self.table, Key=key(SETTINGS, key_))
            else:
                item = attributes({PK: SETTINGS, SK: key_, "value": value})
                self.client.put_item(TableName=self.table, Item=item)

    # --- proposals ----------------------------------------------------------------------

    def add_proposal(self, proposal: Proposal) -> bool:
        guard_key = key(LIVE_PROPOSALS, plan_key(proposal))
        guard: TransactWriteItemTypeDef
        if proposal.live:
            guard = self._put_new(
                {**guard_key, **attributes({"proposal_id": proposal.proposal_id})}
            )
        else:
            guard = {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": guard_key,
                    "ConditionExpression": _ABSENT,
                    "ExpressionAttributeNames": {"#pk": PK},
                }
            }
        writes: list[TransactWriteItemTypeDef] = [
            guard,
            self._put_new(_proposal_item(proposal, self._next_number())),
            self._event(
                proposal.created_at, proposal.plan_arn, "proposal", proposal.event_detail()
            ),
        ]
        for _ in range(_ATTEMPTS):
            codes = self._transact(writes, "add_proposal")
            if not codes:
                return True
            if codes[0] == _FAILED:
                return False
            if codes[1] == _FAILED:
                raise ValueError(f"proposal {proposal.proposal_id} already exists")
            _pause()
        raise JournalUnavailable("conflict", "add_proposal", "the proposal kept conflicting")

    def proposal(self, proposal_id: str) -> Proposal | None:
        item = get_item(self.client, self.table, PROPOSALS, proposal_id, "read proposal")
        return None if item is None else _proposal_from(item)

    def proposals(self, states: frozenset[ProposalState] | None = None) -> list[Proposal]:
        items = query_all(self.client, self.table, PROPOSALS, "read proposals")
        items.sort(key=lambda i: (i["created_at"], i["seq"]))
        found = [_proposal_from(item) for item in items]
        return [p for p in found if states is None or p.state in states]

    def transition_proposal(
        self,
        proposal_id: str,
        expected: frozenset[ProposalState],
        to: ProposalState,
        by: str,
        note: str,
        at: datetime,
    ) -> Proposal | None:
        for _ in range(_ATTEMPTS):
            current = self.proposal(proposal_id)
            if current is None or current.state not in expected:
                return None
            updated = replace(current, state=to, decided_by=by, decided_at=at, note=note)
            codes = self._transact(self._transition(current, updated), "transition_proposal")
            if not codes:
                return updated
            if codes[0] != _FAILED and _FAILED in codes:
                return None  # another live proposal holds the plan's guard
            _pause()  # the state changed under us: read it again
        raise JournalUnavailable("conflict", "transition_proposal", "the proposal kept changing")

    def _transition(self, current: Proposal, updated: Proposal) -> list[TransactWriteItemTypeDef]:
        if updated.decided_at is None:  # explicit, not an assert: `python -O` strips those
            raise ValueError("a proposal transition needs the moment it was decided")
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": key(PROPOSALS, current.proposal_id),
                    "UpdateExpression": "SET #state = :to, decided_by = :by, decided_at = :at, "
                    "note = :note",
                    "ConditionExpression": "#state = :from",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": attributes(
                        {
                            ":to": updated.state.value,
                            ":from": current.state.value,
                            ":by": updated.decided_by,
                            ":at": stored_time(updated.decided_at),
                            ":note": updated.note,
                        }
                    ),
                }
            },
            self._event(
                updated.decided_at,
                current.plan_arn,
                f"proposal_{updated.state.value}",
                f"{current.proposal_id} by {updated.decided_by}: {updated.note}",
            ),
        ]
        guard_key = key(LIVE_PROPOSALS, plan_key(current))
        if current.live and not updated.live:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": guard_key,
                        "ConditionExpression": "attribute_not_exists(#pk) OR proposal_id = :id",
                        "ExpressionAttributeNames": {"#pk": PK},
                        "ExpressionAttributeValues": attributes({":id": current.proposal_id}),
                    }
                }
            )
        elif updated.live and not current.live:
            writes.append(
                self._put_new({**guard_key, **attributes({"proposal_id": current.proposal_id})})
            )
        return writes

    def close(self) -> None:
        self.client.close()

    # --- plumbing -----------------------------------------------------------------------

    def _transact(self, writes: list[TransactWriteItemTypeDef], action: str) -> list[str]:
        """Run one transaction; [] if it committed, else the per-item cancellation codes
        (a transaction conflict is reported the same way, for the caller to retry)."""
        try:
            with calling(action):
                self.client.transact_write_items(
                    TransactItems=writes, ClientRequestToken=uuid.uuid4().hex
                )
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if not codes or not ({_FAILED, _CONFLICT} & set(codes)):
                raise JournalUnavailable("other", action, str(exc)) from exc
            return codes
        return []

    def _put_new(self, item: Item) -> TransactWriteItemTypeDef:
        """Put `item` only if nothing exists under its key."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": _ABSENT,
                "ExpressionAttributeNames": {"#pk": PK},
            }
        }

    def _next_number(self) -> int:
        """The next number from the table's atomic counter (orders events and proposals)."""
        with calling("number an event"):
            found = self.client.update_item(
                TableName=self.table,
                Key=key(COUNTERS, "events"),
                UpdateExpression="ADD seq :one",
                ExpressionAttributeValues=attributes({":one": 1}),
                ReturnValues="UPDATED_NEW",
            )
        return int(values_of(found["Attributes"])["seq"])

    def _event(
        self, at: datetime, plan_arn: str, event: str, detail: str
    ) -> TransactWriteItemTypeDef:
        values = {"at": stored_time(at), "plan_arn": plan_arn, "event": event, "detail": detail}
        item = {**key(EVENTS, f"{self._next_number():020d}"), **attributes(values)}
        return {"Put": {"TableName": self.table, "Item": item}}


def _pause() -> None:
    # A transaction conflict clears in milliseconds; this is back-off, not domain time.
    time.sleep(0.05)


def plan_key(record: Intent | Proposal) -> str:
    """The sort key of everything kept per (plan ARN, plan end), as SQLite keys it."""
    return f"{record.plan_arn}#{stored_time(record.plan_end)}"


def _proposal_item(proposal: Proposal, seq: int) -> Item:
    """A proposal's item: its ID is the sort key; `seq` orders proposals made together."""
    values = {**proposal_values(proposal), "seq": seq}
    del values["proposal_id"]
    return {**key(PROPOSALS, proposal.proposal_id), **attributes(values)}


def _proposal_from(values: dict[str, object]) -> Proposal:
    return proposal_from({**values, "proposal_id": values[SK]})
