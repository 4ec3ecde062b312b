"""AWS errors, classified once, here. Callers read `AwsError.kind`, never a ClientError."""

from __future__ import annotations

from enum import StrEnum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)


class ErrorKind(StrEnum):
    THROTTLED = "throttled"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    DENIED = "denied"
    # The request may or may not have taken effect (a write that timed out, dropped or 5xx'd).
    AMBIGUOUS = "ambiguous"
    OTHER = "other"


class AwsError(Exception):
    """One failed AWS call, with what kind of failure it was."""

    def __init__(self, kind: ErrorKind, operation: str, code: str, message: str) -> None:
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
# Transport failures after which a write may have reached AWS.
_MAYBE_SENT = (ReadTimeoutError, ConnectionClosedError, ResponseStreamingError)


def classify(exc: BaseException, operation: str, *, write: bool) -> AwsError:
    """Turn any botocore failure into an AwsError; `write` marks non-idempotent calls."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind = error_kind(code, message, status, write)
        return AwsError(kind, operation, code, message)
    if isinstance(exc, _MAYBE_SENT):
        kind = ErrorKind.AMBIGUOUS if write else ErrorKind.OTHER
        return AwsError(kind, operation, type(exc).__name__, str(exc))
    if isinstance(exc, NoCredentialsError):
        return AwsError(ErrorKind.DENIED, operation, "NoCredentials", str(exc))
    # Anything else (never sent, or not a botocore error at all) changed nothing in AWS.
    return AwsError(ErrorKind.OTHER, operation, type(exc).__name__, str(exc))


def error_kind(code: str, message: str, status: int, write: bool) -> ErrorKind:
    """The kind of an AWS error response (also used to count requests by outcome)."""
    if code in _THROTTLED or status == 429:
        return ErrorKind.THROTTLED
    if code in _NOT_FOUND:
        return ErrorKind.NOT_FOUND
    if code in _DENIED or status in (401, 403):
        return ErrorKind.DENIED
    if code == "ValidationException" and "not found" in message.lower():
        # DescribeTrainingJob reports an unknown job this way.
        return ErrorKind.NOT_FOUND
    if code in _INVALID:
        return ErrorKind.INVALID
    if status >= 500:
        return ErrorKind.AMBIGUOUS if write else ErrorKind.OTHER
    if 400 <= status < 500:
        return ErrorKind.INVALID
    return ErrorKind.OTHER
