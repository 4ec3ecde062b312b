"""Proposals under `action: propose`: create, approve (by tag or automatically), replace,
expire and settle them in the journal, as the pure `judge` says. One `ProposalDesk` per cycle.

A human approves with `plan-watcher approve ID` (watcher/cli/ops.py) or by tagging the plan
`plan-watcher/approve=ID` in AWS; rejection is the same with `reject`. In dry-run nothing here
writes to the journal or AWS: decisions only say what would happen.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watcher.act import two_person
from watcher.act.approval_tags import APPROVE_TAG, REJECT_TAG, take_tags
from watcher.act.outcome import Did, Done, Outcome, reported
from watcher.act.proposal_texts import defect as _defect
from watcher.act.proposal_texts import expired as _expired
from watcher.act.proposal_texts import noted as _note
from watcher.act.proposal_texts import refused as _refused
from watcher.act.proposal_texts import waiting as _waiting
from watcher.act.purchase import PurchaseOutcome, PurchaseResult
from watcher.act.rejections import rejections_by_command_since_last_look
from watcher.aws.sagemaker import SageMakerGateway
from watcher.decide import PolicyRules, deadline_of, window_wait
from watcher.decide.approval import Offer, Standing, Step, Verdict, judge
from watcher.decide.text import iso, money
from watcher.journal.records import (
    LIVE_PROPOSAL_STATES,
    IntentState,
    Journal,
    Proposal,
    ProposalState,
)
from watcher.model import Decision, DecisionKind, Plan

PENDING = frozenset({ProposalState.PENDING})
LIVE = frozenset(LIVE_PROPOSAL_STATES)
#: Decisions that mean a plan no longer needs the extension its proposal was for.
NOT_NEEDED = frozenset({DecisionKind.NO_DEMAND, DecisionKind.DEMAND_COVERED, DecisionKind.NOT_DUE})
#: An approved proposal outside the purchase windows (the decision's reason says until when).
_LATER = "its purchase waits for a purchase window"


def new_proposal_id() -> str:
    """Short enough to type, random enough never to repeat in one journal: p-1a2b3c4d."""
    return "p-" + secrets.token_hex(4)


@dataclass
class Handled:
    """What the proposal flow did for one due plan (beside its decision), and its proposal."""

    steps: Outcome
    proposal: Proposal | None = None
    created: bool = False


class ProposalDesk:
    """The proposal side of one cycle: live proposals loaded once, every change journalled."""

    def __init__(self, journal: Journal, now: datetime, dry_run: bool, log: Any) -> None:
        self.journal = journal
        self.now = now
        self.dry_run = dry_run
        self.log = log
        self.closed: list[Proposal] = []
        #: What happened to proposals this cycle, one word per event (for the metrics).
        self.events: list[str] = []
        self._handled: set[str] = set()
        self._by_tag = True  # the current plan's policy reads approval tags
        self._live = {p.plan_arn: p for p in journal.proposals(LIVE)}
        self._rejected = {
            (p.plan_arn, p.plan_end): p
            for p in journal.proposals(frozenset({ProposalState.REJECTED}))
        }

    # --- one due plan -------------------------------------------------------------------

    def handle(
        self, plan: Plan, rules: PolicyRules, decision: Decision, gateway: SageMakerGateway
    ) -> Handled:
        """Run the proposal flow for a due plan whose policy says propose; `decision` is what
        `choose` made of this cycle's offerings (with the cycle's notes on it)."""
        handled = self._handle(plan, rules, decision, gateway)
        waiting = two_person.note(self.journal, handled.proposal)
        if waiting is not None and reported(decision, handled.steps).kind is DecisionKind.PROPOSED:
            handled.steps += (_note(waiting),)
        return handled

    def _handle(
        self, plan: Plan, rules: PolicyRules, decision: Decision, gateway: SageMakerGateway
    ) -> Handled:
        log = self.log.bind(plan=plan.name, target=plan.target)
        live = self._live.get(plan.arn)
        self._by_tag = rules.approval.by_tag  # how the texts below say to approve
        if live is not None and not self.dry_run and self._by_tag:
            two = two_person.requirement(live, rules.approval) is not None
            live = self._read_tags(live, plan, gateway, log, two)
        if live is not None:
            live = two_person.checked(
                self.journal, live, rules.approval, self.now, self.dry_run, log
            )
        if live is None:
            rejected = self._rejected.get((plan.arn, plan.end_time))
            if rejected is not None:
                return Handled((_refused(rejected),))
        offer = None
        if decision.kind is DecisionKind.PROPOSED and decision.chosen is not None:
            offer = Offer(decision.chosen.upfront_fee, decision.chosen.duration_hours)
        deadline = deadline_of(plan, rules)
        standing = None
        if live is not None:
            standing = Standing(
                live.fee, live.duration_hours, live.plan_end, live.state is ProposalState.APPROVED
            )
        verdict = judge(standing, plan.end_time, deadline, self.now, offer, rules.approval)
        if live is not None:
            self._handled.add(live.proposal_id)
        prefix = ""
        if verdict.step is Step.REPLACE and live is not None:
            replaced = self._close(live, ProposalState.SUPERSEDED, verdict.reason, log)
            prefix = f"proposal {live.proposal_id} superseded ({verdict.reason}); "
            if replaced is None:
                return Handled((_note(prefix + "a newer state was found; see next cycle"),))
            live, standing = None, None
            verdict = judge(None, plan.end_time, deadline, self.now, offer, rules.approval)
        if verdict.step is Step.EXPIRE:
            if live is not None:
                self._close(live, ProposalState.EXPIRED, verdict.reason, log)
            return Handled((_expired(live, verdict),))
        if verdict.step is Step.WAIT:
            return self._wait(decision, live, verdict, prefix)
        if verdict.step is Step.CREATE:
            if decision.chosen is None:
                return Handled((_defect("a proposal without an offering"),))
            if self.dry_run:
                would = "would propose it" + (
                    " and approve it automatically" if verdict.auto else ""
                )
                return Handled((_note(f"{prefix}dry-run: {would} ({verdict.reason})"),))
            created = self._create(plan, rules, decision, deadline, prefix, log)
            if created is None:
                return Handled((_note(prefix + "another proposal was recorded meanwhile"),))
            if not verdict.auto:
                waiting = prefix + _waiting(created, self._by_tag)
                return Handled((_note(waiting),), created, created=True)
            live, prefix = created, prefix + f"proposed as {created.proposal_id}; "
            verdict = Verdict(Step.BUY, verdict.reason, auto=True)
            handled = self._buy(plan, decision, rules, live, verdict, prefix, log)
            handled.created = True
            return handled
        if live is None or verdict.step is not Step.BUY:
            return Handled((_defect(f"no live proposal to buy under ({verdict.step})"),))
        return self._buy(plan, decision, rules, live, verdict, prefix, log)

    def _wait(
        self, decision: Decision, live: Proposal | None, verdict: Verdict, prefix: str
    ) -> Handled:
        if live is None:
            return Handled((_note(prefix.removesuffix("; ")),))
        if decision.kind is DecisionKind.PROPOSED:
            return Handled((_note(prefix + _waiting(live, self._by_tag)),), live)
        text = f"{prefix}proposal {live.proposal_id} ({live.state.value}) is kept: {verdict.reason}"
        return Handled((_note(text),), live)

    def _buy(
        self,
        plan: Plan,
        decision: Decision,
        rules: PolicyRules,
        live: Proposal,
        verdict: Verdict,
        prefix: str,
        log: Any,
    ) -> Handled:
        if decision.chosen is None:
            return Handled((_defect("an approved purchase without an offering"),), live)
        wait = window_wait(plan, rules, self.now)
        if self.dry_run:
            if wait is not None:
                text = f"{prefix}proposal {live.proposal_id} is {live.state.value}; {_LATER}"
                return Handled((Done(Did.WINDOW, text, until=wait.until),), live)
            how = "would approve it automatically and buy" if verdict.auto else "would buy"
            text = f"{prefix}proposal {live.proposal_id} is {live.state.value}; dry-run: {how}"
            return Handled((Done(Did.DRY_RUN, text),), live)
        if verdict.auto:
            below = rules.approval.auto_approve_below
            by = f"auto:below {money(below)}" if below is not None else "auto"
            approved = self._transition(live, PENDING, ProposalState.APPROVED, by, verdict.reason)
            if approved is None:
                return Handled((_note(prefix + "the proposal changed meanwhile"),), live)
            log.info("proposal_auto_approved", proposal_id=live.proposal_id, reason=verdict.reason)
            self.events.append("auto_approved")
            live = approved
        if wait is not None:
            text = f"{prefix}proposal {live.proposal_id} approved by {live.decided_by}; {_LATER}"
            return Handled((Done(Did.WINDOW, text, until=wait.until),), live)
        text = f"{prefix}buying under proposal {live.proposal_id}, approved by {live.decided_by}"
        return Handled((Done(Did.APPROVED, text),), live)

    # --- after the purchase and at the end of the cycle ---------------------------------

    def purchased(self, proposal: Proposal, outcome: PurchaseOutcome) -> Proposal:
        """Record that the approved extension was bought; other outcomes keep it approved."""
        if outcome.result is not PurchaseResult.BOUGHT:
            return proposal
        done = self._transition(
            proposal,
            frozenset({ProposalState.APPROVED}),
            ProposalState.PURCHASED,
            "plan-watcher",
            f"bought {outcome.intent.offering_id} for {money(outcome.intent.fee)}",
        )
        if done is None:
            return proposal
        self.log.info(
            "proposal_purchased", plan=proposal.plan_name, proposal_id=proposal.proposal_id
        )
        self.events.append("purchased")
        return done

    def finish(self, decided: Mapping[str, tuple[Plan | None, Decision]]) -> dict[str, Proposal]:
        """Settle live proposals whose plan did not go through `handle` this cycle (expired,
        no longer needed, plan end moved), from each plan's (plan, decision) this cycle; the
        live proposals by plan ARN, for the plans' results."""
        for proposal in list(self._live.values()):
            if proposal.proposal_id in self._handled:
                continue
            self._settle(proposal, decided.get(proposal.plan_arn))
        self._note_rejections_by_command()
        if self.dry_run:
            return {p.plan_arn: p for p in self._live.values()}
        return {p.plan_arn: p for p in self.journal.proposals(LIVE)}

    def _settle(self, proposal: Proposal, seen: tuple[Plan | None, Decision] | None) -> None:
        log = self.log.bind(plan=proposal.plan_name, target=proposal.target)
        plan, decision = seen if seen is not None else (None, None)
        if plan is not None and plan.end_time != proposal.plan_end:
            if self._bought(proposal):
                if not self.dry_run:
                    self._transition(
                        proposal,
                        frozenset({ProposalState.APPROVED}),
                        ProposalState.PURCHASED,
                        "plan-watcher",
                        "the purchase settled as bought from AWS's record",
                    )
                return
            why = f"the plan's end moved from {iso(proposal.plan_end)} to {iso(plan.end_time)}"
            self._close(proposal, ProposalState.SUPERSEDED, why, log)
        elif (decision is not None and decision.kind is DecisionKind.EXPIRED) or (
            decision is None and self.now >= proposal.expires_at
        ):
            why = f"not bought by the last safe purchase moment {iso(proposal.expires_at)}"
            self._close(proposal, ProposalState.EXPIRED, why + "; approvals fail closed", log)
        elif (
            decision is not None
            and decision.kind in NOT_NEEDED | {DecisionKind.UNMANAGED}
            and not decision.window_hold  # waiting for a purchase window: still needed
        ):
            why = f"no longer needed: the plan's decision is now {decision.kind.value}"
            self._close(proposal, ProposalState.SUPERSEDED, why, log)

    def _bought(self, proposal: Proposal) -> bool:
        return any(
            i.plan_arn == proposal.plan_arn
            and i.plan_end == proposal.plan_end
            and i.state is IntentState.BOUGHT
            for i in self.journal.intents_since(proposal.created_at)
        )

    def _note_rejections_by_command(self) -> None:
        """Rejections made with `plan-watcher reject` since the last cycle that noticed any go
        into `proposals_closed`, so they are announced once."""
        if self.dry_run:
            return
        fresh = rejections_by_command_since_last_look(self.journal)
        self.closed.extend(fresh)
        self.events.extend("rejected" for _ in fresh)

    # --- journal and tags ---------------------------------------------------------------

    def _create(
        self,
        plan: Plan,
        rules: PolicyRules,
        decision: Decision,
        deadline: datetime,
        prefix: str,
        log: Any,
    ) -> Proposal | None:
        chosen = decision.chosen
        if chosen is None:  # handle() checks first; explicit, for `python -O`
            return None
        reason = decision.reason
        if prefix:
            reason = f"{prefix}{reason}"
        proposal = Proposal(
            proposal_id=new_proposal_id(),
            plan_arn=plan.arn,
            plan_name=plan.name,
            target=plan.target,
            plan_end=plan.end_time,
            offering_id=chosen.offering_id,
            duration_hours=chosen.duration_hours,
            fee=chosen.upfront_fee,
            reason=reason,
            created_at=self.now,
            expires_at=deadline,
            policy=rules.name,
        )
        needs = two_person.requirement(proposal, rules.approval)
        if needs is not None:  # written first: a proposal must never lack its requirement
            two_person.save(self.journal, proposal.proposal_id, needs)
        if not self.journal.add_proposal(proposal):
            return None
        self._live[plan.arn] = proposal
        self._handled.add(proposal.proposal_id)
        self.events.append("created")
        log.info(
            "proposal_created",
            proposal_id=proposal.proposal_id,
            offering_id=chosen.offering_id,
            duration_hours=chosen.duration_hours,
            upfront_fee=str(chosen.upfront_fee.amount),
            currency=chosen.upfront_fee.currency,
            expires_at=iso(deadline),
        )
        return proposal

    def _transition(
        self,
        proposal: Proposal,
        expected: frozenset[ProposalState],
        to: ProposalState,
        by: str,
        note: str,
    ) -> Proposal | None:
        updated = self.journal.transition_proposal(
            proposal.proposal_id, expected, to, by, note, self.now
        )
        if updated is None:
            return None
        if updated.live:
            self._live[updated.plan_arn] = updated
        else:
            self._live.pop(updated.plan_arn, None)
        return updated

    def _close(self, proposal: Proposal, to: ProposalState, why: str, log: Any) -> Proposal | None:
        if self.dry_run:
            return proposal
        closed = self._transition(proposal, LIVE, to, "plan-watcher", why)
        if closed is not None:
            self.closed.append(closed)
            self.events.append(to.value)
            log.info(f"proposal_{to.value}", proposal_id=proposal.proposal_id, reason=why)
        return closed

    def _read_tags(
        self, live: Proposal, plan: Plan, gateway: SageMakerGateway, log: Any, two: bool
    ) -> Proposal | None:
        """Act on the plan's approve/reject tag for `live`; None when it was rejected. An
        approve tag does not count when `two` people must approve (it names nobody)."""
        action = take_tags(gateway, plan.arn, live.proposal_id, log)
        if action == "reject":
            rejected = self._transition(
                live, LIVE, ProposalState.REJECTED, "tag", f"tag {REJECT_TAG}"
            )
            if rejected is None:
                return live
            self.closed.append(rejected)
            self._rejected[(rejected.plan_arn, rejected.plan_end)] = rejected
            log.info("proposal_rejected", proposal_id=live.proposal_id, by="tag")
            self.events.append("rejected")
            return None
        if action == "approve" and two:
            log.warning("proposal_tag_not_counted", proposal_id=live.proposal_id)
        elif action == "approve" and live.state is ProposalState.PENDING:
            approved = self._transition(
                live, PENDING, ProposalState.APPROVED, "tag", f"tag {APPROVE_TAG}"
            )
            if approved is not None:
                log.info("proposal_approved", proposal_id=live.proposal_id, by="tag")
                self.events.append("approved")
                return approved
        return live
