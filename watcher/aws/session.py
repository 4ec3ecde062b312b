"""A boto3 session per target: ambient credentials, or an assumed role that refreshes itself."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.credentials import (
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import ClientError

from watcher.aws.calls import CallCounter
from watcher.aws.clients import make_client


@dataclass(frozen=True)
class TargetSpec:
    """Where to look: an account and region, reached through an optional role."""

    name: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None


def role_session_name(target: str) -> str:
    """What CloudTrail shows for plan-watcher's calls in the target account."""
    cleaned = re.sub(r"[^\w+=,.@-]", "-", f"plan-watcher-{target}")
    return cleaned[:64]


class _AssumeRoleProvider(CredentialProvider):
    METHOD = "plan-watcher-assume-role"
    CANONICAL_NAME = "plan-watcher-assume-role"

    def __init__(
        self, base: boto3.Session, target: TargetSpec, counter: CallCounter | None
    ) -> None:
        super().__init__()
        self._base = base
        self._target = target
        self._counter = counter
        self._sts: Any = None

    def load(self) -> Credentials:
        return DeferredRefreshableCredentials(refresh_using=self._fetch, method=self.METHOD)

    def _client(self) -> Any:
        # boto3 sessions are not thread-safe, and several targets may share one base session
        # while their survey threads refresh at the same moment: build each client under a lock.
        with _CLIENT_LOCK:
            if self._sts is None:
                self._sts = make_client(
                    self._base, "sts", region=self._target.region, attempts=3, counter=self._counter
                )
            return self._sts

    def _fetch(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "RoleArn": self._target.role_arn,
            "RoleSessionName": role_session_name(self._target.name),
            "DurationSeconds": 3600,
        }
        if self._target.external_id:
            request["ExternalId"] = self._target.external_id
        try:
            creds = self._client().assume_role(**request)["Credentials"]
        except ClientError as exc:
            # Keep AWS's code (so the failure is classified as denied, throttled, ...) and say
            # which role of which target could not be assumed.
            raise _role_error(exc, self._target) from exc
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }


_CLIENT_LOCK = threading.Lock()


def _role_error(exc: ClientError, target: TargetSpec) -> ClientError:
    response: dict[str, Any] = dict(exc.response)
    error: dict[str, Any] = dict(response.get("Error") or {})
    error["Message"] = (
        f"cannot assume {target.role_arn} for target {target.name}: {error.get('Message', '')}"
    )
    response["Error"] = error
    return ClientError(response, exc.operation_name)  # type: ignore[arg-type]


def target_session(
    target: TargetSpec, base: boto3.Session | None = None, counter: CallCounter | None = None
) -> boto3.Session:
    """A session for `target`; with a role, credentials are fetched lazily and refreshed
    (the STS requests counted in `counter`)."""
    if not target.role_arn:
        return boto3.Session(region_name=target.region)
    base = base or boto3.Session(region_name=target.region)
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    resolver.insert_before("env", _AssumeRoleProvider(base, target, counter))
    return boto3.Session(botocore_session=core, region_name=target.region)
