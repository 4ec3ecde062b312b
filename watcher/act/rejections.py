"""Rejections made with `plan-watcher reject` (in another process), noticed once by a cycle so
that each is announced once."""

from __future__ import annotations

from datetime import datetime

from watcher.journal.records import Journal, Proposal, ProposalState

SEEN_REJECTIONS_KEY = "proposals.rejections_seen_until"


def rejections_by_command_since_last_look(journal: Journal) -> list[Proposal]:
    """Proposals rejected by command since the last call that found any; marks them seen."""
    seen = journal.get_setting(SEEN_REJECTIONS_KEY)
    since = datetime.fromisoformat(seen) if seen else None
    fresh = [
        p
        for p in journal.proposals(frozenset({ProposalState.REJECTED}))
        if p.decided_by.startswith("cli:")
        and p.decided_at is not None
        and (since is None or p.decided_at > since)
    ]
    if fresh:
        latest = max(p.decided_at for p in fresh if p.decided_at is not None)
        journal.set_setting(SEEN_REJECTIONS_KEY, latest.isoformat())
    return fresh
