"""Preferred purchase windows in the pure core: when a window is open, when the next opens
(across time zones and daylight-saving jumps), and whether a due plan waits for one or is
bought at the last safe cycle because waiting would pass its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.core_path import decided
from tests.unit.strategies import instants
from watcher.decide import PolicyRules
from watcher.decide.purchase_windows import (
    PurchaseWindow,
    hold,
    is_open,
    last_safe_cycle,
    next_opening,
)
from watcher.model import (
    Consumer,
    ConsumerKind,
    DecisionKind,
    ExtensionOffering,
    Money,
    Plan,
    PlanStatus,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = frozenset(range(5))
OFFICE = PurchaseWindow(WEEKDAYS, time(9), time(17), BERLIN, "mon-fri 09:00-17:00 Europe/Berlin")
POLL = timedelta(minutes=5, seconds=30)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_in_local_office_hours_across_daylight_saving() -> None:
    # Monday 2 March 2026: Berlin is UTC+1; Monday 30 March: UTC+2.
    assert is_open([OFFICE], utc(2026, 3, 2, 8, 0))
    assert not is_open([OFFICE], utc(2026, 3, 2, 7, 59))
    assert not is_open([OFFICE], utc(2026, 3, 2, 16, 0))  # 17:00 in Berlin: closed
    assert is_open([OFFICE], utc(2026, 3, 30, 7, 0))
    assert not is_open([OFFICE], utc(2026, 3, 28, 10, 0))  # a Saturday
    assert is_open([], utc(2026, 3, 28, 10, 0))  # no windows: always open


def test_the_next_opening_is_the_next_local_office_morning() -> None:
    friday_evening = utc(2026, 3, 27, 17, 0)
    assert next_opening([OFFICE], friday_evening) == utc(2026, 3, 30, 7, 0)  # Monday, UTC+2
    assert next_opening([OFFICE], utc(2026, 3, 2, 6, 0)) == utc(2026, 3, 2, 8, 0)


def test_an_opening_hour_skipped_by_daylight_saving_opens_after_the_jump() -> None:
    # Sunday 29 March 2026, Berlin jumps from 02:00 to 03:00.
    night = PurchaseWindow(frozenset({6}), time(2, 30), time(5), BERLIN)
    opening = next_opening([night], utc(2026, 3, 28, 12, 0))
    assert opening is not None and is_open([night], opening)
    assert utc(2026, 3, 29, 1, 0) <= opening <= utc(2026, 3, 29, 1, 31)
    lost = PurchaseWindow(frozenset({6}), time(2), time(3), BERLIN)
    assert next_opening([lost], utc(2026, 3, 28, 12, 0)) == utc(2026, 4, 5, 0, 0)


def test_a_due_plan_waits_for_a_window_that_opens_before_the_last_safe_cycle() -> None:
    now = utc(2026, 3, 27, 17, 0)  # Friday evening
    deadline = utc(2026, 3, 31, 9, 30)
    waiting = hold([OFFICE], now, deadline, POLL)
    assert waiting is not None and waiting.until == utc(2026, 3, 30, 7, 0)
    assert "waits until the next one opens at 2026-03-30T07:00:00Z" in waiting.reason
    # The poll's seconds count: 09:30:00 less 5m 30s is the 09:24:30 named.
    assert "last safe cycle 2026-03-31T09:24:30Z (deadline 2026-03-31T09:30:00Z - one poll " in (
        waiting.reason
    )
    assert "one poll 5m 30s)" in waiting.reason


def test_a_window_after_the_last_safe_cycle_is_not_waited_for() -> None:
    now = utc(2026, 3, 27, 17, 0)
    # The next opening is Monday 07:00 UTC; the deadline is one poll minus a second after it.
    deadline = utc(2026, 3, 30, 7, 0) + POLL - timedelta(seconds=1)
    waiting = hold([OFFICE], now, deadline, POLL)
    assert waiting is not None and waiting.until == last_safe_cycle(deadline, POLL)
    assert waiting.until < utc(2026, 3, 30, 7, 0)
    assert "buys outside the windows rather than miss the deadline" in waiting.reason
    # At the last safe cycle (and after it) nothing waits any more.
    assert hold([OFFICE], waiting.until, deadline, POLL) is None
    assert hold([OFFICE], deadline - timedelta(seconds=1), deadline, POLL) is None
    # With the deadline one poll after the opening, the window is just in time.
    just = hold([OFFICE], now, utc(2026, 3, 30, 7, 0) + POLL, POLL)
    assert just is not None and just.until == utc(2026, 3, 30, 7, 0)


WINDOWS = st.lists(
    st.builds(
        lambda days, start, length, zone: PurchaseWindow(
            frozenset(days),
            time(start // 60, start % 60),
            None
            if start + length >= 24 * 60
            else time((start + length) // 60, (start + length) % 60),
            ZoneInfo(zone),
        ),
        st.sets(st.integers(0, 6), min_size=1),
        st.integers(0, 24 * 60 - 1),
        st.integers(10, 24 * 60),
        st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    ),
    min_size=1,
    max_size=3,
)


@given(
    windows=WINDOWS,
    now=instants(),
    ahead=st.integers(0, 14 * 24 * 60),
    poll_minutes=st.integers(1, 120),
)
def test_the_deadline_always_wins(
    windows: list[PurchaseWindow], now: datetime, ahead: int, poll_minutes: int
) -> None:
    deadline = now + timedelta(minutes=ahead)
    poll = timedelta(minutes=poll_minutes)
    waiting = hold(windows, now, deadline, poll)
    if waiting is None:
        # Bought now: inside a window, or at the last safe cycle or later.
        assert is_open(windows, now) or now >= deadline - poll
        return
    assert not is_open(windows, now)
    # Never waits past the last safe cycle, and always waits for something in the future.
    assert now < waiting.until <= deadline - poll
    # Waits either for an opening window or until the last safe cycle.
    assert is_open(windows, waiting.until) or waiting.until == deadline - poll


@given(windows=WINDOWS, now=instants())
def test_the_next_opening_is_open_and_nothing_before_it_is(
    windows: list[PurchaseWindow], now: datetime
) -> None:
    opening = next_opening(windows, now)
    if is_open(windows, now) or opening is None:
        return
    assert opening > now and is_open(windows, opening)
    # Probe the minutes between: a window open earlier would have been the answer.
    probe = now + timedelta(minutes=1)
    step = max(timedelta(minutes=1), (opening - now) / 50)
    while probe < opening - timedelta(minutes=1):
        assert not is_open(windows, probe), probe
        probe += step


# --- through the decision -------------------------------------------------------------------

END = utc(2026, 3, 31, 11, 30)
PLAN = Plan(
    "arn:plan/a",
    "llm-a",
    "prod",
    PlanStatus.ACTIVE,
    None,
    END,
    upfront_fee=Money.parse("1.00 USD"),
    availability_zones=("us-east-1a",),
)
JOB = Consumer(
    ConsumerKind.JOB, "run", "arn:job/run", PLAN.arn, "InProgress", END + timedelta(hours=20)
)
OFFER = ExtensionOffering(
    "tpeo-a", PLAN.arn, "us-east-1a", END, END + timedelta(days=1), 24, Money.parse("900.00 USD")
)
RULES = PolicyRules(name="llm", purchase_windows=(OFFICE,), poll=POLL)


def _decide(now: datetime, rules: PolicyRules = RULES, consumers: tuple[Consumer, ...] = (JOB,)):  # type: ignore[no-untyped-def]
    return decided(PLAN, rules, [], False, consumers, [OFFER], [], now, "enforce")


def test_the_decision_waits_as_not_due_then_buys_in_the_window() -> None:
    waiting = _decide(utc(2026, 3, 29, 10, 0))  # Sunday, the plan due since Saturday
    assert waiting.kind is DecisionKind.NOT_DUE and waiting.window_hold
    assert waiting.next_action == utc(2026, 3, 30, 7, 0)
    assert waiting.need_hours == 24 and waiting.chosen is None
    bought = _decide(utc(2026, 3, 30, 7, 0))
    assert bought.kind is DecisionKind.EXTENDED and "outside" not in bought.reason


def test_at_the_last_safe_cycle_it_buys_outside_the_windows_and_says_so() -> None:
    weekend = PurchaseWindow(frozenset({5, 6}), time(9), time(17), BERLIN)
    rules = PolicyRules(name="llm", purchase_windows=(weekend,), poll=POLL)
    deadline = END - timedelta(hours=2)  # Tuesday 09:30 UTC; the next weekend is later
    early = _decide(utc(2026, 3, 30, 8, 0), rules)
    assert early.kind is DecisionKind.NOT_DUE and early.next_action == deadline - POLL
    late = _decide(deadline - POLL, rules)
    assert late.kind is DecisionKind.EXTENDED
    assert "outside the policy's purchase windows" in late.reason
    assert "this is the last safe cycle before the deadline 2026-03-31T09:30:00Z" in late.reason


def test_a_plan_that_needs_nothing_is_not_reported_as_waiting() -> None:
    covered = Consumer(
        ConsumerKind.JOB, "short", "arn:job/s", PLAN.arn, "InProgress", END - timedelta(hours=3)
    )
    decision = _decide(utc(2026, 3, 29, 10, 0), consumers=(covered,))
    assert decision.kind is DecisionKind.DEMAND_COVERED and not decision.window_hold
