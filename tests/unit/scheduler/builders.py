"""Builders for scheduler test fixtures: instances, tasks, requests and strategies in one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from scheduler.types import (
    ZONE_ATTRIBUTE,
    InstanceView,
    PlacementConstraint,
    PlacementRequest,
    PlacementStrategy,
    TaskView,
)

ARN_PREFIX = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/"
GROUP = "service:web"


def arn(instance_id: str) -> str:
    return ARN_PREFIX + instance_id


def instance(
    instance_id: str = "i-1",
    zone: str | None = "us-east-1a",
    *,
    cpu: int = 2048,
    memory: int = 4096,
    remaining_cpu: int | None = None,
    remaining_memory: int | None = None,
    status: str = "ACTIVE",
    agent: bool = True,
    attributes: Mapping[str, str] | None = None,
    tcp: Iterable[int] = (),
    udp: Iterable[int] = (),
    groups: Mapping[str, int] | None = None,
    running: int | None = None,
    gpus: Sequence[str] = (),
) -> InstanceView:
    """An instance; `zone=None` leaves out the zone attribute, `running` defaults to the group total."""
    attrs = dict(attributes or {})
    if zone is not None:
        attrs[ZONE_ATTRIBUTE] = zone
    task_groups = dict(groups or {})
    return InstanceView(
        arn=arn(instance_id),
        instance_id=instance_id,
        status=status,
        agent_connected=agent,
        attributes=attrs,
        registered_cpu=cpu,
        registered_memory=memory,
        remaining_cpu=cpu if remaining_cpu is None else remaining_cpu,
        remaining_memory=memory if remaining_memory is None else remaining_memory,
        used_tcp_ports=frozenset(tcp),
        used_udp_ports=frozenset(udp),
        task_groups=task_groups,
        running_tasks_count=sum(task_groups.values()) if running is None else running,
        remaining_gpus=tuple(gpus),
    )


def cluster(zones: Sequence[str], per_zone: int, **kwargs: object) -> list[InstanceView]:
    """per_zone instances in each zone, named i-<zone letter><n> (i-a1, i-a2, i-b1, ...)."""
    return [
        instance(f"i-{zone[-1]}{n}", zone, **kwargs)  # type: ignore[arg-type]
        for zone in zones
        for n in range(1, per_zone + 1)
    ]


def spread(field: str = "instanceId") -> PlacementStrategy:
    return PlacementStrategy("spread", field)


def spread_zone() -> PlacementStrategy:
    return PlacementStrategy("spread", f"attribute:{ZONE_ATTRIBUTE}")


def binpack(field: str = "memory") -> PlacementStrategy:
    return PlacementStrategy("binpack", field)


def random_strategy() -> PlacementStrategy:
    return PlacementStrategy("random")


def distinct() -> PlacementConstraint:
    return PlacementConstraint("distinctInstance")


def member_of(expression: str) -> PlacementConstraint:
    return PlacementConstraint("memberOf", expression)


def request(
    count: int = 1,
    cpu: int = 256,
    memory: int = 512,
    *,
    tcp: Iterable[int] = (),
    udp: Iterable[int] = (),
    group: str = GROUP,
    strategies: Sequence[PlacementStrategy] = (),
    constraints: Sequence[PlacementConstraint] = (),
    required: Mapping[str, str | None] | None = None,
    profile: str = "ecs",
    gpus: int = 0,
) -> PlacementRequest:
    return PlacementRequest(
        count=count,
        cpu=cpu,
        memory=memory,
        tcp_ports=frozenset(tcp),
        udp_ports=frozenset(udp),
        gpus=gpus,
        group=group,
        strategies=tuple(strategies),
        constraints=tuple(constraints),
        required_attributes=dict(required or {}),
        profile=profile,  # type: ignore[arg-type]
    )


def task(task_id: str, instance_id: str, group: str = GROUP, started_at: float = 0.0) -> TaskView:
    return TaskView(
        arn=f"arn:aws:ecs:us-east-1:123456789012:task/default/{task_id}",
        instance_arn=arn(instance_id),
        group=group,
        started_at=started_at,
    )


def ids(arns: Iterable[str]) -> list[str]:
    """The instance or task ids at the end of ARNs, for readable assertions."""
    return [a.rsplit("/", 1)[-1] for a in arns]
