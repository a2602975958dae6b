"""Builders for control-plane tests: a store-backed Operations with a fake clock, instances
registered the way an agent registers them, task definitions, services; and plain rows
(instances, task definitions, services, tasks) for the pure decisions, which need no store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.core.clock import FakeClock
from orchestrator.core.models import (
    ACCOUNT,
    DEFAULT_RESERVED_TCP_PORTS,
    Attribute,
    Container,
    ContainerInstance,
    Deployment,
    DeploymentConfiguration,
    Service,
    Task,
    TaskDefinition,
    cluster_arn,
    instance_arn,
    service_arn,
    task_arn,
)
from orchestrator.core.placing import resources
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations


def control_plane(tmp_path: Path, settings: Settings | None = None) -> Operations:
    store = Store(tmp_path / "test.db")
    store.ensure_cluster("default")
    return Operations(Context(store=store, clock=FakeClock(), settings=settings or Settings()))


def instance(ops: Operations, name: str, zone: str, cpu: int = 1024, memory: int = 1024, **attributes: str) -> str:
    """Register a container instance as an agent would; returns its ARN."""
    arn: str = ops.register_instance(
        {"name": name, "zone": zone, "cpu": cpu, "memory": memory, "attributes": attributes}
    )["containerInstanceArn"]
    return arn


def container(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "image": "orch/busybox:latest",
        "essential": True,
        "cpu": 128,
        "memory": 64,
        "command": ["sleep", "3600"],
        **overrides,
    }


def task_definition(ops: Operations, family: str = "web", **overrides: Any) -> str:
    td = ops.register_task_definition({"family": family, "containerDefinitions": [container(**overrides)]})
    return f"{family}:{td['taskDefinition']['revision']}"


def service(
    ops: Operations, name: str = "web", desired: int = 2, taskdef: str = "web:1", **extra: Any
) -> dict[str, Any]:
    result: dict[str, Any] = ops.create_service(
        {"serviceName": name, "taskDefinition": taskdef, "desiredCount": desired, **extra}
    )
    return result


def report_running(ops: Operations, task: dict[str, Any]) -> None:
    """What an agent reports once a task's containers run."""
    ops.report_task_states(
        task["containerInstanceArn"],
        [
            {
                "taskArn": task["taskArn"],
                "lastStatus": "RUNNING",
                "containers": [
                    {"name": c["name"], "lastStatus": "RUNNING", "runtimeId": "c-" + task["taskArn"][-8:]}
                    for c in task["containers"]
                ],
            }
        ],
    )


# -- rows, for the pure decisions (no store) ---------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def instance_row(
    name: str, zone: str, cpu: int = 1024, memory: int = 1024, status: str = "ACTIVE"
) -> ContainerInstance:
    """A registered container instance row, as the store holds it after an agent registered."""
    return ContainerInstance(
        containerInstanceArn=instance_arn("default", name),
        ec2InstanceId=f"i-{name}",
        status=status,  # type: ignore[arg-type]
        registeredResources=resources(cpu, memory, DEFAULT_RESERVED_TCP_PORTS, []),
        attributes=[Attribute(name="ecs.availability-zone", value=zone), Attribute(name="orch.name", value=name)],
        registeredAt=0.0,
    )


def task_def_row(
    family: str = "web", revision: int = 1, health_check: bool = False, **overrides: Any
) -> TaskDefinition:
    c = container(**overrides)
    if health_check:
        c["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}
    return TaskDefinition.model_validate(
        {
            "taskDefinitionArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:{revision}",
            "family": family,
            "revision": revision,
            "containerDefinitions": [c],
        }
    )


def service_row(
    td: TaskDefinition, desired: int, deployment: str = "ecs-svc/1", name: str = "web", **config: Any
) -> Service:
    """A service with one PRIMARY deployment `deployment` of `td`; `config` is its deploymentConfiguration."""
    return Service(
        serviceArn=service_arn("default", name),
        serviceName=name,
        clusterArn=cluster_arn("default"),
        desiredCount=desired,
        taskDefinition=td.taskDefinitionArn,
        deploymentConfiguration=DeploymentConfiguration.model_validate(config),
        deployments=[
            Deployment(
                id=deployment, taskDefinition=td.taskDefinitionArn, desiredCount=desired, createdAt=0, updatedAt=0
            )
        ],
        createdAt=0.0,
    )


def task_row(
    task_id: str,
    td: TaskDefinition,
    on: ContainerInstance,
    deployment: str = "ecs-svc/1",
    status: str = "RUNNING",
    started_at: float | None = 0.0,
    health: str | None = None,
    group: str = "service:web",
) -> Task:
    """A task of `td` on instance `on`; RUNNING since `started_at` unless `status` says otherwise."""
    arn = task_arn("default", task_id)
    return Task(
        taskArn=arn,
        clusterArn=cluster_arn("default"),
        taskDefinitionArn=td.taskDefinitionArn,
        containerInstanceArn=on.containerInstanceArn,
        availabilityZone=on.attribute_map().get("ecs.availability-zone"),
        lastStatus=status,
        group=group,
        startedBy=deployment,
        cpu=str(sum(c.cpu for c in td.containerDefinitions)),
        memory=str(sum(c.memory or 0 for c in td.containerDefinitions)),
        containers=[
            Container(
                containerArn=f"{arn}/c{i}",
                taskArn=arn,
                name=c.name,
                image=c.image,
                lastStatus=status,
                healthStatus=health if c.healthCheck else None,  # type: ignore[arg-type]
            )
            for i, c in enumerate(td.containerDefinitions)
        ],
        createdAt=0.0,
        startedAt=started_at if status == "RUNNING" else None,
    )
