"""Two approvers above a fee (`approval.two_person_above`): who counts, and when a proposal
is approved.

An approver is a name `plan-watcher approve` records: `cli:<USER>`. Two approvals count as
two people when their names differ (compared case-insensitively). A tag approval carries no
name (ListTags does not say who set the tag), and neither does `cli:unknown` (no USER in the
environment): such an approval cannot be told apart from anyone, so it never counts towards
two. Below the threshold, one approval of any kind is enough, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from watcher.decide.rules import ApprovalRules
from watcher.model import Money

CLI_PREFIX = "cli:"
_UNNAMED = frozenset({"", "unknown"})


class Added(StrEnum):
    FIRST = "first"  # recorded; another person must approve too
    ENOUGH = "enough"  # this approval completes what is needed: approve the proposal
    SAME = "same"  # this person already approved: refused
    UNNAMED = "unnamed"  # an approver without a name cannot be one of two: refused


def approvals_needed(fee: Money, rules: ApprovalRules) -> int:
    """2 when the fee is above `two_person_above` (a fee in another currency than the
    threshold cannot be compared and needs two as well), else 1."""
    above = rules.two_person_above
    if above is None:
        return 1
    if fee.currency != above.currency:
        return 2
    return 2 if fee.amount > above.amount else 1


def person(approver: str) -> str | None:
    """The person behind an approval, for comparing; None when it has no usable name."""
    if not approver.startswith(CLI_PREFIX):
        return None
    name = approver[len(CLI_PREFIX) :].strip().casefold()
    return None if name in _UNNAMED else name


def people(approvers: Sequence[str]) -> list[str]:
    """The distinct named people among `approvers`, in the order they first approved."""
    seen: list[str] = []
    for approver in approvers:
        who = person(approver)
        if who is not None and who not in seen:
            seen.append(who)
    return seen


def satisfied(approvers: Sequence[str], needed: int) -> bool:
    """True when `approvers` include `needed` distinct named people (one approval of any kind
    is enough when one is needed)."""
    if needed <= 1:
        return bool(approvers)
    return len(people(approvers)) >= needed


def add(approvers: Sequence[str], by: str, needed: int) -> Added:
    """What one more approval by `by` does to a proposal that needs `needed` people."""
    who = person(by)
    if who is None:
        return Added.UNNAMED
    if who in people(approvers):
        return Added.SAME
    return Added.ENOUGH if satisfied([*approvers, by], needed) else Added.FIRST
