"""The pieces of the clock check: what counts as a refusal by the clock, how the difference
is measured and told."""

from __future__ import annotations

import pytest

from watcher.aws.errors import ErrorKind, error_kind
from watcher.aws.skew import describe, from_refusal, is_clock_refusal, measure

EXPIRED = (
    "Signature expired: 20260302T090000Z is now earlier than 20260302T090200Z "
    "(20260302T090700Z - 5 min.)"
)
NOT_YET = (
    "Signature not yet current: 20260302T091000Z is still later than 20260302T090500Z "
    "(20260302T090000Z + 5 min.)"
)


@pytest.mark.parametrize("write", [False, True])
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidSignatureException", EXPIRED),
        ("InvalidSignatureException", NOT_YET),
        ("SignatureDoesNotMatch", EXPIRED),
        ("RequestTimeTooSkewed", "The difference between the request time and now is too large"),
    ],
)
def test_a_refusal_by_the_clock_is_its_own_kind(code: str, message: str, write: bool) -> None:
    assert is_clock_refusal(code, message)
    # A purchase refused for its signature was never acted on: not ambiguous.
    assert error_kind(code, message, 400, write) is ErrorKind.CLOCK_SKEW


def test_other_signature_errors_stay_what_they_were() -> None:
    wrong_key = "The request signature we calculated does not match the signature you provided."
    assert not is_clock_refusal("SignatureDoesNotMatch", wrong_key)
    assert error_kind("SignatureDoesNotMatch", wrong_key, 403, False) is ErrorKind.DENIED


def test_the_difference_is_aws_time_minus_the_signing_time() -> None:
    context = {"timestamp": "20260302T090000Z"}
    assert measure(context, {"Date": "Mon, 02 Mar 2026 09:07:00 GMT"}) == 420.0
    assert measure(context, {"date": "Mon, 02 Mar 2026 08:51:00 GMT"}) == -540.0
    assert measure(context, {}) is None
    assert measure({}, {"Date": "Mon, 02 Mar 2026 09:07:00 GMT"}) is None
    assert measure(context, {"Date": "yesterday"}) is None
    assert from_refusal(EXPIRED) == 420.0
    assert from_refusal(NOT_YET) == -600.0
    assert from_refusal("no times here") is None


def test_the_difference_is_told_in_words() -> None:
    assert describe(420.4) == "this machine's clock is 7m 0s behind AWS's"
    assert describe(-75) == "this machine's clock is 1m 15s ahead of AWS's"
    assert describe(3) == "this machine's clock is 3s behind AWS's"
    assert describe(0.2) == "this machine's clock agrees with AWS's"
