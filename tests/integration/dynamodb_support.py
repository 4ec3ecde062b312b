"""DynamoDB in-process (moto) for the journal and lease tests.

moto applies a TransactWriteItems as check-then-write without a lock, so two threads can
interleave inside one transaction; DynamoDB serialises writes to an item. `serialised_dynamodb`
gives moto that property by handling one DynamoDB request at a time, so the concurrency tests
exercise the journal's conditional writes rather than moto's thread safety.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from watcher.journal.table import create_table

TABLE = "plan-watcher-test"
REGION = "us-east-1"


@contextmanager
def serialised_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's mock with one DynamoDB request handled at a time; yields a client whose table
    `TABLE` exists."""
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        yield client
