"""deploy/ecs: the CloudFormation template runs one watcher, never two, on a read-only root."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.test_deploy_iam import as_list, load_policy

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "ecs" / "plan-watcher.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads the short intrinsic tags (!Ref, !Sub, !GetAtt, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CloudFormationLoader)
    return data


T = load_template()
RESOURCES: dict[str, Any] = T["Resources"]


def resource(kind: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for r in RESOURCES.values() if r["Type"] == kind]
    return dict(found)


def resolve(value: Any) -> Any:
    """A parameter's default for !Ref, and the aws partition for ${AWS::Partition}."""
    if isinstance(value, dict) and "Ref" in value:
        return T["Parameters"][value["Ref"]]["Default"]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${AWS::Partition}", "aws")
    return value


def test_every_reference_points_at_something_defined() -> None:
    pseudo = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::NoValue"}
    known = set(T["Parameters"]) | set(RESOURCES) | pseudo
    nodes = [n for n in _walk(T) if isinstance(n, dict)]
    refs = {n["Ref"] for n in nodes if "Ref" in n}
    for n in nodes:
        if "Fn::Sub" in n:
            refs |= {name.split(".")[0] for name in re.findall(r"\$\{([^}]+)\}", n["Fn::Sub"])}
    getatts = {n["Fn::GetAtt"][0] for n in nodes if "Fn::GetAtt" in n}
    assert refs - known == set()
    assert getatts - set(RESOURCES) == set()
    assert {"TaskRole", "ExecutionRole"} <= getatts


def _walk(node: Any) -> list[Any]:
    found = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found.extend(_walk(child))
    return found


def test_service_runs_one_task_and_never_two_at_once() -> None:
    service = resource("AWS::ECS::Service")
    assert service["DesiredCount"] == 1
    assert service["LaunchType"] == "FARGATE"
    deployment = service["DeploymentConfiguration"]
    assert deployment["MaximumPercent"] == 100
    assert deployment["MinimumHealthyPercent"] == 0


def test_container_is_read_only_non_root_exec_form_with_the_journal_on_efs() -> None:
    task = resource("AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["User"] == "10001:10001"
    assert container["LinuxParameters"]["Capabilities"]["Drop"] == ["ALL"]
    assert container["Command"][:2] == ["run", "--config"]
    assert resolve(container["Command"][2]) == "/etc/plan-watcher/watcher.yaml"
    assert [p["ContainerPort"] for p in container["PortMappings"]] == [9108]
    assert container["HealthCheck"]["Command"][:3] == ["CMD", "python", "-c"]
    assert "127.0.0.1:9108/healthz" in container["HealthCheck"]["Command"][3]
    assert container["StopTimeout"] <= 120  # Fargate's ceiling

    volumes = {v["Name"]: v for v in task["Volumes"]}
    mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container["MountPoints"]}
    journal = volumes[mounts["/var/lib/plan-watcher"]]
    efs = journal["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"]["AccessPointId"] == {"Ref": "JournalAccessPoint"}
    assert "/tmp" in mounts
    access_point = resource("AWS::EFS::AccessPoint")
    assert access_point["PosixUser"] == {"Uid": "10001", "Gid": "10001"}


def test_task_role_grants_exactly_the_iam_policy() -> None:
    task = resource("AWS::ECS::TaskDefinition")
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    policies = {
        p["PolicyName"]: p["PolicyDocument"]
        for p in RESOURCES["TaskRole"]["Properties"]["Policies"]
    }

    def statements(
        document: dict[str, Any],
    ) -> dict[str, tuple[frozenset[str], frozenset[str], str]]:
        return {
            s["Sid"]: (
                frozenset(as_list(s["Action"])),
                frozenset(resolve(r) for r in _resources(s["Resource"])),
                json.dumps(s.get("Condition"), sort_keys=True),
            )
            for s in document["Statement"]
        }

    assert statements(policies.pop("plan-watcher")) == statements(load_policy())
    # Anything else on the role is the journal's file system, and nothing more.
    (journal,) = policies.values()
    for statement in journal["Statement"]:
        assert all(a.startswith("elasticfilesystem:Client") for a in statement["Action"])
        assert "AccessPointArn" in json.dumps(statement["Condition"])


def _resources(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_logs_go_to_the_stacks_log_group() -> None:
    (container,) = resource("AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    logging = container["LogConfiguration"]
    assert logging["LogDriver"] == "awslogs"
    assert logging["Options"]["awslogs-group"] == {"Ref": "LogGroup"}
    assert RESOURCES["LogGroup"]["Type"] == "AWS::Logs::LogGroup"


def test_the_metrics_ingress_source_is_required_and_never_the_world() -> None:
    assert "MetricsIngressCidr" not in T["Parameters"]
    source = T["Parameters"]["MetricsIngressSource"]
    assert "Default" not in source  # CloudFormation refuses a stack that does not name it
    pattern = re.compile(source["AllowedPattern"])
    for given in ("sg-0123456789abcdef0", "10.1.2.0/24"):
        assert pattern.match(given), given
    # /0 is the world whatever address is written before it; past /32 is no CIDR.
    for refused in ("", "10.0.0.0", "sg-xyz", "anywhere", "10.1.2.0/0", "0.0.0.0/00", "1.2.3.4/33"):
        assert not pattern.match(refused), refused
    [rule] = T["Rules"].values()
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MetricsIngressSource"}, "0.0.0.0/0"]}]
    }
    [ingress] = resource("AWS::EC2::SecurityGroup")["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (9108, 9108)
    # A security group id goes to SourceSecurityGroupId, a CIDR to CidrIp; never both.
    assert ingress["CidrIp"]["Fn::If"][0] == ingress["SourceSecurityGroupId"]["Fn::If"][0]
    assert ingress["CidrIp"]["Fn::If"][1:] == [
        {"Ref": "AWS::NoValue"},
        {"Ref": "MetricsIngressSource"},
    ]
    assert ingress["SourceSecurityGroupId"]["Fn::If"][1:] == [
        {"Ref": "MetricsIngressSource"},
        {"Ref": "AWS::NoValue"},
    ]
    condition = T["Conditions"][ingress["CidrIp"]["Fn::If"][0]]
    split = condition["Fn::Equals"][0]["Fn::Select"]
    assert split[1] == {"Fn::Split": ["sg-", {"Ref": "MetricsIngressSource"}]}
