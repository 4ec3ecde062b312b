"""Approval through AWS: the tags `plan-watcher/approve=ID` and `plan-watcher/reject=ID` on a
training plan. Tagging goes through IAM and CloudTrail, so approving needs no login of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from watcher.aws.errors import AwsError
from watcher.aws.sagemaker import SageMakerGateway

APPROVE_TAG = "plan-watcher/approve"
REJECT_TAG = "plan-watcher/reject"

TagAction = Literal["approve", "reject"]


def how_to_approve(proposal_id: str, by_tag: bool = True) -> str:
    if not by_tag:
        return (
            f"approve with `plan-watcher approve {proposal_id}`, reject with "
            f"`plan-watcher reject {proposal_id}` (this policy ignores approval tags)"
        )
    return (
        f"approve with `plan-watcher approve {proposal_id}` or the tag "
        f"{APPROVE_TAG}={proposal_id}; reject with `plan-watcher reject {proposal_id}` or "
        f"{REJECT_TAG}={proposal_id}"
    )


def take_tags(
    gateway: SageMakerGateway, plan_arn: str, proposal_id: str, log: Any
) -> TagAction | None:
    """Read the plan's approve/reject tags (fresh, never cached), remove every one found so
    none can act on a later proposal, and return what the tags say about `proposal_id`
    (reject wins over approve). A tag naming any other id is logged and removed."""
    try:
        tags = gateway.tags(plan_arn)
    except AwsError as exc:
        log.warning("proposal_tags_unreadable", proposal_id=proposal_id, error=str(exc))
        return None
    present = {k: v.strip() for k, v in tags.items() if k in (APPROVE_TAG, REJECT_TAG)}
    if not present:
        return None
    for key, value in sorted(present.items()):
        if value != proposal_id:
            log.warning(
                "proposal_tag_ignored",
                tag=f"{key}={value}",
                proposal_id=proposal_id,
                reason="the tag names no live proposal of this plan; it is removed",
            )
    try:
        gateway.delete_tags(plan_arn, sorted(present))
    except AwsError as exc:
        log.warning("proposal_tag_not_removed", tags=sorted(present), error=str(exc))
    if present.get(REJECT_TAG) == proposal_id:
        return "reject"
    if present.get(APPROVE_TAG) == proposal_id:
        return "approve"
    return None
