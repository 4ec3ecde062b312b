"""Scalar value types of the config file: durations and money, parsed from strings only.

YAML turns bare numbers into ints and floats; a fee or a duration written that way is a
mistake waiting to happen (`60000.10` is not exact, `90` has no unit), so both types accept
quoted strings and nothing else.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from watcher.model import Money

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])")
#: No duration in the file may be longer: far beyond any sensible setting, and short enough
#: that adding it to (or taking it from) any plan's end time stays a valid date.
MAX_DURATION = timedelta(weeks=520)
#: Money in the file: at most this many digits before the point and after it, so that sums
#: of thousands of such amounts stay exact in Decimal's default 28-digit context.
MONEY_INTEGER_DIGITS = 12
MONEY_FRACTION_DIGITS = 6
DURATION_PATTERN = r"^[0-9]+[smhdw]$"
MONEY_PATTERN = r"^[0-9]+(\.[0-9]+)? [A-Z]{3}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# ASCII classes only: in both Python's and pydantic's regex engines \d and \w also match
# other scripts' digits and letters ("١١١"), which AWS refuses later, at run time.
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
SNS_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$"
#: How to say what a pattern wants, for error messages.
PATTERN_HINTS = {
    NAME_PATTERN: "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ROLE_ARN_PATTERN: "an IAM role ARN like arn:aws:iam::111122223333:role/plan-watcher",
    SNS_ARN_PATTERN: "an SNS topic ARN like arn:aws:sns:us-east-1:111122223333:plan-watcher",
}


def describe(value: object) -> str:
    """A short, YAML-flavoured description of an input, for error messages."""
    kinds = {
        dict: "a mapping",
        list: "a list",
        bool: "a boolean",
        int: "a bare number",
        float: "a bare number",
        type(None): "null",
    }
    for kind, name in kinds.items():
        if type(value) is kind:
            return name
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    return type(value).__name__


def parse_duration(value: object) -> timedelta:
    """Parse "90s", "15m", "6h", "3d" or "2w"; raise ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(
            f"expected a duration string like 90s, 15m, 6h, 3d or 2w, got {describe(value)}"
        )
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"expected a duration like 90s, 15m, 6h, 3d or 2w, got {describe(value)}")
    try:
        duration = int(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError:
        duration = None
    if duration is None or duration > MAX_DURATION:
        raise ValueError(f"{value} is too long: at most {format_duration(MAX_DURATION)}")
    return duration


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of `value` in the config's duration syntax."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_money(value: object) -> Money:
    """Parse a quoted "60000.00 USD" into Money; bare numbers are refused (they may be floats)."""
    if isinstance(value, Money):
        money = value
    elif not isinstance(value, str):
        raise ValueError(
            f'expected a quoted amount with a currency like "60000.00 USD", got {describe(value)}'
        )
    elif not re.fullmatch(MONEY_PATTERN, value):
        raise ValueError(
            f'expected an amount with a currency like "60000.00 USD", got {describe(value)}'
        )
    else:
        money = Money.parse(value)
    if money.amount <= 0:
        raise ValueError(f"must be a positive amount, got {describe(value)}")
    digits = money.amount.as_tuple()
    exponent = digits.exponent if isinstance(digits.exponent, int) else 0
    if len(digits.digits) + exponent > MONEY_INTEGER_DIGITS:
        raise ValueError(
            f"{describe(value)} is too large: at most {MONEY_INTEGER_DIGITS} digits before "
            "the decimal point"
        )
    if -exponent > MONEY_FRACTION_DIGITS:
        raise ValueError(
            f"{describe(value)} has more than {MONEY_FRACTION_DIGITS} digits after the "
            "decimal point"
        )
    return money


Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "a duration: digits and one unit of s, m, h, d, w (e.g. 90s, 6h, 3d)",
        }
    ),
]

MoneyAmount = Annotated[
    Money,
    PlainValidator(parse_money),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": 'a positive decimal amount and an ISO currency, e.g. "60000.00 USD"',
        }
    ),
]
