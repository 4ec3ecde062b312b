"""Why and on whose word a purchase was made, kept for the finance record (`history`).

Written to the journal's settings right after `ExtendTrainingPlan` returned (bought, or with
an unknown outcome), keyed by offering ID: the policy, who or what approved it, and the
decision's reason. The intent itself was journalled before the call, as every purchase is;
this note is the narrative beside it. Writing it is best effort: a journal that fails here
costs the note, never the purchase (the history row then says "not recorded").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from watcher.act import two_person
from watcher.journal.records import Intent, Journal, Proposal

KEY_PREFIX = "purchase:"


@dataclass(frozen=True)
class PurchaseNote:
    offering_id: str
    plan_arn: str
    policy: str
    approved_by: str
    reason: str


def approvers(journal: Journal, proposal: Proposal | None, policy: str) -> str:
    """Who or what approved a purchase: the policy itself (`action: extend`), or the
    proposal's approvers (`cli:alice; cli:bob`, `tag`, `auto:below ...`)."""
    if proposal is None:
        return f"policy {policy} (automatic)"
    record = two_person.load(journal, proposal.proposal_id)
    if record is not None and record.given:
        names = [by for by, _ in record.given]
        if proposal.decided_by and proposal.decided_by not in names:
            names.append(proposal.decided_by)
        return "; ".join(names)
    return proposal.decided_by or "unknown"


def note_purchase(
    journal: Journal,
    intent: Intent,
    policy: str,
    reason: str,
    proposal: Proposal | None,
    log: Any,
) -> None:
    """Keep the note of a purchase just made (or maybe made)."""
    try:
        note = {
            "plan_arn": intent.plan_arn,
            "policy": policy,
            "approved_by": approvers(journal, proposal, policy),
            "reason": reason,
        }
        journal.set_setting(KEY_PREFIX + intent.offering_id, json.dumps(note))
    except Exception as exc:  # the purchase stands; only its note is lost
        log.warning("purchase_note_not_written", offering_id=intent.offering_id, error=str(exc))


def load_note(journal: Journal, offering_id: str) -> PurchaseNote | None:
    raw = journal.get_setting(KEY_PREFIX + offering_id)
    if raw is None:
        return None
    data = json.loads(raw)
    return PurchaseNote(
        offering_id,
        str(data.get("plan_arn", "")),
        str(data.get("policy", "")),
        str(data.get("approved_by", "")),
        str(data.get("reason", "")),
    )
