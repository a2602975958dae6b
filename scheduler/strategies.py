"""Placement strategies: what spread, binpack and random mean, how they chain, and how ties break.

A chain of strategies is a lexicographic order. Each strategy gives every candidate a key (lower
is better) and a later strategy only chooses among the candidates that tie on every earlier key,
so `spread(zone), binpack(memory)` is the order of (tasks of the group in the instance's zone,
remaining memory). Keys:

- `spread(attribute:<name>)`: tasks of the request's group on the ACTIVE instances that carry the
  same value of the attribute; instances without the attribute share one bucket of their own.
  Tasks on DRAINING or INACTIVE instances are not counted: they are on their way out, and counting
  them would push their replacements away from the zone they are leaving.
- `spread(instanceId)` (or `host`, the same thing here): tasks of the group on the instance.
- `binpack(cpu|memory)`: the instance's remaining amount; every candidate already fits the task,
  so the least remaining is the least that still fits.
- `random`: one candidate uniformly among those still tied, drawn from `random.Random(seed)`.
  It settles the choice, so strategies after it have nothing left to choose from and are ignored.

Whatever ties after the last strategy is settled by a per-request seeded order of the instances
(`tiebreak_ranks`): a hash of (seed, ARN), so the result depends on the seed and the instances,
never on the order the caller listed them in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from scheduler.filters import parse_expression
from scheduler.types import ZONE_ATTRIBUTE, PlacementConstraint, PlacementError, PlacementStrategy

MAX_STRATEGIES: Final = 5
MAX_CONSTRAINTS: Final = 10

DEFAULT_SERVICE_STRATEGIES: tuple[PlacementStrategy, ...] = (
    PlacementStrategy("spread", f"attribute:{ZONE_ATTRIBUTE}"),
    PlacementStrategy("spread", "instanceId"),
)
# RunTask without a strategy spreads like a service (zone, then instance), as the ECS console's
# default does: standalone tasks of one family then land evenly, which is what users expect.
DEFAULT_RUN_TASK_STRATEGIES: tuple[PlacementStrategy, ...] = DEFAULT_SERVICE_STRATEGIES

StepKind = Literal["spread_attribute", "spread_instance", "binpack_cpu", "binpack_memory", "random"]


@dataclass(frozen=True)
class Step:
    """One validated strategy in a normal form."""

    kind: StepKind
    attribute: str = ""  # spread_attribute only

    @property
    def label(self) -> str:
        if self.kind == "spread_attribute":
            return f"spread(attribute:{self.attribute})"
        return {
            "spread_instance": "spread(instanceId)",
            "binpack_cpu": "binpack(cpu)",
            "binpack_memory": "binpack(memory)",
            "random": "random",
        }[self.kind]

    @property
    def instance_level(self) -> bool:
        """True when the key depends on the instance alone (not on a bucket of instances)."""
        return self.kind in ("spread_instance", "binpack_cpu", "binpack_memory")


def _step(position: int, strategy: PlacementStrategy) -> Step:
    where = f"placement strategy {position + 1} ({strategy.type} {strategy.field!r})"
    field = strategy.field.strip()
    if strategy.type == "spread":
        if field.lower() in ("instanceid", "host"):
            return Step("spread_instance")
        if field.startswith("attribute:") and len(field) > len("attribute:"):
            name = field[len("attribute:") :]
            if len(name) > 128:
                raise PlacementError(f"{where}: attribute names are at most 128 characters")
            return Step("spread_attribute", name)
        raise PlacementError(f"{where}: spread takes the field instanceId, host or attribute:<name>")
    if strategy.type == "binpack":
        if field.lower() == "cpu":
            return Step("binpack_cpu")
        if field.lower() == "memory":
            return Step("binpack_memory")
        raise PlacementError(f"{where}: binpack takes the field cpu or memory")
    if strategy.type == "random":
        if field:
            raise PlacementError(f"{where}: random takes no field; remove it")
        return Step("random")
    raise PlacementError(f"{where}: unknown strategy type; use spread, binpack or random")


def normalize(strategies: Sequence[PlacementStrategy]) -> tuple[Step, ...]:
    """Validated steps, cut after the first `random` (nothing is left to choose after it)."""
    if len(strategies) > MAX_STRATEGIES:
        raise PlacementError(f"{len(strategies)} placement strategies given; use at most {MAX_STRATEGIES}")
    steps: list[Step] = []
    for position, strategy in enumerate(strategies):
        step = _step(position, strategy)
        steps.append(step)
        if step.kind == "random":
            # Validate the rest anyway so that a typo after `random` is still reported.
            for later, rest in enumerate(strategies[position + 1 :], start=position + 1):
                _step(later, rest)
            break
    return tuple(steps)


def chain(strategies: Sequence[PlacementStrategy]) -> tuple[Step, ...]:
    """The steps a request follows: its strategies, or DEFAULT_SERVICE_STRATEGIES when it has none.

    The one place the default is applied, for placement and scale-in alike.
    """
    return normalize(strategies) or _DEFAULT_CHAIN


def validate_placement(strategies: Sequence[PlacementStrategy], constraints: Sequence[PlacementConstraint]) -> None:
    """Raise PlacementError saying what to fix if the strategies or constraints are not valid ECS."""
    normalize(strategies)
    if len(constraints) > MAX_CONSTRAINTS:
        raise PlacementError(
            f"{len(constraints)} placement constraints given; use at most {MAX_CONSTRAINTS} "
            "(task definition constraints included)"
        )
    for position, constraint in enumerate(constraints):
        where = f"placement constraint {position + 1} ({constraint.type})"
        if constraint.type == "distinctInstance":
            if constraint.expression:
                raise PlacementError(f"{where}: distinctInstance takes no expression; remove it")
        elif constraint.type == "memberOf":
            if not constraint.expression.strip():
                example = "attribute:ecs.os-type == linux"
                raise PlacementError(f"{where}: memberOf needs an expression, e.g. {example}")
            try:
                parse_expression(constraint.expression)
            except PlacementError as error:
                raise PlacementError(f"{where}: {error}", error.position) from error
        else:
            raise PlacementError(f"{where}: unknown constraint type; use distinctInstance or memberOf")


_DEFAULT_CHAIN: Final = normalize(DEFAULT_SERVICE_STRATEGIES)


def tiebreak_ranks(arns: Sequence[str], seed: int) -> list[int]:
    """rank[i] for each instance: its place in the request's seeded tie-break order (0 first)."""
    keys = [
        (hashlib.blake2b(f"{seed}\x00{arn}".encode(), digest_size=8).digest(), arn, index)
        for index, arn in enumerate(arns)
    ]
    keys.sort()
    ranks = [0] * len(arns)
    for rank, (_, _, index) in enumerate(keys):
        ranks[index] = rank
    return ranks
