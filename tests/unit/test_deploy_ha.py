"""Several replicas, deployed: the DynamoDB table's template matches the key schema the code
uses, the DynamoDB policy grants exactly the item operations the code calls, and the
Kubernetes HA overlay renders two spread, disruption-protected replicas on a DynamoDB journal.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore.session
import kubernetes_validate
import pytest
import yaml
from botocore import xform_name

from tests.unit.test_deploy_ecs import CloudFormationLoader
from tests.unit.test_deploy_iam import granted, load_policy
from tests.unit.test_deploy_kubernetes import CRD_KINDS, K8S_VERSIONS, kustomize, one
from watcher.config import Mode, load_config
from watcher.journal.table import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA

REPO = Path(__file__).resolve().parents[2]
TABLE_TEMPLATE = REPO / "deploy" / "dynamodb" / "table.yaml"
POLICY = REPO / "deploy" / "iam" / "dynamodb-policy.json"
OVERLAY = REPO / "deploy" / "kubernetes" / "overlays" / "ha"
# Where the daemon talks to DynamoDB (the journal and the lease).
CALLERS = [
    *sorted((REPO / "watcher" / "journal").glob("*.py")),
    *sorted((REPO / "watcher" / "ha").glob("*.py")),
]
# A transaction needs the permission of each kind of item operation inside it.
IN_TRANSACTIONS = {"PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"}
# Client methods that are no request to the table (or only for tests and local use).
NOT_THE_DAEMONS = {"close", "get_paginator", "get_waiter", "create_table"}


def table_template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TABLE_TEMPLATE.read_text(), Loader=CloudFormationLoader)
    return data


def test_the_table_has_the_codes_key_schema_and_is_protected() -> None:
    template = table_template()
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    props = table["Properties"]
    assert props["KeySchema"] == KEY_SCHEMA
    assert props["AttributeDefinitions"] == ATTRIBUTE_DEFINITIONS
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert "GlobalSecondaryIndexes" not in props  # every query is by partition key
    default = template["Parameters"]["TableName"]["Default"]
    assert POLICY.read_text().count(f':table/{default}"') == 1  # the policy names that table


def dynamodb_calls() -> set[str]:
    """DynamoDB operations the daemon's code calls on a client (paginators included)."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    by_method = {xform_name(op): op for op in model.operation_names}
    found: set[str] = set()
    for path in CALLERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                name = receiver.attr if isinstance(receiver, ast.Attribute) else ""
                name = receiver.id if isinstance(receiver, ast.Name) else name
                method = node.func.attr
                if name == "client" and method not in NOT_THE_DAEMONS:
                    assert method in by_method, f"{path.name}: client.{method} is no operation"
                    found.add(by_method[method])
                if method == "get_paginator" and isinstance(node.args[0], ast.Constant):
                    found.add(by_method[str(node.args[0].value)])
    return found


def test_the_policy_grants_exactly_what_the_journal_and_lease_call() -> None:
    calls = dynamodb_calls()
    assert {"TransactWriteItems", "UpdateItem", "Query", "GetItem"} <= calls  # the scan works
    expected = {op for op in calls if op != "TransactWriteItems"}
    if "TransactWriteItems" in calls:
        expected |= IN_TRANSACTIONS
    actions = granted(load_policy(POLICY))
    assert set(actions) == {f"dynamodb:{op}" for op in expected}
    for resources in actions.values():
        assert resources == {"arn:aws:dynamodb:*:*:table/plan-watcher-journal"}


# --- the Kubernetes overlay ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(OVERLAY)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_overlay_core_kinds_validate(rendered: list[dict[str, Any]], version: str) -> None:
    core = [d for d in rendered if (d["apiVersion"], d["kind"]) not in CRD_KINDS]
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)
    assert "PodDisruptionBudget" in {d["kind"] for d in core}


def test_two_replicas_on_different_nodes_and_no_journal_volume(
    rendered: list[dict[str, Any]],
) -> None:
    assert "PersistentVolumeClaim" not in {d["kind"] for d in rendered}
    deployment = one(rendered, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    (required,) = pod["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert required["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = pod["containers"]
    assert "/var/lib/plan-watcher" not in {m["mountPath"] for m in container["volumeMounts"]}
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    assert deployment["metadata"]["namespace"] == "plan-watcher"

    budget = one(rendered, "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == "plan-watcher"
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_overlay_config_is_a_dynamodb_journal_with_a_lease(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    configmap = one(rendered, "ConfigMap")
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    mounted = tmp_path / "watcher.yaml"
    mounted.write_text(configmap["data"]["watcher.yaml"])
    config = load_config(mounted, environ={})
    assert config.state.dynamodb_table == "plan-watcher-journal"
    assert config.state.lease.renew_every * 3 <= config.state.lease.duration
    assert config.mode == Mode.DRY_RUN
    base = yaml.safe_load((REPO / "deploy/kubernetes/base/watcher.yaml").read_text())
    overlay = yaml.safe_load(configmap["data"]["watcher.yaml"])
    assert {k: v for k, v in overlay.items() if k != "state"} == {
        k: v for k, v in base.items() if k != "state"
    }, "the HA config differs from the base only in state:"
