"""The config as the pure core's inputs: the matched policy as `PolicyRules`, `safety.limits`
as `LimitRules`."""

from __future__ import annotations

from datetime import timedelta

from watcher.config.models import Config, Policy
from watcher.decide import ApprovalRules, PolicyRules
from watcher.decide.limits import LimitRules


def rules_for(
    policy: Policy | None, poll: timedelta | None = None, retry_backoff: timedelta | None = None
) -> PolicyRules | None:
    """The matched policy as the core's rules; `poll` is the longest gap between two cycles
    (interval + jitter), `retry_backoff` the wait after a failed purchase (`safety`)."""
    if policy is None:
        return None
    ext = policy.extension
    return PolicyRules(
        name=policy.name,
        action=policy.action,
        extend_before=policy.extend_before,
        safety_margin=policy.safety_margin,
        require_demand=policy.require_demand,
        min_duration=ext.min_duration,
        max_duration=ext.max_duration,
        prefer=ext.prefer,
        max_upfront_fee=ext.max_upfront_fee,
        max_fee_per_hour=ext.max_fee_per_hour,
        same_availability_zone=ext.same_availability_zone,
        max_extensions=policy.max_extensions,
        on_unattributed_use=policy.on_unattributed_use,
        approval=ApprovalRules(
            fee_tolerance=policy.approval.fee_tolerance,
            auto_approve_below=policy.approval.auto_approve_below,
            auto_approve_within=policy.approval.auto_approve_within,
            by_tag=policy.approval.by_tag,
            two_person_above=policy.approval.two_person_above,
        ),
        purchase_windows=tuple(w.window() for w in policy.purchase_windows),
        poll=poll if poll is not None else PolicyRules.poll,
        retry_backoff=retry_backoff if retry_backoff is not None else PolicyRules.retry_backoff,
    )


def needs_tags(config: Config) -> bool:
    """Whether plans' tags must be read: a policy matches on them or metrics carry them."""
    return bool(config.metrics.plan_labels_from_tags) or any(p.match.tags for p in config.policies)


def limit_rules(config: Config) -> LimitRules:
    limits = config.safety.limits
    return LimitRules(
        purchases_per_cycle=limits.purchases_per_cycle,
        spend_per_cycle=limits.spend_per_cycle,
        purchases_per_24h=limits.purchases_per_24h,
        spend_per_24h=limits.spend_per_24h,
    )
