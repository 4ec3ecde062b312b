"""How the proposal flow words what it did: each helper returns the step recorded beside the
core's decision (watcher/act/approvals.py uses them; watcher/act/outcome.py reports them)."""

from __future__ import annotations

from watcher.act.approval_tags import how_to_approve
from watcher.act.outcome import Did, Done
from watcher.decide.approval import Verdict
from watcher.decide.text import iso
from watcher.journal.records import Proposal


def noted(text: str) -> Done:
    return Done(Did.NOTED, text)


def defect(what: str) -> Done:
    """An impossible state before a purchase (checked, not asserted: `python -O` strips those)."""
    return Done(Did.DEFECT, what)


def waiting(proposal: Proposal, by_tag: bool) -> str:
    return (
        f"proposal {proposal.proposal_id} is {proposal.state.value} since "
        f"{iso(proposal.created_at)} and expires at {iso(proposal.expires_at)}; "
        + how_to_approve(proposal.proposal_id, by_tag)
    )


def refused(rejected: Proposal) -> Done:
    at = iso(rejected.decided_at) if rejected.decided_at else "?"
    note = f" ({rejected.note})" if rejected.note else ""
    return Done(
        Did.REFUSED,
        f"proposal {rejected.proposal_id} was rejected by {rejected.decided_by} at {at}"
        f"{note}; nothing more is proposed for this plan until its end time changes",
    )


def expired(live: Proposal | None, verdict: Verdict) -> Done:
    which = f"proposal {live.proposal_id} expired: " if live is not None else ""
    return Done(Did.EXPIRED, which + verdict.reason)
