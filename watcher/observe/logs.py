"""structlog set-up: one JSON object per line (or `console` for people), UTC ISO timestamps.

Secrets never reach a log line, by three locks:
- values under keys that look like credentials are masked, at any depth (a dict in a field);
- exception tracebacks are rendered without frame locals (structlog shows them by default,
  and a frame's locals may hold a token or a key);
- the values of known secrets (the AWS secret key and session token from the environment, a
  webhook's token) are replaced wherever they appear: in every string of the event before
  it is rendered (JSON would spell a secret with a quote or a non-ASCII character otherwise)
  and in the rendered line, an exception's message included.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

_SECRET_KEYS = ("secret", "token", "password", "credential", "authorization", "session_token")
MASK = "***"
#: Environment variables whose values are secrets wherever they show up.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
#: Shorter values are not searched for: they would mask ordinary words.
MIN_SECRET_LENGTH = 8
_MAX_DEPTH = 8

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a log line from now on."""
    if value and len(value.strip()) >= MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)
            _secrets.add(value.strip())


def register_environment_secrets(environ: Mapping[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        register_secret(environ.get(name))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by the mask."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and any(marker in key.lower() for marker in _SECRET_KEYS)


def _masked(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: MASK if _secret_key(k) else _masked(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, depth + 1) for item in value]
    return value


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _secret_key(key):
            event[key] = MASK
        elif isinstance(event[key], Mapping | list | tuple):
            event[key] = _masked(event[key])
    return event


def _redacted(value: Any, depth: int = 0) -> Any:
    """`value` with every registered secret masked in its strings, at any depth."""
    if isinstance(value, str):
        return redact(value)
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: _redacted(v, depth + 1) for k, v in value.items()}
    if isinstance(value, tuple):  # exc_info is one
        return tuple(_redacted(item, depth + 1) for item in value)
    if isinstance(value, list):
        return [_redacted(item, depth + 1) for item in value]
    return value


def _redacting(renderer: Callable[..., Any]) -> Callable[..., Any]:
    # Masked before rendering too: JSON writes a secret holding a quote, a backslash or a
    # non-ASCII character in another spelling, which the rendered line no longer matches.
    def render(logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
        for key in list(event):
            event[key] = _redacted(event[key])
        line = renderer(logger, name, event)
        return redact(line) if isinstance(line, str) else line

    return render


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route structlog to `stream` (stdout by default) in `fmt`, at `level`."""
    out = stream or sys.stdout
    register_environment_secrets()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        if fmt == "console"
        else structlog.processors.JSONRenderer(default=str)
    )
    exceptions: list[Any] = (
        []
        if fmt == "console"
        else [structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _mask_secrets,
            *exceptions,
            _redacting(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)


class QuietLogger:
    """A logger that writes nothing, for a cycle that only looks (`explain`): its lines would
    claim settlements and decisions that it never writes."""

    def bind(self, **_: Any) -> QuietLogger:
        return self

    def _drop(self, *_: Any, **__: Any) -> None:
        return None

    debug = info = warning = error = exception = critical = _drop
