"""Two approvers above a fee, in the pure core: which proposals need two people, who counts as
a person, and that one person (however spelled) or a nameless approval never makes two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from watcher.decide import ApprovalRules
from watcher.decide.approval import Offer, auto_approves
from watcher.decide.two_person import Added, add, approvals_needed, people, person, satisfied
from watcher.model import Money

RULES = ApprovalRules(two_person_above=Money.parse("50000.00 USD"))


def test_only_fees_above_the_threshold_need_two() -> None:
    assert approvals_needed(Money.parse("50000.00 USD"), RULES) == 1
    assert approvals_needed(Money.parse("50000.01 USD"), RULES) == 2
    assert approvals_needed(Money.parse("1.00 EUR"), RULES) == 2  # cannot compare: two
    assert approvals_needed(Money.parse("999999.00 USD"), ApprovalRules()) == 1


def test_who_counts_as_a_person() -> None:
    assert person("cli:Alice") == "alice"
    assert person("cli:unknown") is None  # no USER: nameless
    assert person("tag") is None  # ListTags does not say who set it
    assert person("auto:below 10000.00 USD") is None
    assert people(["cli:alice", "tag", "cli:ALICE", "cli:bob"]) == ["alice", "bob"]


def test_adding_approvals() -> None:
    assert add([], "cli:alice", 2) is Added.FIRST
    assert add(["cli:alice"], "cli:Alice", 2) is Added.SAME
    assert add(["cli:alice"], "cli:bob", 2) is Added.ENOUGH
    assert add(["tag"], "cli:bob", 2) is Added.FIRST  # the tag never counted
    assert add(["cli:alice"], "cli:unknown", 2) is Added.UNNAMED
    assert add([], "tag", 2) is Added.UNNAMED
    assert add([], "cli:alice", 1) is Added.ENOUGH


NAMES = st.sampled_from(["alice", "Alice", "ALICE", " alice", "bob", "unknown", ""])


@given(st.lists(st.one_of(NAMES.map(lambda n: "cli:" + n), st.just("tag")), max_size=8))
def test_two_approvals_mean_two_different_named_people(approvers: list[str]) -> None:
    names = {a[4:].strip().casefold() for a in approvers if a.startswith("cli:")}
    named = names - {"", "unknown"}
    assert satisfied(approvers, 2) is (len(named) >= 2)


def test_what_needs_two_people_is_never_approved_automatically() -> None:
    rules = ApprovalRules(
        auto_approve_below=Money.parse("80000.00 USD"),
        two_person_above=Money.parse("50000.00 USD"),
    )
    deadline = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    near = deadline - timedelta(hours=1)
    assert auto_approves(Offer(Money(Decimal("40000.00"), "USD"), 24), deadline, near, rules)
    assert not auto_approves(Offer(Money(Decimal("60000.00"), "USD"), 24), deadline, near, rules)
