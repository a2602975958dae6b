"""The placement filters: which instances can hold one more task of a request, and why not.

Filters run in ECS's order (status, agent, CPU, memory, GPUs, static host ports, required attributes,
then the constraints in the order given) and the first one that fails names the reason. That
order matters twice: the explanation counts each dropped instance under its first failing filter,
and a failed placement reports the instance that got furthest through it ("the closest match").

`FilterLog` keeps what the filters dropped for the explanations, and `unplaceable` turns the
rejections of a task that fits nowhere into ECS's failure (reason code, closest instance, tally).

Within one request every task is identical and an instance's state only changes when a task is
placed on it, so status, agent, attributes and static `memberOf` expressions are decided once per
request; `RequestFilters.check` is the whole chain on an `InstanceState`, and `recheck` the
same answer for an instance that passed `check` and then received tasks (only the filters that a
placement can change are evaluated again).
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from scheduler.explanation import EXAMPLES, Dropped, FilterOutcome
from scheduler.state import InstanceState
from scheduler.types import FailureReason, InstanceView, PlacementError, PlacementRequest, Unplaceable

# Positions in the filter order; constraint j is at CONSTRAINTS + j.
STATUS: Final = 0
AGENT: Final = 1
CPU: Final = 2
MEMORY: Final = 3
GPU: Final = 4
PORTS: Final = 5
ATTRIBUTES: Final = 6
CONSTRAINTS: Final = 7
FIXED_FILTERS: Final = ("status", "agent", "cpu", "memory", "gpu", "ports", "attributes")

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

_GPU = Rejection(
    GPU,
    "gpu",
    "RESOURCE:GPU",
    "insufficient GPUs available",
    "insufficient GPU",
    "has insufficient GPUs available",
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
        self.gpus = request.gpus
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
        return [*FIXED_FILTERS, *(c.kind for c in self.constraints)]

    def check(self, state: InstanceState) -> Rejection | None:
        """The first filter `state` fails for one more task of the request, or None if it fits."""
        instance = state.instance
        if instance.status != "ACTIVE":
            return _status(instance.status)
        if not instance.agent_connected:
            return _AGENT
        rejection = self.check_resources(state)
        if rejection is not None:
            return rejection
        rejection = self.check_attributes(instance.attributes)
        if rejection is not None:
            return rejection
        view = state.view() if self.dynamic_expressions else instance
        return self.check_constraints(view, self.constraints, state.group_tasks)

    def check_resources(self, state: InstanceState) -> Rejection | None:
        if state.remaining_cpu < self.cpu:
            return _CPU
        if state.remaining_memory < self.memory:
            return _MEMORY
        # A task without GPUs pays one test of an int here, nothing more.
        if self.gpus and len(state.remaining_gpus) < self.gpus:
            return _GPU
        if self.tcp and not self.tcp.isdisjoint(state.used_tcp_ports):
            return _port(min(self.tcp & state.used_tcp_ports), udp=False)
        if self.udp and not self.udp.isdisjoint(state.used_udp_ports):
            return _port(min(self.udp & state.used_udp_ports), udp=True)
        return None

    def check_attributes(self, attributes: Mapping[str, str]) -> Rejection | None:
        for name, want in self.required:
            have = attributes.get(name)
            if have is None or (want is not None and have != want):
                return _attribute(name, want, have)
        return None

    def check_constraints(
        self, instance: InstanceView, constraints: tuple[_Constraint, ...], group_tasks: int
    ) -> Rejection | None:
        """The first of `constraints` that fails; `group_tasks` counts the request's group on it."""
        for c in constraints:
            if c.expr is None:
                if group_tasks > 0:
                    return c.rejection
            elif not c.expr.evaluate(instance):
                return c.rejection
        return None

    def static_constraints(self) -> tuple[_Constraint, ...]:
        """The memberOf expressions that no placement can change (kube's node affinity)."""
        return tuple(c for c in self.constraints if c.expr is not None and not c.expr.dynamic)

    def recheck(self, state: InstanceState) -> Rejection | None:
        """`check` for an instance that passed it before tasks were placed on it: the same answer, cheaper.

        Status, agent, attributes and static expressions cannot have changed, so only resources
        and the changing constraints are evaluated.
        """
        rejection = self.check_resources(state)
        if rejection is not None or not self.changing:
            return rejection
        view = state.view() if self.dynamic_expressions else state.instance
        return self.check_constraints(view, self.changing, state.group_tasks)


class FilterLog:
    """Per filter, the instances it dropped: how many, and the first EXAMPLES of them in input order.

    `summary()` is what an explanation shows; it is rebuilt only after a new drop, so that the
    explanations of consecutive placements can share it.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.removed = [0] * len(self.names)
        self.examples: list[list[tuple[int, Dropped]]] = [[] for _ in self.names]
        self._summary: tuple[FilterOutcome, ...] | None = ()

    def drop(self, state: InstanceState, rejection: Rejection) -> None:
        index = rejection.index
        self.removed[index] += 1
        examples = self.examples[index]
        if len(examples) < EXAMPLES or state.index < examples[-1][0]:
            insort(examples, (state.index, Dropped(state.instance.instance_id, rejection.reason)))
            del examples[EXAMPLES:]
        self._summary = None

    def summary(self) -> tuple[FilterOutcome, ...]:
        if self._summary is None:
            self._summary = tuple(
                FilterOutcome(name, self.removed[index], tuple(dropped for _, dropped in self.examples[index]))
                for index, name in enumerate(self.names)
                if self.removed[index]
            )
        return self._summary


NO_INSTANCES_REASON = "no container instances are registered"


def no_instances() -> Unplaceable:
    """The failure when the cluster has no container instances at all."""
    return Unplaceable(
        reason="MISSING",
        closest_instance_arn=None,
        closest_reason=NO_INSTANCES_REASON,
        tally={},
        total_instances=0,
        message="No container instances were found in your cluster.",
    )


def unplaceable(
    instances: Sequence[InstanceView], rejections: Sequence[Rejection | None], ranks: Sequence[int]
) -> Unplaceable:
    """The failure for a task that no instance can take: the closest instance and a per-reason tally.

    The closest instance is the one whose first failing filter comes latest in the filter order;
    among equals, the one first in the seeded tie-break order. The tally counts the instances by
    the reason they were dropped for, most first (ties by name).
    """
    closest = -1
    best: tuple[int, int] | None = None
    tally: Counter[str] = Counter()
    for i, rejection in enumerate(rejections):
        if rejection is None:
            continue
        tally[rejection.short] += 1
        key = (rejection.index, -ranks[i])
        if best is None or key > best:
            best, closest = key, i
    rejection = rejections[closest]
    assert rejection is not None
    arn = instances[closest].arn
    ordered = dict(sorted(tally.items(), key=lambda item: (-item[1], item[0])))
    return Unplaceable(
        reason=rejection.code,
        closest_instance_arn=arn,
        closest_reason=rejection.reason,
        tally=ordered,
        total_instances=len(instances),
        message=f"The closest matching (container-instance {arn}) {rejection.phrase}.",
    )
