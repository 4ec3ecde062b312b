"""AWS errors, classified once, here. Callers read `AwsError.kind`, never a ClientError."""

from __future__ import annotations

from enum import StrEnum

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from watcher.aws.skew import is_clock_refusal
from watcher.observe.logs import redact


class ErrorKind(StrEnum):
    THROTTLED = "throttled"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    DENIED = "denied"
    # A write that may or may not have taken effect: anything but a documented refusal or a
    # failure before the request was sent (docs/decisions.md, "What a purchase's answer means").
    AMBIGUOUS = "ambiguous"
    OTHER = "other"
    # Refused because it was signed too far from AWS's time (this machine's clock is off).
    # AWS checks a request's signature before acting on it, so a write refused so did nothing.
    CLOCK_SKEW = "clock_skew"


class AwsError(Exception):
    """One failed AWS call, with what kind of failure it was. Its message goes to the log,
    /status and the commands' output, so known secrets are masked in it: an answer that
    does not come from AWS itself (a proxy, a wrong endpoint) may quote the request's
    headers, the session token among them."""

    def __init__(self, kind: ErrorKind, operation: str, code: str, message: str) -> None:
        message = redact(message)
        super().__init__(f"{operation}: {code}: {message}")
        self.kind = kind
        self.operation = operation
        self.code = code
        self.message = message


_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchEntity", "NotFound"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
_INVALID = {
    "ValidationException",
    "ValidationError",
    "ResourceInUse",
    "ResourceLimitExceeded",
    "ConflictException",
    "InvalidParameterValue",
}
# The codes of _INVALID with which AWS refuses a write without acting on it (validation, limit
# exceeded). Conflict and in-use errors are left out: they say the resource's state was
# contested, not that nothing changed.
_REFUSED_INVALID = {
    "ValidationException",
    "ValidationError",
    "InvalidParameterValue",
    "ResourceLimitExceeded",
}
# Failures botocore raises before a request leaves the process or reaches AWS: nothing was sent.
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError, ParamValidationError)
_NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError)


def classify(exc: BaseException, operation: str, *, write: bool) -> AwsError:
    """Turn any failure of a call into an AwsError; `write` marks non-idempotent calls.

    A write fails (a kind other than AMBIGUOUS) only with proof that AWS did not act on it: a
    documented refusal, or a failure before anything was sent. Every other failure of a
    write, known or not (a read timeout, a reset connection, an HTTP client error, a 5xx,
    an error code plan-watcher does not know), is AMBIGUOUS.
    """
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind = error_kind(code, message, status, write)
        return AwsError(kind, operation, code, message)
    if isinstance(exc, _NO_CREDENTIALS):
        return AwsError(ErrorKind.DENIED, operation, "NoCredentials", str(exc))
    if isinstance(exc, ParamValidationError):
        return AwsError(ErrorKind.INVALID, operation, "ParamValidation", str(exc))
    if isinstance(exc, _NOT_SENT):
        return AwsError(ErrorKind.OTHER, operation, type(exc).__name__, str(exc))
    kind = ErrorKind.AMBIGUOUS if write else ErrorKind.OTHER
    return AwsError(kind, operation, type(exc).__name__, str(exc))


def error_kind(code: str, message: str, status: int, write: bool) -> ErrorKind:
    """The kind of an AWS error response (also used to count requests by outcome)."""
    if write and status >= 500:
        return ErrorKind.AMBIGUOUS
    if is_clock_refusal(code, message):  # a signature error of its own kind, before DENIED
        return ErrorKind.CLOCK_SKEW
    if code in _THROTTLED or status == 429:
        return ErrorKind.THROTTLED
    if code in _NOT_FOUND:
        return ErrorKind.NOT_FOUND
    if code in _DENIED or status in (401, 403):
        return ErrorKind.DENIED
    if code == "ValidationException" and "not found" in message.lower():
        # DescribeTrainingJob reports an unknown job this way.
        return ErrorKind.NOT_FOUND
    if write:
        # Only a documented refusal proves a write did nothing; a code plan-watcher does not
        # know (a new one AWS added, a proxy's) leaves it unknown.
        return ErrorKind.INVALID if code in _REFUSED_INVALID else ErrorKind.AMBIGUOUS
    if code in _INVALID:
        return ErrorKind.INVALID
    if status >= 500:
        return ErrorKind.OTHER
    if 400 <= status < 500:
        return ErrorKind.INVALID
    return ErrorKind.OTHER
