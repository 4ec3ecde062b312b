"""A boto3 session per target: ambient credentials, or an assumed role that refreshes itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.credentials import (
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)


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

    def __init__(self, base: boto3.Session, target: TargetSpec) -> None:
        super().__init__()
        self._base = base
        self._target = target

    def load(self) -> Credentials:
        return DeferredRefreshableCredentials(refresh_using=self._fetch, method=self.METHOD)

    def _fetch(self) -> dict[str, Any]:
        sts = self._base.client("sts", region_name=self._target.region)
        request: dict[str, Any] = {
            "RoleArn": self._target.role_arn,
            "RoleSessionName": role_session_name(self._target.name),
            "DurationSeconds": 3600,
        }
        if self._target.external_id:
            request["ExternalId"] = self._target.external_id
        creds = sts.assume_role(**request)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }


def target_session(target: TargetSpec, base: boto3.Session | None = None) -> boto3.Session:
    """A session for `target`; with a role, credentials are fetched lazily and refreshed."""
    if not target.role_arn:
        return boto3.Session(region_name=target.region)
    base = base or boto3.Session(region_name=target.region)
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    resolver.insert_before("env", _AssumeRoleProvider(base, target))
    return boto3.Session(botocore_session=core, region_name=target.region)
