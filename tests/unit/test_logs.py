"""Log lines cannot carry a secret: nested credential keys are masked, tracebacks show no
frame locals, and known secret values are masked wherever they appear."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from watcher.observe.logs import configure, get_logger

SECRET = "wJalrXUtnFEMI-planted-secret-key"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _lines(fmt: str, emit: Any) -> str:
    out = io.StringIO()
    configure("debug", fmt, out)
    emit(get_logger())
    return out.getvalue()


def test_credential_keys_are_masked_at_any_depth() -> None:
    text = _lines(
        "json",
        lambda log: log.info(
            "request",
            request={"headers": {"Authorization": SECRET, "Accept": "json"}},
            attempts=[{"session_token": SECRET}],
            aws_secret_access_key=SECRET,
        ),
    )
    line = json.loads(text)
    assert SECRET not in text
    assert line["request"]["headers"] == {"Authorization": "***", "Accept": "json"}
    assert line["attempts"] == [{"session_token": "***"}]


def _crash(log: Any) -> None:
    key = SECRET  # a frame that holds a credential in a local variable
    try:
        raise RuntimeError(f"failed with {len(key)} characters")
    except RuntimeError:
        log.exception("cycle_crashed")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_frame_locals(fmt: str) -> None:
    text = _lines(fmt, _crash)
    assert "failed with 32 characters" in text  # the traceback itself is there
    assert SECRET not in text


def test_a_known_secret_is_masked_even_inside_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    text = _lines("json", lambda log: log.error("odd", error=f"botocore said {SECRET}!"))
    assert SECRET not in text and "botocore said ***!" in text


@pytest.mark.parametrize(
    "secret",
    ['wJalr"quoted\\planted-token', "wJalr-planted-tökén", "wJalr\tplanted-tab-token"],
    ids=["quote-and-backslash", "latin-1", "control"],
)
def test_a_known_secret_is_masked_whatever_json_makes_of_it(secret: str) -> None:
    # JSON escapes quotes, backslashes, control and non-ASCII characters, so the rendered line
    # holds the secret in another spelling: it must be masked before it is rendered.
    from watcher.observe.logs import register_secret

    register_secret(secret)
    text = _lines("json", lambda log: log.warning("odd", error=f"the receiver said {secret}"))
    assert secret not in json.loads(text)["error"]
    assert json.loads(text)["error"] == "the receiver said ***"
