"""The one DynamoDB table behind the journal and the leader lease: keys, client, errors, and
the fence every purchase's write carries.

Single-table design: every item has a string partition key `pk` and sort key `sk`
(docs/deployment.md lists what lives under which key; deploy/dynamodb/table.yaml creates
the table). Values go in and out through boto3's TypeSerializer and TypeDeserializer: money
and times are stored as strings, counters and epoch milliseconds as numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from watcher.aws.calls import CallCounter
from watcher.aws.clients import make_client
from watcher.aws.errors import ErrorKind, classify
from watcher.journal.records import Fence

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, ConditionCheckTypeDef

PK = "pk"
SK = "sk"
KEY_SCHEMA: list[dict[str, str]] = [
    {"AttributeName": PK, "KeyType": "HASH"},
    {"AttributeName": SK, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS: list[dict[str, str]] = [
    {"AttributeName": PK, "AttributeType": "S"},
    {"AttributeName": SK, "AttributeType": "S"},
]

# Partition keys: one partition per kind of item (the volumes are small: a few items a day).
INTENTS = "intent"
EVENTS = "event"
PROPOSALS = "proposal"
LIVE_PROPOSALS = "proposal-live"  # guard: one live proposal per (plan ARN, plan end)
SETTINGS = "setting"
COUNTERS = "counter"
LEASE = "lease"
LEASE_SK = "leader"

# Codes the journal and the lease handle themselves (a lost conditional write).
CONDITIONAL_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
_THROTTLED = frozenset({"ProvisionedThroughputExceededException", "RequestLimitExceeded"})

Item = dict[str, "AttributeValueTypeDef"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class JournalUnavailable(Exception):
    """The table could not be read or written (throttled, unreachable, missing, denied).

    The cycle that met it fails; nothing is bought without its intent written first."""

    def __init__(self, kind: str, action: str, detail: str) -> None:
        super().__init__(f"DynamoDB journal {action} failed ({kind}): {detail}")
        self.kind = kind


def table_client(
    region: str | None = None, timeout_seconds: float = 5.0, counter: CallCounter | None = None
) -> DynamoDBClient:
    """A DynamoDB client from the ambient credentials, region and endpoint
    (`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`), with bounded timeouts so that a
    lease heartbeat never waits longer than the lease lasts; requests counted in `counter`."""
    session = boto3.session.Session()
    client: DynamoDBClient = make_client(
        session,
        "dynamodb",
        region=session.region_name or region,
        attempts=3,
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        counter=counter,
    )
    return client


def create_table(client: DynamoDBClient, name: str) -> None:
    """Create the table with the journal's key schema (tests and local use; in AWS, deploy
    deploy/dynamodb/table.yaml instead) and wait until it is active."""
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,  # type: ignore[arg-type]
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,  # type: ignore[arg-type]
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per-item reasons of a cancelled TransactWriteItems, in request order ("None" = fine)."""
    reasons = exc.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


@contextmanager
def calling(action: str) -> Iterator[None]:
    """Translate any DynamoDB failure except a lost conditional write into JournalUnavailable."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in CONDITIONAL_CODES:
            raise
        if code in _THROTTLED:
            raise JournalUnavailable(ErrorKind.THROTTLED.value, action, code) from exc
        error = classify(exc, action, write=False)
        raise JournalUnavailable(error.kind.value, action, str(error)) from exc
    except BotoCoreError as exc:
        raise JournalUnavailable("unreachable", action, str(exc)) from exc


def query_all(client: DynamoDBClient, table: str, pk: str, action: str) -> list[dict[str, Any]]:
    """Every item in partition `pk`, strongly consistent, following every page, as values."""
    items: list[dict[str, Any]] = []
    with calling(action):
        pages = client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues=attributes({":pk": pk}),
            ConsistentRead=True,
        )
        for page in pages:
            items.extend(values_of(item) for item in page.get("Items", []))
    return items


def get_item(
    client: DynamoDBClient, table: str, pk: str, sk: str, action: str
) -> dict[str, Any] | None:
    """The item under (`pk`, `sk`) as values, strongly consistent; None if there is none."""
    with calling(action):
        found = client.get_item(TableName=table, Key=key(pk, sk), ConsistentRead=True)
    item = found.get("Item")
    return values_of(item) if item else None


def key(pk: str, sk: str) -> Item:
    return attributes({PK: pk, SK: sk})


def attributes(values: Mapping[str, object]) -> Item:
    """Plain values as DynamoDB attributes; a None is left out (the attribute is absent)."""
    return {
        name: _SERIALIZER.serialize(value) for name, value in values.items() if value is not None
    }


def values_of(item: Mapping[str, AttributeValueTypeDef]) -> dict[str, Any]:
    """DynamoDB attributes as plain values (numbers come back as Decimal)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def fence_condition(table: str, fence: Fence, now: datetime) -> ConditionCheckTypeDef:
    """The ConditionCheck that makes a write depend on `fence` still holding an unexpired
    leader lease (by the writer's own clock `now`; watcher/ha/lease.py keeps the lease)."""
    return {
        "TableName": table,
        "Key": key(LEASE, LEASE_SK),
        "ConditionExpression": "holder = :owner AND #token = :token AND expires_at > :now",
        "ExpressionAttributeNames": {"#token": "token"},
        "ExpressionAttributeValues": attributes(
            {":owner": fence.owner, ":token": fence.token, ":now": epoch_ms(now)}
        ),
    }
