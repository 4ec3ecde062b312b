"""Config sections for running plan-watcher with people and replicas around it: approvals,
notifications, safety valves and the leader lease."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)

from watcher.config.limits import Limits
from watcher.config.values import SNS_ARN_PATTERN, Duration, MoneyAmount, describe

_PERCENT = re.compile(r"^([0-9]{1,3}(\.[0-9]{1,4})?)%$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
MAX_RETRY_BACKOFF = timedelta(days=14)
#: How long a purchase with an unknown outcome is given to appear in AWS's extension history.
#: AWS documents neither how long an offering stays valid nor how soon the history shows a
#: purchase: this is a choice (docs/decisions.md).
DEFAULT_SETTLE_AFTER = timedelta(minutes=30)
MIN_SETTLE_AFTER = timedelta(minutes=5)
MAX_SETTLE_AFTER = timedelta(days=1)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)


def parse_percent(value: object) -> Decimal:
    """Parse "5%" or "2.5%" into a fraction (Decimal("0.05")); bare numbers are refused."""
    if not isinstance(value, str) or not _PERCENT.match(value):
        raise ValueError(f'expected a percentage like "5%", got {describe(value)}')
    try:
        fraction = Decimal(value[:-1]) / 100
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{value!r} is not a percentage") from None
    if fraction > 1:
        raise ValueError(f"must be at most 100%, got {value}")
    return fraction


Percent = Annotated[Decimal, PlainValidator(parse_percent)]


class Approval(_Section):
    """How proposals under `action: propose` are approved, re-checked and escalated."""

    fee_tolerance: Percent = Field(
        default=Decimal("0.05"),
        description="at purchase time the offer's fee may exceed the approved fee by this much",
        json_schema_extra={"type": "string", "default": "5%"},
    )
    auto_approve_below: MoneyAmount | None = Field(
        default=None,
        description="a proposal whose fee is below this is approved automatically within "
        "auto_approve_within of the plan's deadline; omit to fail closed",
    )
    auto_approve_within: Duration = Field(
        default=timedelta(hours=6),
        description="how long before the deadline auto_approve_below applies",
    )
    by_tag: StrictBool = Field(
        default=True,
        description="whether the plan-watcher/approve and plan-watcher/reject tags on the "
        "plan decide proposals; false: only `plan-watcher approve` / `reject` do",
    )
    two_person_above: MoneyAmount | None = Field(
        default=None,
        description="a proposal whose fee is above this needs `plan-watcher approve` by two "
        "different people (tag approvals do not count); omit for one approval",
    )


def check_webhook_url(value: str) -> str:
    """An http(s) URL with a host, a port in range and no user-info; raise ValueError.

    Messages never quote the URL: its path or query may hold a secret."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # "Invalid IPv6 URL": quotes nothing
        raise ValueError(f"is not a valid URL ({exc})") from None
    try:
        port = parts.port
    except ValueError:  # urllib's message quotes the port's text
        raise ValueError("port must be between 1 and 65535") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("port must be between 1 and 65535")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not carry a user name or password (user@host); use token_env for credentials"
        )
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Webhook(_Section):
    """A JSON POST for every notice. The token is read from the environment, never the file."""

    url: StrictStr = Field(
        description="https://host[:port]/path; http:// only without a token or on loopback",
        # Checked by check_webhook_url, whose messages never quote the URL.
        json_schema_extra={"pattern": r"^https?://\S+$"},
    )
    token_env: StrictStr | None = Field(
        default=None, description="environment variable holding the token sent in `header`"
    )
    header: StrictStr = Field(default="Authorization", description="header that carries it")
    timeout: Duration = Field(default=timedelta(seconds=5))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_webhook_url(value)

    @property
    def token_in_clear(self) -> bool:
        """True when a token would travel unencrypted off this machine (checks.py refuses)."""
        parts = urlsplit(self.url)
        return (
            bool(self.token_env)
            and parts.scheme == "http"
            and not is_loopback(parts.hostname or "")
        )

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.match(value):
            # Not quoted: the mistake this catches is often the whole header, token included.
            raise ValueError(
                "is not an HTTP header name (the name only, e.g. Authorization: the token "
                "comes from token_env)"
            )
        return value

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # Not quoted: the mistake this catches is often the token itself.
            raise ValueError(
                "is not an environment variable name (letters, digits and _: the name of "
                "the variable that holds the token, never the token)"
            )
        return value


class Notifications(_Section):
    """Where notices go: an SNS topic, a webhook, both or neither."""

    sns_topic_arn: StrictStr | None = Field(default=None, pattern=SNS_ARN_PATTERN)
    webhook: Webhook | None = None
    retries: StrictInt = Field(default=3, ge=0, le=10, description="extra attempts per notice")


class Safety(_Section):
    """Valves that stop spending when something looks wrong."""

    circuit_breaker_failures: StrictInt = Field(
        default=3, ge=1, le=100, description="purchase failures in a row that pause purchases"
    )
    retry_backoff: Duration = Field(
        default=timedelta(minutes=15),
        description="wait after a failed purchase; doubles per failure, but never past a "
        "quarter of the time left before the plan's deadline",
    )
    limits: Limits = Field(
        default_factory=Limits,
        description="blast-radius limits per cycle and per rolling 24 hours, across targets",
    )

    settle_after: Duration = Field(
        default=DEFAULT_SETTLE_AFTER,
        description="how long a purchase with an unknown outcome is given to appear in AWS's "
        "extension history before it is settled as not bought (the plan is in_flight "
        "meanwhile); 5m to 1d",
    )

    @field_validator("settle_after")
    @classmethod
    def _settle(cls, value: timedelta) -> timedelta:
        # AWS documents no bound on how soon its history shows a purchase: too short, and a
        # purchase that is merely slow to appear is bought again; too long, and a plan waits
        # while its deadline comes closer.
        if not MIN_SETTLE_AFTER <= value <= MAX_SETTLE_AFTER:
            raise ValueError("must be between 5m and 1d")
        return value

    @field_validator("retry_backoff")
    @classmethod
    def _backoff(cls, value: timedelta) -> timedelta:
        # A plan is due at most 56 days before it ends and a retry waits at most a quarter of
        # what is left, so a longer start is never waited; it would only overflow when doubled.
        if value > MAX_RETRY_BACKOFF:
            raise ValueError("must be at most 14d (a retry never waits longer than that)")
        return value


class Lease(_Section):
    """Leader election for several replicas sharing a DynamoDB journal."""

    duration: Duration = Field(default=timedelta(seconds=60), description="lease lifetime")
    renew_every: Duration = Field(default=timedelta(seconds=15), description="heartbeat")

    @field_validator("duration", "renew_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value
