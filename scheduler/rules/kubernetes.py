"""The Kubernetes placement rule: how kube-scheduler's default plugins would place on the same cluster.

The "kubernetes" profile lets a teacher show ECS and EKS deciding differently. For each pod
(task) in turn:

1. Filter. The ECS filters (`scheduler.filters`: status, agent, NodeResourcesFit's CPU and
   memory, host ports, required attributes, constraints), then PodTopologySpread over
   `ecs.availability-zone` with maxSkew 1 and whenUnsatisfiable DoNotSchedule. The zones counted
   are those with an *eligible* node: ACTIVE, agent connected, carrying the zone attribute and
   satisfying the required attributes and the static memberOf expressions (kube's node
   affinity), whatever their free resources. A node is infeasible when
   pods-of-the-group in its zone + 1 - the minimum over those zones > maxSkew, so a full zone
   can block placement, exactly as it does in Kubernetes. A node without the zone attribute is
   infeasible (kube: "missing required label").
2. Score. NodeResourcesFit LeastAllocated plus NodeResourcesBalancedAllocation, weight 1 each,
   both computed with the pod added, in kube's integer arithmetic:
     LeastAllocated = (cpu% + memory%) // 2, where resource% = (capacity - requested) * 100 // capacity;
     BalancedAllocation = int((1 - std) * 100) with std the standard deviation of the requested
     fractions (requested / capacity, capped at 1); for two resources std = |cpu - memory| / 2,
     the formula kube-scheduler has used since v1.25 (before it was 1 - |cpu - memory|).
3. The highest total wins; equal totals go to the seeded tie-break order (kube picks at random).
4. Bind. The winner takes the pod (`InstanceState.add_task`) and its zone counts one more.

The request's placement strategies do not apply: kube scores instead. kube-scheduler scores every
feasible node for every pod, and so does this rule: there is no index, the code below is the rule.
The only shortcut is that a node's ECS filters are evaluated again only when it receives a pod,
since nothing else changes their answer within a request.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from scheduler.explanation import SCORED, SHOWN_ZONES, KubernetesExplanation, Score, Topology, Winner, ZoneCount
from scheduler.filters import CONSTRAINTS, FilterLog, Rejection, RequestFilters, unplaceable
from scheduler.state import InstanceState, states_of
from scheduler.strategies import tiebreak_ranks
from scheduler.types import ZONE_ATTRIBUTE, InstanceView, Placement, PlacementRequest, PlacementResult

MAX_SKEW = 1


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


def score(state: InstanceState, request: PlacementRequest) -> Score:
    """The node's scores with the pod added."""
    instance = state.instance
    free_cpu, free_memory = state.remaining_cpu - request.cpu, state.remaining_memory - request.memory
    cpu, memory = instance.registered_cpu, instance.registered_memory
    return Score(
        instance.instance_id,
        least_allocated(free_cpu, cpu, free_memory, memory),
        balanced_allocation(cpu - free_cpu, cpu, memory - free_memory, memory),
    )


def place_kubernetes(request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> PlacementResult:
    """Place `request.count` pods by the rule in the module docstring, one at a time."""
    filters = RequestFilters(request)
    states = states_of(instances, request.group)
    ranks = tiebreak_ranks([inst.arn for inst in instances], seed)
    topology_index = CONSTRAINTS + len(filters.constraints)
    names = [*filters.names(), "topologySpread"]
    # The ECS filters' answer per node, kept up to date as pods are bound (step 4).
    rejections: list[Rejection | None] = [filters.check(state) for state in states]
    zone_tasks = _eligible_zones(filters, states)

    placements: list[Placement] = []
    for task in range(request.count):
        # 1. Filter: the ECS filters, then the topology spread.
        minimum = min(zone_tasks.values()) if zone_tasks else 0
        topology: dict[int, Rejection] = {}
        scored: list[tuple[int, int, int, Score]] = []  # (-total, rank, index, scores)
        for i, state in enumerate(states):
            if rejections[i] is not None:
                continue
            zone = state.instance.zone
            tasks = zone_tasks.get(zone, 0)
            if not zone or tasks + 1 - minimum > MAX_SKEW:
                topology[i] = _topology_rejection(topology_index, zone, tasks, minimum, request.group)
                continue
            # 2. Score.
            scores = score(state, request)
            scored.append((-scores.total, ranks[i], i, scores))
        combined = [topology.get(i, rejection) for i, rejection in enumerate(rejections)]
        if not scored:
            return PlacementResult(tuple(placements), request.count - task, unplaceable(instances, combined, ranks))
        # 3. The highest total, then the seeded order.
        top = heapq.nsmallest(SCORED, scored)
        winner = states[top[0][2]]
        why = _explain(task, request, names, states, combined, zone_tasks, minimum, top, len(scored))
        # 4. Bind. The winner passed the topology filter, so it has a zone and that zone is counted.
        placements.append(Placement(winner.instance.arn, why, winner.add_task(request)))
        zone_tasks[winner.instance.zone] += 1
        rejections[winner.index] = filters.recheck(winner)
    return PlacementResult(tuple(placements), 0, None)


def _eligible_zones(filters: RequestFilters, states: Sequence[InstanceState]) -> dict[str, int]:
    """Pods of the group per zone, over the zones with a node the pod could ever go to."""
    static = filters.static_constraints()
    zone_tasks: dict[str, int] = {}
    for state in states:
        instance = state.instance
        if (
            instance.status == "ACTIVE"
            and instance.agent_connected
            and instance.zone
            and filters.check_attributes(instance.attributes) is None
            and filters.check_constraints(instance, static, state.group_tasks) is None
        ):
            zone_tasks[instance.zone] = zone_tasks.get(instance.zone, 0) + state.group_tasks
    return zone_tasks


def _topology_rejection(index: int, zone: str, count: int, minimum: int, group: str) -> Rejection:
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


def _explain(
    task: int,
    request: PlacementRequest,
    names: list[str],
    states: Sequence[InstanceState],
    rejections: Sequence[Rejection | None],
    zone_tasks: dict[str, int],
    minimum: int,
    top: list[tuple[int, int, int, Score]],
    eligible: int,
) -> KubernetesExplanation:
    log = FilterLog(names)
    for state, rejection in zip(states, rejections, strict=True):
        if rejection is not None:
            log.drop(state, rejection)
    winner = states[top[0][2]].instance
    zones = sorted(zone_tasks.items(), key=lambda item: (item[1], item[0]))[:SHOWN_ZONES]
    return KubernetesExplanation(
        task=task,
        group=request.group,
        considered=len(states),
        filters=log.summary(),
        eligible=eligible,
        winner=Winner(winner.instance_id, winner.arn, winner.zone),
        topology=Topology(ZONE_ATTRIBUTE, MAX_SKEW, minimum, tuple(ZoneCount(zone, n) for zone, n in zones)),
        scores=tuple(scores for _, _, _, scores in top),
    )
