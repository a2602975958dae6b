"""The model-conformance oracle finds every kind of problem, and only real ones."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.api.aws.awsjson import to_wire
from tests.botocore_shapes import check_input, check_output

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/default"
TASK_DEF = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3"
CREATED = 1704110400.0

DESCRIBE_SERVICES: dict[str, Any] = {
    "services": [
        {
            "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/web",
            "serviceName": "web",
            "clusterArn": CLUSTER,
            "loadBalancers": [],
            "serviceRegistries": [],
            "status": "ACTIVE",
            "desiredCount": 2,
            "runningCount": 2,
            "pendingCount": 0,
            "launchType": "EC2",
            "taskDefinition": TASK_DEF,
            "deploymentConfiguration": {
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
            "deployments": [
                {
                    "id": "ecs-svc/1234567890123456789",
                    "status": "PRIMARY",
                    "taskDefinition": TASK_DEF,
                    "desiredCount": 2,
                    "pendingCount": 0,
                    "runningCount": 2,
                    "failedTasks": 0,
                    "createdAt": CREATED,
                    "updatedAt": 1704110460,
                    "launchType": "EC2",
                    "rolloutState": "COMPLETED",
                    "rolloutStateReason": "ECS deployment ecs-svc/1234567890123456789 completed.",
                }
            ],
            "events": [{"id": "e1", "createdAt": CREATED, "message": "(service web) has reached a steady state."}],
            "createdAt": CREATED,
            "placementConstraints": [],
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
            "schedulingStrategy": "REPLICA",
            "enableECSManagedTags": False,
            "propagateTags": "NONE",
            "enableExecuteCommand": False,
            "tags": [{"key": "team", "value": "web"}],
        }
    ],
    "failures": [{"arn": "arn:aws:ecs:us-east-1:000000000000:service/default/gone", "reason": "MISSING"}],
}

DESCRIBE_TASKS: dict[str, Any] = {
    "tasks": [
        {
            "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef",
            "clusterArn": CLUSTER,
            "taskDefinitionArn": TASK_DEF,
            "containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i1",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "containers": [
                {
                    "containerArn": "arn:aws:ecs:us-east-1:000000000000:container/default/t/c",
                    "name": "web",
                    "image": "nginx:1.25",
                    "lastStatus": "STOPPED",
                    "exitCode": 137,
                    "reason": "OutOfMemoryError: Container killed due to memory usage",
                    "networkBindings": [
                        {"bindIP": "127.0.0.1", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}
                    ],
                    "healthStatus": "UNHEALTHY",
                }
            ],
            "cpu": "256",
            "memory": "512",
            "createdAt": CREATED,
            "startedAt": CREATED + 2,
            "stoppedAt": CREATED + 60,
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "group": "service:web",
            "launchType": "EC2",
            "version": 4,
            "healthStatus": "UNHEALTHY",
            "overrides": {"containerOverrides": [{"name": "web", "environment": [{"name": "A", "value": "1"}]}]},
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        }
    ],
    "failures": [],
}

REGISTER_TASK_DEFINITION: dict[str, Any] = {
    "taskDefinition": {
        "taskDefinitionArn": TASK_DEF,
        "family": "web",
        "revision": 3,
        "status": "ACTIVE",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "compatibilities": ["EC2"],
        "cpu": "256",
        "memory": "512",
        "registeredAt": CREATED,
        "containerDefinitions": [
            {
                "name": "web",
                "image": "nginx:1.25",
                "cpu": 128,
                "memory": 256,
                "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
                "environment": [{"name": "MODE", "value": "prod"}],
                "dockerLabels": {"app": "web"},
                "healthCheck": {
                    "command": ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
                    "interval": 10,
                    "timeout": 5,
                    "retries": 3,
                    "startPeriod": 0,
                },
            }
        ],
    },
    "tags": [],
}

DESCRIBE_SCALING_POLICIES: dict[str, Any] = {
    "ScalingPolicies": [
        {
            "PolicyARN": "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1"
            ":resource/ecs/service/default/web:policyName/cpu",
            "PolicyName": "cpu",
            "ServiceNamespace": "ecs",
            "ResourceId": "service/default/web",
            "ScalableDimension": "ecs:service:DesiredCount",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 50,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleOutCooldown": 60,
                "ScaleInCooldown": 120,
                "DisableScaleIn": False,
            },
            "Alarms": [{"AlarmName": "TargetTracking-high", "AlarmARN": "arn:aws:cloudwatch:x"}],
            "CreationTime": CREATED,
        }
    ]
}

GOOD_OUTPUTS = [
    ("ecs", "DescribeServices", DESCRIBE_SERVICES),
    ("ecs", "DescribeTasks", DESCRIBE_TASKS),
    ("ecs", "RegisterTaskDefinition", REGISTER_TASK_DEFINITION),
    ("ecs", "ListClusters", {"clusterArns": [CLUSTER]}),
    ("ecs", "ListClusters", {}),
    ("application-autoscaling", "DescribeScalingPolicies", DESCRIBE_SCALING_POLICIES),
    ("application-autoscaling", "DeregisterScalableTarget", {}),
]


@pytest.mark.parametrize(("service", "operation", "response"), GOOD_OUTPUTS, ids=[g[1] for g in GOOD_OUTPUTS])
def test_good_responses_have_no_problems(service: str, operation: str, response: dict[str, Any]) -> None:
    assert check_output(service, operation, response) == []


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


def _all(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        for one in mutations:
            one(doc)

    return mutate


# (name, service, operation, good response, mutation, [(path, fragment of the message)])
BAD_OUTPUTS: list[tuple[str, str, str, dict[str, Any], Callable[[dict[str, Any]], None], list[tuple[str, str]]]] = [
    (
        "unknown member",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "desired"), 2),
        [("$.services[0]", "unknown member 'desired' of Service")],
    ),
    (
        "string where integer belongs",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "deployments", 0, "runningCount"), "2"),
        [("$.services[0].deployments[0].runningCount", "expected integer (Integer), got str")],
    ),
    (
        "bool is not an integer",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "desiredCount"), True),
        [("$.services[0].desiredCount", "expected integer")],
    ),
    (
        "not in enum",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "deployments", 0, "rolloutState"), "DONE"),
        [("$.services[0].deployments[0].rolloutState", "'DONE' is not a DeploymentRolloutState value")],
    ),
    (
        "iso timestamp instead of epoch",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "createdAt"), "2024-01-01T12:00:00Z"),
        [("$.services[0].createdAt", "expected timestamp")],
    ),
    (
        "object where list belongs",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "events"), {"id": "e1"}),
        [("$.services[0].events", "expected list (ServiceEvents), got dict")],
    ),
    (
        "null member",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "taskDefinition"), None),
        [("$.services[0].taskDefinition", "null where string")],
    ),
    (
        "string where boolean belongs",
        "ecs",
        "DescribeServices",
        DESCRIBE_SERVICES,
        _set(("services", 0, "deploymentConfiguration", "deploymentCircuitBreaker", "enable"), "true"),
        [("$.services[0].deploymentConfiguration.deploymentCircuitBreaker.enable", "expected boolean")],
    ),
    (
        "several problems at once",
        "ecs",
        "DescribeTasks",
        DESCRIBE_TASKS,
        _all(
            _set(("tasks", 0, "containers", 0, "exitCode"), 1.5),
            _set(("tasks", 0, "containers", 0, "networkBindings", 0, "protocol"), "sctp"),
            _set(("tasks", 0, "cpu"), 256),
            _set(("tasks", 0, "version"), "4"),
        ),
        [
            ("$.tasks[0].cpu", "expected string (String), got int"),
            ("$.tasks[0].version", "expected long (Long), got str"),
            ("$.tasks[0].containers[0].exitCode", "expected integer (BoxedInteger), got float"),
            (
                "$.tasks[0].containers[0].networkBindings[0].protocol",
                "'sctp' is not a TransportProtocol value",
            ),
        ],
    ),
    (
        "stop code not in enum",
        "ecs",
        "DescribeTasks",
        DESCRIBE_TASKS,
        _set(("tasks", 0, "stopCode"), "Exited"),
        [("$.tasks[0].stopCode", "'Exited' is not a TaskStopCode value")],
    ),
    (
        "map value of wrong type",
        "ecs",
        "RegisterTaskDefinition",
        REGISTER_TASK_DEFINITION,
        _set(("taskDefinition", "containerDefinitions", 0, "dockerLabels", "port"), 80),
        [("$.taskDefinition.containerDefinitions[0].dockerLabels['port']", "expected string")],
    ),
    (
        "list of strings holding a number",
        "ecs",
        "RegisterTaskDefinition",
        REGISTER_TASK_DEFINITION,
        _set(("taskDefinition", "containerDefinitions", 0, "healthCheck", "command", 1), 7),
        [("$.taskDefinition.containerDefinitions[0].healthCheck.command[1]", "expected string")],
    ),
    (
        "required member missing",
        "ecs",
        "RegisterTaskDefinition",
        REGISTER_TASK_DEFINITION,
        _delete(("taskDefinition", "containerDefinitions", 0, "healthCheck", "command")),
        [
            (
                "$.taskDefinition.containerDefinitions[0].healthCheck",
                "required member 'command' of HealthCheck",
            )
        ],
    ),
    (
        "network mode not in enum",
        "ecs",
        "RegisterTaskDefinition",
        REGISTER_TASK_DEFINITION,
        _set(("taskDefinition", "networkMode"), "overlay"),
        [("$.taskDefinition.networkMode", "'overlay' is not a NetworkMode value")],
    ),
    (
        "autoscaling required member missing",
        "application-autoscaling",
        "DescribeScalingPolicies",
        DESCRIBE_SCALING_POLICIES,
        _delete(("ScalingPolicies", 0, "CreationTime")),
        [("$.ScalingPolicies[0]", "required member 'CreationTime' of ScalingPolicy is missing")],
    ),
    (
        "autoscaling lower-case member name",
        "application-autoscaling",
        "DescribeScalingPolicies",
        DESCRIBE_SCALING_POLICIES,
        _set(("ScalingPolicies", 0, "policyName"), "cpu"),
        [("$.ScalingPolicies[0]", "unknown member 'policyName' of ScalingPolicy")],
    ),
    (
        "autoscaling double as string",
        "application-autoscaling",
        "DescribeScalingPolicies",
        DESCRIBE_SCALING_POLICIES,
        _set(("ScalingPolicies", 0, "TargetTrackingScalingPolicyConfiguration", "TargetValue"), "50"),
        [("$.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.TargetValue", "expected double")],
    ),
    (
        "autoscaling namespace not in enum",
        "application-autoscaling",
        "DescribeScalingPolicies",
        DESCRIBE_SCALING_POLICIES,
        _set(("ScalingPolicies", 0, "ServiceNamespace"), "ecs2"),
        [("$.ScalingPolicies[0].ServiceNamespace", "'ecs2' is not a ServiceNamespace value")],
    ),
    (
        "member on an operation without output members",
        "application-autoscaling",
        "DeregisterScalableTarget",
        {},
        _set(("ok",), True),
        [("$", "unknown member 'ok'")],
    ),
]


@pytest.mark.parametrize(
    ("name", "service", "operation", "good", "mutate", "expected"),
    BAD_OUTPUTS,
    ids=[b[0] for b in BAD_OUTPUTS],
)
def test_bad_responses_report_each_problem_with_its_path(
    name: str,
    service: str,
    operation: str,
    good: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    expected: list[tuple[str, str]],
) -> None:
    response = copy.deepcopy(good)
    mutate(response)
    problems = check_output(service, operation, response)
    assert len(problems) == len(expected), problems
    for path, fragment in expected:
        assert any(p.startswith(f"{path}: ") and fragment in p for p in problems), (path, fragment, problems)


REGISTER_REQUEST: dict[str, Any] = {
    "family": "web",
    "networkMode": "bridge",
    "containerDefinitions": [
        {"name": "web", "image": "nginx:1.25", "memory": 256, "portMappings": [{"containerPort": 80}]}
    ],
    "tags": [{"key": "team", "value": "web"}],
}
SCALABLE_TARGET_REQUEST: dict[str, Any] = {
    "ServiceNamespace": "ecs",
    "ResourceId": "service/default/web",
    "ScalableDimension": "ecs:service:DesiredCount",
    "MinCapacity": 1,
    "MaxCapacity": 4,
}

INPUTS: list[tuple[str, str, str, dict[str, Any], list[tuple[str, str]]]] = [
    ("good task definition", "ecs", "RegisterTaskDefinition", REGISTER_REQUEST, []),
    (
        "good scalable target",
        "application-autoscaling",
        "RegisterScalableTarget",
        SCALABLE_TARGET_REQUEST,
        [],
    ),
    ("no arguments", "ecs", "ListClusters", {}, []),
    (
        "missing required family",
        "ecs",
        "RegisterTaskDefinition",
        {k: v for k, v in REGISTER_REQUEST.items() if k != "family"},
        [("$", "required member 'family' of RegisterTaskDefinitionRequest is missing")],
    ),
    (
        "container definitions not a list",
        "ecs",
        "RegisterTaskDefinition",
        {**REGISTER_REQUEST, "containerDefinitions": {"name": "web"}},
        [("$.containerDefinitions", "expected list")],
    ),
    (
        "empty tag key",
        "ecs",
        "RegisterTaskDefinition",
        {**REGISTER_REQUEST, "tags": [{"key": "", "value": "v"}]},
        [("$.tags[0].key", "length 0 is below the minimum 1 of TagKey")],
    ),
    (
        "dimension not in enum",
        "application-autoscaling",
        "RegisterScalableTarget",
        {**SCALABLE_TARGET_REQUEST, "ScalableDimension": "ecs:service:Count"},
        [("$.ScalableDimension", "'ecs:service:Count' is not a ScalableDimension value")],
    ),
    (
        "unknown input member",
        "application-autoscaling",
        "RegisterScalableTarget",
        {**SCALABLE_TARGET_REQUEST, "Min": 1},
        [("$", "unknown member 'Min' of RegisterScalableTargetRequest")],
    ),
]


@pytest.mark.parametrize(
    ("name", "service", "operation", "request_body", "expected"), INPUTS, ids=[i[0] for i in INPUTS]
)
def test_check_input(
    name: str, service: str, operation: str, request_body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    problems = check_input(service, operation, request_body)
    assert len(problems) == len(expected), problems
    for path, fragment in expected:
        assert any(p.startswith(f"{path}: ") and fragment in p for p in problems), (path, fragment, problems)


def test_wire_form_of_a_response_with_datetimes_and_nones_fits() -> None:
    created = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)
    cluster: dict[str, Any] = {"clusterName": "default", "status": "ACTIVE", "tags": None}
    cluster["statistics"] = [{"name": "runningEC2TasksCount", "value": "0"}]
    raw = {"clusters": [cluster], "failures": []}
    described = {"taskDefinition": {"family": "web", "revision": 1, "registeredAt": created, "cpu": None}}
    assert check_output("ecs", "DescribeClusters", to_wire(raw)) == []
    assert check_output("ecs", "DescribeTaskDefinition", to_wire(described)) == []
    problems = check_output("ecs", "DescribeTaskDefinition", described)
    assert [p.split(", got")[0] for p in problems] == [
        "$.taskDefinition.registeredAt: expected timestamp (Timestamp)",
        "$.taskDefinition.cpu: null where string (String) is expected; omit the member instead",
    ]
