"""deploy/iam: the least-privilege policy grants exactly what the code calls, no more."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

from watcher.aws.sagemaker import OPERATIONS

REPO = Path(__file__).resolve().parents[2]
IAM = REPO / "deploy" / "iam"
PLAN = "arn:aws:sagemaker:*:*:training-plan/*"
JOB = "arn:aws:sagemaker:*:*:training-job/*"
# Operations that AWS does not scope to a resource: they must be granted on "*".
UNSCOPED = {"ListTrainingPlans", "SearchTrainingPlanOfferings", "ListTrainingJobs", "ListClusters"}
CLIENTS = ("_read", "_write")  # the gateway's two boto3 clients
OTHER_ACTIONS = {"sts:AssumeRole"}  # session.py, for targets with role_arn


def load_policy(path: Path = IAM / "policy.json") -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(path.read_text())
    return policy


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Action -> the resources it is allowed on."""
    result: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            result.setdefault(action, set()).update(as_list(statement["Resource"]))
    return result


def sagemaker_calls_in_the_gateway() -> set[str]:
    """SageMaker operations named by client method or paginator in watcher/aws/."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    by_method = {xform_name(op): op for op in model.operation_names}
    found: set[str] = set()
    for path in (REPO / "watcher" / "aws").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                # self._read.describe_training_plan(...) / self._write.extend_training_plan(...)
                on_client = isinstance(receiver, ast.Attribute) and receiver.attr in CLIENTS
                if on_client and node.func.attr in by_method:
                    found.add(by_method[node.func.attr])
            if isinstance(node, ast.Constant) and node.value in by_method:
                found.add(by_method[node.value])  # paginator names, "list_training_plans"
    return found


def test_policy_grants_exactly_the_operations_the_code_calls() -> None:
    actions = set(granted(load_policy()))
    expected = {f"sagemaker:{op}" for op in OPERATIONS}
    sagemaker = {a for a in actions if a.startswith("sagemaker:")}
    assert sagemaker - expected == set(), "granted but never called"
    assert expected - sagemaker == set(), "called but not granted"
    assert actions - sagemaker == OTHER_ACTIONS
    assert not any("*" in a for a in actions), "no wildcard actions"


def test_operations_list_covers_every_call_in_the_gateway() -> None:
    calls = sagemaker_calls_in_the_gateway()
    assert {"ExtendTrainingPlan", "ListTrainingPlans"} <= calls  # the scan sees the calls
    assert calls - set(OPERATIONS) == set(), "called in watcher/aws/ but not in OPERATIONS"


def test_resources_are_scoped_where_aws_allows() -> None:
    resources = granted(load_policy())
    for op in OPERATIONS:
        scope = resources[f"sagemaker:{op}"]
        if op in UNSCOPED:
            assert scope == {"*"}, op
        elif op == "DescribeTrainingJob":
            assert scope == {JOB}, op
        else:
            assert scope == {PLAN}, op
    assert resources["sts:AssumeRole"] == {"arn:aws:iam::*:role/plan-watcher*"}


def test_trust_policy_trusts_one_principal_with_an_external_id() -> None:
    trust = load_policy(IAM / "trust-policy.json")
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    principal = statement["Principal"]["AWS"]
    assert principal.startswith("arn:aws:iam::") and ":role/" in principal
    assert "*" not in principal
    external = statement["Condition"]["StringEquals"]["sts:ExternalId"]
    assert isinstance(external, str) and external


APPROVAL_TAGS = ["plan-watcher/approve", "plan-watcher/reject"]


def test_delete_tags_is_limited_to_the_approval_tags() -> None:
    statements = load_policy()["Statement"]
    [statement] = [s for s in statements if "sagemaker:DeleteTags" in as_list(s["Action"])]
    assert as_list(statement["Action"]) == ["sagemaker:DeleteTags"]
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": APPROVAL_TAGS}}
    assert all("Condition" not in s for s in statements if s is not statement)


def test_the_one_account_variant_grants_the_same_actions_in_one_account() -> None:
    wide = granted(load_policy())
    scoped_policy = load_policy(IAM / "policy-one-account.json")
    scoped = granted(scoped_policy)
    assert set(scoped) == set(wide)
    account, regions = "111122223333", {"us-east-1", "us-west-2"}
    for statement in scoped_policy["Statement"]:
        resources = as_list(statement["Resource"])
        if resources == ["*"]:
            condition = statement["Condition"]["StringEquals"]["aws:RequestedRegion"]
            assert set(condition) == regions, statement["Sid"]
            continue
        for resource in resources:
            parts = resource.split(":")
            assert parts[4] == account, resource
            assert parts[3] in regions or parts[2] == "iam", resource
    deletes = [s for s in scoped_policy["Statement"] if "sagemaker:DeleteTags" in s["Action"]]
    assert deletes[0]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] == APPROVAL_TAGS


def _denied_by_guard(principal: str, action: str, resource: str, tag_keys: list[str]) -> bool:
    """The approvers' guard's one statement, evaluated as IAM would for these inputs."""
    from fnmatch import fnmatchcase

    [statement] = load_policy(IAM / "approvers-guard.json")["Statement"]
    assert statement["Effect"] == "Deny"
    if action not in as_list(statement["Action"]):
        return False
    if not any(fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
        return False
    condition = statement["Condition"]
    guarded = condition["ForAnyValue:StringEquals"]["aws:TagKeys"]
    approvers = condition["ArnNotLike"]["aws:PrincipalArn"]
    touches = any(key in guarded for key in tag_keys)
    is_approver = any(fnmatchcase(principal, pattern) for pattern in approvers)
    return touches and not is_approver


def test_the_guard_lets_only_approvers_set_the_approval_tags() -> None:
    plan = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a"
    approver = "arn:aws:iam::111122223333:role/plan-watcher-approvers"
    engineer = "arn:aws:iam::111122223333:role/ml-engineer"
    runtime = "arn:aws:iam::111122223333:role/plan-watcher-runtime"
    add = "sagemaker:AddTags"
    assert _denied_by_guard(engineer, add, plan, ["plan-watcher/approve"])
    assert _denied_by_guard(engineer, add, plan, ["team", "plan-watcher/reject"])
    assert _denied_by_guard(runtime, add, plan, ["plan-watcher/approve"])
    assert not _denied_by_guard(approver, add, plan, ["plan-watcher/approve"])
    assert not _denied_by_guard(engineer, add, plan, ["team", "cost-center"])
    # plan-watcher's own removal of the tags, and other resources, are left alone.
    assert not _denied_by_guard(runtime, "sagemaker:DeleteTags", plan, ["plan-watcher/approve"])
    job = "arn:aws:sagemaker:us-east-1:111122223333:training-job/run"
    assert not _denied_by_guard(engineer, add, job, ["plan-watcher/approve"])
