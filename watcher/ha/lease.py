"""The leader lease: one item in the journal's DynamoDB table, taken and kept with
conditional writes.

The item (`pk = lease`, `sk = leader`) holds `holder` (the replica's owner id), `token` (a
number that grows by one on every acquisition and is never reset) and `expires_at` (epoch
milliseconds by the writer's clock). A replica acquires it when it is free, expired, or
already its own, and renews it only while `holder` and `token` are still its own. The fence
(owner, token) goes into every purchase intent's transaction as a ConditionCheck (the
journal's `fence_condition`, in watcher/journal/table.py), so a replica whose lease was taken
over can never open an intent, however long it stalled and whatever its clock says.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from watcher.clock import Clock
from watcher.journal.records import Fence
from watcher.journal.table import (
    LEASE,
    LEASE_SK,
    PK,
    attributes,
    calling,
    epoch_ms,
    error_code,
    key,
    values_of,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


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
                    ExpressionAttributeValues=attributes(
                        {
                            ":me": self.owner,
                            ":expires": epoch_ms(now + self.duration),
                            ":now": epoch_ms(now),
                            ":zero": 0,
                            ":one": 1,
                        }
                    ),
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return Fence(self.owner, int(values_of(found["Attributes"])["token"]))

    def renew(self, fence: Fence) -> bool:
        """Push the expiry out by `duration`, only while `fence` still holds the lease."""
        now = self.clock.now()
        return self._write_if_held(
            fence,
            "renew lease",
            "SET expires_at = :expires",
            {":expires": epoch_ms(now + self.duration)},
        )

    def release(self, fence: Fence) -> bool:
        """Give the lease up at once (a clean stop), keeping the token so the next holder's
        is higher; False if it was no longer ours."""
        return self._write_if_held(
            fence, "release lease", "REMOVE holder SET expires_at = :zero", {":zero": 0}
        )

    def _write_if_held(
        self, fence: Fence, action: str, update: str, values: dict[str, object]
    ) -> bool:
        try:
            with calling(action):
                self.client.update_item(
                    TableName=self.table,
                    Key=key(LEASE, LEASE_SK),
                    UpdateExpression=update,
                    ConditionExpression="holder = :me AND #token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues=attributes(
                        {":me": fence.owner, ":token": fence.token, **values}
                    ),
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
