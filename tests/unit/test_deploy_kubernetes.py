"""deploy/kubernetes/base: kustomize renders it, the core kinds validate against the
Kubernetes schemas, and the pod is one non-root, read-only watcher with its journal kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.programs import require_program
from watcher.config import Mode, load_config

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kubernetes" / "base"
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
# Prometheus Operator CRDs: no schema for them among the core ones, so only these skip.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# The oldest Kubernetes we claim to support, and the newest the validator knows.
K8S_VERSIONS = ("1.28", kubernetes_validate.latest_version())


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize directory` renders."""
    kubectl = require_program("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(BASE)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


def test_renders_every_expected_kind(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_kinds_validate_against_the_kubernetes_schemas(
    rendered: list[dict[str, Any]], version: str
) -> None:
    checked = 0
    for doc in rendered:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked == len(rendered) - len(CRD_KINDS)


def test_one_replica_recreated_never_rolled(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30


def test_pod_is_non_root_read_only_and_unprivileged(rendered: list[dict[str, Any]]) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert set(container["resources"]["requests"]) >= {"cpu", "memory"}


def test_probes_and_port(rendered: list[dict[str, Any]]) -> None:
    (container,) = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9108, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    service = one(rendered, "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [9108]
    pod_labels = one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = one(rendered, "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == ["metrics"]


def test_volumes_journal_on_the_claim_config_from_the_configmap(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}

    claim = one(rendered, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "plan-watcher-journal"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert mounts["/var/lib/plan-watcher"]["persistentVolumeClaim"]["claimName"] == (
        "plan-watcher-journal"
    )
    assert "emptyDir" in mounts["/tmp"]

    configmap = one(rendered, "ConfigMap")
    assert mounts["/etc/plan-watcher"]["configMap"]["name"] == configmap["metadata"]["name"]
    assert container["args"] == ["run", "--config", "/etc/plan-watcher/watcher.yaml"]
    # The mounted config is valid (the daemon's own loader), and its journal is on the claim.
    mounted = tmp_path / "watcher.yaml"
    mounted.write_text(configmap["data"]["watcher.yaml"])
    config = load_config(mounted, environ={})
    assert str(config.state.sqlite_path).startswith("/var/lib/plan-watcher/")
    assert config.metrics.listen.endswith(":9108")
    assert config.mode == Mode.DRY_RUN  # a new deployment buys nothing until switched


def test_irsa_service_account(rendered: list[dict[str, Any]]) -> None:
    account = one(rendered, "ServiceAccount")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::") and ":role/" in role
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_prometheus_rule_carries_the_shipped_rules(rendered: list[dict[str, Any]]) -> None:
    groups = one(rendered, "PrometheusRule")["spec"]["groups"]
    assert groups and all(g["rules"] for g in groups)
    # A missing rules file is a failure, never a skip: moving it must not turn this into a pass.
    assert RULES.exists(), f"{RULES.relative_to(REPO)} is missing: nothing to compare with"
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    assert groups == shipped, (
        "base/prometheusrule.yaml is out of date: run "
        f"{Path(sys.executable).name} deploy/kubernetes/sync_prometheus_rules.py"
    )


def test_no_kubernetes_api_token_is_mounted(rendered: list[dict[str, Any]]) -> None:
    account = one(rendered, "ServiceAccount")
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False


def test_cpu_and_memory_are_limited(rendered: list[dict[str, Any]]) -> None:
    (container,) = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_network_policy_admits_only_monitoring_and_lets_out_only_https_and_dns(
    rendered: list[dict[str, Any]],
) -> None:
    policy = one(rendered, "NetworkPolicy")["spec"]
    pod_labels = one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    anywhere = [rule for rule in policy["egress"] if "to" not in rule]
    allowed_out = {(port["port"], port["protocol"]) for rule in anywhere for port in rule["ports"]}
    assert allowed_out == {(443, "TCP"), (53, "UDP"), (53, "TCP")}
    # EKS Pod Identity's agent hands out credentials on port 80 of a node-local address: the
    # one rule that names its addresses, and nothing else, lets the pod reach it.
    [agent] = [rule for rule in policy["egress"] if "to" in rule]
    assert agent["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert agent["to"] == [
        {"ipBlock": {"cidr": "169.254.170.23/32"}},
        {"ipBlock": {"cidr": "fd00:ec2::23/128"}},
    ]
