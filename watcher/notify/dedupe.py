"""Tell people about a standing condition once, not every cycle.

The rule (docs/operations.md, "Notifications"):

- Events (a proposal created or expired, a purchase that succeeded, failed or is ambiguous)
  happen once, so their notices always go out.
- Conditions (`no_offering`, `over_budget`) are found again every cycle while they last. A
  condition's notice goes out when it is new for the plan: the plan had no condition, had the
  other one, or had it for a different plan end (the plan was extended meanwhile).
- A condition is forgotten when the plan gets any other decision except `error` (an AWS
  hiccup does not count as recovery), so if it comes back later it is told again.
- Flags (`unattributed_use`: instances in use with no consumer found) stand beside any
  decision: each is told once per plan end, and forgotten when a decision (other than
  `error`) no longer carries it. A plan that
  is missing from a cycle (its target was down) keeps what was remembered; a remembered plan
  end that is in the past is dropped.

The memory is this process's: a restart, a config reload, or each `plan-watcher once`
starts with none, so the first cycle after one tells every condition that holds.
"""

from __future__ import annotations

import threading
from datetime import datetime

from watcher.model import DecisionKind
from watcher.notify.notice import CONDITIONS, FLAGS, Notice, NoticeKind
from watcher.results import CycleResult

_Seen = tuple[NoticeKind, datetime | None]
_CONDITION_DECISIONS = frozenset({DecisionKind.NO_OFFERING, DecisionKind.OVER_BUDGET})


class Deduper:
    """Remembers, per plan ARN, the condition last told and the plan end it was told for."""

    def __init__(self) -> None:
        self._told: dict[str, _Seen] = {}
        self._flags: dict[tuple[str, NoticeKind], datetime | None] = {}
        self._lock = threading.Lock()

    def admit(self, cycle: CycleResult, notices: list[Notice]) -> list[Notice]:
        """The notices of `cycle` that should go out; remembers the conditions told."""
        with self._lock:
            for result in cycle.results:
                kind = result.decision.kind
                if kind not in _CONDITION_DECISIONS and kind is not DecisionKind.ERROR:
                    self._told.pop(result.plan_arn, None)
                unseen = result.decision.unattributed or result.decision.unknown_jobs
                if not unseen and kind is not DecisionKind.ERROR:
                    self._flags.pop((result.plan_arn, NoticeKind.UNATTRIBUTED_USE), None)
            admitted: list[Notice] = []
            for notice in notices:
                if notice.kind in FLAGS:
                    key = (notice.plan_arn, notice.kind)
                    if key in self._flags and self._flags[key] == notice.plan_end:
                        continue
                    self._flags[key] = notice.plan_end
                elif notice.kind in CONDITIONS:
                    seen = (notice.kind, notice.plan_end)
                    if self._told.get(notice.plan_arn) == seen:
                        continue
                    self._told[notice.plan_arn] = seen
                admitted.append(notice)
            self._forget_ended(cycle.started_at)
            return admitted

    def _forget_ended(self, now: datetime) -> None:
        for arn, (_, end) in list(self._told.items()):
            if end is not None and end < now:
                del self._told[arn]
        for key, end in list(self._flags.items()):
            if end is not None and end < now:
                del self._flags[key]
