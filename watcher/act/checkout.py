"""The last steps before and after `buy()`: every valve is asked right before the purchase,
and the outcome feeds the circuit breaker and the plan's backoff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watcher.act.outcome import Did, Done
from watcher.act.purchase import PurchaseOutcome, PurchaseResult, buy
from watcher.act.valves import Pause, Valves
from watcher.aws.errors import ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.journal.records import Fence, Journal
from watcher.model import Decision, Plan


@dataclass(frozen=True)
class Checkout:
    step: Done  # what happened, beside the decision (watcher/act/outcome.py reports it)
    purchase: PurchaseOutcome | None = None
    breaker: Pause | None = None  # set when this purchase's failure opened the breaker


def checkout(
    gateway: SageMakerGateway,
    journal: Journal,
    valves: Valves,
    plan: Plan,
    decision: Decision,
    now: Callable[[], datetime],
    log: Any,
    gate: str | None,
    fence: Callable[[], Fence | None] | None,
) -> Checkout:
    """Buy `decision.chosen` unless something holds it: `gate` (the daemon is stopping), the
    kill switch or the pause flag (reported would_extend, "not bought: ..."), or the plan's
    backoff after failed purchases (reported error)."""
    chosen, deadline = decision.chosen, decision.deadline
    if chosen is None or deadline is None:
        # Explicit, not an assert: `python -O` strips asserts, and this guards a purchase.
        missing = "offering" if chosen is None else "deadline"
        return Checkout(Done(Did.DEFECT, f"the decision has no {missing}"))
    blocked = gate or valves.blocked()
    if blocked:
        return Checkout(Done(Did.HELD, blocked))
    moment = now()
    waiting = valves.holding(plan.arn, plan.end_time, deadline, moment)
    if waiting:
        return Checkout(Done(Did.BACKOFF, waiting))
    outcome = buy(gateway, journal, plan, chosen, moment, log, fence() if fence else None)
    breaker = valves.record(
        plan.arn,
        plan.end_time,
        deadline,
        outcome.result,
        outcome.detail,
        now(),
        log,
        throttled=outcome.error_kind is ErrorKind.THROTTLED,
    )
    did = {PurchaseResult.BOUGHT: Did.BOUGHT, PurchaseResult.FAILED: Did.FAILED}.get(
        outcome.result,
        Did.UNSETTLED,  # ambiguous, or another writer's or replica's to settle
    )
    return Checkout(Done(did, outcome.detail, chosen.offering_id), outcome, breaker)
