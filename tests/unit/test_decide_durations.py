"""The extension sizes AWS sells: whole days up to 14 days, whole weeks up to 182 days."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.decide import is_sellable, largest_sellable_at_most, sellable_hours


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (-5, 24),
        (0, 24),
        (1, 24),
        (24, 24),
        (25, 48),
        (336, 336),
        (337, 504),
        (504, 504),
        (505, 672),
        (4368, 4368),
        (4369, None),
    ],
)
def test_sellable_hours_rounds_up_to_a_size_aws_sells(hours: int, expected: int | None) -> None:
    assert sellable_hours(hours) == expected


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(0, None), (23, None), (24, 24), (47, 24), (336, 336), (503, 336), (504, 504), (9999, 4368)],
)
def test_largest_sellable_at_most_rounds_down(hours: int, expected: int | None) -> None:
    assert largest_sellable_at_most(hours) == expected


def test_fifteen_days_is_not_sold_but_three_weeks_is() -> None:
    assert not is_sellable(15 * 24)
    assert is_sellable(21 * 24)
    assert not is_sellable(0)
    assert not is_sellable(4368 + 168)


@settings(max_examples=300)
@given(st.integers(min_value=-10, max_value=6000))
def test_rounding_gives_the_tightest_sellable_bounds(hours: int) -> None:
    up = sellable_hours(hours)
    down = largest_sellable_at_most(hours)
    if up is not None:
        assert is_sellable(up) and up >= hours
        assert not any(is_sellable(h) for h in range(max(hours, 1), up))
    if down is not None:
        assert is_sellable(down) and down <= hours
        assert not any(is_sellable(h) for h in range(down + 1, min(hours, 4368) + 1))
