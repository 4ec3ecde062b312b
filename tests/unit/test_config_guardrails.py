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
