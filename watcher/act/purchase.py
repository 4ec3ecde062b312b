"""The one safe way to buy: intent first, one call, outcome recorded, ambiguity left open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from watcher.aws.errors import AwsError, ErrorKind
from watcher.aws.sagemaker import SageMakerGateway
from watcher.config.operations import DEFAULT_SETTLE_AFTER
from watcher.decide.text import iso, span
from watcher.journal.records import Fence, FencedOut, Intent, IntentState, Journal
from watcher.model import Extension, ExtensionOffering, Plan


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
        answer = gateway.extend(offering.offering_id, plan.arn)
    except AwsError as exc:
        if exc.kind is ErrorKind.AMBIGUOUS:
            detail = f"outcome unknown ({exc.code}: {exc.message}); resolving from AWS's record"
            log.error("purchase_ambiguous", error=str(exc), **fields)
            return PurchaseOutcome(PurchaseResult.AMBIGUOUS, intent, detail)
        detail = f"{exc.kind.value}: {exc.code}: {exc.message}"
        journal.close_intent(intent, IntentState.FAILED, detail, now)
        log.error("purchase_failed", error=str(exc), kind=exc.kind.value, **fields)
        return PurchaseOutcome(PurchaseResult.FAILED, intent, detail, exc.kind)
    found = intent.match(answer)
    if found is None:
        # A success without the extension in it (an empty or unreadable body, a proxy's page)
        # proves nothing: the request may never have reached AWS.
        why = f"ExtendTrainingPlan answered without this extension among {len(answer)} listed"
        detail = f"outcome unknown ({why}); resolving from AWS's record"
        log.error("purchase_ambiguous", error=why, **fields)
        return PurchaseOutcome(PurchaseResult.AMBIGUOUS, intent, detail)
    if found.failed:
        detail = reported_failed(found, "ExtendTrainingPlan's answer")
        journal.close_intent(intent, IntentState.FAILED, detail, now)
        log.warning("extension_failed", note=detail, **fields)
        return PurchaseOutcome(PurchaseResult.FAILED, intent, detail)
    journal.close_intent(intent, IntentState.BOUGHT, "accepted by ExtendTrainingPlan", now)
    log.info("purchase_succeeded", **fields)
    return PurchaseOutcome(PurchaseResult.BOUGHT, intent, "extension bought")


#: `safety.settle_after`'s default.
SETTLE_AFTER = DEFAULT_SETTLE_AFTER


@dataclass(frozen=True)
class Settlement:
    """What AWS's record said about one open intent."""

    intent: Intent
    state: IntentState  # OPEN: still unknown, nothing more is bought for the plan
    note: str
    #: The plan's end is no longer the one the purchase was decided on: whatever the history
    #: says, nothing more is bought for the plan in this cycle.
    end_moved: bool = False
    #: The extension AWS lists as `Failed` for this purchase, when that settled it as failed
    #: (nothing more is bought for the plan in this cycle either).
    failed: Extension | None = None


def resolve(
    gateway: SageMakerGateway,
    journal: Journal,
    intent: Intent,
    now: datetime,
    log: Any,
    settle_after: timedelta,
) -> Settlement:
    """Settle an open intent from AWS's record (its extension history and the plan's end).

    Bought when the history holds the purchase (`Intent.match`). Otherwise the intent stays
    open until `settle_after` has passed (AWS documents no bound on how soon its history shows
    a purchase); then a plan whose end has moved past the end the purchase was for is taken as
    bought (an extension from that end exists, so its need is met), and any other as not
    bought. A history with unreadable entries keeps it open.
    """
    history, unreadable = gateway.extension_history(intent.plan_arn)
    plan = gateway.describe_plan(intent.plan_arn)
    moved = plan.end_time != intent.plan_end
    fields = {"offering_id": intent.offering_id}
    found = intent.match(history)
    if found is not None and found.failed:
        return settle_failed(journal, intent, found, now, log, moved)
    if found is not None:
        how = "" if found.offering_id == intent.offering_id else f" as {found.offering_id}"
        note = (
            f"found in extension history{how} (status {found.status}, "
            f"payment {found.payment_status})"
        )
        return _settle(journal, intent, IntentState.BOUGHT, note, now, log, moved)
    moved_note = f"; the plan's end moved to {iso(plan.end_time)}" if moved else ""
    if unreadable:
        # The purchase may be among the entries AWS returned unreadably: still unknown.
        note = f"{len(unreadable)} unreadable extension history entries{moved_note}"
        log.warning("purchase_unresolved", note=note, **fields)
        return Settlement(intent, IntentState.OPEN, note, moved)
    waited = now - intent.created_at
    if waited < settle_after:
        note = f"not in extension history yet{moved_note}; settled after {span(settle_after)}"
        log.info("purchase_unresolved", note=note, **fields)
        return Settlement(intent, IntentState.OPEN, note, moved)
    if plan.end_time > intent.plan_end:
        note = (
            f"not in extension history after {span(waited)}, but the plan's end moved from "
            f"{iso(intent.plan_end)} to {iso(plan.end_time)}: an extension from that end exists"
        )
        return _settle(journal, intent, IntentState.BOUGHT, note, now, log, moved)
    note = (
        f"not in extension history {span(waited)} after the attempt (safety.settle_after "
        f"{span(settle_after)}): the purchase did not happen{moved_note}"
    )
    return _settle(journal, intent, IntentState.FAILED, note, now, log, moved)


