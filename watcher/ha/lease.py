"""The leader lease: one item in the journal's DynamoDB table, taken and kept with
conditional writes.

The item (`pk = lease`, `sk = leader`) holds `holder` (the replica's owner id), `token` (a
number that grows by one on every acquisition and is never reset) and `expires_at` (epoch
milliseconds by the writer's clock). A replica acquires it when it is free, expired, or
already its own, and renews it only while `holder` and `token` are still its own. The fence
(owner, token) goes into every purchase intent's transaction as a ConditionCheck (see
`fence_condition`), so a replica whose lease was taken over can never open an intent, however
long it stalled and whatever its clock says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from watcher.clock import Clock
from watcher.journal.records import Fence
from watcher.journal.table import (
    LEASE,
    PK,
    calling,
    error_code,
    get_item,
    key,
    n,
    number,
    optional_text,
    s,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, ConditionCheckTypeDef

LEASE_SK = "leader"


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class LeaseRecord:
    """What the table says about the lease."""

    holder: str | None
    token: int
    expires_at: datetime


def fence_condition(table: str, fence: Fence, now: datetime) -> ConditionCheckTypeDef:
    """The ConditionCheck that makes a write depend on `fence` still holding an unexpired
    lease (by the writer's own clock `now`)."""
    return {
        "TableName": table,
        "Key": key(LEASE, LEASE_SK),
        "ConditionExpression": "holder = :owner AND #token = :token AND expires_at > :now",
        "ExpressionAttributeNames": {"#token": "token"},
        "ExpressionAttributeValues": {
            ":owner": s(fence.owner),
            ":token": n(fence.token),
            ":now": n(epoch_ms(now)),
        },
    }


class Lease:
    """Acquire, renew and release the leader lease for `owner`."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        owner: str,
        duration: timedelta,
        clock: Clock,
    ) -> None:
        self.client = client
        self.table = table
        self.owner = owner
        self.duration = duration
        self.clock = clock

    def acquire(self) -> Fence | None:
        """Take the lease if it is free, expired or ours, with a new token; None if another
        replica holds it. Raises JournalUnavailable if the table cannot be reached."""
        now = self.clock.now()
        try:
            with calling("acquire lease"):
                found = self.client.update_item(
                    TableName=self.table,
                    Key=key(LEASE, LEASE_SK),
                    UpdateExpression="SET holder = :me, expires_at = :expires, "
                    "#token = if_not_exists(#token, :zero) + :one",
                    ConditionExpression="attribute_not_exists(#pk) OR attribute_not_exists(holder)"
                    " OR holder = :me OR expires_at <= :now",
                    ExpressionAttributeNames={"#pk": PK, "#token": "token"},
                    ExpressionAttributeValues={
                        ":me": s(self.owner),
                        ":expires": n(epoch_ms(now + self.duration)),
                        ":now": n(epoch_ms(now)),
                        ":zero": n(0),
                        ":one": n(1),
                    },
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return Fence(self.owner, number(found["Attributes"], "token"))

    def renew(self, fence: Fence) -> bool:
        """Push the expiry out by `duration`, only while `fence` still holds the lease."""
        now = self.clock.now()
        return self._write_if_held(
            fence,
            "renew lease",
            "SET expires_at = :expires",
            {":expires": n(epoch_ms(now + self.duration))},
        )

    def release(self, fence: Fence) -> bool:
        """Give the lease up at once (a clean stop), keeping the token so the next holder's
        is higher; False if it was no longer ours."""
        return self._write_if_held(
            fence, "release lease", "REMOVE holder SET expires_at = :zero", {":zero": n(0)}
        )

    def read(self) -> LeaseRecord | None:
        item = get_item(self.client, self.table, LEASE, LEASE_SK, "read lease")
        if item is None:
            return None
        expires = datetime.fromtimestamp(number(item, "expires_at") / 1000, tz=UTC)
        return LeaseRecord(optional_text(item, "holder"), number(item, "token"), expires)

    def _write_if_held(
        self, fence: Fence, action: str, update: str, values: dict[str, AttributeValueTypeDef]
    ) -> bool:
        try:
            with calling(action):
                self.client.update_item(
                    TableName=self.table,
                    Key=key(LEASE, LEASE_SK),
                    UpdateExpression=update,
                    ConditionExpression="holder = :me AND #token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={
                        ":me": s(fence.owner),
                        ":token": n(fence.token),
                        **values,
                    },
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
