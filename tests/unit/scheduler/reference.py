"""A deliberately simple brute-force implementation of the ECS placement rules, to check `place`.

For every task it re-runs every filter on every instance and computes every strategy key from
scratch: O(instances) per placement, no incremental state, written straight from ECS-NOTES.md.
Only the seeded tie-break order (`tiebreak_ranks`) and the query language parser are shared with
the scheduler, since they are definitions rather than rules. The property tests and
`benchmarks/scheduler.py` compare its choices with `scheduler.place`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from scheduler.constraints import parse
from scheduler.strategies import tiebreak_ranks
from scheduler.types import ZONE_ATTRIBUTE, InstanceView, PlacementRequest

DEFAULT = (("spread", f"attribute:{ZONE_ATTRIBUTE}"), ("spread", "instanceId"))


@dataclass(frozen=True)
class Failure:
    reason: str
    closest_arn: str | None
    closest_reason: str
    tally: dict[str, int]


@dataclass
class ReferenceResult:
    choices: list[str] = field(default_factory=list)  # instance ARNs, one per placed task
    removed: list[dict[str, int]] = field(default_factory=list)  # per placement: filter -> dropped
    unplaced: int = 0
    failure: Failure | None = None


# (filter position, filter name, ECS code, reason, tally key)
Rejection = tuple[int, str, str, str, str]


def _first_failure(request: PlacementRequest, view: InstanceView, exprs: list[object]) -> Rejection | None:
    if view.status != "ACTIVE":
        return (0, "status", "INACTIVE", view.status, view.status)
    if not view.agent_connected:
        return (1, "agent", "AGENT", "agent disconnected", "agent disconnected")
    if view.remaining_cpu < request.cpu:
        return (2, "cpu", "RESOURCE:CPU", "insufficient CPU units available", "insufficient CPU")
    if view.remaining_memory < request.memory:
        return (3, "memory", "RESOURCE:MEMORY", "insufficient memory available", "insufficient memory")
    for ports, used, suffix in (
        (request.tcp_ports, view.used_tcp_ports, ""),
        (request.udp_ports, view.used_udp_ports, "/udp"),
    ):
        taken = sorted(ports & used)
        if taken:
            return (4, "ports", "RESOURCE:PORTS", f"port {taken[0]}{suffix} already in use", "port in use")
    for name, want in request.required_attributes.items():
        have = view.attributes.get(name)
        if have is None:
            return (5, "attributes", "ATTRIBUTE", f"missing attribute {name}", f"missing attribute {name}")
        if want is not None and have != want:
            reason = f"attribute {name} is {have!r}, not {want!r}"
            return (5, "attributes", "ATTRIBUTE", reason, f"attribute {name} mismatch")
    for j, (constraint, expr) in enumerate(zip(request.constraints, exprs, strict=True)):
        if constraint.type == "distinctInstance":
            if view.task_groups.get(request.group, 0) > 0:
                reason = f"already runs a task of group {request.group}"
                return (6 + j, "distinctInstance", "ATTRIBUTE", reason, "distinctInstance")
        elif not expr.evaluate(view):  # type: ignore[attr-defined]
            text = constraint.expression
            shown = text if len(text) <= 100 else text[:97] + "..."
            reason = f"does not match memberOf expression '{shown}'"
            return (6 + j, "memberOf", "ATTRIBUTE", reason, "memberOf")
    return None


def _keys(kind: str, fld: str, candidates: list[int], views: Sequence[InstanceView], group: str) -> list[int]:
    if kind == "binpack":
        if fld.lower() == "cpu":
            return [views[i].remaining_cpu for i in candidates]
        return [views[i].remaining_memory for i in candidates]
    if fld.lower() in ("instanceid", "host"):
        return [views[i].task_groups.get(group, 0) for i in candidates]
    name = fld[len("attribute:") :]
    # Tasks of the group on the ACTIVE instances with the same value (None: lacking the attribute).
    totals: Counter[str | None] = Counter()
    for view in views:
        if view.status == "ACTIVE":
            totals[view.attributes.get(name)] += view.task_groups.get(group, 0)
    return [totals[views[i].attributes.get(name)] for i in candidates]


def reference_place(request: PlacementRequest, instances: Sequence[InstanceView], seed: int = 0) -> ReferenceResult:
    result = ReferenceResult()
    if request.count <= 0:
        return result
    if not instances:
        result.unplaced = request.count
        result.failure = Failure("MISSING", None, "no container instances are registered", {})
        return result
    strategies: list[tuple[str, str]] = [(s.type, s.field) for s in request.strategies] or list(DEFAULT)
    exprs: list[object] = [parse(c.expression) if c.type == "memberOf" else None for c in request.constraints]
    ranks = tiebreak_ranks([inst.arn for inst in instances], seed)
    rng = random.Random(seed)
    views = list(instances)
    group = request.group
    for task in range(request.count):
        rejections = [_first_failure(request, view, exprs) for view in views]
        candidates = [i for i, rejection in enumerate(rejections) if rejection is None]
        if not candidates:
            closest = max(range(len(views)), key=lambda i: (rejections[i][0], -ranks[i]))  # type: ignore[index]
            rejection = rejections[closest]
            assert rejection is not None
            tally = Counter(r[4] for r in rejections if r is not None)
            result.failure = Failure(rejection[2], views[closest].arn, rejection[3], dict(tally))
            result.unplaced = request.count - task
            return result
        result.removed.append(dict(Counter(r[1] for r in rejections if r is not None)))
        for kind, fld in strategies:
            if kind == "random":
                candidates.sort(key=ranks.__getitem__)
                candidates = [candidates[rng.randrange(len(candidates))]]
                break
            keys = _keys(kind, fld, candidates, views, group)
            best = min(keys)
            candidates = [i for i, key in zip(candidates, keys, strict=True) if key == best]
        winner = min(candidates, key=ranks.__getitem__)
        result.choices.append(views[winner].arn)
        view = views[winner]
        groups = dict(view.task_groups)
        groups[group] = groups.get(group, 0) + 1
        views[winner] = replace(
            view,
            remaining_cpu=view.remaining_cpu - request.cpu,
            remaining_memory=view.remaining_memory - request.memory,
            used_tcp_ports=view.used_tcp_ports | request.tcp_ports,
            used_udp_ports=view.used_udp_ports | request.udp_ports,
            task_groups=groups,
            running_tasks_count=view.running_tasks_count + 1,
        )
    return result
