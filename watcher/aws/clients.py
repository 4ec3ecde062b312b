"""Every AWS client plan-watcher makes is built here: SageMaker (per target), DynamoDB (the
journal and the leader lease), SNS (notices) and STS (a target's assumed role).

All of them carry the same user agent, botocore's standard retry mode (how many attempts is
each caller's choice: one for a purchase or a notice, which are never sent twice by the SDK),
bounded timeouts, and a hook that counts every HTTP request by operation and outcome into a
`CallCounter`, which /metrics serves as `plan_watcher_aws_calls_total`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config

from watcher import USER_AGENT
from watcher.aws.calls import CallCounter
from watcher.aws.errors import classify, error_kind

#: Called with each answer's request context and HTTP headers (the clock-skew measure).
AnswerHook = Callable[[Any, Mapping[str, str] | None], None]


def make_client(
    session: boto3.Session,
    service: str,
    *,
    attempts: int,
    region: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    pool: int | None = None,
    counter: CallCounter | None = None,
    writes: frozenset[str] = frozenset(),
    on_answer: AnswerHook | None = None,
) -> Any:
    """A client for `service` from `session`. `attempts` counts the first call
    (botocore's `total_max_attempts`); `writes` names the operations whose failures are
    counted as a write's (a 5xx is `ambiguous`); `pool` raises botocore's 10 connections."""
    options: dict[str, Any] = {}
    if pool is not None:
        options["max_pool_connections"] = pool
    config = Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra=USER_AGENT,
        **options,
    )
    client = session.client(service, region_name=region, config=config)  # type: ignore[call-overload]
    if counter is not None or on_answer is not None:
        hook = _Counting(counter, writes, on_answer)
        client.meta.events.register(f"response-received.{service}.*", hook)
    return client


class _Counting:
    """botocore's `response-received` handler: one count per HTTP request (retries too)."""

    def __init__(
        self, counter: CallCounter | None, writes: frozenset[str], on_answer: AnswerHook | None
    ) -> None:
        self.counter = counter
        self.writes = writes
        self.on_answer = on_answer

    def __call__(self, **kwargs: Any) -> None:
        name = str(kwargs.get("event_name", "unknown")).rsplit(".", 1)[-1]
        if self.on_answer is not None:
            headers = (kwargs.get("response_dict") or {}).get("headers")
            self.on_answer(kwargs.get("context"), headers)
        if self.counter is None:
            return
        exc = kwargs.get("exception")
        parsed = kwargs.get("parsed_response") or {}
        if exc is not None:
            outcome = classify(exc, name, write=name in self.writes).kind.value
        elif isinstance(parsed, dict) and "Error" in parsed:
            status = int(parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            code = str(parsed["Error"].get("Code", ""))
            message = str(parsed["Error"].get("Message", ""))
            # A 5xx on a purchase counts as `ambiguous`, as the purchase code sees it.
            outcome = error_kind(code, message, status, write=name in self.writes).value
        else:
            outcome = "ok"
        self.counter.add(name, outcome)
