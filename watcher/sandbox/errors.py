"""Errors the simulator returns, shaped like SageMaker's JSON-protocol errors."""

from __future__ import annotations


class SimError(Exception):
    """An AWS-style error: `code` is the `__type` botocore reads, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> SimError:
    return SimError("ValidationException", message)


def not_found(message: str) -> SimError:
    return SimError("ResourceNotFound", message)


def in_use(message: str) -> SimError:
    return SimError("ResourceInUse", message)


class DroppedConnection(Exception):
    """Raised by a handler to make the caller see the connection drop (no response at all)."""
