"""The answers a caller can get instead of the one AWS meant to give, for fault injection.

A fault picked before an operation runs (`Faults.before`) answers for an operation that never
took effect; an `ambiguous` fault (`Faults.ambiguous`) answers for one that did. Each answer
is one of:

- an AWS-style error (`SimError`): throttling, a 5xx, a documented refusal, an error code no
  client knows;
- a raw HTTP answer (`RawAnswer`): a 200 with an empty body, or with a page that is not JSON
  (a proxy's, a truncated body), which botocore reads as an empty result;
- a result that lists nothing new (`unlisted`): a well-formed 200 without the new extension;
- a transport failure (`TransportFailure`): the connection dropped, a read timeout, another
  HTTP client error, or, for a request that never left the client, an unreachable endpoint, a
  connect timeout, no credentials. In-process these are the botocore exceptions a client
  would raise; over HTTP the server can only drop the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from watcher.sandbox.errors import DroppedConnection, SimError

#: How a caller is answered when the outcome must look unknown (before or after acting).
AmbiguousMode = Literal[
    "500",
    "drop",
    "empty",
    "not_json",
    "unknown_code",
    "unlisted",
    "read_timeout",
    "http_client_error",
]
AMBIGUOUS_MODES: tuple[AmbiguousMode, ...] = get_args(AmbiguousMode)
#: Transport failures of a request that never reached the server.
UNSENT = ("unreachable", "connect_timeout", "no_credentials")
#: What a proxy in front of AWS may send back with a 200.
PROXY_PAGE = "<html><head><title>Gateway</title></head><body>upstream reset</body></html>"


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP answer sent exactly as given, not serialised from a result."""

    status: int
    body: str
    content_type: str = "application/x-amz-json-1.1"


class TransportFailure(Exception):
    """The caller sees a transport failure named by `kind` (see the module docstring)."""

    def __init__(self, kind: str, operation: str) -> None:
        super().__init__(f"{operation}: {kind}")
        self.kind = kind
        self.operation = operation


# Errors for faults picked before an operation runs: (code, message, HTTP status).
REFUSALS: dict[str, tuple[str, str, int]] = {
    "throttle": ("ThrottlingException", "Rate exceeded", 400),
    "5xx": ("InternalFailure", "An internal error occurred; try again.", 500),
    "refuse": ("ValidationException", "The offering is no longer available.", 400),
    "not_found": ("ResourceNotFound", "The offering does not exist.", 400),
    "denied": (
        "AccessDeniedException",
        "User is not authorized to perform: sagemaker:ExtendTrainingPlan",
        400,
    ),
    "limit": ("ResourceLimitExceeded", "The account's limit for this resource is reached.", 400),
}


def refusal(kind: str) -> SimError:
    code, message, status = REFUSALS[kind]
    return SimError(code, message, status)


def unknown_outcome(mode: AmbiguousMode, operation: str, result: Any = None) -> Any:
    """Answer `operation` by `mode`: raise, or return what the caller is sent.

    `result` is what the operation returned when it took effect (None when it did not): an
    `unlisted` answer keeps its other extensions and leaves out the newest one.
    """
    if mode == "500":
        raise SimError("InternalFailure", "An internal error occurred; try again.", 500)
    if mode == "unknown_code":
        raise SimError("ExtensionStateConflictException", "The request could not be completed.")
    if mode == "drop":
        raise DroppedConnection(operation)
    if mode in ("read_timeout", "http_client_error"):
        raise TransportFailure(mode, operation)
    if mode == "empty":
        return RawAnswer(200, "")
    if mode == "not_json":
        return RawAnswer(200, PROXY_PAGE, "text/html")
    listed = list((result or {}).get("TrainingPlanExtensions") or [])
    return {"TrainingPlanExtensions": listed[:-1] if result is not None else listed}
