"""The journal's recent purchases against the extension histories a cycle reads.

The journal refuses a second purchase for a (plan ARN, plan end) whose intent is open or
bought. A bought extension whose payment then fails leaves the plan's end where it was (or
puts it back), and AWS lists the extension as `Failed`. Left alone, that intent would stand
between the plan and every later purchase until the plan expires under its work. So whenever
a plan's history is read (afresh for a due plan; from the cache, which re-reads while an
extension is pending, for the others):

- a bought purchase AWS lists as `Failed` is recorded as failed (log event `extension_failed`,
  the notice and the counter of the same meaning); the plan is held for this cycle and may be
  bought for again from the next one, under every other rule;
- for a due plan, a purchase bought from its current end that AWS lists in any other status,
  or not at all, still blocks (the plan is `in_flight`, saying so): only AWS's word that it
  failed opens the way;
- for a due plan whose purchase from its current end failed by AWS's word moments ago, a new
  purchase waits until that extension was requested more than `MATCH_SLACK` ago, so the
  failed one can never be taken for the new one when the new one is matched by time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from watcher.act.purchase import PurchaseResult, Settlement, failed_hold, settle_failed
from watcher.act.valves import Valves
from watcher.decide.durations import AWS_MAX_LEAD
from watcher.decide.limits import DAY
from watcher.decide.text import iso
from watcher.journal.records import MATCH_SLACK, Intent, IntentState, Journal
from watcher.model import Extension, Plan

#: How far back the journal is read: an intent is written at most AWS_MAX_LEAD before the end
#: it was bought from, and only an end a plan still has matters.
LOOKBACK = AWS_MAX_LEAD + DAY


class Recheck:
    """One cycle's look at the journal's recent purchases against the histories the cycle
    reads (safe to share between the threads surveying plans)."""

    def __init__(self, journal: Journal, now: datetime, log: Any) -> None:
        self.journal = journal
        self.now = now
        self.log = log
        #: Purchases recorded as failed this cycle because AWS lists them as `Failed`.
        self.settled: list[Settlement] = []
        self._intents: dict[str, list[Intent]] | None = None
        self._lock = threading.Lock()

    def hold(self, plan: Plan, history: Sequence[Extension], due: bool = True) -> str | None:
        """Record as failed every bought purchase of `plan` that `history` lists as `Failed`;
        for a `due` plan (`history` read afresh), also say why nothing may be bought for it
        this cycle because of the journal's purchase from its current end. None: no reason."""
        failed_now = None
        if any(ext.failed for ext in history):
            for intent in self._intents_of(plan.arn):
                failed = intent.failure(history)
                if intent.state is IntentState.BOUGHT and failed is not None:
                    item = self._settle(plan, intent, failed)
                    failed_now = failed_now or failed_hold(item)
        if failed_now is not None or not due:
            return failed_now
        current = next((i for i in self._intents_of(plan.arn) if i.plan_end == plan.end_time), None)
        if current is None or current.state is IntentState.OPEN:
            return None  # an open intent holds the plan already (`held_plans`)
        if current.state is IntentState.FAILED:
            return self._too_soon(current.failure(history))
        found = current.match(history)
        if found is not None and found.in_flight:
            return None  # triage reports the pending extension itself
        listed = (
            "does not list it"
            if found is None
            else f"lists it as {found.offering_id} with Status {found.status}, "
            f"PaymentStatus {found.payment_status}"
        )
        return (
            f"the journal records {current.offering_id} as bought from this end "
            f"({iso(current.plan_end)}) but the plan still ends there, and AWS's extension "
            f"history {listed}; only AWS listing it as Failed allows another purchase"
        )

    def _settle(self, plan: Plan, intent: Intent, failed: Extension) -> Settlement:
        log = self.log.bind(plan=plan.name, target=plan.target)
        moved = plan.end_time != intent.plan_end
        item = settle_failed(self.journal, intent, failed, self.now, log, moved)
        with self._lock:
            self.settled.append(item)
        return item

    def finish(
        self, settled: Sequence[Settlement], valves: Valves, enforce: bool
    ) -> list[Settlement]:
        """The cycle's settlements: `settled` (open intents) and this cycle's. With `enforce`,
        each extension AWS lists as `Failed` counts as a failed purchase: for the plan's
        backoff (its retry waits `safety.retry_backoff`, never past a quarter of the time
        left) and for the circuit breaker (payments that keep failing are the account's
        problem, which another purchase does not fix)."""
        every = [*settled, *self.settled]
        for item in every if enforce else ():
            if item.failed is None:
                continue
            intent, note = item.intent, item.note
            log = self.log.bind(plan=intent.plan_arn, target=intent.target)
            failed = PurchaseResult.FAILED
            valves.record(intent.plan_arn, intent.plan_end, None, failed, note, self.now, log)
        return every

    def _too_soon(self, failed: Extension | None) -> str | None:
        if failed is None or failed.extended_at is None:
            return None
        after = failed.extended_at + MATCH_SLACK
        if self.now > after:
            return None
        return (
            f"AWS lists {failed.offering_id}, requested {iso(failed.extended_at)}, as Failed; "
            f"a new purchase from this end waits until after {iso(after)}, so the failed "
            "extension cannot be taken for it"
        )

    def _intents_of(self, plan_arn: str) -> list[Intent]:
        with self._lock:
            if self._intents is None:
                self._intents = {}
                for intent in self.journal.intents_since(self.now - LOOKBACK):
                    self._intents.setdefault(intent.plan_arn, []).append(intent)
            return self._intents.get(plan_arn, [])
