"""The blast-radius limits' ledger in a cycle: what is used of each, from AWS's recent history
(read in the survey), the journal (read afresh before every decision, so purchases another
replica or process made a moment ago count) and this cycle's own purchases. The arithmetic is
pure (watcher/decide/limits.py), the configured limits become its rules in
watcher/config/core_rules.py, and this module gathers its inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from watcher.decide.limits import (
    Commitment,
    LimitRules,
    LimitState,
    committed_since,
    limit_states,
    window_start,
)
from watcher.journal.records import Intent, IntentState, Journal
from watcher.model import Extension


def journalled(intents: Iterable[Intent], history: Sequence[Extension] = ()) -> list[Commitment]:
    """The journal's purchases that count: bought, or with an unknown outcome, unless AWS's
    `history` lists the purchase as `Failed` (the journal records that a cycle later)."""
    failed: dict[str, list[Extension]] = {}
    for ext in history:
        if ext.failed:  # only a plan with a failed extension can hold a failed purchase
            failed.setdefault(ext.plan_arn, [])
    for ext in history:
        if ext.plan_arn in failed:
            failed[ext.plan_arn].append(ext)
    return [
        Commitment(i.offering_id, i.plan_arn, i.created_at, i.fee, "journal")
        for i in intents
        if i.state is not IntentState.FAILED
        and (i.plan_arn not in failed or i.failure(failed[i.plan_arn]) is None)
    ]


class LimitLedger:
    """The limits' use during one cycle."""

    def __init__(self, rules: LimitRules, journal: Journal, recent: Iterable[Extension]) -> None:
        self.rules = rules
        self.journal = journal
        self.recent = list(recent)
        self.this_cycle: list[Commitment] = []

    def last_day(self, now: datetime) -> list[Commitment]:
        """Every purchase committed in the 24 hours before `now`."""
        if not self.rules.daily:
            return []
        since = window_start(now)
        intents = self.journal.intents_since(since)
        return committed_since(self.recent, journalled(intents, self.recent), since)

    def states(self, now: datetime) -> list[LimitState]:
        """Each configured limit with what is used of it at `now` (no journal read without a
        24-hour limit)."""
        if not self.rules.any:
            return []
        return limit_states(self.rules, self.last_day(now), self.this_cycle)

    def count(self, intent: Intent) -> None:
        """A purchase this cycle made (or may have made) counts against the per-cycle limits."""
        self.this_cycle.extend(journalled([intent]))
