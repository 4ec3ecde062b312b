"""The last steps before and after `buy()`: every valve is asked right before the purchase,
and the outcome feeds the circuit breaker and the plan's backoff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from watcher.act.purchase import PurchaseOutcome, PurchaseResult, buy
from watcher.act.valves import Pause, Valves
from watcher.aws.errors import ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.journal.records import Fence, Journal
from watcher.model import Decision, DecisionKind, ExtensionOffering, Plan


@dataclass(frozen=True)
class Checkout:
    decision: Decision
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
        held = f"not bought: the decision has no {missing} (a defect; please report it)"
        return Checkout(replace(decision, kind=DecisionKind.ERROR, reason=held))
    blocked = gate or valves.blocked()
    if blocked:
        held = f"{decision.reason}; not bought: {blocked}"
        return Checkout(replace(decision, kind=DecisionKind.WOULD_EXTEND, reason=held))
    moment = now()
    waiting = valves.holding(plan.arn, plan.end_time, deadline, moment)
    if waiting:
        held = f"the last purchase for this plan failed; {waiting}; then: {decision.reason}"
        return Checkout(replace(decision, kind=DecisionKind.ERROR, reason=held))
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
    return Checkout(_after_purchase(decision, chosen, outcome), outcome, breaker)


def _after_purchase(
    decision: Decision, chosen: ExtensionOffering, outcome: PurchaseOutcome
) -> Decision:
    if outcome.result is PurchaseResult.BOUGHT:
        return replace(decision, reason=f"bought {chosen.offering_id}: {decision.reason}")
    if outcome.result is PurchaseResult.FAILED:
        return replace(
            decision,
            kind=DecisionKind.ERROR,
            reason=f"purchase of {chosen.offering_id} failed: {outcome.detail}",
        )
    return replace(
        decision,
        kind=DecisionKind.IN_FLIGHT,
        reason=f"purchase of {chosen.offering_id}: {outcome.detail}; nothing more is bought "
        "for this plan until AWS's record settles it",
    )
