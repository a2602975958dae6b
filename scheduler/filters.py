"""The placement filters: which instances can hold one more task of a request, and why not.

Filters run in ECS's order (status, agent, CPU, memory, static host ports, required attributes,
then the constraints in the order given) and the first one that fails names the reason. That
order matters twice: the explanation counts each dropped instance under its first failing filter,
and a failed placement reports the instance that got furthest through it ("the closest match").

Within one request every task is identical and an instance's state only changes when a task is
placed on it, so status, agent, attributes and static `memberOf` expressions are decided once per
request (`RequestFilters.check` on the snapshot); after a placement only the chosen instance is
re-checked (`RequestFilters.recheck`) against the filters that a placement can change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Protocol

from scheduler.types import FailureReason, InstanceView, PlacementError, PlacementRequest

# Positions in the filter order; constraint j is at CONSTRAINTS + j.
STATUS: Final = 0
AGENT: Final = 1
CPU: Final = 2
MEMORY: Final = 3
PORTS: Final = 4
ATTRIBUTES: Final = 5
CONSTRAINTS: Final = 6

# Long expressions would make every explanation example kilobytes long.
_EXPRESSION_SHOWN = 100


@dataclass(frozen=True)
class Rejection:
    """Why one instance cannot take the task: the filter, ECS's reason code and three wordings."""

    index: int  # position in the filter order: a higher index got further
    filter: str  # "status", "cpu", "memberOf", ...
    code: FailureReason
    reason: str  # "insufficient memory available": for explanations
    short: str  # "insufficient memory": the tally key
    phrase: str  # "has insufficient memory available": completes "The closest matching (...) "


def _status(status: str) -> Rejection:
    return Rejection(STATUS, "status", "INACTIVE", status, status, f"is {status}")


_AGENT = Rejection(AGENT, "agent", "AGENT", "agent disconnected", "agent disconnected", "has its agent disconnected")
_CPU = Rejection(
    CPU,
    "cpu",
    "RESOURCE:CPU",
    "insufficient CPU units available",
    "insufficient CPU",
    "has insufficient CPU units available",
)
_MEMORY = Rejection(
    MEMORY,
    "memory",
    "RESOURCE:MEMORY",
    "insufficient memory available",
    "insufficient memory",
    "has insufficient memory available",
)


def _port(port: int, udp: bool) -> Rejection:
    reason = f"port {port}{'/udp' if udp else ''} already in use"
    return Rejection(
        PORTS,
        "ports",
        "RESOURCE:PORTS",
        reason,
        "port in use",
        f"is already using a port required by your task ({reason})",
    )


def _attribute(name: str, want: str | None, have: str | None) -> Rejection:
    if have is None:
        reason = short = f"missing attribute {name}"
    else:
        reason = f"attribute {name} is {have!r}, not {want!r}"
        short = f"attribute {name} mismatch"
    return Rejection(
        ATTRIBUTES,
        "attributes",
        "ATTRIBUTE",
        reason,
        short,
        f"is missing an attribute required by your task ({reason})",
    )


def shorten(expression: str) -> str:
    """An expression cut to a readable length for reasons and explanations."""
    if len(expression) <= _EXPRESSION_SHOWN:
        return expression
    return expression[: _EXPRESSION_SHOWN - 3] + "..."


class _Expression(Protocol):
    """The part of constraints.Expr this module uses (the module is imported when first needed)."""

    dynamic: bool

    def evaluate(self, instance: InstanceView) -> bool: ...


def parse_expression(expression: str) -> _Expression:
    """Parse a memberOf expression with scheduler.constraints; PlacementError if malformed."""
    # Imported here so that placements without memberOf never depend on the query language module.
    from scheduler import constraints

    expr: _Expression = constraints.parse(expression)
    return expr


@dataclass(frozen=True)
class _Constraint:
    index: int
    kind: str  # "distinctInstance" | "memberOf"
    expression: str
    expr: _Expression | None
    rejection: Rejection


