"""The purchase journal: intents written before `ExtendTrainingPlan`, outcomes after.

An intent is keyed by (plan ARN, the plan's end time when the purchase was decided). Opening
one is conditional: it succeeds only if no intent exists for that key, or the one that exists
definitely failed. So two writers racing for the same plan and end time cannot both buy. With
several replicas, opening an intent also checks the writer's fence (its leader lease and
token) in the same conditional write, so a replica that lost its lease cannot buy.

The journal also holds proposals (purchases waiting for a human under `action: propose`) and a
few settings (the pause flag, the circuit breaker, per-plan backoff).
`SqliteJournal` (sqlite.py) is the default backend; `DynamoJournal` (dynamodb.py) serves
several replicas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from watcher.model import Extension, Money

#: How far AWS's timestamps and ours may disagree when an extension is matched to an intent by
#: time (AWS's `ExtendedAt` against the intent's creation, its `StartDate` against the end the
#: purchase was decided on): the same slack offerings get for starting where the plan ends.
MATCH_SLACK = timedelta(minutes=5)


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

    def match(self, extensions: Iterable[Extension]) -> Extension | None:
        """The extension in AWS's list that records this purchase, or None.

        By offering ID first; AWS may not echo the ID it was given, so also any extension
        requested at or after this intent (`ExtendedAt`) that starts where the plan ended when
        the purchase was decided: either way the plan holds an extension from that end. An
        extension requested before this intent was written is another purchase, whatever its
        ID. Where several fit (an earlier attempt AWS lists as Failed beside this one), one
        that has not failed is taken: a failure is only read where nothing else fits.
        """
        earliest = self.created_at - MATCH_SLACK
        since = [e for e in extensions if e.extended_at is None or e.extended_at >= earliest]
        found = [e for e in since if e.offering_id == self.offering_id]
        found += [
            e
            for e in since
            if e.extended_at is not None
            and e.start is not None
            and e.plan_arn == self.plan_arn
            and abs(e.start - self.plan_end) <= MATCH_SLACK
        ]
        return next((e for e in found if not e.failed), found[0] if found else None)

    def failure(self, extensions: Iterable[Extension]) -> Extension | None:
        """The extension AWS lists as `Failed` for this purchase (its positive word that
        nothing was bought), or None: not listed, or listed in any other status."""
        found = self.match(extensions)
        return found if found is not None and found.failed else None

    def event_detail(self) -> str:
        """The audit-trail text of this intent (the same in every journal backend)."""
        return (
            f"{self.offering_id} {self.duration_hours}h for {self.fee} "
            f"(plan end {self.plan_end.isoformat()})"
        )


def owners_of(extensions: Sequence[Extension], intents: Sequence[Intent]) -> dict[int, Intent]:
    """For one plan's extension history and journalled purchases: the purchase each extension
    (by its index) records. The intent bought with its ID; else an open or bought intent that
    `Intent.match` (the match that settles an open purchase) finds it for, as AWS may list an
    extension under an ID of its own; else a failed intent whose extension AWS lists as
    `Failed` under such an ID. A failed intent never takes an extension that has not failed:
    that one was bought by someone else. Each intent records at most one extension."""
    owners: dict[int, Intent] = {}
    by_id = {i.offering_id: i for i in intents}
    for index, ext in enumerate(extensions):
        if ext.offering_id in by_id:
            owners[index] = by_id[ext.offering_id]
    live = [i for i in intents if i.state is not IntentState.FAILED]
    failed = [i for i in intents if i.state is IntentState.FAILED]
    for intent in sorted(live, key=lambda i: i.created_at, reverse=True):
        _claim(owners, extensions, intent, intent.match(extensions))
    dead = [e for e in extensions if e.failed]
    for intent in sorted(failed, key=lambda i: i.created_at, reverse=True):
        _claim(owners, extensions, intent, intent.match(dead))
    return owners


def _claim(
    owners: dict[int, Intent],
    extensions: Sequence[Extension],
    intent: Intent,
    found: Extension | None,
) -> None:
    if found is None or any(owner is intent for owner in owners.values()):
        return
    index = next(i for i, ext in enumerate(extensions) if ext is found)
    owners.setdefault(index, intent)


class ProposalState(StrEnum):
    PENDING = "pending"  # waiting for approve/reject
    APPROVED = "approved"  # approved; bought at the next cycle if the offer still holds
    REJECTED = "rejected"  # a human said no
    EXPIRED = "expired"  # the plan's deadline passed without approval (fail closed)
    SUPERSEDED = "superseded"  # the plan or the offer changed; a newer proposal replaced it
    PURCHASED = "purchased"  # the approved extension was bought


#: Proposals that still count: at most one per (plan ARN, plan end) may be in these states.
LIVE_PROPOSAL_STATES = frozenset({ProposalState.PENDING, ProposalState.APPROVED})


@dataclass(frozen=True)
class Proposal:
    """A purchase that waits for a human: what would be bought, for how much, and why."""

    proposal_id: str
    plan_arn: str
    plan_name: str
    target: str
    plan_end: datetime
    offering_id: str
    duration_hours: int
    fee: Money
    reason: str
    created_at: datetime
    expires_at: datetime  # the plan's deadline: unapproved by then, it fails closed
    state: ProposalState = ProposalState.PENDING
    decided_by: str = ""  # "cli:<user>", "tag", "auto:<rule>", "plan-watcher"
    decided_at: datetime | None = None
    note: str = ""
    #: The policy it was proposed under ("" in a journal from before this was recorded).
    policy: str = ""

    @property
    def live(self) -> bool:
        return self.state in LIVE_PROPOSAL_STATES

    def event_detail(self) -> str:
        """The audit-trail text of this proposal (the same in every journal backend)."""
        return (
            f"{self.proposal_id}: {self.offering_id} {self.duration_hours}h for {self.fee}, "
            f"expires {self.expires_at.isoformat()}: {self.reason}"
        )


@dataclass(frozen=True)
class Fence:
    """Proof of leadership carried into the purchase's conditional write."""

    owner: str
    token: int


class FencedOut(Exception):
    """The writer's lease is gone or was taken over (its token is stale): it must not buy."""


class Journal(Protocol):
    """What every journal backend guarantees."""

    def open_intent(self, intent: Intent, fence: Fence | None = None) -> bool:
        """Record `intent` unless one for its key is open or bought; True if written.
        With a `fence`, the write also requires that fence to still hold the leader lease,
        and raises `FencedOut` if it does not."""
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

    def add_proposal(self, proposal: Proposal) -> bool:
        """Record `proposal` unless a live one exists for its plan and plan end; True if written."""
        ...

    def proposal(self, proposal_id: str) -> Proposal | None: ...

    def proposals(self, states: frozenset[ProposalState] | None = None) -> list[Proposal]:
        """Proposals in any of `states` (all if None), oldest first."""
        ...

    def transition_proposal(
        self,
        proposal_id: str,
        expected: frozenset[ProposalState],
        to: ProposalState,
        by: str,
        note: str,
        at: datetime,
    ) -> Proposal | None:
        """Move a proposal to `to` only if it is in one of `expected` (conditional write);
        the updated proposal, or None if it does not exist or was in another state."""
        ...

    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None, delete) a small shared setting such as the pause flag."""
        ...

    def close(self) -> None: ...
