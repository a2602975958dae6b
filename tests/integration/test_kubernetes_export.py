"""`orchestrator export kubernetes` as a person runs it: a real CLI process against a real control plane.

Agents use the fake executor (what is exported is the service's configuration, not its
containers; the acceptance check runs the same against real Docker). Every document printed is
validated with kubernetes-validate against the schemas of Kubernetes 1.30, strict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for

ORCH = str(Path(sys.executable).parent / "orchestrator")
K8S_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("k8s-export") / "data", executor_factory=FakeExecutor)
    c.start_agents(3)
    yield c
    c.close()


def orch(cluster: LocalCluster, *args: str, expect: int = 0) -> str:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir), "COLUMNS": "200"}
    env.pop("ORCH_TOKEN", None)
    proc = subprocess.run([ORCH, *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == expect, f"{args} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
    return proc.stdout if expect == 0 else proc.stderr


def validated(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(by_name) == len(docs), "two objects of the same kind and name"
    return by_name


@pytest.fixture(scope="module")
def web(cluster: LocalCluster) -> str:
    """Service web: 3 tasks over 3 zones, a health check, autoscaling 2-8 at CPU 50 %.

    No secrets or volumes: registration refuses them by name until the agent honours them (the one
    rule); tests/unit/test_kubernetes_export.py covers how they export.
    """
    container = {
        "name": "web",
        "image": "orch/web:latest",
        "essential": True,
        "cpu": 128,
        "memory": 64,
        "memoryReservation": 32,
        "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
        "environment": [{"name": "MODE", "value": "demo"}],
        "healthCheck": {"command": ["CMD-SHELL", "wget -q -O- http://localhost/"], "interval": 10, "retries": 2},
        "logConfiguration": {"logDriver": "json-file"},
        "stopTimeout": 5,
    }
    cluster.api(
        "POST",
        "/v1/task-definitions",
        {"family": "web", "containerDefinitions": [container]},
    )
    cluster.api(
        "POST",
        "/v1/clusters/default/services",
        {
            "serviceName": "web",
            "taskDefinition": "web:1",
            "desiredCount": 3,
            "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50},
            "placementConstraints": [
                {
                    "type": "memberOf",
                    "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1b, us-east-1c]",
                }
            ],
            "placementStrategy": [
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "binpack", "field": "memory"},
            ],
        },
    )
    wait_for(lambda: len(cluster.running("web")) == 3, 30, what="3 RUNNING tasks of web")
    base = "/v1/clusters/default/services/web"
    cluster.api("PUT", f"{base}/scalable-target", {"MinCapacity": 2, "MaxCapacity": 8})
    cluster.api(
        "PUT",
        f"{base}/scaling-policies/cpu50",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 50,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleInCooldown": 120,
            },
        },
    )
    return "web"


def test_export_yaml_of_a_running_service(cluster: LocalCluster, web: str) -> None:
    text = orch(cluster, "export", "kubernetes", web, "-o", "yaml")
    objects = validated([d for d in yaml.safe_load_all(text) if d])
    assert sorted(objects) == [("Deployment", "web"), ("HorizontalPodAutoscaler", "web"), ("Service", "web")]

    deployment = objects[("Deployment", "web")]["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    pod = deployment["template"]["spec"]
    c = pod["containers"][0]
    assert deployment["replicas"] == 3
    # maximumPercent 150 -> maxSurge 150 - 100 = 50 %; minimumHealthyPercent 50 -> maxUnavailable 50 %.
    assert deployment["strategy"]["rollingUpdate"] == {"maxSurge": "50%", "maxUnavailable": "50%"}
    # 128 units x 1000 / 1024 = 125m; memoryReservation 32 is the request, memory 64 the limit.
    assert c["resources"] == {"requests": {"cpu": "125m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
    assert c["env"] == [{"name": "MODE", "value": "demo"}]
    assert c["livenessProbe"]["exec"]["command"] == ["/bin/sh", "-c", "wget -q -O- http://localhost/"]
    assert (c["livenessProbe"]["periodSeconds"], c["livenessProbe"]["failureThreshold"]) == (10, 2)
    assert pod["terminationGracePeriodSeconds"] == 5
    assert pod["topologySpreadConstraints"] == [
        {
            "labelSelector": {"matchLabels": labels},
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
        }
    ]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {
                    "key": "topology.kubernetes.io/zone",
                    "operator": "In",
                    "values": ["us-east-1a", "us-east-1b", "us-east-1c"],
                }
            ]
        }
    ]

    service = objects[("Service", "web")]["spec"]
    assert service["selector"] == labels
    assert service["ports"] == [{"name": "tcp-80", "port": 80, "protocol": "TCP", "targetPort": 80}]

    hpa = objects[("HorizontalPodAutoscaler", "web")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120  # ScaleInCooldown 120

    # What did not translate is at the top, one line each.
    header = [line for line in text.splitlines() if line.startswith("#")]
    for member in ("binpack(memory)", "logConfiguration"):
        assert any(member in line for line in header), f"{member} is not listed in the header:\n" + "\n".join(header)


def test_export_json_is_a_list_with_the_same_objects(cluster: LocalCluster, web: str) -> None:
    listing = json.loads(orch(cluster, "export", "kubernetes", web, "-o", "json"))
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    from_json = validated(listing["items"])
    from_yaml = validated([d for d in yaml.safe_load_all(orch(cluster, "export", "kubernetes", web)) if d])
    assert from_json == from_yaml
    notes = from_json[("Deployment", "web")]["metadata"]["annotations"]["orchestrator.export/untranslated"]
    assert "binpack(memory)" in notes


def test_export_several_services_and_unknown_ones(cluster: LocalCluster, web: str) -> None:
    cluster.api(
        "POST",
        "/v1/task-definitions",
        {"family": "worker", "containerDefinitions": [{"name": "w", "image": "orch/busybox:latest", "memory": 32}]},
    )
    cluster.api("POST", "/v1/clusters/default/services", {"serviceName": "worker", "taskDefinition": "worker:1"})
    docs = [d for d in yaml.safe_load_all(orch(cluster, "export", "kubernetes", web, "worker")) if d]
    assert sorted(validated(docs)) == [
        ("Deployment", "web"),
        ("Deployment", "worker"),
        ("HorizontalPodAutoscaler", "web"),
        ("Service", "web"),  # worker has no port mappings, so no Service
    ]
    err = orch(cluster, "export", "kubernetes", "web", "nosuch", expect=1)
    assert "Service nosuch not found in cluster default" in err
    err = orch(cluster, "export", "kubernetes", "web", "-o", "xml", expect=2)
    assert "xml" in err
