"""The managed Fargate pool: agents the user does not choose, see or list, that run FARGATE tasks.

Pool agents register with `fargate: true` (`orchestrator dev --fargate N`, or `orchestrator agent
--fargate`) and land in the instance table under POOL_CLUSTER, a name no user cluster can have
(cluster names are letters, digits, hyphens and underscores; this one has a dot), so
ListContainerInstances, DescribeContainerInstances and every cluster's counts and EC2 placement
never see them. A FARGATE task is a task row of the user's cluster whose containerInstanceArn
names a pool instance: the agent path (long-poll by instance, reports, adoption) is the normal
one, and only the wire hides the instance, as ECS shows no container instance for Fargate tasks.
Placement is the scheduler's, over the pool's snapshot, with the usage of every cluster's tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.core.models import Task, TaskDefinition
from orchestrator.core.placing import InstanceUsage, instance_views, usage_of
from orchestrator.core.store import Store
from scheduler.types import InstanceView

POOL_CLUSTER = "orch.fargate"
# What ECS reports for a Fargate task on Linux today; LATEST resolves to it.
PLATFORM_VERSION = "1.4.0"
PLATFORM_FAMILY = "Linux"
PLATFORM_VERSIONS = ("LATEST", PLATFORM_VERSION)
LAUNCH_TYPE = "FARGATE"
# ECS's words when Fargate has no room (a RunTask failure's reason).
NO_CAPACITY = "Capacity is unavailable at this time. Please try again later or in a different availability zone"


def is_pool_instance(arn: str) -> bool:
    return arn.split("/")[-2:-1] == [POOL_CLUSTER]


def pool_usage(store: Store, skip: Callable[[Task], bool] | None = None) -> dict[str, InstanceUsage]:
    """What the tasks of every cluster hold on the pool's instances (`skip`: tasks left out, such as
    the service's own, which its decision counts itself)."""
    tasks = [
        t
        for inst in store.list_instances(POOL_CLUSTER)
        for t in store.list_tasks(instance_arn=inst.containerInstanceArn, not_stopped=True)
        if skip is None or not skip(t)
    ]
    tds: dict[str, TaskDefinition | None] = {}
    for t in tasks:
        if t.taskDefinitionArn not in tds:
            tds[t.taskDefinitionArn] = store.get_task_definition_by_arn(t.taskDefinitionArn)
    return usage_of(tasks, tds)


def pool_snapshot(store: Store) -> list[InstanceView]:
    """The scheduler's view of the pool, holding every cluster's Fargate tasks."""
    return instance_views(store.list_instances(POOL_CLUSTER), pool_usage(store))


def mark_fargate(task: Task, platform_version: str = PLATFORM_VERSION) -> Task:
    """A task row placed on the pool, as ECS describes a Fargate task."""
    task.launchType = LAUNCH_TYPE
    task.platformVersion = PLATFORM_VERSION if platform_version == "LATEST" else platform_version
    task.platformFamily = PLATFORM_FAMILY
    return task