def _settle(
    journal: Journal,
    intent: Intent,
    state: IntentState,
    note: str,
    now: datetime,
    log: Any,
    moved: bool,
) -> Settlement:
    journal.close_intent(intent, state, note, now)
    outcome = "bought" if state is IntentState.BOUGHT else "not_bought"
    level = log.info if state is IntentState.BOUGHT else log.warning
    level("purchase_resolved", offering_id=intent.offering_id, outcome=outcome, note=note)
    if state is IntentState.FAILED:
        log.warning(
            "purchase_settled_not_bought",
            offering_id=intent.offering_id,
            note=note,
            check="the plan's extension history (plan-watcher history) before buying by hand",
        )
    return Settlement(intent, state, note, moved)


def reported_failed(extension: Extension, where: str) -> str:
    """Why a purchase is failed: AWS lists its extension as `Failed`."""
    return (
        f"AWS reports the extension failed: {where} lists {extension.offering_id} with Status "
        f"{extension.status}, PaymentStatus {extension.payment_status}; nothing was bought"
    )


def settle_failed(
    journal: Journal, intent: Intent, extension: Extension, now: datetime, log: Any, moved: bool
) -> Settlement:
    """Record `intent` (open, or bought) as failed because AWS lists its extension as
    `Failed`: a new purchase from the same plan end becomes possible from the next cycle."""
    note = reported_failed(extension, "the extension history")
    journal.close_intent(intent, IntentState.FAILED, note, now)
    if intent.state is IntentState.OPEN:
        log.warning("purchase_resolved", offering_id=intent.offering_id, outcome="not_bought")
    log.warning(
        "extension_failed",
        offering_id=intent.offering_id,
        was=intent.state.value,
        note=note,
        check="the account's payment method before the plan is bought for again",
    )
    return Settlement(intent, IntentState.FAILED, note, moved, extension)


def held_plans(settled: list[Settlement]) -> dict[str, bool | str]:
    """Plans nothing is bought for this cycle: True while an intent is unresolved; the reason
    where one settled although the plan's end moved (AWS's history may not show everything
    yet, so the plan is decided afresh next cycle), or as failed because AWS lists its
    extension as `Failed`."""
    held: dict[str, bool | str] = {}
    for item in settled:
        if item.state is IntentState.OPEN:
            held[item.intent.plan_arn] = True
        elif item.failed is not None and item.intent.plan_arn not in held:
            held[item.intent.plan_arn] = failed_hold(item)
        elif item.end_moved and item.intent.plan_arn not in held:
            held[item.intent.plan_arn] = (
                f"purchase {item.intent.offering_id} was settled as {item.state.value} while "
                "the plan's end moved; the plan is decided afresh next cycle"
            )
    return held


def failed_hold(item: Settlement) -> str:
    """The plan's reason in the cycle that records a purchase as failed by AWS's word."""
    return (
        f"{item.note}; the purchase is recorded as failed, and the plan is decided afresh "
        "next cycle"
    )
