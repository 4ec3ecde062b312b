"""The decision a plan reports, derived from the core's decision and what the shell did with
it (watcher/act/outcome.py): one row per step, and the chains the cycle makes of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from watcher.act.outcome import Did, Done, reported
from watcher.model import Decision, DecisionKind, ExtensionOffering, Money

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFER = ExtensionOffering(
    offering_id="tpeo-1",
    plan_arn="arn:plan",
    availability_zone="us-east-1a",
    start=NOW,
    end=NOW + timedelta(days=1),
    duration_hours=24,
    upfront_fee=Money(Decimal("9438.72"), "USD"),
)
CORE = Decision("arn:plan", DecisionKind.EXTENDED, "chose tpeo-1; buying it", chosen=OFFER)
K = DecisionKind

#: step -> (reported kind, reported reason, the offering still chosen)
TABLE = [
    (Done(Did.NOTED, "spend unknown: x"), K.EXTENDED, f"{CORE.reason}; spend unknown: x", True),
    (Done(Did.NOTED), K.EXTENDED, CORE.reason, True),
    (
        Done(Did.REFUSED, "proposal p-1 was rejected"),
        K.NO_OFFERING,
        "proposal p-1 was rejected",
        False,
    ),
    (
        Done(Did.EXPIRED, "proposal p-1 expired: late"),
        K.EXPIRED,
        "proposal p-1 expired: late",
        False,
    ),
    (
        Done(Did.DEFECT, "the decision has no deadline"),
        K.ERROR,
        "not bought: the decision has no deadline (a defect; please report it)",
        False,
    ),
    (Done(Did.DRY_RUN, "dry-run: would buy"), K.WOULD_EXTEND, "dry-run: would buy", True),
    (
        Done(Did.APPROVED, "buying under proposal p-1, approved by cli:alice"),
        K.EXTENDED,
        f"buying under proposal p-1, approved by cli:alice: {CORE.reason}",
        True,
    ),
    (
        Done(Did.WINDOW, "proposal p-1 approved by cli:alice; it waits", until=NOW),
        K.NOT_DUE,
        f"proposal p-1 approved by cli:alice; it waits: {CORE.reason}",
        True,
    ),
    (
        Done(Did.HELD, "paused by bob"),
        K.WOULD_EXTEND,
        f"{CORE.reason}; not bought: paused by bob",
        True,
    ),
    (
        Done(Did.BACKOFF, "next try at 10:00"),
        K.ERROR,
        f"the last purchase for this plan failed; next try at 10:00; then: {CORE.reason}",
        True,
    ),
    (
        Done(Did.BOUGHT, "extension bought", "tpeo-1"),
        K.EXTENDED,
        f"bought tpeo-1: {CORE.reason}",
        True,
    ),
    (
        Done(Did.FAILED, "ValidationException: no", "tpeo-1"),
        K.ERROR,
        "purchase of tpeo-1 failed: ValidationException: no",
        True,
    ),
    (
        Done(Did.UNSETTLED, "outcome unknown", "tpeo-1"),
        K.IN_FLIGHT,
        "purchase of tpeo-1: outcome unknown; nothing more is bought for this plan until AWS's "
        "record settles it",
        True,
    ),
]


def test_every_step_is_in_the_table() -> None:
    assert {row[0].did for row in TABLE} == set(Did)


@pytest.mark.parametrize(("step", "kind", "reason", "chosen"), TABLE, ids=lambda v: str(v)[:30])
def test_one_step(step: Done, kind: DecisionKind, reason: str, chosen: bool) -> None:
    shown = reported(CORE, (step,))
    assert (shown.kind, shown.reason) == (kind, reason)
    assert (shown.chosen is OFFER) is chosen
    assert CORE.reason == "chose tpeo-1; buying it"  # the core's decision is not touched


def test_no_step_reports_the_core_decision_itself() -> None:
    assert reported(CORE, ()) is CORE


def test_steps_apply_in_order() -> None:
    """A purchase under an approved proposal, with an offering that could not be read."""
    steps = (
        Done(Did.NOTED, "unreadable offerings left out: tpeo-x: no fee"),
        Done(Did.APPROVED, "buying under proposal p-1, approved by tag"),
        Done(Did.BOUGHT, "extension bought", "tpeo-1"),
    )
    shown = reported(CORE, steps)
    assert shown.kind is K.EXTENDED
    assert shown.reason == (
        "bought tpeo-1: buying under proposal p-1, approved by tag: chose tpeo-1; buying it; "
        "unreadable offerings left out: tpeo-x: no fee"
    )


def test_a_purchase_waiting_for_a_window_says_until_when() -> None:
    shown = reported(CORE, (Done(Did.WINDOW, "it waits", until=NOW + timedelta(hours=5)),))
    assert shown.window_hold and shown.next_action == NOW + timedelta(hours=5)
