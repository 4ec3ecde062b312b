"""The blast-radius limits' ledger in a cycle: what is used of each, from AWS's recent history
(read in the survey), the journal (read afresh before every decision, so purchases another
replica or process made a moment ago count) and this cycle's own purchases. The arithmetic is
pure (watcher/decide/limits.py), the configured limits become its rules in
watcher/config/core_rules.py, and this module gathers its inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from watcher.decide.limits import (
    Commitment,
    LimitRules,
    LimitState,
    committed_since,
    limit_states,
    window_start,
)
from watcher.journal.records import Intent, IntentState, Journal, owners_of
from watcher.model import Extension


def journalled(intents: Iterable[Intent], history: Sequence[Extension] = ()) -> list[Commitment]:
    """The journal's purchases that count: bought, or with an unknown outcome, unless AWS's
    `history` lists the purchase as `Failed` (the journal records that a cycle later). A
    purchase the history lists under an ID of its own (`owners_of`: the match that settles a
    purchase) carries that ID, so that it counts once."""
    by_plan: dict[str, list[Intent]] = {}
    for intent in intents:
        by_plan.setdefault(intent.plan_arn, []).append(intent)
    listed: dict[int, Extension] = {}  # id(intent) -> the extension AWS lists for it
    extensions: dict[str, list[Extension]] = {}
    for ext in history:
        extensions.setdefault(ext.plan_arn, []).append(ext)
    for plan_arn, found in extensions.items():
        for index, intent in owners_of(found, by_plan.get(plan_arn, [])).items():
            listed[id(intent)] = found[index]
    counted: list[Commitment] = []
    for mine in by_plan.values():
        for intent in mine:
            shown = listed.get(id(intent))
            if intent.state is IntentState.FAILED or (shown is not None and shown.failed):
                continue
            offering = shown.offering_id if shown is not None else intent.offering_id
            counted.append(
                Commitment(offering, intent.plan_arn, intent.created_at, intent.fee, "journal")
            )
    return counted


class LimitLedger:
    """The limits' use during one cycle."""

    def __init__(
        self,
        rules: LimitRules,
        journal: Journal,
        recent: Iterable[Extension],
        settle_after: timedelta,
    ) -> None:
        self.rules = rules
        self.journal = journal
        self.recent = list(recent)
        self.settle_after = settle_after
        self.this_cycle: list[Commitment] = []

    def last_day(self, now: datetime) -> list[Commitment]:
        """Every purchase committed in the 24 hours before `now`."""
        if not self.rules.daily:
            return []
        since = window_start(now)
        intents = self.journal.intents_since(since - self.settle_after)
        counted = journalled(intents, self.recent)
        return committed_since(self.recent, counted, since, self.settle_after)

    def states(self, now: datetime) -> list[LimitState]:
        """Each configured limit with what is used of it at `now` (no journal read without a
        24-hour limit)."""
        if not self.rules.any:
            return []
        return limit_states(self.rules, self.last_day(now), self.this_cycle)

    def count(self, intent: Intent) -> None:
        """A purchase this cycle made (or may have made) counts against the per-cycle limits."""
        self.this_cycle.extend(journalled([intent]))
