"""A journal that is only read: for `plan-watcher explain`, which must write nothing.

Reads go to the real journal. Settling an open intent (`close_intent`, the one write a
dry-run cycle makes) is recorded here instead, so the explanation can say how the next cycle
would settle it; the rest of the cycle reads the intent as settled, so budgets and limits
count it as the next cycle will (`journal` is the real one, as it stands). Every other write
raises `ReadOnlyJournalError`: if a change ever makes a dry-run cycle write, `explain` fails
loudly instead of writing.
"""

from __future__ import annotations

from datetime import datetime

from watcher.journal.records import Fence, Intent, IntentState, Journal, Proposal, ProposalState


class ReadOnlyJournalError(RuntimeError):
    """Something tried to write through a read-only journal."""


class ReadOnlyJournal:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        #: Intents a cycle would have settled: (intent, state, note).
        self.would_settle: list[tuple[Intent, IntentState, str]] = []
        self._settled: dict[tuple[str, datetime, str], Intent] = {}

    # --- reads --------------------------------------------------------------------------

    def open_intents(self) -> list[Intent]:
        return [
            i for i in self._as_settled(self.journal.open_intents()) if i.state is IntentState.OPEN
        ]

    def intents_since(self, since: datetime) -> list[Intent]:
        return self._as_settled(self.journal.intents_since(since))

    def _as_settled(self, intents: list[Intent]) -> list[Intent]:
        return [self._settled.get((i.plan_arn, i.plan_end, i.offering_id), i) for i in intents]

    def events(self, plan_arn: str | None = None) -> list[tuple[datetime, str, str, str]]:
        return self.journal.events(plan_arn)

    def proposal(self, proposal_id: str) -> Proposal | None:
        return self.journal.proposal(proposal_id)

    def proposals(self, states: frozenset[ProposalState] | None = None) -> list[Proposal]:
        return self.journal.proposals(states)

    def get_setting(self, key: str) -> str | None:
        return self.journal.get_setting(key)

    def close(self) -> None:
        self.journal.close()

    # --- writes -------------------------------------------------------------------------

    def close_intent(self, intent: Intent, state: IntentState, note: str, at: datetime) -> None:
        self.would_settle.append((intent, state, note))
        key = (intent.plan_arn, intent.plan_end, intent.offering_id)
        self._settled[key] = intent.closed(state, note, at)

    def open_intent(self, intent: Intent, fence: Fence | None = None) -> bool:
        raise ReadOnlyJournalError(f"would open an intent for {intent.plan_arn}")

    def add_proposal(self, proposal: Proposal) -> bool:
        raise ReadOnlyJournalError(f"would record proposal {proposal.proposal_id}")

    def transition_proposal(
        self,
        proposal_id: str,
        expected: frozenset[ProposalState],
        to: ProposalState,
        by: str,
        note: str,
        at: datetime,
    ) -> Proposal | None:
        raise ReadOnlyJournalError(f"would move proposal {proposal_id} to {to.value}")

    def set_setting(self, key: str, value: str | None) -> None:
        raise ReadOnlyJournalError(f"would write the setting {key}")
