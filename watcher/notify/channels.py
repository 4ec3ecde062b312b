"""Where notices go: an SNS topic and a webhook. Each `send` is one attempt; it raises
`ChannelError` on failure and the dispatcher decides about retrying."""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3

from watcher import USER_AGENT
from watcher.aws.calls import CallCounter
from watcher.aws.clients import make_client
from watcher.notify.notice import Notice
from watcher.observe.logs import register_secret

#: At most this much of a refusal's reason phrase is kept for the log.
MAX_REASON_CHARS = 200
#: At most this much of a webhook's answer is read: the status is all that matters, and a
#: receiver that streams an endless body must not hold the sender.
MAX_RESPONSE_BYTES = 64 * 1024


class ChannelError(Exception):
    """One delivery attempt failed; the message never contains a credential."""


def token_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP header value, or None. Never quotes the value:
    a line break (what `kubectl create secret --from-file` keeps from the file) or a
    character outside Latin-1 would make http.client raise an error that prints it."""
    if "\r" in value or "\n" in value:
        return "contains a line break (a secret made from a file often keeps its final newline)"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "contains a character outside Latin-1, which an HTTP header cannot carry"
    return None


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None:
        """Deliver `notice` once; raise ChannelError if it was not accepted."""
        ...


def _region_of(topic_arn: str) -> str:
    # arn:aws:sns:REGION:ACCOUNT:NAME
    return topic_arn.split(":")[3]


class SnsChannel:
    """Publishes each notice to a topic: Subject a short title, Message the notice's JSON,
    and a `kind` message attribute that subscription filter policies can match on.

    Uses the ambient AWS credentials (the runtime role), never a target's assumed role; its
    requests are counted in `counter` with every other AWS call.
    """

    name = "sns"

    def __init__(
        self, topic_arn: str, *, timeout: float = 10.0, counter: CallCounter | None = None
    ) -> None:
        self.topic_arn = topic_arn
        self._timeout = timeout
        self._counter = counter
        self._client: Any = None
        self._lock = threading.Lock()

    def _sns(self) -> Any:
        # Built on first use, in the sending thread: nothing touches AWS at start-up.
        with self._lock:
            if self._client is None:
                region = _region_of(self.topic_arn)
                # One attempt: the dispatcher retries, with its own backoff.
                self._client = make_client(
                    boto3.Session(region_name=region),
                    "sns",
                    region=region,
                    attempts=1,
                    connect_timeout=self._timeout,
                    read_timeout=self._timeout,
                    counter=self._counter,
                )
            return self._client

    def send(self, notice: Notice) -> None:
        try:
            self._sns().publish(
                TopicArn=self.topic_arn,
                Subject=notice.subject,
                Message=json.dumps(notice.to_json()),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": notice.kind.value},
                    "target": {"DataType": "String", "StringValue": notice.target},
                    "mode": {"DataType": "String", "StringValue": notice.mode.value},
                },
            )
        except Exception as exc:  # botocore's errors, credentials, the network: all one here
            raise ChannelError(f"{type(exc).__name__}: {exc}") from exc


class WebhookChannel:
    """POSTs each notice's JSON to a URL. With `token_env`, the header `header` carries the
    value of that environment variable, read at every send (so a rotated token is picked up)
    and never logged. Redirects are not followed; any 2xx is success."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        token_env: str | None = None,
        header: str = "Authorization",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook url is not an http(s) URL")
        self.url = url
        self._parts = parts
        self._timeout = timeout
        self._token_env = token_env
        self._header = header
        self._environ = environ if environ is not None else os.environ

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "User-Agent": USER_AGENT,
        }
        if self._token_env:
            token = self._environ.get(self._token_env)
            if not token:
                raise ChannelError(f"environment variable {self._token_env} is not set")
            register_secret(token)
            problem = token_problem(token)
            if problem is not None:
                raise ChannelError(f"environment variable {self._token_env} {problem}")
            headers[self._header] = token
        return headers

    def _redact(self, text: str) -> str:
        """`text` without anything secret it may quote: the token, the URL's query,
        path and user-info."""
        secrets = [self._parts.query, self._parts.path, self._parts.password or ""]
        if self._token_env:
            secrets.append(self._environ.get(self._token_env) or "")
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            if len(secret) > 1:
                text = text.replace(secret, "***")
        return text

    def send(self, notice: Notice) -> None:
        body = json.dumps(notice.to_json()).encode()
        headers = self._headers(body)
        parts = self._parts
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        connection = connection_type(parts.hostname or "", parts.port, timeout=self._timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise ChannelError(self._redact(f"{type(exc).__name__}: {exc}")) from None
        except Exception as exc:
            # http.client's ValueErrors and the like quote what they refused (a header value,
            # the URL): only the type is kept.
            raise ChannelError(f"{type(exc).__name__} while sending (details withheld)") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            # The reason phrase is the receiver's own text: it may quote the request.
            reason = self._redact(str(response.reason))[:MAX_REASON_CHARS]
            raise ChannelError(f"HTTP {response.status} {reason}")
