"""The one safe way to buy: intent first, one call, outcome recorded, ambiguity left open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from watcher.act.journal import Fence, FencedOut, Intent, IntentState, Journal
from watcher.aws.errors import AwsError, ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.model import ExtensionOffering, Plan


class PurchaseResult(StrEnum):
    BOUGHT = "bought"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    LOST_RACE = "lost_race"  # another writer holds the intent for this plan and end time
    FENCED = "fenced"  # this replica's leader lease is gone: nothing was written or bought


@dataclass(frozen=True)
class PurchaseOutcome:
    result: PurchaseResult
    intent: Intent
    detail: str
    #: For FAILED: how AWS refused (THROTTLED means "not now", not "something is wrong").
    error_kind: ErrorKind | None = None


def buy(
    gateway: SageMakerGateway,
    journal: Journal,
    plan: Plan,
    offering: ExtensionOffering,
    now: datetime,
    log: Any,
    fence: Fence | None = None,
) -> PurchaseOutcome:
    """Journal the intent (checking `fence` in the same conditional write), call
    ExtendTrainingPlan once, record what happened."""
    intent = Intent(
        plan_arn=plan.arn,
        plan_end=plan.end_time,
        offering_id=offering.offering_id,
        target=plan.target,
        fee=offering.upfront_fee,
        duration_hours=offering.duration_hours,
        created_at=now,
    )
    fields = {
        "offering_id": offering.offering_id,
        "duration_hours": offering.duration_hours,
        "upfront_fee": str(offering.upfront_fee.amount),
        "currency": offering.upfront_fee.currency,
    }
    try:
        opened = journal.open_intent(intent, fence)
    except FencedOut as exc:
        detail = f"not the leader any more ({exc}); the purchase was not started"
        log.warning("purchase_fenced", reason=detail, **fields)
        return PurchaseOutcome(PurchaseResult.FENCED, intent, detail)
    if not opened:
        detail = "another purchase is already recorded for this plan and end time"
        log.warning("purchase_skipped", reason=detail, **fields)
        return PurchaseOutcome(PurchaseResult.LOST_RACE, intent, detail)
    log.info("purchase_intent", **fields)
    try:
        gateway.extend(offering.offering_id, plan.arn)
    except AwsError as exc:
        if exc.kind is ErrorKind.AMBIGUOUS:
            detail = f"outcome unknown ({exc.code}: {exc.message}); resolving from AWS's record"
            log.error("purchase_ambiguous", error=str(exc), **fields)
            return PurchaseOutcome(PurchaseResult.AMBIGUOUS, intent, detail)
        detail = f"{exc.kind.value}: {exc.code}: {exc.message}"
        journal.close_intent(intent, IntentState.FAILED, detail, now)
        log.error("purchase_failed", error=str(exc), kind=exc.kind.value, **fields)
        return PurchaseOutcome(PurchaseResult.FAILED, intent, detail, exc.kind)
    journal.close_intent(intent, IntentState.BOUGHT, "accepted by ExtendTrainingPlan", now)
    log.info("purchase_succeeded", **fields)
    return PurchaseOutcome(PurchaseResult.BOUGHT, intent, "extension bought")


# How long an unresolved purchase is given to appear in AWS's history before it is taken as
# not made. The offering it used is stale by then, so it cannot take effect any more.
SETTLE_AFTER = timedelta(minutes=30)


def resolve(
    gateway: SageMakerGateway,
    journal: Journal,
    intent: Intent,
    now: datetime,
    log: Any,
    settle_after: timedelta = SETTLE_AFTER,
) -> IntentState:
    """Settle an open intent from AWS's record; OPEN means "still unknown, do not buy"."""
    history, unreadable = gateway.extension_history(intent.plan_arn)
    match = next((e for e in history if e.offering_id == intent.offering_id), None)
    if match is not None:
        note = f"found in extension history (status {match.status}, payment {match.payment_status})"
        journal.close_intent(intent, IntentState.BOUGHT, note, now)
        log.info("purchase_resolved", offering_id=intent.offering_id, outcome="bought", note=note)
        return IntentState.BOUGHT
    if unreadable:
        # The purchase may be among the entries AWS returned unreadably: still unknown.
        log.warning(
            "purchase_unresolved",
            offering_id=intent.offering_id,
            note=f"{len(unreadable)} unreadable extension history entries",
        )
        return IntentState.OPEN
    plan = gateway.describe_plan(intent.plan_arn)
    if plan.end_time != intent.plan_end:
        note = "plan end moved without this offering in its history: not bought by plan-watcher"
    elif now - intent.created_at >= settle_after:
        note = f"not in extension history after {settle_after}: the purchase did not happen"
    else:
        log.info("purchase_unresolved", offering_id=intent.offering_id)
        return IntentState.OPEN
    journal.close_intent(intent, IntentState.FAILED, note, now)
    log.warning(
        "purchase_resolved", offering_id=intent.offering_id, outcome="not_bought", note=note
    )
    return IntentState.FAILED
