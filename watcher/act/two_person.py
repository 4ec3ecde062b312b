"""Two approvers above a fee, in the journal: each proposal that needs two people has an
approvals record (a journal setting, shared by every replica and by `plan-watcher approve`).

The first approval is recorded and the proposal stays pending; the second, by another named
person, approves it. The cycle trusts only the record: an approved proposal that needs two
people by the policy in force and lacks them (the threshold was lowered, or the record was
lost) goes back to pending instead of being bought. Which approvals count is pure
(watcher/decide/two_person.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from watcher.decide.rules import ApprovalRules
from watcher.decide.text import iso, money
from watcher.decide.two_person import Added, add, approvals_needed, people, satisfied
from watcher.journal.records import Journal, Proposal, ProposalState

KEY_PREFIX = "proposal.approvals:"


@dataclass(frozen=True)
class Approvals:
    """Who approved a proposal so far (`by`, `at` ISO), and how many people it needs."""

    needed: int
    threshold: str
    given: tuple[tuple[str, str], ...] = ()

    @property
    def approvers(self) -> list[str]:
        return [by for by, _ in self.given]

    def describe(self) -> str:
        named = people(self.approvers)
        so_far = ", ".join(f"{by} at {at}" for by, at in self.given) or "none yet"
        return (
            f"needs approval by {self.needed} different people (fee above two_person_above "
            f"{self.threshold}) with `plan-watcher approve`; tag approvals do not count, "
            f"because AWS does not record who set a tag; {len(named)} of {self.needed} so far "
            f"({so_far})"
        )


def load(journal: Journal, proposal_id: str) -> Approvals | None:
    raw = journal.get_setting(KEY_PREFIX + proposal_id)
    if raw is None:
        return None
    data = json.loads(raw)
    given = tuple((str(by), str(at)) for by, at in data.get("given", []))
    return Approvals(int(data["needed"]), str(data["threshold"]), given)


def save(journal: Journal, proposal_id: str, record: Approvals) -> None:
    value = {"needed": record.needed, "threshold": record.threshold, "given": record.given}
    journal.set_setting(KEY_PREFIX + proposal_id, json.dumps(value))


def requirement(proposal: Proposal, rules: ApprovalRules) -> Approvals | None:
    """The record a new proposal needs under `rules`; None when one approval is enough."""
    if rules.two_person_above is None or approvals_needed(proposal.fee, rules) < 2:
        return None
    return Approvals(2, money(rules.two_person_above))


def approve_by_command(
    journal: Journal, proposal: Proposal, record: Approvals, by: str, now: datetime
) -> tuple[Proposal | None, str]:
    """`plan-watcher approve` on a pending proposal whose `record` needs two people: record
    this approval, and approve the proposal if it completes two. Returns the proposal when it
    is now approved (else None) and what to tell the operator; raises ValueError when this
    approval cannot count."""
    added = add(record.approvers, by, record.needed)
    if added is Added.UNNAMED:
        raise ValueError(
            f"{by} has no name: two-person approval needs to know who approves; run "
            "`plan-watcher approve` with USER set to your name"
        )
    if added is Added.SAME:
        first = next(at for who, at in record.given if people([who]) == people([by]))
        raise ValueError(
            f"{by} already approved {proposal.proposal_id} at {first}; a different person "
            "must give the second approval"
        )
    updated = replace(record, given=(*record.given, (by, iso(now))))
    save(journal, proposal.proposal_id, updated)
    if added is Added.FIRST:
        again = load(journal, proposal.proposal_id)
        if again is None or by not in again.approvers:
            raise ValueError(f"{proposal.proposal_id} changed meanwhile; approve again")
        return None, (
            f"first of {record.needed} approvals of {proposal.proposal_id} recorded ({by}); "
            "a different person must run `plan-watcher approve "
            f"{proposal.proposal_id}` before the purchase is made"
        )
    first = ", ".join(who for who, _ in record.given)
    done = journal.transition_proposal(
        proposal.proposal_id,
        frozenset({ProposalState.PENDING}),
        ProposalState.APPROVED,
        by,
        f"second approval with plan-watcher approve; first by {first}",
        now,
    )
    if done is None:
        raise ValueError(f"{proposal.proposal_id} changed meanwhile; see `plan-watcher proposals`")
    return done, f"second approval ({by}, after {first})"


def checked(
    journal: Journal,
    live: Proposal,
    rules: ApprovalRules,
    now: datetime,
    dry_run: bool,
    log: Any,
) -> Proposal:
    """`live` as the cycle may act on it: an approved proposal that needs two people under
    `rules` without two on record goes back to pending (its one approval is kept)."""
    if live.state is not ProposalState.APPROVED or approvals_needed(live.fee, rules) < 2:
        return live
    record = load(journal, live.proposal_id) or requirement(live, rules)
    if record is None:
        return live
    if satisfied(record.approvers, 2):
        return live
    if dry_run:
        return replace(live, state=ProposalState.PENDING)
    if live.decided_by and live.decided_by not in record.approvers:
        at = iso(live.decided_at) if live.decided_at else iso(now)
        record = replace(record, given=(*record.given, (live.decided_by, at)))
    save(journal, live.proposal_id, record)
    back = journal.transition_proposal(
        live.proposal_id,
        frozenset({ProposalState.APPROVED}),
        ProposalState.PENDING,
        "plan-watcher",
        f"back to pending: {record.describe()}",
        now,
    )
    log.warning(
        "proposal_needs_second_approval",
        proposal_id=live.proposal_id,
        approvers=record.approvers,
    )
    return back or replace(live, state=ProposalState.PENDING)


def note(journal: Journal, proposal: Proposal | None) -> str | None:
    """What a waiting two-person proposal still needs, for the decision's reason."""
    if proposal is None or proposal.state is not ProposalState.PENDING:
        return None
    record = load(journal, proposal.proposal_id)
    if record is None or record.needed < 2:
        return None
    return record.describe()
