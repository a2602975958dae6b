"""The members ECS always writes into its responses, with ECS's values, filled in on the way out.

Tools built on boto3 read ECS responses as ECS writes them: `ecs-deploy` reads
`taskDefinition["volumes"]` and each container's `mountPoints` without `.get`, because ECS always
sends the empty list. Our objects only carry what was given or what we act on, so this module
fills the rest per output shape (TaskDefinition, ContainerDefinition, Service, Deployment, Task,
Container, Cluster, ContainerInstance) while `ecs.conform` walks the response along the botocore
model. A member already present is never overwritten; nothing is added that ECS would not send.
Which members those are comes from ECS's own examples (tests/fixtures/ecs_responses/README.md):
tags, for instance, are an empty list on tasks and task definitions unless `include: [TAGS]` asks
for them (the operations then fill them in), and absent from services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.core.models import ACCOUNT

Filler = Callable[[dict[str, Any]], dict[str, Any]]

ROOT_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:root"
CPU_ARCHITECTURE = {"name": "ecs.cpu-architecture", "value": "x86_64"}


def _with(value: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    # Fresh containers each call: a shared [] handed to two responses could be mutated by one.
    out = dict(value)
    for key, default in defaults.items():
        if key not in out:
            out[key] = default() if callable(default) else default
    return out


def _container_definition(value: dict[str, Any]) -> dict[str, Any]:
    return _with(
        value,
        {
            "cpu": 0,
            "portMappings": list,
            "essential": True,
            "environment": list,
            "mountPoints": list,
            "volumesFrom": list,
        },
    )


def required_attributes(td: dict[str, Any]) -> list[dict[str, str]]:
    """The agent capabilities a task definition needs, named as ECS derives them at registration."""
    names: list[str] = []

    def need(name: str) -> None:
        if name not in names:
            names.append(name)

    containers = [c for c in td.get("containerDefinitions") or [] if isinstance(c, dict)]
    if td.get("taskRoleArn"):
        need("com.amazonaws.ecs.capability.task-iam-role")
    if td.get("networkMode") == "awsvpc":
        need("ecs.capability.task-eni")
    for c in containers:
        if c.get("memoryReservation") is not None:
            need("com.amazonaws.ecs.capability.docker-remote-api.1.21")
        if c.get("dockerLabels"):
            need("com.amazonaws.ecs.capability.docker-remote-api.1.18")
        if c.get("healthCheck"):
            need("ecs.capability.container-health-check")
        if c.get("dependsOn") or c.get("startTimeout") is not None or c.get("stopTimeout") is not None:
            need("ecs.capability.container-ordering")
        if c.get("environmentFiles"):
            need("ecs.capability.env-files.s3")
        driver = (c.get("logConfiguration") or {}).get("logDriver")
        if driver:
            need(f"com.amazonaws.ecs.capability.logging-driver.{driver}")
            if driver == "awslogs":
                need("com.amazonaws.ecs.capability.docker-remote-api.1.19")
                if td.get("executionRoleArn"):
                    need("ecs.capability.execution-role-awslogs")
        for secret in c.get("secrets") or []:
            source = str((secret or {}).get("valueFrom", ""))
            if ":secretsmanager:" in source:
                need("ecs.capability.secrets.asm.environment-variables")
            else:
                need("ecs.capability.secrets.ssm.environment-variables")
    return [{"name": n} for n in names]


def _task_definition(value: dict[str, Any]) -> dict[str, Any]:
    return _with(
        value,
        {
            "volumes": list,
            "placementConstraints": list,
            "requiresAttributes": lambda: required_attributes(value),
            "registeredBy": ROOT_PRINCIPAL,
        },
    )


def _service(value: dict[str, Any]) -> dict[str, Any]:
    return _with(
        value,
        {
            "loadBalancers": list,
            "serviceRegistries": list,
            "events": list,
            "deployments": list,
            "placementConstraints": list,
            "placementStrategy": list,
            "schedulingStrategy": "REPLICA",
            "deploymentController": lambda: {"type": "ECS"},
            "enableECSManagedTags": False,
            "propagateTags": "NONE",
            "enableExecuteCommand": False,
            "createdBy": ROOT_PRINCIPAL,
        },
    )


ROLLOUT_REASONS = {
    "IN_PROGRESS": "ECS deployment {id} in progress.",
    "COMPLETED": "ECS deployment {id} completed.",
    "FAILED": "ECS deployment circuit breaker: tasks failed to start.",
}


def _deployment(value: dict[str, Any]) -> dict[str, Any]:
    state = value.get("rolloutState")
    reason = ROLLOUT_REASONS.get(str(state), "")
    defaults: dict[str, Any] = {"failedTasks": 0, "pendingCount": 0, "runningCount": 0}
    if reason:
        defaults["rolloutStateReason"] = reason.format(id=value.get("id", ""))
    return _with(value, defaults)


_NOT_STARTED = ("PROVISIONING", "PENDING")


def _task(value: dict[str, Any]) -> dict[str, Any]:
    names = [c.get("name") for c in value.get("containers") or [] if isinstance(c, dict) and c.get("name")]
    if value.get("lastStatus") in _NOT_STARTED and value.get("healthStatus") == "UNKNOWN":
        # ECS writes a task's health once its agent has reported it (run-task.rst: a PENDING task has none).
        value = {k: v for k, v in value.items() if k != "healthStatus"}
    return _with(
        value,
        {
            "attachments": list,
            "attributes": lambda: [dict(CPU_ARCHITECTURE)],
            "overrides": lambda: {
                "containerOverrides": [{"name": n} for n in names],
                "inferenceAcceleratorOverrides": [],
            },
            "enableExecuteCommand": False,
            # Without include: [TAGS] ECS still writes the member, empty (describe-tasks.rst, run-task.rst).
            "tags": list,
        },
    )


def _container(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("lastStatus") in _NOT_STARTED:
        # Bindings and health come with the agent's first report (run-task.rst's PENDING container has neither).
        unset = {"networkBindings": [], "healthStatus": "UNKNOWN"}
        return _with({k: v for k, v in value.items() if unset.get(k, ...) != v}, {"networkInterfaces": list})
    return _with(value, {"networkBindings": list, "networkInterfaces": list, "healthStatus": "UNKNOWN"})


def _resource(value: dict[str, Any]) -> dict[str, Any]:
    # ECS writes all three numbers on every resource, the unused ones as zero.
    return _with(value, {"doubleValue": 0.0, "longValue": 0, "integerValue": 0})


def _cluster(value: dict[str, Any]) -> dict[str, Any]:
    return _with(
        value,
        {
            "statistics": list,
            "tags": list,
            "settings": lambda: [{"name": "containerInsights", "value": "disabled"}],
            # No capacityProviders / defaultCapacityProviderStrategy: ECS leaves both out of a cluster
            # that has no capacity provider (create-cluster.rst, update-cluster-settings.rst).
        },
    )


def _describe_task_definition(value: dict[str, Any]) -> dict[str, Any]:
    # The response's `tags` is there, empty, unless include: [TAGS] filled it (describe-task-definition.rst).
    return _with(value, {"tags": list})


def _container_instance(value: dict[str, Any]) -> dict[str, Any]:
    return _with(value, {"attachments": list, "attributes": list})


FILLERS: dict[str, Filler] = {
    "ContainerDefinition": _container_definition,
    "TaskDefinition": _task_definition,
    "Service": _service,
    "Deployment": _deployment,
    "Task": _task,
    "Container": _container,
    "Cluster": _cluster,
    "ContainerInstance": _container_instance,
    "Resource": _resource,
    "DescribeTaskDefinitionResponse": _describe_task_definition,
}


def filled(shape_name: str, value: dict[str, Any]) -> dict[str, Any]:
    """`value` (a wire-form structure of the ECS shape `shape_name`) with ECS's default members added."""
    filler = FILLERS.get(shape_name)
    return filler(value) if filler else value
