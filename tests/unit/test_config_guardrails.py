"""The guardrail settings in the config: `safety.limits` (and what `validate` says of them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_cli_validate import VALID, validate

LIMITS = """\
safety:
  limits:
    purchases_per_cycle: 2
    spend_per_cycle: "100000.00 USD"
    purchases_per_24h: 3
    spend_per_24h: "150000.00 USD"
"""


def test_limits_are_valid_and_summarised(tmp_path: Path) -> None:
    code, out, err = validate(tmp_path, VALID + LIMITS)
    assert (code, err) == (0, "")
    assert (
        "safety limits: at most 2 purchase(s) per cycle, 100000.00 USD per cycle, "
        "3 purchase(s) per 24 hours, 150000.00 USD per 24 hours"
    ) in out


BROKEN_LIMITS = [
    (
        "zero purchases",
        LIMITS.replace("purchases_per_24h: 3", "purchases_per_24h: 0"),
        "safety.limits.purchases_per_24h",
    ),
    (
        "a bare number of money",
        LIMITS.replace('"150000.00 USD"', "150000"),
        "safety.limits.spend_per_24h",
    ),
    (
        "another currency than the fee caps",
        LIMITS.replace('"150000.00 USD"', '"150000.00 EUR"'),
        "safety.limits.spend_per_24h: is in EUR but policy 'llm' caps fees in USD",
    ),
    (
        "an unknown limit",
        LIMITS + "    purchases_per_week: 5\n",
        "safety.limits.purchases_per_week",
    ),
]


@pytest.mark.parametrize(
    ("case", "limits", "message"), BROKEN_LIMITS, ids=[c for c, _, _ in BROKEN_LIMITS]
)
def test_broken_limits_exit_2_naming_the_key(
    tmp_path: Path, case: str, limits: str, message: str
) -> None:
    code, out, err = validate(tmp_path, VALID + limits)
    assert (code, out) == (2, ""), case
    assert any(line.startswith(message) for line in err.splitlines()), err


WINDOWS = """\
    purchase_windows:
      - days: [mon-fri]
        hours: "09:00-17:00"
        time_zone: Europe/Berlin
      - {days: [sat], hours: "10:00-12:00"}
"""


def _with_windows(windows: str) -> str:
    return VALID.replace("budgets:", windows + "budgets:")


def test_purchase_windows_are_valid_and_summarised(tmp_path: Path) -> None:
    code, out, err = validate(tmp_path, _with_windows(WINDOWS))
    assert (code, err) == (0, "")
    assert "purchase windows of llm: mon-fri 09:00-17:00 Europe/Berlin; sat 10:00-12:00 UTC" in out


NEVER_OPEN = [
    ("no day", WINDOWS.replace("[mon-fri]", "[]"), "policies[0].purchase_windows[0].days"),
    ("not a day", WINDOWS.replace("[mon-fri]", "[monday]"), "policies[0].purchase_windows[0].days"),
    (
        "ends before it starts",
        WINDOWS.replace("09:00-17:00", "17:00-09:00"),
        "policies[0].purchase_windows[0].hours: '17:00-09:00' never opens",
    ),
    (
        "no hour at all",
        WINDOWS.replace("09:00-17:00", "09:00-09:00"),
        "policies[0].purchase_windows[0].hours: '09:00-09:00' never opens",
    ),
    (
        "not a time",
        WINDOWS.replace("09:00-17:00", "09:00-24:30"),
        "policies[0].purchase_windows[0].hours",
    ),
    (
        "not a time zone",
        WINDOWS.replace("Europe/Berlin", "Europe/Atlantis"),
        "policies[0].purchase_windows[0].time_zone",
    ),
    (
        "shorter than a poll",
        WINDOWS.replace("10:00-12:00", "10:00-10:03"),
        "policies[0].purchase_windows[1].hours: 10:00-10:03 is open 3m, less than one poll",
    ),
]


@pytest.mark.parametrize(
    ("case", "windows", "message"), NEVER_OPEN, ids=[c for c, _, _ in NEVER_OPEN]
)
def test_windows_that_can_never_open_are_refused(
    tmp_path: Path, case: str, windows: str, message: str
) -> None:
    code, out, err = validate(tmp_path, _with_windows(windows))
    assert (code, out) == (2, ""), case
    assert any(line.startswith(message) for line in err.splitlines()), err


TWO = """\
    approval:
      two_person_above: "50000.00 USD"
"""


def test_two_person_above_is_valid(tmp_path: Path) -> None:
    code, _, err = validate(tmp_path, _with_windows(TWO))
    assert (code, err) == (0, "")


BROKEN_TWO = [
    (
        "another currency",
        TWO.replace("USD", "EUR"),
        "policies[0].approval.two_person_above: is in EUR but max_upfront_fee is in USD",
    ),
    (
        "auto-approval above it",
        TWO + '      auto_approve_below: "60000.00 USD"\n',
        "policies[0].approval.auto_approve_below: 60000.00 USD is above two_person_above",
    ),
    (
        "a bare number",
        TWO.replace('"50000.00 USD"', "50000"),
        "policies[0].approval.two_person_above",
    ),
]


@pytest.mark.parametrize(("case", "two", "message"), BROKEN_TWO, ids=[c for c, _, _ in BROKEN_TWO])
def test_broken_two_person_settings_are_refused(
    tmp_path: Path, case: str, two: str, message: str
) -> None:
    code, out, err = validate(tmp_path, _with_windows(two))
    assert (code, out) == (2, ""), case
    assert any(line.startswith(message) for line in err.splitlines()), err
