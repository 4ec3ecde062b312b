"""How the proposal flow words its decisions: each helper returns the decision with the
proposal's part of the story in its reason (watcher/act/approvals.py uses them)."""

from __future__ import annotations

from dataclasses import replace

from watcher.act.approval_tags import how_to_approve
from watcher.decide.approval import Verdict
from watcher.decide.text import iso
from watcher.journal.records import Proposal
from watcher.model import Decision, DecisionKind


def as_kind(decision: Decision, kind: DecisionKind, reason: str) -> Decision:
    return replace(decision, kind=kind, reason=reason)


def defect(decision: Decision, what: str) -> Decision:
    """An impossible state before a purchase (checked, not asserted: `python -O` strips those)."""
    reason = f"not bought: {what} (a defect; please report it)"
    return replace(decision, kind=DecisionKind.ERROR, chosen=None, reason=reason)


def noted(decision: Decision, text: str) -> Decision:
    return replace(decision, reason=f"{decision.reason}; {text}" if text else decision.reason)


def waiting(proposal: Proposal, by_tag: bool) -> str:
    return (
        f"proposal {proposal.proposal_id} is {proposal.state.value} since "
        f"{iso(proposal.created_at)} and expires at {iso(proposal.expires_at)}; "
        + how_to_approve(proposal.proposal_id, by_tag)
    )


def refused(decision: Decision, rejected: Proposal) -> Decision:
    at = iso(rejected.decided_at) if rejected.decided_at else "?"
    note = f" ({rejected.note})" if rejected.note else ""
    return replace(
        decision,
        kind=DecisionKind.NO_OFFERING,
        chosen=None,
        reason=(
            f"proposal {rejected.proposal_id} was rejected by {rejected.decided_by} at {at}"
            f"{note}; nothing more is proposed for this plan until its end time changes"
        ),
    )


def expired(decision: Decision, live: Proposal | None, verdict: Verdict) -> Decision:
    which = f"proposal {live.proposal_id} expired: " if live is not None else ""
    return replace(decision, kind=DecisionKind.EXPIRED, chosen=None, reason=which + verdict.reason)
