"""The one DynamoDB table behind the journal and the leader lease: keys, client, errors.

Single-table design: every item has a string partition key `pk` and sort key `sk`
(docs/deployment.md lists what lives under which key; deploy/dynamodb/table.yaml creates
the table). Money and times are stored as strings, counters and epoch milliseconds as numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from watcher.aws.errors import ErrorKind, classify

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

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

# Codes the journal and the lease handle themselves (a lost conditional write).
CONDITIONAL_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
_THROTTLED = frozenset({"ProvisionedThroughputExceededException", "RequestLimitExceeded"})

Item = dict[str, "AttributeValueTypeDef"]


class JournalUnavailable(Exception):
    """The table could not be read or written (throttled, unreachable, missing, denied).

    The cycle that met it fails; nothing is bought without its intent written first."""

    def __init__(self, kind: str, action: str, detail: str) -> None:
        super().__init__(f"DynamoDB journal {action} failed ({kind}): {detail}")
        self.kind = kind


def table_client(region: str | None = None, timeout_seconds: float = 5.0) -> DynamoDBClient:
    """A DynamoDB client from the ambient credentials, region and endpoint
    (`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`), with bounded timeouts so that a
    lease heartbeat never waits longer than the lease lasts."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
    )
    session = boto3.session.Session()
    client: DynamoDBClient = session.client(
        "dynamodb", region_name=session.region_name or region, config=config
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


def query_all(client: DynamoDBClient, table: str, pk: str, action: str) -> list[Item]:
    """Every item in partition `pk`, strongly consistent, following every page."""
    items: list[Item] = []
    with calling(action):
        pages = client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        for page in pages:
            items.extend(page.get("Items", []))
    return items


def get_item(client: DynamoDBClient, table: str, pk: str, sk: str, action: str) -> Item | None:
    with calling(action):
        found = client.get_item(TableName=table, Key=key(pk, sk), ConsistentRead=True)
    item = found.get("Item")
    return dict(item) if item else None


def key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"])


def optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else str(value["S"])


def number(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])
