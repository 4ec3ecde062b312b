"""Rules that relate several keys. They run once every section has the right shape."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from watcher.config.errors import ConfigIssue
from watcher.config.values import format_duration

if TYPE_CHECKING:
    from watcher.config.models import Config, Policy


def cross_check(config: Config) -> list[ConfigIssue]:
    """Every cross-field problem in `config`, each at the path of the key to change."""
    issues: list[ConfigIssue] = []
    issues += _duplicates("targets", (target.name for target in config.targets))
    issues += _duplicates("policies", (policy.name for policy in config.policies))
    issues += _duplicates("budgets", (budget.name for budget in config.budgets))
    if config.poll.jitter >= config.poll.interval:
        issues.append(
            ConfigIssue(
                "poll.jitter",
                f"must be shorter than poll.interval ({format_duration(config.poll.interval)})",
            )
        )
    for i, target in enumerate(config.targets):
        if target.external_id is not None and target.role_arn is None:
            issues.append(
                ConfigIssue(f"targets[{i}].external_id", "is only used with role_arn; set both")
            )
    target_names = {target.name for target in config.targets}
    cycle = config.poll.interval + config.poll.jitter
    catch_all: int | None = None
    for i, policy in enumerate(config.policies):
        issues += _check_policy(f"policies[{i}]", policy, target_names, cycle)
        if catch_all is not None:
            first = config.policies[catch_all].name
            issues.append(
                ConfigIssue(
                    f"policies[{i}].match",
                    f"unreachable: policies[{catch_all}] ({first!r}) matches every plan first",
                )
            )
        elif _matches_everything(policy):
            catch_all = i
    lease = config.state.lease
    if lease.renew_every >= lease.duration:
        issues.append(
            ConfigIssue(
                "state.lease.renew_every",
                f"must be shorter than state.lease.duration ({format_duration(lease.duration)})",
            )
        )
    hook = config.notifications.webhook
    if hook is not None and hook.token_in_clear:
        issues.append(
            ConfigIssue(
                "notifications.webhook.url",
                "http:// would send the token (token_env) in clear text: use https://, "
                "or http:// only to a loopback address",
            )
        )
    policies = {policy.name: policy for policy in config.policies}
    for i, budget in enumerate(config.budgets):
        for j, name in enumerate(budget.policies or ()):
            if name not in policies:
                issues.append(
                    ConfigIssue(f"budgets[{i}].policies[{j}]", f"no policy is named {name!r}")
                )
        for policy in config.policies:
            currency = policy.extension.currency
            if budget.covers(policy.name) and currency not in (None, budget.limit.currency):
                issues.append(
                    ConfigIssue(
                        f"budgets[{i}].limit",
                        f"is in {budget.limit.currency} but covers policy {policy.name!r} "
                        f"whose fee caps are in {currency}",
                    )
                )
    issues += _limit_currencies(config)
    return issues


def _limit_currencies(config: Config) -> list[ConfigIssue]:
    """A spend limit covers every purchase, so it must be in the currency of every fee cap."""
    issues = []
    limits = config.safety.limits
    for key, limit in (
        ("spend_per_cycle", limits.spend_per_cycle),
        ("spend_per_24h", limits.spend_per_24h),
    ):
        if limit is None:
            continue
        for policy in config.policies:
            currency = policy.extension.currency
            if currency not in (None, limit.currency):
                issues.append(
                    ConfigIssue(
                        f"safety.limits.{key}",
                        f"is in {limit.currency} but policy {policy.name!r} caps fees in "
                        f"{currency}; a limit never adds two currencies",
                    )
                )
                break
    return issues


def _duplicates(section: str, names: Iterable[str]) -> list[ConfigIssue]:
    first: dict[str, int] = {}
    issues = []
    for i, name in enumerate(names):
        if name in first:
            issues.append(
                ConfigIssue(
                    f"{section}[{i}].name",
                    f"duplicate name {name!r} (also {section}[{first[name]}])",
                )
            )
        else:
            first[name] = i
    return issues


def _matches_everything(policy: Policy) -> bool:
    match = policy.match
    return "*" in match.names and not match.tags and not match.targets


def _check_policy(
    path: str, policy: Policy, target_names: set[str], cycle: timedelta
) -> list[ConfigIssue]:
    issues = []
    for j, name in enumerate(policy.match.targets):
        if name not in target_names:
            known = ", ".join(sorted(target_names))
            issues.append(
                ConfigIssue(
                    f"{path}.match.targets[{j}]", f"no target is named {name!r} (known: {known})"
                )
            )
    rules = policy.extension
    if rules.min_duration > rules.max_duration:
        issues.append(
            ConfigIssue(
                f"{path}.extension.min_duration",
                f"{format_duration(rules.min_duration)} is longer than max_duration "
                f"({format_duration(rules.max_duration)})",
            )
        )
    margin = policy.effective_safety_margin
    if policy.extend_before <= margin:
        issues.append(
            ConfigIssue(
                f"{path}.extend_before",
                f"must be longer than the effective safety margin max(1h, safety_margin) = "
                f"{format_duration(margin)}, or the plan is never due before its deadline",
            )
        )
    elif policy.extend_before - margin <= cycle:
        issues.append(
            ConfigIssue(
                f"{path}.extend_before",
                f"leaves {format_duration(policy.extend_before - margin)} between the window "
                f"opening and the deadline, not more than one poll "
                f"(interval + jitter = {format_duration(cycle)}): a plan could be missed",
            )
        )
    caps = [
        (key, cap)
        for key, cap in (
            ("max_upfront_fee", rules.max_upfront_fee),
            ("max_fee_per_hour", rules.max_fee_per_hour),
        )
        if cap is not None
    ]
    if len(caps) == 2 and caps[0][1].currency != caps[1][1].currency:
        issues.append(
            ConfigIssue(
                f"{path}.extension.{caps[1][0]}",
                f"is in {caps[1][1].currency} but {caps[0][0]} is in {caps[0][1].currency}",
            )
        )
    for j, window in enumerate(policy.purchase_windows):
        if window.length < cycle:
            issues.append(
                ConfigIssue(
                    f"{path}.purchase_windows[{j}].hours",
                    f"{window.hours} is open {format_duration(window.length)}, less than one "
                    f"poll (interval + jitter = {format_duration(cycle)}): a cycle might never "
                    "fall inside it, so it might never open for a purchase",
                )
            )
    two = policy.approval.two_person_above
    if two is not None and caps and two.currency != caps[0][1].currency:
        issues.append(
            ConfigIssue(
                f"{path}.approval.two_person_above",
                f"is in {two.currency} but {caps[0][0]} is in {caps[0][1].currency}",
            )
        )
    auto_below = policy.approval.auto_approve_below
    if (
        two is not None
        and auto_below is not None
        and auto_below.currency == two.currency
        and auto_below.amount > two.amount
    ):
        issues.append(
            ConfigIssue(
                f"{path}.approval.auto_approve_below",
                f"{auto_below} is above two_person_above {two}: what needs two people is "
                "never approved automatically, so lower it to at most that",
            )
        )
    auto = policy.approval.auto_approve_below
    if auto is not None and caps and auto.currency != caps[0][1].currency:
        issues.append(
            ConfigIssue(
                f"{path}.approval.auto_approve_below",
                f"is in {auto.currency} but {caps[0][0]} is in {caps[0][1].currency}",
            )
        )
    return issues
