"""Preferred purchase windows in the pure core: when a window is open, when the next opens
(across time zones and daylight-saving jumps), and whether a due plan's purchase waits for one
or is made at the last safe cycle because waiting would pass its deadline (leaving room for a
retry); a window holds only the purchase, never the search, budgets, limits or proposal."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.core_path import decided
from tests.unit.strategies import instants
from watcher.decide import BudgetState, PolicyRules
from watcher.decide.backoff import retry_at
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
RETRY = timedelta(minutes=15)  # safety.retry_backoff's default


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
    waiting = hold([OFFICE], now, deadline, POLL, RETRY)
    assert waiting is not None and waiting.until == utc(2026, 3, 30, 7, 0)
    assert "waits until the next one opens at 2026-03-30T07:00:00Z" in waiting.reason
    # The poll's seconds count: 09:30:00 less three polls of 5m 30s and 15m is 08:58:30.
    assert (
        "the last safe cycle 2026-03-31T08:58:30Z (deadline 2026-03-31T09:30:00Z - three polls "
        "of 5m 30s - retry_backoff 15m, room for a retry)"
    ) in waiting.reason


def test_a_window_after_the_last_safe_cycle_is_not_waited_for() -> None:
    now = utc(2026, 3, 27, 17, 0)
    # The next opening is Monday 07:00 UTC; the last safe cycle a second before it.
    room = 3 * POLL + RETRY
    deadline = utc(2026, 3, 30, 7, 0) + room - timedelta(seconds=1)
    waiting = hold([OFFICE], now, deadline, POLL, RETRY)
    assert waiting is not None and waiting.until == last_safe_cycle(deadline, POLL, RETRY)
    assert waiting.until == utc(2026, 3, 30, 6, 59, 59)
    assert "is made outside the windows rather than miss the deadline" in waiting.reason
    # At the last safe cycle (and after it) nothing waits any more.
    assert hold([OFFICE], waiting.until, deadline, POLL, RETRY) is None
    assert hold([OFFICE], deadline - timedelta(seconds=1), deadline, POLL, RETRY) is None
    # With the last safe cycle at the opening, the window is just in time.
    just = hold([OFFICE], now, utc(2026, 3, 30, 7, 0) + room, POLL, RETRY)
    assert just is not None and just.until == utc(2026, 3, 30, 7, 0)


@given(
    poll_seconds=st.integers(1, 2 * 3600),
    retry_seconds=st.integers(60, 14 * 24 * 3600),
    late=st.floats(0, 1, exclude_max=True),
    failures=st.integers(1, 30),
)
def test_a_purchase_failing_at_the_last_safe_cycle_is_retried_before_the_deadline(
    poll_seconds: int, retry_seconds: int, late: float, failures: int
) -> None:
    # The first cycle from the last safe cycle on comes within one poll; its purchase fails;
    # the retry waits its backoff, and the cycle after comes within one more poll.
    poll, retry = timedelta(seconds=poll_seconds), timedelta(seconds=retry_seconds)
    deadline = utc(2026, 3, 31, 9, 30)
    failed_at = last_safe_cycle(deadline, poll, retry) + poll * late
    assert retry_at(retry, failures, failed_at, deadline) + poll < deadline


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
    retry_minutes=st.integers(1, 24 * 60),
)
def test_the_deadline_always_wins(
    windows: list[PurchaseWindow], now: datetime, ahead: int, poll_minutes: int, retry_minutes: int
) -> None:
    deadline = now + timedelta(minutes=ahead)
    poll, retry = timedelta(minutes=poll_minutes), timedelta(minutes=retry_minutes)
    last = last_safe_cycle(deadline, poll, retry)
    waiting = hold(windows, now, deadline, poll, retry)
    if waiting is None:
        # Bought now: inside a window, or at the last safe cycle or later.
        assert is_open(windows, now) or now >= last
        return
    assert not is_open(windows, now)
    # Never waits past the last safe cycle, and always waits for something in the future.
    assert now < waiting.until <= last
    # Waits either for an opening window or until the last safe cycle.
    assert is_open(windows, waiting.until) or waiting.until == last


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


def _decide(  # type: ignore[no-untyped-def]
    now: datetime,
    rules: PolicyRules = RULES,
    consumers: tuple[Consumer, ...] = (JOB,),
    offers: tuple[ExtensionOffering, ...] = (OFFER,),
    budgets: tuple[BudgetState, ...] = (),
):
    return decided(PLAN, rules, [], False, consumers, offers, budgets, now, "enforce")


SUNDAY = utc(2026, 3, 29, 10, 0)  # outside the office window; the plan due since Saturday


def test_the_decision_waits_as_not_due_then_buys_in_the_window() -> None:
    waiting = _decide(SUNDAY)
    assert waiting.kind is DecisionKind.NOT_DUE and waiting.window_hold
    assert waiting.next_action == utc(2026, 3, 30, 7, 0)
    # The offering is chosen while it waits: what the window will buy.
    assert waiting.need_hours == 24 and waiting.chosen == OFFER
    assert "chose tpeo-a" in waiting.reason
    assert "the purchase waits until the next one opens at 2026-03-30T07:00:00Z" in (waiting.reason)
    bought = _decide(utc(2026, 3, 30, 7, 0))
    assert bought.kind is DecisionKind.EXTENDED and "outside" not in bought.reason


def test_a_refusal_is_reported_while_the_plan_waits_for_a_window() -> None:
    small = BudgetState("ml", Money.parse("1000.00 USD"), Money.parse("500.00 USD"))
    refused = _decide(SUNDAY, budgets=(small,))
    assert refused.kind is DecisionKind.OVER_BUDGET and not refused.window_hold
    assert "budget ml" in refused.reason
    nothing = _decide(SUNDAY, offers=())
    assert nothing.kind is DecisionKind.NO_OFFERING and not nothing.window_hold


def test_a_proposal_is_made_while_the_plan_waits_for_a_window() -> None:
    proposed = _decide(
        SUNDAY, PolicyRules(name="llm", action="propose", purchase_windows=(OFFICE,))
    )
    assert proposed.kind is DecisionKind.PROPOSED and proposed.chosen == OFFER
    assert proposed.reason.endswith(
        "awaiting approval; outside the policy's purchase windows (mon-fri 09:00-17:00 "
        "Europe/Berlin): the purchase waits until the next one opens at 2026-03-30T07:00:00Z, "
        "before the last safe cycle 2026-03-31T08:58:30Z (deadline 2026-03-31T09:30:00Z - three "
        "polls of 5m 30s - retry_backoff 15m, room for a retry)"
    )


def test_at_the_last_safe_cycle_it_buys_outside_the_windows_and_says_so() -> None:
    weekend = PurchaseWindow(frozenset({5, 6}), time(9), time(17), BERLIN)
    rules = PolicyRules(name="llm", purchase_windows=(weekend,), poll=POLL)
    deadline = END - timedelta(hours=2)  # Tuesday 09:30 UTC; the next weekend is later
    last = deadline - 3 * POLL - RETRY
    early = _decide(utc(2026, 3, 30, 8, 0), rules)
    assert early.kind is DecisionKind.NOT_DUE and early.next_action == last
    assert _decide(last - timedelta(seconds=1), rules).kind is DecisionKind.NOT_DUE
    late = _decide(last, rules)
    assert late.kind is DecisionKind.EXTENDED
    assert "outside the policy's purchase windows" in late.reason
    assert "but this is past the last safe cycle 2026-03-31T08:58:30Z" in late.reason
    assert late.reason.endswith("room for a retry), so the deadline wins; buying it")


def test_a_plan_that_needs_nothing_is_not_reported_as_waiting() -> None:
    covered = Consumer(
        ConsumerKind.JOB, "short", "arn:job/s", PLAN.arn, "InProgress", END - timedelta(hours=3)
    )
    decision = _decide(utc(2026, 3, 29, 10, 0), consumers=(covered,))
    assert decision.kind is DecisionKind.DEMAND_COVERED and not decision.window_hold
