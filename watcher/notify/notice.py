"""What is worth telling people about a cycle, as `Notice` values: a pure function of the cycle.

A notice goes out when a proposal is created, a purchase succeeds, fails or has an unknown
outcome, a purchase with an unknown outcome is settled from AWS's record, AWS lists an
extension plan-watcher bought as Failed, a due plan has no
acceptable offering, a budget or a safety limit refuses a purchase, or a proposal expires
unapproved. Everything else (not due, no demand, in flight, ...) is the metrics' job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from watcher.act.purchase import PurchaseResult, Settlement
from watcher.config import Mode
from watcher.journal.records import IntentState, Proposal, ProposalState
from watcher.model import Decision, DecisionKind, ExtensionOffering, Money, Plan
from watcher.report import json_time
from watcher.results import CycleResult, PlanResult

#: SNS refuses a Subject longer than this.
SUBJECT_LIMIT = 100


class NoticeKind(StrEnum):
    PROPOSAL_CREATED = "proposal_created"
    PURCHASE_SUCCEEDED = "purchase_succeeded"
    PURCHASE_FAILED = "purchase_failed"
    PURCHASE_AMBIGUOUS = "purchase_ambiguous"
    NO_OFFERING = "no_offering"
    OVER_BUDGET = "over_budget"
    PROPOSAL_EXPIRED = "proposal_expired"
    PURCHASE_SETTLED_BOUGHT = "purchase_settled_bought"
    PURCHASE_SETTLED_NOT_BOUGHT = "purchase_settled_not_bought"
    UNATTRIBUTED_USE = "unattributed_use"
    EXTENSION_FAILED = "extension_failed"


#: Kinds that describe a standing condition (re-found every cycle) rather than an event.
CONDITIONS = frozenset({NoticeKind.NO_OFFERING, NoticeKind.OVER_BUDGET})
#: Standing conditions told beside whatever the plan's decision is (once per plan end).
FLAGS = frozenset({NoticeKind.UNATTRIBUTED_USE})

_PURCHASE_KINDS = {
    PurchaseResult.BOUGHT: NoticeKind.PURCHASE_SUCCEEDED,
    PurchaseResult.FAILED: NoticeKind.PURCHASE_FAILED,
    PurchaseResult.AMBIGUOUS: NoticeKind.PURCHASE_AMBIGUOUS,
}


@dataclass(frozen=True)
class Notice:
    """One message for people: what happened to which plan, with the figures that matter."""

    kind: NoticeKind
    plan_arn: str
    plan_name: str
    target: str
    summary: str
    reason: str
    cycle_id: str
    mode: Mode
    at: datetime
    plan_end: datetime | None = None
    deadline: datetime | None = None
    offering_id: str | None = None
    duration_hours: int | None = None
    fee: Money | None = None
    proposal_id: str | None = None

    @property
    def notice_id(self) -> str:
        """Stable across retries of the same notice, so a receiver can drop repeats."""
        digest = hashlib.sha256(f"{self.kind}|{self.plan_arn}".encode()).hexdigest()[:10]
        return f"{self.cycle_id}-{self.kind.value}-{digest}"

    @property
    def subject(self) -> str:
        """A one-line, ASCII title (SNS Subject rules: no line breaks, at most 100 chars)."""
        marker = "[dry-run] " if self.mode is Mode.DRY_RUN else ""
        text = f"plan-watcher {marker}{self.kind.value}: {self.plan_name} ({self.target})"
        text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ")
        return text[:SUBJECT_LIMIT]

    def to_json(self) -> dict[str, Any]:
        """The message body: times ISO 8601 UTC, the fee a decimal string with its currency."""
        return {
            "id": self.notice_id,
            "kind": self.kind.value,
            "mode": self.mode.value,
            "dry_run": self.mode is Mode.DRY_RUN,
            "summary": self.summary,
            "reason": self.reason,
            "plan_arn": self.plan_arn,
            "plan_name": self.plan_name,
            "target": self.target,
            "plan_end": json_time(self.plan_end),
            "deadline": json_time(self.deadline),
            "offering_id": self.offering_id,
            "duration_hours": self.duration_hours,
            "upfront_fee": None if self.fee is None else f"{self.fee.amount:f}",
            "currency": None if self.fee is None else self.fee.currency,
            "proposal_id": self.proposal_id,
            "cycle_id": self.cycle_id,
            "at": json_time(self.at),
        }


def _when(when: datetime | None) -> str:
    return "unknown" if when is None else when.strftime("%Y-%m-%d %H:%M UTC")


def _offer(offering: ExtensionOffering | None) -> str:
    if offering is None:
        return "an extension"
    return f"{offering.duration_hours}h for {offering.upfront_fee}"


def _refused_by_budget(decision: Decision) -> ExtensionOffering | None:
    """The offering an over_budget decision turned down: the pure core leaves `chosen` empty
    and lists it among `rejected`, naming it in the reason."""
    if decision.chosen is not None:
        return decision.chosen
    return next(
        (r.offering for r in decision.rejected if r.offering.offering_id in decision.reason),
        None,
    )


def notices_for(cycle: CycleResult) -> list[Notice]:
    """Every notice a finished cycle calls for, in the cycle's plan order (no dedupe here)."""
    found: list[Notice] = []
    for result in cycle.results:
        found.extend(_plan_notices(cycle, result))
    for proposal in cycle.proposals_closed:
        if proposal.state is ProposalState.EXPIRED:
            found.append(_proposal_notice(cycle, NoticeKind.PROPOSAL_EXPIRED, proposal))
    names = {r.plan_arn: (r.plan_name, r.plan) for r in cycle.results}
    for settled in cycle.settled:
        found.append(_settled_notice(cycle, settled, names.get(settled.intent.plan_arn)))
    return found


