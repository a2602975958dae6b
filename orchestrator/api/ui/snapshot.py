"""What the dashboard draws, read from the store in one consistent view: one JSON document per cluster.

It is a projection, not a second API: every object keeps its ARN and ECS names, and the figures it
adds are the ones the controllers themselves use (the rollout bounds and the circuit breaker's
threshold come from `orchestrator.reconcile.service_decide`, the used CPU and memory from the same usage
count as DescribeContainerInstances), so the picture never disagrees with `orchestrator` or boto3.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.models import ContainerInstance, Service, Task, arn_id
from orchestrator.core.placing import with_usage
from orchestrator.core.service_state import ServiceState
from orchestrator.core.store import Store
from orchestrator.reconcile.service_decide import HEALTHY_COUNT, bounds, breaker_threshold

ZONE_ATTRIBUTE = "ecs.availability-zone"
TYPE_ATTRIBUTE = "ecs.instance-type"
NAME_ATTRIBUTE = "orch.name"
# Shown on every box already (as heading or label), or the same on every instance of this project.
QUIET_ATTRIBUTES = {ZONE_ATTRIBUTE, TYPE_ATTRIBUTE, NAME_ATTRIBUTE, "ecs.ami-id", "ecs.os-type", "ecs.cpu-architecture"}
EVENTS_SHOWN = 12


def _revision(task_definition_arn: str) -> str:
    """'web:3' from a task definition ARN."""
    return task_definition_arn.rsplit("/", 1)[-1]


def _instance(inst: ContainerInstance) -> dict[str, Any]:
    attrs = inst.attribute_map()
    cpu, memory = inst.resource("CPU"), inst.resource("MEMORY")
    return {
        "arn": inst.containerInstanceArn,
        "id": arn_id(inst.containerInstanceArn),
        "name": attrs.get(NAME_ATTRIBUTE, ""),
        "ec2InstanceId": inst.ec2InstanceId,
        "zone": attrs.get(ZONE_ATTRIBUTE, ""),
        "instanceType": attrs.get(TYPE_ATTRIBUTE, ""),
        "status": inst.status,
        "statusReason": inst.statusReason,
        "agentConnected": inst.agentConnected,
        "cpu": {"registered": cpu, "used": cpu - inst.resource("CPU", "remaining")},
        "memory": {"registered": memory, "used": memory - inst.resource("MEMORY", "remaining")},
        "runningTasksCount": inst.runningTasksCount,
        "pendingTasksCount": inst.pendingTasksCount,
        "attributes": {k: v for k, v in sorted(attrs.items()) if k not in QUIET_ATTRIBUTES},
    }


def _task(task: Task) -> dict[str, Any]:
    # Docker may bind a dynamic port twice (IPv4 and IPv6, each its own host port): one per
    # container port is what a reader needs, the IPv4 one when there is one.
    ports: dict[tuple[str, int, str], dict[str, Any]] = {}
    for c in task.containers:
        for b in sorted(c.networkBindings, key=lambda b: ":" in b.bindIP):
            key = (c.name, b.containerPort, b.protocol)
            ports.setdefault(key, {"hostPort": b.hostPort, "containerPort": b.containerPort, "protocol": b.protocol})
    return {
        "arn": task.taskArn,
        "id": arn_id(task.taskArn),
        "group": task.group,
        "service": task.group[len("service:") :] if task.group.startswith("service:") else None,
        "deployment": task.startedBy,
        "taskDefinition": _revision(task.taskDefinitionArn),
        "containerInstanceArn": task.containerInstanceArn,
        "zone": task.availabilityZone,
        "lastStatus": task.lastStatus,
        "desiredStatus": task.desiredStatus,
        "healthStatus": task.healthStatus,
        "cpu": task.cpu,
        "memory": task.memory,
        "ports": list(ports.values()),
        "startedAt": task.startedAt,
    }


def _service(store: Store, cluster: str, svc: Service) -> dict[str, Any]:
    config = svc.deploymentConfiguration
    most, fewest = bounds(svc.desiredCount, config.minimumHealthyPercent, config.maximumPercent)
    state = ServiceState.load(store, cluster, svc.serviceName)
    primary = svc.deployments[0] if svc.deployments else None
    deployments = []
    for d in svc.deployments:
        deployments.append(
            {
                "id": d.id,
                "status": d.status,
                "taskDefinition": _revision(d.taskDefinition),
                "desiredCount": d.desiredCount,
                "runningCount": d.runningCount,
                "pendingCount": d.pendingCount,
                "healthyCount": getattr(d, HEALTHY_COUNT, None),
                "failedTasks": d.failedTasks,
                "rolloutState": d.rolloutState,
                "rolloutStateReason": d.rolloutStateReason,
                "createdAt": d.createdAt,
            }
        )
    return {
        "arn": svc.serviceArn,
        "name": svc.serviceName,
        "status": svc.status,
        "desiredCount": svc.desiredCount,
        "runningCount": svc.runningCount,
        "pendingCount": svc.pendingCount,
        "taskDefinition": _revision(svc.taskDefinition),
        "schedulerProfile": state.profile,
        "placementStrategy": [s.wire() for s in svc.placementStrategy],
        "placementConstraints": [c.wire() for c in svc.placementConstraints],
        "minimumHealthyPercent": config.minimumHealthyPercent,
        "maximumPercent": config.maximumPercent,
        # At most floor(desired x maximumPercent / 100) tasks, at least ceil(desired x minimumHealthy / 100) healthy.
        "bounds": {"maximum": most, "minimumHealthy": fewest},
        "circuitBreaker": {
            "enable": config.deploymentCircuitBreaker.enable,
            "rollback": config.deploymentCircuitBreaker.rollback,
            "failedTasks": primary.failedTasks if primary else 0,
            "threshold": breaker_threshold(svc.desiredCount),
        },
        "deployments": deployments,
        "events": store.list_events(cluster, svc.serviceName, limit=EVENTS_SHOWN),
    }


def cluster_view(store: Store, cluster: str) -> dict[str, Any]:
    """Instances (with usage), live tasks and services of `cluster`, plus every cluster's name."""
    with store.read() as s:
        instances = [_instance(i) for i in with_usage(s, s.list_instances(cluster))]
        tasks = [_task(t) for t in s.list_tasks(cluster, not_stopped=True)]
        services = [_service(s, cluster, svc) for svc in s.list_services(cluster) if svc.status != "INACTIVE"]
        clusters = sorted(c.clusterName for c in s.list_clusters() if c.status == "ACTIVE")
    zones = sorted({i["zone"] for i in instances})
    return {
        "cluster": cluster,
        "clusters": clusters,
        "zones": zones,
        "instances": sorted(instances, key=lambda i: (i["zone"], i["name"], i["id"])),
        "tasks": tasks,
        "services": sorted(services, key=lambda v: v["name"]),
    }
