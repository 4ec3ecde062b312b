"""The rules behind a purchase's outcome, without the simulator: how a failed write is
classified, and which extension in AWS's list records an intent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.parsers import ResponseParserError

from watcher.aws.errors import ErrorKind, classify
from watcher.journal.records import Intent
from watcher.model import Extension, Money

PLAN = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-a"
END = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _client_error(code: str, status: int, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "ExtendTrainingPlan")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ValidationException", 400, ErrorKind.INVALID),
        ("ResourceLimitExceeded", 400, ErrorKind.INVALID),
        ("ResourceNotFound", 400, ErrorKind.NOT_FOUND),
        ("AccessDeniedException", 400, ErrorKind.DENIED),
        ("ThrottlingException", 400, ErrorKind.THROTTLED),
        ("SomethingNewException", 400, ErrorKind.AMBIGUOUS),
        ("ConflictException", 400, ErrorKind.AMBIGUOUS),
        ("", 404, ErrorKind.AMBIGUOUS),
        ("InternalFailure", 500, ErrorKind.AMBIGUOUS),
        ("ValidationException", 503, ErrorKind.AMBIGUOUS),
        ("", 403, ErrorKind.DENIED),
        ("", 429, ErrorKind.THROTTLED),
    ],
)
def test_a_write_fails_only_on_a_documented_refusal(
    code: str, status: int, kind: ErrorKind
) -> None:
    assert classify(_client_error(code, status), "ExtendTrainingPlan", write=True).kind is kind


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (NoCredentialsError(), ErrorKind.DENIED),
        (EndpointConnectionError(endpoint_url="https://x"), ErrorKind.OTHER),
        (ConnectTimeoutError(endpoint_url="https://x"), ErrorKind.OTHER),
        (ReadTimeoutError(endpoint_url="https://x"), ErrorKind.AMBIGUOUS),
        (ConnectionClosedError(endpoint_url="https://x"), ErrorKind.AMBIGUOUS),
        (HTTPClientError(error="reset"), ErrorKind.AMBIGUOUS),
        (SSLError(endpoint_url="https://x", error="eof"), ErrorKind.AMBIGUOUS),
        (ProxyConnectionError(proxy_url="https://p", error="no"), ErrorKind.AMBIGUOUS),
        (ResponseParserError("bad body"), ErrorKind.AMBIGUOUS),
        (RuntimeError("anything else"), ErrorKind.AMBIGUOUS),
    ],
)
def test_a_write_that_may_have_been_sent_is_ambiguous(exc: Exception, kind: ErrorKind) -> None:
    assert classify(exc, "ExtendTrainingPlan", write=True).kind is kind


def test_reads_keep_their_kinds() -> None:
    assert classify(_client_error("SomethingNew", 400), "ListTrainingPlans", write=False).kind is (
        ErrorKind.INVALID
    )
    assert classify(HTTPClientError(error="x"), "ListTrainingPlans", write=False).kind is (
        ErrorKind.OTHER
    )


def _intent() -> Intent:
    return Intent(PLAN, END, "tpeo-a", "default", Money(Decimal("1.00"), "USD"), 24, AT)


def _ext(
    offering_id: str, extended_at: datetime | None, start: datetime | None, plan: str = PLAN
) -> Extension:
    end = start + timedelta(hours=24) if start else None
    return Extension(offering_id, plan, extended_at, start, end, "Pending", "Pending", 24, None)


def test_an_intent_is_found_by_its_offering_id() -> None:
    found = _intent().match([_ext("tpeo-x", AT, END), _ext("tpeo-a", None, None)])
    assert found is not None and found.offering_id == "tpeo-a"


def test_an_intent_is_found_by_an_extension_requested_since_from_the_plans_end() -> None:
    later = AT + timedelta(seconds=3)
    found = _intent().match([_ext("tpe-own-id", later, END + timedelta(seconds=30))])
    assert found is not None and found.offering_id == "tpe-own-id"


@pytest.mark.parametrize(
    "ext",
    [
        _ext("tpe-1", AT - timedelta(hours=1), END),  # requested long before the intent
        _ext("tpe-2", AT, END + timedelta(days=1)),  # starts a day after the plan's end
        _ext("tpe-3", None, END),  # no readable request time
        _ext("tpe-4", AT, END, plan=PLAN + "-other"),  # another plan's
    ],
)
def test_other_extensions_are_not_the_intents(ext: Extension) -> None:
    assert _intent().match([ext]) is None


def _status(ext: Extension, status: str, payment: str = "Failed") -> Extension:
    return replace(ext, status=status, payment_status=payment)


def test_a_failed_extension_is_the_intents_only_where_nothing_else_fits() -> None:
    """An earlier attempt AWS lists as Failed beside this purchase is not this purchase."""
    failed = _status(_ext("tpe-old", AT, END), "Failed")
    pending = _ext("tpe-new", AT + timedelta(seconds=5), END)
    assert _intent().match([failed, pending]) == pending
    assert _intent().failure([failed, pending]) is None
    assert _intent().failure([failed]) == failed


def test_an_extension_requested_before_the_intent_is_not_its_own_even_by_offering_id() -> None:
    earlier = _status(_ext("tpeo-a", AT - timedelta(minutes=6), END), "Failed")
    assert _intent().match([earlier]) is None and _intent().failure([earlier]) is None
    within_slack = replace(earlier, extended_at=AT - timedelta(minutes=4))
    assert _intent().failure([within_slack]) == within_slack


@pytest.mark.parametrize(
    ("status", "payment"),
    [
        ("Pending", "Failed"),  # only Status says the purchase failed
        ("Pending", "Pending"),
        ("Active", "Completed"),
        ("Cancelled", "Unknown"),  # a status AWS does not document
    ],
)
def test_only_a_failed_status_is_aws_saying_the_purchase_failed(status: str, payment: str) -> None:
    ext = _status(_ext("tpeo-a", AT, END), status, payment)
    assert _intent().match([ext]) == ext and _intent().failure([ext]) is None
