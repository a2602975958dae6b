"""The Kubernetes export as a table of ECS inputs and the Kubernetes fields they become.

Every document any test produces goes through kubernetes-validate (offline, strict, the schemas of
Kubernetes 1.30), in `export()`, so a translation that builds an invalid object fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from orchestrator.export import memberof
from orchestrator.export.kubernetes import (
    KUBERNETES_VERSION,
    ServiceExport,
    ServiceInput,
    documents,
    export_service,
    millicores,
    render_json,
    render_yaml,
)

TD_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"

# -- builders: ECS-shaped JSON as the APIs return it -------------------------------------------


def container(**overrides: Any) -> dict[str, Any]:
    return {"name": "web", "image": "orch/web:latest", "essential": True, "cpu": 128, "memory": 64, **overrides}


def task_definition(*containers: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "taskDefinitionArn": TD_ARN,
        "family": "web",
        "revision": 1,
        "status": "ACTIVE",
        "containerDefinitions": list(containers) or [container()],
        "networkMode": "bridge",
        "placementConstraints": [],
        "requiresCompatibilities": ["EC2"],
        "compatibilities": ["EC2"],
        "registeredAt": 1700000000.0,
        **overrides,
    }


def service(**overrides: Any) -> dict[str, Any]:
    return {
        "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/web",
        "serviceName": "web",
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
        "status": "ACTIVE",
        "desiredCount": 6,
        "runningCount": 6,
        "pendingCount": 0,
        "launchType": "EC2",
        "taskDefinition": TD_ARN,
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        },
        "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": TD_ARN}],
        "events": [{"id": "1", "createdAt": 1700000000.0, "message": "(service web) has reached a steady state."}],
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": "REPLICA",
        "createdAt": 1700000000.0,
        "createdBy": "arn:aws:iam::000000000000:root",
        **overrides,
    }


def target(low: int = 2, high: int = 8, **suspended: bool) -> dict[str, Any]:
    return {
        "ServiceNamespace": "ecs",
        "ResourceId": "service/default/web",
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": low,
        "MaxCapacity": high,
        "SuspendedState": {
            "DynamicScalingInSuspended": False,
            "DynamicScalingOutSuspended": False,
            "ScheduledScalingSuspended": False,
            **suspended,
        },
    }


def tracking(name: str = "cpu50", metric: str = "cpu", value: float = 50, **config: Any) -> dict[str, Any]:
    metric_type = {"cpu": "ECSServiceAverageCPUUtilization", "memory": "ECSServiceAverageMemoryUtilization"}
    return {
        "PolicyName": name,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": metric_type.get(metric, metric)},
            "ScaleOutCooldown": 300,
            "ScaleInCooldown": 300,
            "DisableScaleIn": False,
            **config,
        },
    }


# -- running the export ------------------------------------------------------------------------


def export(
    svc: dict[str, Any] | None = None,
    td: dict[str, Any] | None = None,
    scalable: dict[str, Any] | None = None,
    policies: tuple[dict[str, Any], ...] = (),
) -> tuple[dict[str, dict[str, Any]], ServiceExport]:
    """Export one service; every document is validated; returns the documents by kind."""
    result = export_service(ServiceInput(svc or service(), td or task_definition(), scalable, policies))
    docs = documents([result])
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind per service"
    return by_kind, result


def pod(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    workload = docs.get("Deployment") or docs["DaemonSet"]
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def notes_about(result: ServiceExport, text: str) -> list[str]:
    return [n for n in result.notes if text in n]


# -- resources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container_fields", "task_fields", "requests", "limits"),
    [
        # 128 units / 1024 * 1000 = 125m; memory 64 is the hard limit and, with no reservation,
        # also what ECS reserves.
        ({"cpu": 128, "memory": 64}, {}, {"cpu": "125m", "memory": "64Mi"}, {"memory": "64Mi"}),
        # 100 / 1024 * 1000 = 97.66 -> 98m (rounded up: never less than ECS reserved).
        ({"cpu": 100, "memory": 64}, {}, {"cpu": "98m", "memory": "64Mi"}, {"memory": "64Mi"}),
        # 1024 units = 1 CPU = 1000m; the soft reservation 32 is the request, the hard 64 the limit.
        (
            {"cpu": 1024, "memory": 64, "memoryReservation": 32},
            {},
            {"cpu": "1000m", "memory": "32Mi"},
            {"memory": "64Mi"},
        ),
        # Only a soft reservation: a request and no limit (ECS lets the container use more).
        ({"cpu": 0, "memory": None, "memoryReservation": 48}, {}, {"memory": "48Mi"}, None),
        # Task-level cpu 512 (a cap) on a one-container task: 512 / 1024 * 1000 = 500m limit, and
        # the request, as the container reserves nothing itself.
        (
            {"cpu": 0, "memory": 64},
            {"cpu": "512"},
            {"cpu": "500m", "memory": "64Mi"},
            {"cpu": "500m", "memory": "64Mi"},
        ),
        # "1 vCPU" = 1024 units = 1000m; "1 GB" = 1024 MiB when the container sets no memory.
        (
            {"cpu": 256, "memory": None},
            {"cpu": "1 vCPU", "memory": "1 GB"},
            {"cpu": "250m", "memory": "1024Mi"},
            {"cpu": "1000m", "memory": "1024Mi"},
        ),
    ],
)
def test_resources_from_cpu_units_and_memory(
    container_fields: dict[str, Any],
    task_fields: dict[str, Any],
    requests: dict[str, str],
    limits: dict[str, str] | None,
) -> None:
    docs, _ = export(td=task_definition(container(**container_fields), **task_fields))
    resources = pod(docs)["containers"][0]["resources"]
    assert resources.get("requests") == requests
    assert resources.get("limits") == limits


def test_millicores_arithmetic() -> None:
    # units x 1000 / 1024, rounded up.
    assert [millicores(u) for u in (1, 2, 128, 256, 1000, 1024, 4096)] == [
        "1m",  # 0.98 -> 1
        "2m",  # 1.95 -> 2
        "125m",  # exactly 125
        "250m",
        "977m",  # 976.56 -> 977
        "1000m",
        "4000m",
    ]


def test_a_task_level_cap_on_several_containers_is_a_note() -> None:
    td = task_definition(container(name="web"), container(name="sidecar", cpu=64), cpu="512")
    docs, result = export(td=td)
    assert all("cpu" not in (c["resources"].get("limits") or {}) for c in pod(docs)["containers"])
    assert notes_about(result, "a cap on the whole task")


# -- rollouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "minimum", "desired", "surge", "unavailable", "note"),
    [
        (200, 100, 6, "100%", "0%", None),  # ECS's defaults: 200 - 100 = 100 %, 100 - 100 = 0 %
        (150, 50, 4, "50%", "50%", None),  # 4 x 1.5 = 6: 2 extra either way
        (100, 0, 6, "0%", "100%", None),  # stop first, then start
        (100, 100, 6, 1, "0%", "lets no task be replaced"),  # both 0 is invalid in Kubernetes
        # ECS: floor(3 x 150 / 100) = 4 tasks, 1 extra; Kubernetes: ceil(3 x 50 %) = 2 extra.
        (150, 100, 3, "50%", "0%", "ECS starts at most 1 extra, Kubernetes rounds 50% up to 2"),
    ],
)
def test_rolling_update_from_maximum_and_minimum_healthy_percent(
    maximum: int, minimum: int, desired: int, surge: Any, unavailable: str, note: str | None
) -> None:
    svc = service(
        desiredCount=desired, deploymentConfiguration={"maximumPercent": maximum, "minimumHealthyPercent": minimum}
    )
    docs, result = export(svc)
    strategy = docs["Deployment"]["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    assert docs["Deployment"]["spec"]["replicas"] == desired
    assert bool(note and notes_about(result, note)) == bool(note)


def test_the_circuit_breaker_is_a_note_not_a_silent_drop() -> None:
    config = {
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    _, result = export(service(deploymentConfiguration=config))
    assert notes_about(result, "kubectl rollout undo")


# -- placement -----------------------------------------------------------------------------------

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


@pytest.mark.parametrize(
    ("strategies", "keys", "note"),
    [
        ([], [ZONE, HOST], None),  # ECS's default: spread over zones, then instances
        ([{"type": "spread", "field": "attribute:ecs.availability-zone"}], [ZONE], None),
        ([{"type": "spread", "field": "instanceId"}], [HOST], None),
        (
            [{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}],
            [ZONE],
            "MostAllocated",
        ),
        ([{"type": "binpack", "field": "cpu"}], [], "MostAllocated"),
        ([{"type": "random"}], [], "no random placement"),
        ([{"type": "spread", "field": "attribute:stack"}], ["stack"], "must carry the label stack"),
        ([{"type": "spread", "field": "attribute:ecs.ami-id"}], [], "no Kubernetes node label"),
    ],
)
def test_placement_strategies(strategies: list[dict[str, str]], keys: list[str], note: str | None) -> None:
    docs, result = export(service(placementStrategy=strategies))
    spec = pod(docs)
    constraints = spec.get("topologySpreadConstraints") or []
    assert [c["topologyKey"] for c in constraints] == keys
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for c in constraints:
        assert c["maxSkew"] == 1 and c["whenUnsatisfiable"] == "ScheduleAnyway"
        assert c["labelSelector"] == {"matchLabels": labels}  # it selects this service's own pods
    assert bool(note and notes_about(result, note)) == bool(note)


def test_distinct_instance_is_pod_anti_affinity_on_the_hostname() -> None:
    docs, result = export(service(placementConstraints=[{"type": "distinctInstance"}]))
    anti = pod(docs)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert anti == [{"topologyKey": HOST, "labelSelector": {"matchLabels": labels}}]
    assert not result.notes


R = memberof.Requirement


@pytest.mark.parametrize(
    ("expression", "terms"),
    [
        (
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
            [(R(ZONE, "In", ("us-east-1a", "us-east-1b")),)],
        ),
        ("attribute:ecs.instance-type == t3.small", [(R("node.kubernetes.io/instance-type", "In", ("t3.small",)),)]),
        # x86_64 is what ECS calls amd64.
        ("attribute:ecs.cpu-architecture == x86_64", [(R("kubernetes.io/arch", "In", ("amd64",)),)]),
        # `!=` holds on instances without the attribute; so does NotIn on nodes without the label.
        ("attribute:stack != prod", [(R("stack", "NotIn", ("prod",)),)]),
        ("attribute:gpu exists", [(R("gpu", "Exists"),)]),
        ("attribute:gpu !exists", [(R("gpu", "DoesNotExist"),)]),
        # An `or` is two terms (ORed); an `and` is one term of two expressions.
        ("attribute:a == x or attribute:b == y", [(R("a", "In", ("x",)),), (R("b", "In", ("y",)),)]),
        ("attribute:a == x and attribute:b == y", [(R("a", "In", ("x",)), R("b", "In", ("y",)))]),
        # De Morgan: not(a and b) = (not a) or (not b).
        ("not (attribute:a == x && attribute:b exists)", [(R("a", "NotIn", ("x",)),), (R("b", "DoesNotExist"),)]),
        # (a or b) and c = (a and c) or (b and c).
        (
            "(attribute:a == x || attribute:a == y) && attribute:c == z",
            [(R("a", "In", ("x",)), R("c", "In", ("z",))), (R("a", "In", ("y",)), R("c", "In", ("z",)))],
        ),
        ("attribute:a !in ['p', \"q\"]", [(R("a", "NotIn", ("p", "q")),)]),
    ],
)
def test_member_of_as_node_selector_terms(expression: str, terms: list[tuple[memberof.Requirement, ...]]) -> None:
    assert memberof.translate(expression) == terms


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("attribute:ecs.instance-type =~ t3.*", "operator '=~'"),
        ("attribute:ecs.instance-type == t3.small or attribute:ecs.instance-type =~ m5.*", "operator '=~'"),
        ("runningTasksCount > 2", "property of the instance"),
        ("task:group == service:db", "pod affinity"),
        ("attribute:ecs.ami-id == ami-123", "no Kubernetes node label"),
        ("attribute:stack == 'two words'", "not a valid Kubernetes label value"),
        ("attribute:stack ==", "not a valid expression"),
    ],
)
def test_member_of_that_does_not_translate_says_why(expression: str, reason: str) -> None:
    with pytest.raises(memberof.Untranslatable, match=reason):
        memberof.translate(expression)


def test_member_of_constraints_become_node_affinity_and_the_rest_notes() -> None:
    td = task_definition(placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}])
    svc = service(
        placementConstraints=[
            {"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"},
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"},
        ]
    )
    docs, result = export(svc, td)
    terms = pod(docs)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    # The task definition's and the service's constraints all hold: one term, ANDed.
    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                {"key": ZONE, "operator": "In", "values": ["us-east-1a", "us-east-1b"]},
            ]
        }
    ]
    # The regex constraint is reported whole, not half-translated.
    assert notes_about(result, "memberOf(attribute:ecs.instance-type =~ t3.*): not translated")


# -- containers ----------------------------------------------------------------------------------


def test_command_entry_point_env_and_working_directory() -> None:
    c = container(
        entryPoint=["/bin/httpd"],
        command=["-f", "-p", "80"],
        environment=[{"name": "MODE", "value": "demo"}],
        workingDirectory="/www",
        user="1000:1000",
        readonlyRootFilesystem=True,
    )
    docs, result = export(td=task_definition(c))
    spec = pod(docs)["containers"][0]
    assert spec["command"] == ["/bin/httpd"]  # entryPoint replaces the image's ENTRYPOINT, like command
    assert spec["args"] == ["-f", "-p", "80"]  # command replaces its CMD, like args
    assert spec["env"] == [{"name": "MODE", "value": "demo"}]
    assert spec["workingDir"] == "/www"
    assert spec["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True}
    assert not result.notes


@pytest.mark.parametrize(
    ("value_from", "secret", "key"),
    [
        ("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf", "prod-db-abcdef", "value"),
        (
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf:password::",
            "prod-db-abcdef",
            "password",
        ),
        ("arn:aws:ssm:us-east-1:000000000000:parameter/app/api_key", "app-api-key", "value"),
        ("/app/token", "app-token", "value"),
    ],
)
def test_secrets_are_secret_key_refs(value_from: str, secret: str, key: str) -> None:
    c = container(secrets=[{"name": "DB_PASSWORD", "valueFrom": value_from}])
    docs, result = export(td=task_definition(c))
    env = pod(docs)["containers"][0]["env"]
    assert env == [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]
    # The Secret is the cluster's to provide: said, with where its value comes from.
    assert notes_about(result, f"Secret {secret} key {key}: create it from {value_from}")


def test_health_check_becomes_probes_with_the_same_timing() -> None:
    hc = {
        "command": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
        "interval": 5,
        "timeout": 2,
        "retries": 3,
        "startPeriod": 10,
    }
    docs, _ = export(service(healthCheckGracePeriodSeconds=20), task_definition(container(healthCheck=hc)))
    c = pod(docs)["containers"][0]
    command = {"command": ["/bin/sh", "-c", "wget -q -O- http://localhost/ || exit 1"]}
    timing = {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3}
    assert c["readinessProbe"] == {"exec": command, **timing}
    assert c["livenessProbe"] == {"exec": command, **timing, "initialDelaySeconds": 20}  # the grace period
    # startPeriod 10 s at one check per 5 s: ceil(10 / 5) = 2 ignored failures, then 3 retries = 5.
    assert c["startupProbe"] == {"exec": command, **timing, "failureThreshold": 5}


def test_health_check_cmd_form_runs_without_a_shell() -> None:
    docs, _ = export(td=task_definition(container(healthCheck={"command": ["CMD", "/bin/check", "--quick"]})))
    c = pod(docs)["containers"][0]
    # ECS's defaults: every 30 s, timeout 5 s, 3 retries.
    assert c["livenessProbe"] == {
        "exec": {"command": ["/bin/check", "--quick"]},
        "periodSeconds": 30,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    assert "startupProbe" not in c


def test_ports_become_a_service_selecting_the_pods() -> None:
    c = container(
        portMappings=[
            {"containerPort": 80, "hostPort": 0, "protocol": "tcp"},
            {"containerPort": 53, "protocol": "udp", "name": "dns"},
        ]
    )
    docs, result = export(td=task_definition(c))
    assert pod(docs)["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "tcp-80", "protocol": "TCP"},  # dynamic hostPort: nothing to keep
        {"containerPort": 53, "name": "dns", "protocol": "UDP"},
    ]
    spec = docs["Service"]["spec"]
    assert spec["selector"] == docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert spec["ports"] == [
        {"name": "tcp-80", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
    ]
    assert not result.notes


def test_a_static_host_port_is_kept_and_explained() -> None:
    c = container(portMappings=[{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}])
    docs, result = export(td=task_definition(c))
    assert pod(docs)["containers"][0]["ports"][0]["hostPort"] == 8080
    assert notes_about(result, "hostPort 8080")


def test_no_port_mappings_no_service() -> None:
    docs, _ = export(td=task_definition(container(portMappings=[])))
    assert sorted(docs) == ["Deployment"]


def test_host_network_mode() -> None:
    c = container(portMappings=[{"containerPort": 80, "hostPort": 80}])
    docs, result = export(td=task_definition(c, networkMode="host"))
    assert pod(docs)["hostNetwork"] is True
    assert "hostPort" not in pod(docs)["containers"][0]["ports"][0]
    assert not notes_about(result, "hostPort")


@pytest.mark.parametrize(
    ("modes", "fields", "note"),
    [
        ({"pidMode": "host", "ipcMode": "host"}, {"hostPID": True, "hostIPC": True}, None),
        # ECS's "task" PID mode shares one namespace among the task's containers; a pod does so on request.
        ({"pidMode": "task"}, {"shareProcessNamespace": True}, None),
        # A pod's containers share its IPC namespace anyway: ECS's "task" needs nothing.
        ({"ipcMode": "task"}, {}, None),
        ({"ipcMode": "none"}, {}, "always share its IPC namespace"),
        ({"networkMode": "none"}, {}, "every pod has a network"),
    ],
)
def test_process_ipc_and_network_modes(modes: dict[str, str], fields: dict[str, bool], note: str | None) -> None:
    docs, result = export(td=task_definition(container(), **modes))
    assert {k: v for k, v in pod(docs).items() if k in ("hostPID", "hostIPC", "shareProcessNamespace")} == fields
    assert bool(note and notes_about(result, note)) == bool(note)


def test_volumes_as_far_as_they_map() -> None:
    volumes = [
        {"name": "logs", "host": {"sourcePath": "/var/log/web"}},
        {"name": "scratch", "host": {}},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
        {"name": "shared_data", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
        {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}},
    ]
    c = container(
        mountPoints=[
            {"sourceVolume": "logs", "containerPath": "/logs", "readOnly": True},
            {"sourceVolume": "scratch", "containerPath": "/tmp/scratch"},
            {"sourceVolume": "cache", "containerPath": "/cache"},
            {"sourceVolume": "shared_data", "containerPath": "/data"},
            {"sourceVolume": "efs", "containerPath": "/efs"},
        ]
    )
    docs, result = export(td=task_definition(c, volumes=volumes))
    assert pod(docs)["volumes"] == [
        {"name": "logs", "hostPath": {"path": "/var/log/web"}},
        {"name": "scratch", "emptyDir": {}},  # lives and dies with the task, like the pod's emptyDir
        {"name": "cache", "emptyDir": {}},
        {"name": "shared-data", "persistentVolumeClaim": {"claimName": "shared-data"}},
    ]
    assert pod(docs)["containers"][0]["volumeMounts"] == [
        {"name": "logs", "mountPath": "/logs", "readOnly": True},
        {"name": "scratch", "mountPath": "/tmp/scratch"},
        {"name": "cache", "mountPath": "/cache"},
        {"name": "shared-data", "mountPath": "/data"},
    ]
    assert notes_about(result, "PersistentVolumeClaim shared-data, which the cluster must provide")
    assert notes_about(result, "volumes[efs]")
    assert notes_about(result, "efs at /efs: its volume is not translated")


def test_every_member_is_translated_noted_or_state() -> None:
    c = container(
        logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "web"}},
        dependsOn=[{"containerName": "db", "condition": "START"}],
        essential=True,
    )
    svc = service(serviceRegistries=[{"registryArn": "arn:aws:servicediscovery:x"}], enableExecuteCommand=True)
    _, result = export(svc, task_definition(c, executionRoleArn="arn:aws:iam::0:role/x"))
    for member in ("logConfiguration", "dependsOn", "serviceRegistries", "executionRoleArn", "enableExecuteCommand"):
        assert notes_about(result, member), f"{member} was dropped in silence"
    # Read-only state (counts, events, deployments, ARNs) configures nothing and is no note.
    for member in ("runningCount", "events", "deployments", "createdAt", "registeredAt"):
        assert not notes_about(result, member)


def test_names_that_kubernetes_refuses_are_made_valid_and_said() -> None:
    svc = service(serviceName="My_Web")
    docs, result = export(svc, task_definition(container(name="Main_App", portMappings=[{"containerPort": 80}])))
    assert docs["Deployment"]["metadata"]["name"] == "my-web"
    assert pod(docs)["containers"][0]["name"] == "main-app"
    assert notes_about(result, "'My_Web' is not a DNS-1123 label")
    assert notes_about(result, "'Main_App' is not a DNS-1123 label")


def test_a_daemon_service_is_a_daemon_set() -> None:
    svc = service(
        schedulingStrategy="DAEMON", deploymentConfiguration={"maximumPercent": 100, "minimumHealthyPercent": 50}
    )
    docs, _ = export(svc, scalable=None)
    assert sorted(docs) == ["DaemonSet"]
    strategy = docs["DaemonSet"]["spec"]["updateStrategy"]
    # ECS stops a daemon's old task before starting the new one: no surge; 100 - 50 = 50 % at once.
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 0}}
    assert "topologySpreadConstraints" not in pod(docs)  # one per node: nothing to spread


# -- autoscaling ---------------------------------------------------------------------------------


def test_target_tracking_becomes_an_hpa() -> None:
    docs, result = export(
        scalable=target(2, 8), policies=(tracking("cpu50", "cpu", 50), tracking("mem70", "memory", 70))
    )
    spec = docs["HorizontalPodAutoscaler"]["spec"]
    assert docs["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
    # Several policies: ECS scales out if any wants it and in only if all do; so does the HPA,
    # which follows the largest of its metrics' recommendations.
    assert spec["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {
            "type": "Resource",
            "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}},
        },
    ]
    assert spec["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0},
        # ScaleInCooldown 300 s: a 300 s window, at most half the pods per 300 s.
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 300}],
        },
    }
    # The one note: the Deployment's replicas and the HPA must not fight over the count.
    assert [n.split(":")[0] for n in result.notes] == ["desiredCount"]


@pytest.mark.parametrize(
    ("scale_in_cooldown", "window", "policies"),
    [
        (60, 60, [{"type": "Percent", "value": 50, "periodSeconds": 60}]),
        # 2400 s fits the window (at most 3600 s) but not a policy period (at most 1800 s).
        (2400, 2400, [{"type": "Percent", "value": 50, "periodSeconds": 1800}]),
        (0, 0, None),  # no cooldown: nothing holds a scale-in back
    ],
)
def test_scale_in_cooldown_sets_the_scale_down_behavior(
    scale_in_cooldown: int, window: int, policies: list[dict[str, Any]] | None
) -> None:
    docs, _ = export(scalable=target(), policies=(tracking(ScaleInCooldown=scale_in_cooldown),))
    down = docs["HorizontalPodAutoscaler"]["spec"]["behavior"]["scaleDown"]
    assert down.get("stabilizationWindowSeconds") == window
    assert down.get("policies") == policies


def test_disabled_and_suspended_scaling() -> None:
    docs, _ = export(scalable=target(), policies=(tracking(DisableScaleIn=True),))
    assert docs["HorizontalPodAutoscaler"]["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
    docs, _ = export(scalable=target(DynamicScalingOutSuspended=True), policies=(tracking(),))
    behavior = docs["HorizontalPodAutoscaler"]["spec"]["behavior"]
    assert behavior["scaleUp"]["selectPolicy"] == "Disabled" and "selectPolicy" not in behavior["scaleDown"]


@pytest.mark.parametrize(
    ("scalable", "policies", "hpa", "note"),
    [
        # MinCapacity 0: an HPA keeps at least 1 replica.
        (target(0, 4), (tracking(),), True, "scales down to 1 at the least"),
        # 70.5 % -> 71 (whole percents, half up).
        (target(), (tracking(value=70.5),), True, "whole percents, so 71"),
        (target(), (tracking(metric="ALBRequestCountPerTarget"),), False, "needs a metrics adapter"),
        (target(), ({"PolicyName": "steps", "PolicyType": "StepScaling"},), False, "has no alarm steps"),
        (target(), (), False, "no target-tracking policy"),
        (None, (), False, None),
    ],
)
def test_what_the_hpa_cannot_say_is_noted(
    scalable: dict[str, Any] | None, policies: tuple[dict[str, Any], ...], hpa: bool, note: str | None
) -> None:
    docs, result = export(scalable=scalable, policies=policies)
    assert ("HorizontalPodAutoscaler" in docs) == hpa
    assert bool(note and notes_about(result, note)) == bool(note)


def test_hpa_on_a_container_without_a_cpu_request_is_noted() -> None:
    _, result = export(td=task_definition(container(cpu=0)), scalable=target(), policies=(tracking(),))
    assert notes_about(result, "measures cpu against requests, and web has none")


# -- output --------------------------------------------------------------------------------------


def test_yaml_output_lists_the_notes_at_the_top() -> None:
    svc = service(placementStrategy=[{"type": "binpack", "field": "memory"}])
    result = export_service(ServiceInput(svc, task_definition(container(portMappings=[{"containerPort": 80}]))))
    text = render_yaml([result])
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("NOT translated" in line for line in header)
    assert any("binpack(memory)" in line and "MostAllocated" in line for line in header)
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    # The notes also travel with the object, for `kubectl get -o yaml` later.
    assert "binpack(memory)" in docs[0]["metadata"]["annotations"]["orchestrator.export/untranslated"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_json_output_is_a_list_of_valid_items() -> None:
    td = task_definition(container(portMappings=[{"containerPort": 80}]))
    exports = [
        export_service(ServiceInput(service(), td, target(), (tracking(),))),
        export_service(ServiceInput(service(serviceName="api"), td)),
    ]
    listing = json.loads(render_json(exports))
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [(i["kind"], i["metadata"]["name"]) for i in listing["items"]] == [
        ("Deployment", "web"),
        ("Service", "web"),
        ("HorizontalPodAutoscaler", "web"),
        ("Deployment", "api"),
        ("Service", "api"),
    ]
    for item in listing["items"]:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)


def test_the_cli_does_not_import_kubernetes_until_export_runs() -> None:
    code = "import sys, orchestrator.cli.main; print(sorted(m for m in ('kubernetes', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