def _settled_notice(
    cycle: CycleResult, settled: Settlement, known: tuple[str, Plan | None] | None
) -> Notice:
    intent = settled.intent
    name = known[0] if known else intent.plan_arn.rsplit("/", 1)[-1]
    plan = known[1] if known else None
    who = f"{name} ({intent.target})"
    offer = f"{intent.duration_hours}h for {intent.fee} ({intent.offering_id})"
    if settled.failed is not None:
        kind = NoticeKind.EXTENSION_FAILED
        summary = (
            f"AWS reports the extension failed: {offer} for {who} is listed with Status "
            f"{settled.failed.status}, PaymentStatus {settled.failed.payment_status}, so "
            "nothing was bought. plan-watcher buys again from the plan's end if it still needs "
            "it (after the plan's backoff); check the account's payment method"
        )
    elif settled.state is IntentState.BOUGHT:
        kind = NoticeKind.PURCHASE_SETTLED_BOUGHT
        summary = f"the purchase of {offer} for {who}, whose outcome was unknown, was made"
    else:
        kind = NoticeKind.PURCHASE_SETTLED_NOT_BOUGHT
        summary = (
            f"the purchase of {offer} for {who}, whose outcome was unknown, is settled as not "
            "made: it is not in the plan's extension history; plan-watcher buys again if the "
            "plan still needs it. Check the extension history before buying by hand"
        )
    return Notice(
        kind,
        plan_arn=intent.plan_arn,
        plan_name=name,
        target=intent.target,
        summary=_marked(cycle, summary),
        reason=settled.note,
        cycle_id=cycle.cycle_id,
        mode=cycle.mode,
        at=cycle.started_at,
        plan_end=plan.end_time if plan is not None else intent.plan_end,
        offering_id=intent.offering_id,
        duration_hours=intent.duration_hours,
        fee=intent.fee,
    )


