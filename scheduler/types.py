"""The scheduler's input and output types: immutable snapshots in, decisions with explanations out.

These are the only shapes the control plane and the scheduler share. Everything here is plain
data (frozen dataclasses, tuples, mappings) so that `place` stays a pure function of its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from scheduler.explanation import Explanation

# ECS failure reasons returned by RunTask/StartTask in failures[].reason.
# MISSING: the cluster has no container instances at all.
FailureReason = Literal[
    "RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:GPU", "RESOURCE:PORTS", "AGENT", "ATTRIBUTE", "INACTIVE", "MISSING"
]

Profile = Literal["ecs", "kubernetes"]

ZONE_ATTRIBUTE = "ecs.availability-zone"


@dataclass(frozen=True)
class InstanceView:
    """One container instance as the scheduler sees it at the moment of the snapshot."""

    arn: str
    instance_id: str  # the last part of the ARN; what `spread:instanceId` spreads over
    status: str  # ACTIVE, DRAINING, INACTIVE, REGISTERING, DEREGISTERING
    agent_connected: bool
    attributes: Mapping[str, str]  # ecs.availability-zone, ecs.instance-type, custom ones
    registered_cpu: int
    registered_memory: int
    remaining_cpu: int
    remaining_memory: int
    used_tcp_ports: frozenset[int]  # reserved ports plus static host ports held by tasks
    used_udp_ports: frozenset[int]
    # Non-stopped tasks on the instance counted by task group ("service:web", "family:batch").
    task_groups: Mapping[str, int] = field(default_factory=dict)
    running_tasks_count: int = 0
    registered_at: float = 0.0  # epoch seconds
    agent_version: str = ""
    ec2_instance_id: str = ""
    # The ids of the instance's GPUs that no task holds, in the order the agent registered them.
    remaining_gpus: tuple[str, ...] = ()

    @property
    def zone(self) -> str:
        return self.attributes.get(ZONE_ATTRIBUTE, "")


@dataclass(frozen=True)
class PlacementStrategy:
    """ECS placementStrategy: type spread|binpack|random, field as ECS names it."""

    type: Literal["spread", "binpack", "random"]
    field: str = ""  # spread: instanceId|host|attribute:<name>; binpack: cpu|memory; random: ""


@dataclass(frozen=True)
class PlacementConstraint:
    """ECS placementConstraint: distinctInstance, or memberOf with a cluster query expression."""

    type: Literal["distinctInstance", "memberOf"]
    expression: str = ""


@dataclass(frozen=True)
class PlacementRequest:
    """N identical tasks to place; resources are the sums over the task's containers."""

    count: int
    cpu: int  # CPU units the task reserves
    memory: int  # MiB the task reserves (memoryReservation when set, else memory)
    tcp_ports: frozenset[int] = frozenset()  # static host ports the task needs
    udp_ports: frozenset[int] = frozenset()
    gpus: int = 0  # GPUs the task needs (resourceRequirements type GPU, over its containers)
    group: str = ""  # "service:web" or "family:batch": what spread and distinctInstance count
    strategies: tuple[PlacementStrategy, ...] = ()
    constraints: tuple[PlacementConstraint, ...] = ()
    required_attributes: Mapping[str, str | None] = field(default_factory=dict)  # None: must exist
    profile: Profile = "ecs"


@dataclass(frozen=True, slots=True)
class Placement:
    """One task placed: where, and why there."""

    instance_arn: str
    why: Explanation  # typed: filters, rankings, winner
    gpu_ids: tuple[str, ...] = ()  # the instance's GPUs given to the task (request.gpus of them)

    @property
    def explanation(self) -> dict[str, Any]:
        """`why` as the JSON the store keeps and the CLI renders (a new dict on every call)."""
        return self.why.to_dict()


@dataclass(frozen=True)
class Unplaceable:
    """Why the remaining tasks of a request could not be placed."""

    reason: FailureReason
    closest_instance_arn: str | None
    closest_reason: str  # "insufficient memory available"
    tally: Mapping[str, int]  # reason -> instance count, most first, e.g. {"insufficient memory": 4}
    total_instances: int
    message: str  # "The closest matching (container-instance ...) has insufficient memory available."


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[Placement, ...]
    unplaced: int  # how many of request.count found no instance
    failure: Unplaceable | None  # set when unplaced > 0


@dataclass(frozen=True)
class TaskView:
    """A running (or pending) task, for scale-in selection."""

    arn: str
    instance_arn: str
    group: str
    started_at: float = 0.0


class PlacementError(ValueError):
    """Bad placement input (a malformed constraint expression, an unknown strategy field).

    `position` is the 0-based character offset in the expression where parsing failed, if any.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position
