"""`InstanceState`: one instance during a `place` call, the snapshot plus the tasks placed on it so far.

Every profile works over these: the filters read them, the strategies rank them, and placing a task
is `state.add_task(request)`. Only what a placement changes is held here (remaining CPU and
memory, the unassigned GPUs, the ports in use, the tasks of the request's group, the running task count); everything
else (status, agent, attributes) is the snapshot's, read through `state.instance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scheduler.types import InstanceView, PlacementRequest


class InstanceState:
    """The mutable placement state of one instance for one request (see the module docstring)."""

    __slots__ = (
        "group",
        "group_tasks",
        "index",
        "instance",
        "placed",
        "remaining_cpu",
        "remaining_gpus",
        "remaining_memory",
        "running_tasks_count",
        "used_tcp_ports",
        "used_udp_ports",
    )

    def __init__(self, index: int, instance: InstanceView, group: str) -> None:
        self.index = index  # position in the caller's list: explanations show examples in that order
        self.instance = instance
        self.group = group
        self.remaining_cpu = instance.remaining_cpu
        self.remaining_memory = instance.remaining_memory
        self.remaining_gpus = instance.remaining_gpus
        self.used_tcp_ports = instance.used_tcp_ports
        self.used_udp_ports = instance.used_udp_ports
        self.group_tasks = instance.task_groups.get(group, 0)  # tasks of the request's group
        self.running_tasks_count = instance.running_tasks_count
        self.placed = 0  # tasks of this request placed here

    def add_task(self, request: PlacementRequest) -> tuple[str, ...]:
        """Account for one more task of `request` on this instance; the GPU ids it takes (the first
        unassigned ones, so the same snapshot always gives the same ids)."""
        self.remaining_cpu -= request.cpu
        self.remaining_memory -= request.memory
        taken: tuple[str, ...] = ()
        if request.gpus:
            taken = self.remaining_gpus[: request.gpus]
            self.remaining_gpus = self.remaining_gpus[request.gpus :]
        if request.tcp_ports:
            self.used_tcp_ports = self.used_tcp_ports | request.tcp_ports
        if request.udp_ports:
            self.used_udp_ports = self.used_udp_ports | request.udp_ports
        self.group_tasks += 1
        self.running_tasks_count += 1
        self.placed += 1
        return taken

    def view(self) -> InstanceView:
        """The instance as it is now, for the constraints that read what placements change."""
        if not self.placed:
            return self.instance
        groups = dict(self.instance.task_groups)
        groups[self.group] = self.group_tasks
        return replace(
            self.instance,
            remaining_cpu=self.remaining_cpu,
            remaining_memory=self.remaining_memory,
            remaining_gpus=self.remaining_gpus,
            used_tcp_ports=self.used_tcp_ports,
            used_udp_ports=self.used_udp_ports,
            task_groups=groups,
            running_tasks_count=self.running_tasks_count,
        )

    def __repr__(self) -> str:
        return f"InstanceState({self.instance.instance_id}, placed={self.placed})"


def states_of(instances: Sequence[InstanceView], group: str) -> list[InstanceState]:
    """One fresh state per instance, in the caller's order."""
    return [InstanceState(index, instance, group) for index, instance in enumerate(instances)]
