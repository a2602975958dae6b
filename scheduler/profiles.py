"""Placement profiles: "ecs" (the default, in scheduler.placement) and "kubernetes" (here).

The "kubernetes" profile places the way kube-scheduler's default plugins would on the same
cluster, so that a teacher can show ECS and EKS deciding differently:

- Filter: the ECS filters (status, agent, NodeResourcesFit's cpu and memory, host ports,
  required attributes, constraints), then PodTopologySpread over `ecs.availability-zone` with
  maxSkew 1 and whenUnsatisfiable DoNotSchedule. The zones counted are those with an *eligible*
  node: ACTIVE, agent connected, carrying the zone attribute and satisfying the required
  attributes and the static memberOf expressions (kube's node affinity), whatever their free
  resources. A node is infeasible when pods-of-the-group in its zone + 1 - the minimum over those
  zones > 1, so a full zone can block placement, exactly as it does in Kubernetes. A node without
  the zone attribute is infeasible (kube: "missing required label").
- Score: NodeResourcesFit LeastAllocated plus NodeResourcesBalancedAllocation, weight 1 each,
  both computed with the task added, in kube's integer arithmetic:
    LeastAllocated = (cpu% + memory%) // 2, where resource% = (capacity - requested) * 100 // capacity;
    BalancedAllocation = int((1 - std) * 100) with std the standard deviation of the requested
    fractions (requested / capacity, capped at 1); for two resources std = |cpu - memory| / 2,
    the formula kube-scheduler has used since v1.25 (before it was 1 - |cpu - memory|).
  The highest total wins; equal totals go to the seeded tie-break order (kube picks at random).

Unlike the ECS engine this profile scans every candidate for every task: kube-scheduler scores
every feasible node too, and the topology filter can change for every node after each placement.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from scheduler.filters import CONSTRAINTS, Rejection, RequestFilters
from scheduler.placement import EXAMPLES, unplaceable
from scheduler.strategies import tiebreak_ranks
from scheduler.types import ZONE_ATTRIBUTE, InstanceView, Placement, PlacementRequest, PlacementResult

MAX_SKEW = 1
# Per-node scores in an explanation: enough to compare, bounded on any cluster size.
SCORED = 10
SHOWN_ZONES = 10


def least_allocated(free_cpu: int, capacity_cpu: int, free_memory: int, capacity_memory: int) -> int:
    """kube's LeastAllocated score (0-100) from the free amounts left after adding the pod."""
    cpu = free_cpu * 100 // capacity_cpu if capacity_cpu > 0 else 0
    memory = free_memory * 100 // capacity_memory if capacity_memory > 0 else 0
    return (cpu + memory) // 2


def balanced_allocation(requested_cpu: int, capacity_cpu: int, requested_memory: int, capacity_memory: int) -> int:
    """kube's BalancedAllocation score (0-100), standard-deviation form, pod included in requested."""
    cpu = min(requested_cpu / capacity_cpu, 1.0) if capacity_cpu > 0 else 1.0
    memory = min(requested_memory / capacity_memory, 1.0) if capacity_memory > 0 else 1.0
    std = abs(cpu - memory) / 2
    return int((1 - std) * 100)


def _topology(index: int, zone: str, count: int, minimum: int, group: str) -> Rejection:
    if not zone:
        reason = f"missing attribute {ZONE_ATTRIBUTE} (topology spread)"
        return Rejection(index, "topologySpread", "ATTRIBUTE", reason, f"missing attribute {ZONE_ATTRIBUTE}", reason)
    skew = count + 1 - minimum
    reason = f"zone {zone} would have skew {skew} > maxSkew {MAX_SKEW} for {group or 'the group'}"
    return Rejection(
        index,
        "topologySpread",
        "ATTRIBUTE",
        reason,
        "topology spread",
        f"would break the zone topology spread ({reason})",
    )


