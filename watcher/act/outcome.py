"""What the shell did with the core's decision, and the decision every output reports.

The core's `Decision` is kept as it came out of `choose` or `triage`. Whatever happened to it
afterwards (an offering or a budget's spend could not be read, the proposal flow took a step, a
valve held the purchase, the plan is backing off, the purchase's result) is recorded as a
`Done` beside it, and `reported` derives the decision and reason that JSON, metrics, logs and
notices show from the pair, in this one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from watcher.model import Decision
from watcher.model import DecisionKind as Kind


class Did(StrEnum):
    """One thing the shell did after the core decided, and how it changes what is reported."""

    NOTED = "noted"  # kind kept: "{reason}; {text}" (nothing added when text is empty)
    REFUSED = "refused"  # a proposal was rejected: no_offering, nothing chosen; the text
    EXPIRED = "expired"  # a proposal failed closed at its deadline: expired, nothing chosen
    DEFECT = "defect"  # an impossible state before a purchase: error, nothing chosen
    DRY_RUN = "dry_run"  # an approved proposal in dry-run: would_extend; the text
    APPROVED = "approved"  # buying under an approved proposal: extended; "{text}: {reason}"
    WINDOW = "window"  # an approved proposal waits for a purchase window: not_due until then
    HELD = "held"  # the gate or a valve held the purchase: would_extend, "not bought: {text}"
    BACKOFF = "backoff"  # the plan backs off after a failed purchase: error
    BOUGHT = "bought"  # the purchase succeeded
    FAILED = "failed"  # the purchase failed: error
    UNSETTLED = "unsettled"  # the purchase's outcome is not known here: in_flight until AWS's
    # record settles it


@dataclass(frozen=True)
class Done:
    did: Did
    #: What the step says (a note, a proposal's story, the valve's or the purchase's detail).
    text: str = ""
    #: The offering a purchase step was about.
    offering: str = ""
    #: When a waiting step's plan is looked at again (`next_action`).
    until: datetime | None = None


#: The steps taken after the core decided, in order.
Outcome = tuple[Done, ...]


def reported(decision: Decision, outcome: Sequence[Done]) -> Decision:
    """The decision to report for the core's `decision` after the shell's `outcome`."""
    for step in outcome:
        text, reason = step.text, decision.reason
        match step.did:
            case Did.NOTED:
                decision = replace(decision, reason=f"{reason}; {text}" if text else reason)
            case Did.REFUSED:
                decision = replace(decision, kind=Kind.NO_OFFERING, chosen=None, reason=text)
            case Did.EXPIRED:
                decision = replace(decision, kind=Kind.EXPIRED, chosen=None, reason=text)
            case Did.DEFECT:
                why = f"not bought: {text} (a defect; please report it)"
                decision = replace(decision, kind=Kind.ERROR, chosen=None, reason=why)
            case Did.DRY_RUN:
                decision = replace(decision, kind=Kind.WOULD_EXTEND, reason=text)
            case Did.APPROVED:
                decision = replace(decision, kind=Kind.EXTENDED, reason=f"{text}: {reason}")
            case Did.WINDOW:
                decision = replace(
                    decision,
                    kind=Kind.NOT_DUE,
                    reason=f"{text}: {reason}",
                    next_action=step.until,
                    window_hold=True,
                )
            case Did.HELD:
                decision = replace(
                    decision, kind=Kind.WOULD_EXTEND, reason=f"{reason}; not bought: {text}"
                )
            case Did.BACKOFF:
                why = f"the last purchase for this plan failed; {text}; then: {reason}"
                decision = replace(decision, kind=Kind.ERROR, reason=why)
            case Did.BOUGHT:
                decision = replace(decision, reason=f"bought {step.offering}: {reason}")
            case Did.FAILED:
                why = f"purchase of {step.offering} failed: {text}"
                decision = replace(decision, kind=Kind.ERROR, reason=why)
            case Did.UNSETTLED:
                why = (
                    f"purchase of {step.offering}: {text}; nothing more is bought for this plan "
                    "until AWS's record settles it"
                )
                decision = replace(decision, kind=Kind.IN_FLIGHT, reason=why)
            case unknown:
                assert_never(unknown)
    return decision