def _plan_notices(cycle: CycleResult, result: PlanResult) -> list[Notice]:
    out: list[Notice] = []
    if result.proposal_created and result.proposal is not None:
        out.append(_proposal_notice(cycle, NoticeKind.PROPOSAL_CREATED, result.proposal))
    decision = result.decision
    plan_end = result.plan.end_time if result.plan is not None else None
    who = f"{result.plan_name} ({result.target})"
    if decision.unattributed or decision.unknown_jobs:
        unseen = []
        if decision.unattributed:
            unseen.append(
                f"has {decision.unattributed} instances in use that no training job or cluster "
                "found accounts for"
            )
        if decision.unknown_jobs:
            unseen.append(
                f"may be used by {decision.unknown_jobs} running training job(s) that could not "
                "be described (check DescribeTrainingJob's permission)"
            )
        summary = (
            f"{who} {' and '.join(unseen)}; it is treated as busy (decision "
            f"{decision.kind.value}). Find what runs on it: {decision.reason}"
        )
        out.append(_about(cycle, result, NoticeKind.UNATTRIBUTED_USE, summary))
    purchase = result.purchase
    offering: tuple[str, int, Money] | None = None
    if purchase is not None and purchase.result in _PURCHASE_KINDS:
        kind = _PURCHASE_KINDS[purchase.result]
        intent = purchase.intent
        offering = (intent.offering_id, intent.duration_hours, intent.fee)
        offer = f"{intent.duration_hours}h for {intent.fee} ({intent.offering_id})"
        summary = {
            NoticeKind.PURCHASE_SUCCEEDED: f"extended {who} by {offer}",
            NoticeKind.PURCHASE_FAILED: f"purchase of {offer} for {who} failed: "
            f"{purchase.detail}; the last safe moment to buy is {_when(decision.deadline)}",
            NoticeKind.PURCHASE_AMBIGUOUS: f"purchase of {offer} for {who} has an unknown "
            "outcome; nothing more is bought for this plan until AWS's record settles it",
        }[kind]
    elif decision.kind is DecisionKind.NO_OFFERING:
        kind = NoticeKind.NO_OFFERING
        summary = (
            f"{who} ends {_when(plan_end)} and no acceptable extension is offered; "
            f"the last safe moment to buy is {_when(decision.deadline)}: {decision.reason}"
        )
    elif decision.kind is DecisionKind.OVER_BUDGET:
        kind = NoticeKind.OVER_BUDGET
        refused = _refused_by_budget(decision)
        if refused is not None:
            offering = (refused.offering_id, refused.duration_hours, refused.upfront_fee)
        refuser = "a safety limit" if "safety.limits." in decision.reason else "a budget"
        summary = f"{who} needs {_offer(refused)}, which {refuser} refuses: {decision.reason}"
    else:
        return out
    out.append(_about(cycle, result, kind, summary, offering))
    return out


def _about(
    cycle: CycleResult,
    result: PlanResult,
    kind: NoticeKind,
    summary: str,
    offering: tuple[str, int, Money] | None = None,
) -> Notice:
    """A notice about one plan's result, with its decision's reason and deadline."""
    offering_id, hours, fee = offering if offering is not None else (None, None, None)
    return Notice(
        kind,
        plan_arn=result.plan_arn,
        plan_name=result.plan_name,
        target=result.target,
        summary=_marked(cycle, summary),
        reason=result.decision.reason,
        cycle_id=cycle.cycle_id,
        mode=cycle.mode,
        at=cycle.started_at,
        plan_end=result.plan.end_time if result.plan is not None else None,
        deadline=result.decision.deadline,
        offering_id=offering_id,
        duration_hours=hours,
        fee=fee,
    )


def _marked(cycle: CycleResult, summary: str) -> str:
    return f"[dry-run] {summary}" if cycle.mode is Mode.DRY_RUN else summary


def _proposal_notice(cycle: CycleResult, kind: NoticeKind, proposal: Proposal) -> Notice:
    who = f"{proposal.plan_name} ({proposal.target})"
    offer = f"{proposal.duration_hours}h for {proposal.fee} ({proposal.offering_id})"
    if kind is NoticeKind.PROPOSAL_CREATED:
        summary = (
            f"proposal {proposal.proposal_id}: extend {who} by {offer}; "
            f"approve before {_when(proposal.expires_at)}"
        )
        reason = proposal.reason
    else:
        summary = (
            f"proposal {proposal.proposal_id} to extend {who} by {offer} expired "
            f"unapproved at {_when(proposal.expires_at)}; nothing was bought"
        )
        reason = proposal.note or "not approved before the plan's deadline"
    return Notice(
        kind,
        plan_arn=proposal.plan_arn,
        plan_name=proposal.plan_name,
        target=proposal.target,
        summary=_marked(cycle, summary),
        reason=reason,
        cycle_id=cycle.cycle_id,
        mode=cycle.mode,
        at=cycle.started_at,
        plan_end=proposal.plan_end,
        deadline=proposal.expires_at,
        offering_id=proposal.offering_id,
        duration_hours=proposal.duration_hours,
        fee=proposal.fee,
        proposal_id=proposal.proposal_id,
    )