def place_kubernetes(request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> PlacementResult:
    """Place like kube-scheduler (see the module docstring); same result types as `place`."""
    filters = RequestFilters(request)
    n = len(instances)
    ranks = tiebreak_ranks([inst.arn for inst in instances], seed)
    group = request.group
    cpu = [inst.remaining_cpu for inst in instances]
    memory = [inst.remaining_memory for inst in instances]
    tcp = [inst.used_tcp_ports for inst in instances]
    udp = [inst.used_udp_ports for inst in instances]
    groups = [inst.task_groups.get(group, 0) for inst in instances]
    running = [inst.running_tasks_count for inst in instances]
    zones = [inst.zone for inst in instances]
    topology_index = CONSTRAINTS + len(filters.constraints)
    names = [*filters.names(), "topologySpread"]

    rejections: list[Rejection | None] = [None] * n
    alive: list[int] = []
    zone_counts: dict[str, int] = {}
    static = tuple(c for c in filters.constraints if c.expr is not None and not c.expr.dynamic)
    for i, inst in enumerate(instances):
        eligible = (
            inst.status == "ACTIVE"
            and inst.agent_connected
            and bool(zones[i])
            and filters.check_attributes(inst.attributes) is None
            and filters.check_constraints(inst, static) is None
        )
        if eligible:
            zone_counts[zones[i]] = zone_counts.get(zones[i], 0) + groups[i]
        rejections[i] = filters.check(inst)
        if rejections[i] is None:
            alive.append(i)

    placements: list[Placement] = []
    for task in range(request.count):
        minimum = min(zone_counts.values()) if zone_counts else 0
        topology: dict[int, Rejection] = {}
        scored: list[tuple[int, int, int, int, int]] = []  # (-total, rank, i, least, balanced)
        for i in alive:
            zone = zones[i]
            count = zone_counts.get(zone, 0)
            if not zone or count + 1 - minimum > MAX_SKEW:
                topology[i] = _topology(topology_index, zone, count, minimum, group)
                continue
            inst = instances[i]
            free_cpu, free_memory = cpu[i] - request.cpu, memory[i] - request.memory
            least = least_allocated(free_cpu, inst.registered_cpu, free_memory, inst.registered_memory)
            balanced = balanced_allocation(
                inst.registered_cpu - free_cpu,
                inst.registered_cpu,
                inst.registered_memory - free_memory,
                inst.registered_memory,
            )
            scored.append((-(least + balanced), ranks[i], i, least, balanced))
        if not scored:
            combined = [topology.get(i, rejection) for i, rejection in enumerate(rejections)]
            return PlacementResult(tuple(placements), request.count - task, unplaceable(instances, combined, ranks))
        top = heapq.nsmallest(SCORED, scored)
        winner = top[0][2]
        explanation = _explanation(
            task, request, instances, names, rejections, topology, zone_counts, minimum, top, len(scored)
        )
        placements.append(Placement(instances[winner].arn, explanation))

        cpu[winner] -= request.cpu
        memory[winner] -= request.memory
        tcp[winner] = tcp[winner] | request.tcp_ports
        udp[winner] = udp[winner] | request.udp_ports
        groups[winner] += 1
        running[winner] += 1
        # The winner passed the topology filter, so it has a zone and that zone is counted.
        zone_counts[zones[winner]] += 1
        rejection = filters.recheck(
            instances[winner],
            cpu[winner],
            memory[winner],
            tcp[winner],
            udp[winner],
            groups[winner],
            running[winner],
        )
        if rejection is not None:
            rejections[winner] = rejection
            alive.remove(winner)
    return PlacementResult(tuple(placements), 0, None)


def _explanation(
    task: int,
    request: PlacementRequest,
    instances: Sequence[InstanceView],
    names: list[str],
    rejections: list[Rejection | None],
    topology: dict[int, Rejection],
    zone_counts: dict[str, int],
    minimum: int,
    top: list[tuple[int, int, int, int, int]],
    eligible: int,
) -> dict[str, Any]:
    removed = [0] * len(names)
    examples: list[list[dict[str, str]]] = [[] for _ in names]
    for i, inst in enumerate(instances):
        rejection = topology.get(i) or rejections[i]
        if rejection is None:
            continue
        removed[rejection.index] += 1
        if len(examples[rejection.index]) < EXAMPLES:
            examples[rejection.index].append({"instance": inst.instance_id, "reason": rejection.reason})
    filters = [
        {"filter": name, "removed": removed[index], "examples": examples[index]}
        for index, name in enumerate(names)
        if removed[index]
    ]
    winner = instances[top[0][2]]
    zones = sorted(zone_counts.items(), key=lambda item: (item[1], item[0]))[:SHOWN_ZONES]
    return {
        "profile": "kubernetes",
        "task": task,
        "group": request.group,
        "considered": len(instances),
        "filters": filters,
        "eligible": eligible,
        "topology": {
            "key": ZONE_ATTRIBUTE,
            "max_skew": MAX_SKEW,
            "min": minimum,
            "zones": [{"zone": zone, "tasks": count} for zone, count in zones],
        },
        "weights": {"least_allocated": 1, "balanced_allocation": 1},
        "scores": [
            {
                "instance": instances[i].instance_id,
                "least_allocated": least,
                "balanced_allocation": balanced,
                "total": least + balanced,
            }
            for _, _, i, least, balanced in top
        ],
        "winner": {"instance": winner.instance_id, "arn": winner.arn, "zone": winner.zone},
    }
