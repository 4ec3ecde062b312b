"""plan-watcher's own cut of the SageMaker model (watcher/aws/service_model.py): what its
clients load, that it agrees with botocore's model, and that it keeps every field read."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.loaders import Loader
from botocore.utils import parse_timestamp

from watcher.aws import service_model
from watcher.aws.sagemaker import OPERATIONS, SageMakerGateway, _timestamp
from watcher.aws.session import TargetSpec

AWS = Path(service_model.__file__).resolve().parent
SHIPPED = AWS / "models" / "sagemaker" / "2017-07-24" / "service-2.json"


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    model: dict[str, Any] = Loader().load_service_model("sagemaker", "service-2")
    return model


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    model: dict[str, Any] = json.loads(SHIPPED.read_text())
    return model


def _refs(shape: dict[str, Any]) -> list[str]:
    inner = [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    return inner + [m["shape"] for m in shape.get("members", {}).values()]


def _reachable(model: dict[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(model["shapes"][name]))
    return seen


def test_a_gateways_clients_know_only_the_operations_plan_watcher_calls() -> None:
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    gateway = SageMakerGateway(TargetSpec("t", "us-east-1"), session)
    for client in (gateway._read, gateway._write):
        model = client.meta.service_model
        assert sorted(model.operation_names) == sorted(OPERATIONS)
        summary = model.shape_for("TrainingPlanSummary").members
        assert "ReservedCapacitySummaries" in summary and "DurationHours" not in summary


def test_the_shipped_model_has_every_operation_and_every_shape_it_names(
    shipped: dict[str, Any],
) -> None:
    assert sorted(shipped["operations"]) == sorted(OPERATIONS)
    roots = [
        ref["shape"]
        for op in shipped["operations"].values()
        for ref in [op.get("input"), op.get("output"), *op.get("errors", [])]
        if ref is not None
    ]
    assert _reachable(shipped, roots) == set(shipped["shapes"])
    assert "documentation" not in SHIPPED.read_text()


def test_the_shipped_model_agrees_with_botocores(
    shipped: dict[str, Any], full: dict[str, Any]
) -> None:
    """Every operation, shape and member is botocore's (a newer botocore may add members;
    nothing here may differ from what it has). Requests are validated in full."""
    assert shipped["metadata"] == full["metadata"]
    for name, operation in shipped["operations"].items():
        theirs = {k: v for k, v in full["operations"][name].items() if k != "documentation"}
        assert operation == theirs
    inputs = _reachable(
        shipped, [op["input"]["shape"] for op in shipped["operations"].values() if "input" in op]
    )
    for name, shape in shipped["shapes"].items():
        theirs = full["shapes"][name]
        assert shape["type"] == theirs["type"], name
        for member, ref in shape.get("members", {}).items():
            assert ref["shape"] == theirs["members"][member]["shape"], f"{name}.{member}"
        if name in inputs:
            assert set(shape.get("members", {})) == set(theirs.get("members", {})), name


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_every_field_the_parsers_read_is_kept(
    shipped: dict[str, Any], full: dict[str, Any]
) -> None:
    """A name in parse.py or sagemaker.py that is a member of an answer's structure in
    botocore's model is a field read: the shipped model must keep it, or botocore would drop
    it from every answer and the parsers would see it missing."""
    outputs = _reachable(full, [full["operations"][op]["output"]["shape"] for op in OPERATIONS])
    answer_fields = {
        member
        for name in outputs
        for member in full["shapes"][name].get("members", {})
        if full["shapes"][name]["type"] == "structure"
    }
    read = (_literals(AWS / "parse.py") | _literals(AWS / "sagemaker.py")) & answer_fields
    kept = {
        member
        for name in outputs & set(shipped["shapes"])
        for member in shipped["shapes"][name].get("members", {})
    }
    assert {"TrainingPlanArn", "EndTime", "InstancePreferences", "MaxRuntimeInSeconds"} <= read
    assert read - kept == set()


def test_the_generator_keeps_what_read_names_and_fails_on_a_field_botocore_lacks(
    full: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    trimmed = service_model.trim(full, OPERATIONS)
    for name, members in service_model.READ.items():
        assert tuple(trimmed["shapes"][name]["members"]) == members
    monkeypatch.setitem(service_model.READ, "ClusterSummary", ("ClusterArn", "NoSuchField"))
    with pytest.raises(KeyError, match="NoSuchField"):
        service_model.trim(full, OPERATIONS)


@pytest.mark.parametrize(
    "value", [0, 1_700_000_000, 1_700_000_000.125, "2025-01-02T03:04:05Z", "1700000000"]
)
def test_timestamps_are_read_as_botocore_reads_them(value: Any) -> None:
    ours = _timestamp(value)
    assert ours == parse_timestamp(value)
    if not isinstance(value, str):
        assert ours.tzinfo is UTC


def test_a_timestamp_out_of_range_fails_as_botocores_does() -> None:
    with pytest.raises(Exception) as theirs:
        parse_timestamp(10**20)
    with pytest.raises(type(theirs.value)):
        _timestamp(10**20)
    assert _timestamp(253402300799) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _endpoint(loader: Loader, region: str, **config: Any) -> str:
    from botocore.config import Config

    session = boto3.Session(region_name=region, aws_access_key_id="k", aws_secret_access_key="s")
    session._session.register_component("data_loader", loader)
    client = session.client("sagemaker", config=Config(**config))
    return str(client.meta.endpoint_url)


def test_the_shipped_endpoints_give_every_region_the_endpoint_botocore_gives() -> None:
    ours, theirs = service_model.loader(), Loader()
    regions = [
        region
        for partition in theirs.load_data("endpoints")["partitions"]
        for region in partition["regions"]
    ]
    assert "us-gov-west-1" in regions and "cn-north-1" in regions
    for region in regions:
        assert _endpoint(ours, region) == _endpoint(theirs, region), region
    for region in ("us-east-1", "us-gov-west-1", "ca-central-1", "cn-north-1"):
        for variant in ({"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}):
            assert _endpoint(ours, region, **variant) == _endpoint(theirs, region, **variant)
    shipped = json.loads((AWS / "models" / "endpoints.json").read_text())
    assert [set(p["services"]) for p in shipped["partitions"]] == [
        {"api.sagemaker"} for _ in shipped["partitions"]
    ]