class RequestFilters:
    """The filters of one request, compiled once: memberOf parsed, rejections prebuilt."""

    def __init__(self, request: PlacementRequest) -> None:
        self.request = request
        self.cpu = request.cpu
        self.memory = request.memory
        self.tcp = request.tcp_ports
        self.udp = request.udp_ports
        self.group = request.group
        self.required = tuple(request.required_attributes.items())
        constraints: list[_Constraint] = []
        for j, constraint in enumerate(request.constraints):
            index = CONSTRAINTS + j
            if constraint.type == "distinctInstance":
                reason = f"already runs a task of group {request.group}"
                phrase = f"{reason} (distinctInstance)"
                rejection = Rejection(index, "distinctInstance", "ATTRIBUTE", reason, "distinctInstance", phrase)
                constraints.append(_Constraint(index, "distinctInstance", "", None, rejection))
            elif constraint.type == "memberOf":
                reason = f"does not match memberOf expression '{shorten(constraint.expression)}'"
                rejection = Rejection(index, "memberOf", "ATTRIBUTE", reason, "memberOf", reason)
                expr = parse_expression(constraint.expression)
                constraints.append(_Constraint(index, "memberOf", constraint.expression, expr, rejection))
            else:
                raise PlacementError(f"unknown placement constraint type {constraint.type!r}")
        self.constraints = tuple(constraints)
        # A placement changes remaining resources, ports, the group count and runningTasksCount;
        # these are the constraints whose answer can therefore change during a request.
        self.changing = tuple(c for c in self.constraints if c.expr is None or c.expr.dynamic)
        self.dynamic_expressions = any(c.expr is not None and c.expr.dynamic for c in self.constraints)

    def names(self) -> list[str]:
        """Filter names by position, for explanations."""
        fixed = ["status", "agent", "cpu", "memory", "ports", "attributes"]
        return fixed + [c.kind for c in self.constraints]

    def check(self, instance: InstanceView) -> Rejection | None:
        """The first filter `instance` fails for one more task of the request, or None if it fits."""
        if instance.status != "ACTIVE":
            return _status(instance.status)
        if not instance.agent_connected:
            return _AGENT
        rejection = self.check_resources(
            instance.remaining_cpu,
            instance.remaining_memory,
            instance.used_tcp_ports,
            instance.used_udp_ports,
        )
        if rejection is not None:
            return rejection
        rejection = self.check_attributes(instance.attributes)
        if rejection is not None:
            return rejection
        return self.check_constraints(instance, self.constraints)

    def check_resources(self, cpu: int, memory: int, tcp: frozenset[int], udp: frozenset[int]) -> Rejection | None:
        if cpu < self.cpu:
            return _CPU
        if memory < self.memory:
            return _MEMORY
        if self.tcp and not self.tcp.isdisjoint(tcp):
            return _port(min(self.tcp & tcp), udp=False)
        if self.udp and not self.udp.isdisjoint(udp):
            return _port(min(self.udp & udp), udp=True)
        return None

    def check_attributes(self, attributes: Mapping[str, str]) -> Rejection | None:
        for name, want in self.required:
            have = attributes.get(name)
            if have is None or (want is not None and have != want):
                return _attribute(name, want, have)
        return None

    def check_constraints(
        self, instance: InstanceView, constraints: tuple[_Constraint, ...], group_count: int | None = None
    ) -> Rejection | None:
        for c in constraints:
            if c.expr is None:
                count = instance.task_groups.get(self.group, 0) if group_count is None else group_count
                if count > 0:
                    return c.rejection
            elif not c.expr.evaluate(instance):
                return c.rejection
        return None

    def recheck(
        self,
        instance: InstanceView,
        cpu: int,
        memory: int,
        tcp: frozenset[int],
        udp: frozenset[int],
        group_count: int,
        running: int,
    ) -> Rejection | None:
        """Re-check an instance that passed `check` after tasks were placed on it.

        The arguments are its state now; status, agent, attributes and static expressions cannot
        have changed, so only resources and the changing constraints are evaluated.
        """
        rejection = self.check_resources(cpu, memory, tcp, udp)
        if rejection is not None or not self.changing:
            return rejection
        view = instance
        if self.dynamic_expressions:
            groups = dict(instance.task_groups)
            groups[self.group] = group_count
            view = replace(
                instance,
                remaining_cpu=cpu,
                remaining_memory=memory,
                used_tcp_ports=tcp,
                used_udp_ports=udp,
                task_groups=groups,
                running_tasks_count=running,
            )
        return self.check_constraints(view, self.changing, group_count)
