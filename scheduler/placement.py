"""`place` and `select_for_scale_in`: ECS placement decisions, each with its explanation.

How `place` stays cheap on big clusters. Every task of a request is identical and an instance's
state only changes when a task lands on it, so:

- every filter runs once per instance per request (`RequestFilters.check`), and after a placement
  only the chosen instance is re-checked; the set of candidates is therefore always exact, and an
  instance that drops out never comes back within the request;
- candidates live in *cells*, one per combination of the values of the attributes that the chain
  spreads on (one cell per zone by default, a single cell when no strategy spreads by attribute).
  All instances of a cell share the attribute buckets, so inside a cell the chain only orders by
  the instance-level keys (tasks on the instance, remaining cpu or memory) and then by the seeded
  tie-break rank: a heap of distinct keys, each key holding the sorted ranks of its instances;
- a placement compares the best instance of each cell (cost: the number of cells, times log of
  the cell size to keep the heap), then moves one instance to its new key.

So the cost of a placement grows with the number of distinct spread-attribute values, not with
the number of instances. `tests/unit/scheduler/reference.py` implements the same rules by brute
force, and the tests check that both choose the same instances.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush
from typing import Any

from scheduler.filters import Rejection, RequestFilters
from scheduler.strategies import (
    DEFAULT_SERVICE_STRATEGIES,
    Step,
    normalize,
    tiebreak_ranks,
    validate_placement,
)
from scheduler.types import (
    InstanceView,
    Placement,
    PlacementError,
    PlacementRequest,
    PlacementResult,
    PlacementStrategy,
    TaskView,
    Unplaceable,
)

# Explanations stay small whatever the cluster size: this many examples or ranked entries each.
EXAMPLES = 5
RANKED = 3

NO_INSTANCES_REASON = "no container instances are registered"


def place(request: PlacementRequest, instances: Sequence[InstanceView], seed: int = 0) -> PlacementResult:
    """Place `request.count` identical tasks one after another; stop at the first that fits nowhere.

    Raises PlacementError for invalid strategies or constraints. Empty `request.strategies` means
    DEFAULT_SERVICE_STRATEGIES. The result depends only on the arguments.
    """
    validate_placement(request.strategies, request.constraints)
    if request.profile not in ("ecs", "kubernetes"):
        raise PlacementError(f"unknown placement profile {request.profile!r}; use ecs or kubernetes")
    if request.count <= 0:
        return PlacementResult((), 0, None)
    if not instances:
        return PlacementResult((), request.count, no_instances())
    if request.profile == "kubernetes":
        from scheduler.profiles import place_kubernetes

        return place_kubernetes(request, instances, seed)
    return _Engine(request, instances, seed).run()


def no_instances() -> Unplaceable:
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
    """The failure for a request that no instance can take: the closest instance and a tally.

    The closest instance is the one whose first failing filter comes latest in the filter order;
    among equals, the one first in the seeded tie-break order.
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


class _Cell:
    """The candidates sharing one combination of spread-attribute values."""

    __slots__ = ("buckets", "heap", "size", "values")

    def __init__(self, values: tuple[str | None, ...]) -> None:
        self.values = values
        self.size = 0
        # instance-level key -> ranks of the candidates with that key, ascending
        self.buckets: dict[tuple[int, ...], list[int]] = {}
        # the distinct keys; entries whose bucket has emptied are dropped lazily
        self.heap: list[tuple[int, ...]] = []

    def top(self) -> tuple[int, ...]:
        heap, buckets = self.heap, self.buckets
        while heap[0] not in buckets:
            heappop(heap)
        return heap[0]

    def add(self, key: tuple[int, ...], rank: int) -> None:
        ranks = self.buckets.get(key)
        if ranks is None:
            self.buckets[key] = [rank]
            heappush(self.heap, key)
            if len(self.heap) > 2 * len(self.buckets) + 32:
                self.heap = list(self.buckets)
                heapify(self.heap)
        else:
            insort(ranks, rank)

    def remove(self, key: tuple[int, ...], rank: int) -> None:
        ranks = self.buckets[key]
        if len(ranks) == 1:
            del self.buckets[key]
        else:
            del ranks[bisect_left(ranks, rank)]

    def first(self, limit: int) -> list[tuple[tuple[int, ...], int]]:
        """Up to `limit` (key, rank) pairs in order, walking the heap best-first."""
        heap, buckets = self.heap, self.buckets
        out: list[tuple[tuple[int, ...], int]] = []
        seen: set[tuple[int, ...]] = set()
        frontier = [(heap[0], 0)] if heap else []
        while frontier and len(out) < limit:
            key, position = heappop(frontier)
            if key in buckets and key not in seen:
                seen.add(key)
                for rank in buckets[key][: limit - len(out)]:
                    out.append((key, rank))
            for child in (2 * position + 1, 2 * position + 2):
                if child < len(heap):
                    heappush(frontier, (heap[child], child))
        return out


def _nth_smallest(lists: Sequence[list[int]], index: int, upper: int) -> int:
    """The index-th smallest of the union of disjoint sorted lists of values in [0, upper)."""
    if len(lists) == 1:
        return lists[0][index]
    low, high = 0, upper - 1
    while low < high:
        middle = (low + high) // 2
        if sum(bisect_right(values, middle) for values in lists) > index:
            high = middle
        else:
            low = middle + 1
    return low


_KEY_NAMES = {
    "spread_instance": "tasks",
    "binpack_cpu": "remaining_cpu",
    "binpack_memory": "remaining_memory",
}


class _Engine:
    """One `place` call for the ECS profile; see the module docstring for the structures."""

    def __init__(self, request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> None:
        self.request = request
        self.instances = instances
        self.filters = RequestFilters(request)
        self.rng = random.Random(seed)
        steps = normalize(request.strategies) or normalize(DEFAULT_SERVICE_STRATEGIES)
        self.steps = steps
        self.random = steps[-1].kind == "random"
        ordered = steps[:-1] if self.random else steps
        self.attr_names = [s.attribute for s in ordered if s.kind == "spread_attribute"]
        level_steps = [s for s in ordered if s.instance_level]
        # pattern[p] = (is attribute step, index among attribute steps or among instance steps)
        self.pattern: list[tuple[bool, int]] = []
        self.pattern_steps: list[Step] = list(ordered)
        a = m = 0
        for step in ordered:
            if step.kind == "spread_attribute":
                self.pattern.append((True, a))
                a += 1
            else:
                self.pattern.append((False, m))
                m += 1

        n = len(instances)
        group = request.group
        self.ranks = tiebreak_ranks([inst.arn for inst in instances], seed)
        self.order = [0] * n
        for i, rank in enumerate(self.ranks):
            self.order[rank] = i
        self.groups = [inst.task_groups.get(group, 0) for inst in instances]
        self.running = [inst.running_tasks_count for inst in instances]
        self.cpu = [inst.remaining_cpu for inst in instances]
        self.memory = [inst.remaining_memory for inst in instances]
        self.tcp = [inst.used_tcp_ports for inst in instances]
        self.udp = [inst.used_udp_ports for inst in instances]
        self.keyf = self._key_function(level_steps)
        self.counts: list[dict[str | None, int]] = [{} for _ in self.attr_names]

        names = self.filters.names()
        self.filter_names = names
        self.removed = [0] * len(names)
        self.examples: list[list[int]] = [[] for _ in names]
        self.rejections: list[Rejection | None] = [None] * n
        self.filters_version = 0
        self._summary: tuple[int, list[dict[str, Any]]] = (-1, [])

        self.cell_of: list[_Cell | None] = [None] * n
        self.key_of: list[tuple[int, ...]] = [()] * n
        cells: dict[tuple[str | None, ...], _Cell] = {}
        check = self.filters.check
        for i, inst in enumerate(instances):
            attributes = inst.attributes
            values = tuple(attributes.get(name) for name in self.attr_names)
            if inst.status == "ACTIVE":
                for count, value in zip(self.counts, values, strict=True):
                    count[value] = count.get(value, 0) + self.groups[i]
            rejection = check(inst)
            if rejection is not None:
                self._drop(i, rejection)
                continue
            cell = cells.get(values)
            if cell is None:
                cell = cells[values] = _Cell(values)
            cell.size += 1
            self.cell_of[i] = cell
        for rank in range(n):
            i = self.order[rank]
            cell = self.cell_of[i]
            if cell is not None:
                key = self.key_of[i] = self.keyf(i)
                ranks = cell.buckets.get(key)
                if ranks is None:
                    cell.buckets[key] = [rank]
                else:
                    ranks.append(rank)
        for cell in cells.values():
            cell.heap = list(cell.buckets)
            heapify(cell.heap)
        # Sorted so that scanning cells is deterministic; ties between cells break on rank anyway.
        self.cells = sorted(cells.values(), key=lambda c: tuple((v is None, v or "") for v in c.values))
        self.feasible = sum(cell.size for cell in self.cells)

    def _key_function(self, level_steps: list[Step]) -> Callable[[int], tuple[int, ...]]:
        sources = {"spread_instance": self.groups, "binpack_cpu": self.cpu, "binpack_memory": self.memory}
        arrays = [sources[step.kind] for step in level_steps]
        if not arrays:
            return lambda i: ()
        if len(arrays) == 1:
            (first,) = arrays
            return lambda i: (first[i],)
        if len(arrays) == 2:
            first, second = arrays
            return lambda i: (first[i], second[i])
        return lambda i: tuple(values[i] for values in arrays)

    def _drop(self, i: int, rejection: Rejection) -> None:
        self.rejections[i] = rejection
        index = rejection.index
        self.removed[index] += 1
        examples = self.examples[index]
        if len(examples) < EXAMPLES or i < examples[-1]:
            insort(examples, i)
            del examples[EXAMPLES:]
        self.filters_version += 1

    def filter_summary(self) -> list[dict[str, Any]]:
        """Per filter that removed anything: how many and a few examples (by input order)."""
        version, summary = self._summary
        if version == self.filters_version:
            return summary
        summary = []
        for index, name in enumerate(self.filter_names):
            if not self.removed[index]:
                continue
            examples = []
            for i in self.examples[index]:
                rejection = self.rejections[i]
                assert rejection is not None
                examples.append({"instance": self.instances[i].instance_id, "reason": rejection.reason})
            entry: dict[str, Any] = {"filter": name, "removed": self.removed[index], "examples": examples}
            summary.append(entry)
        self._summary = (self.filters_version, summary)
        return summary

    def run(self) -> PlacementResult:
        placements: list[Placement] = []
        count = self.request.count
        for task in range(count):
            if not self.cells:
                failure = unplaceable(self.instances, self.rejections, self.ranks)
                return PlacementResult(tuple(placements), count - task, failure)
            i, explanation = self._choose(task)
            placements.append(Placement(self.instances[i].arn, explanation))
            self._commit(i)
        return PlacementResult(tuple(placements), 0, None)

    def _choose(self, task: int) -> tuple[int, dict[str, Any]]:
        counts, pattern = self.counts, self.pattern
        entries: list[tuple[tuple[int, ...], _Cell, tuple[int, ...]]] = []
        for cell in self.cells:
            key = cell.top()
            values = cell.values
            full = tuple(counts[x][values[x]] if is_attr else key[x] for is_attr, x in pattern)
            entries.append((full, cell, key))
        if not self.random:
            best_full, best_cell, best_key = entries[0]
            best_rank = best_cell.buckets[best_key][0]
            for full, cell, key in entries[1:]:
                if full < best_full or (full == best_full and cell.buckets[key][0] < best_rank):
                    best_full, best_cell, best_key = full, cell, key
                    best_rank = cell.buckets[key][0]
            rank, tied = best_rank, 0
        else:
            best_full = min(entry[0] for entry in entries)
            tied_entries = [entry for entry in entries if entry[0] == best_full]
            lists = [cell.buckets[key] for _, cell, key in tied_entries]
            tied = sum(len(ranks) for ranks in lists)
            rank = _nth_smallest(lists, self.rng.randrange(tied), len(self.instances))
            best_cell = tied_entries[0][1]
            for _, cell, key in tied_entries:
                ranks = cell.buckets[key]
                position = bisect_left(ranks, rank)
                if position < len(ranks) and ranks[position] == rank:
                    best_cell = cell
                    break
        i = self.order[rank]
        return i, self._explain(task, i, best_full, best_cell, entries, tied)

    def _explain(
        self,
        task: int,
        i: int,
        best_full: tuple[int, ...],
        best_cell: _Cell,
        entries: list[tuple[tuple[int, ...], _Cell, tuple[int, ...]]],
        tied: int,
    ) -> dict[str, Any]:
        instances = self.instances
        winner = instances[i]
        ranked: list[dict[str, Any]] = []
        first: list[tuple[tuple[int, ...], int]] | None = None
        for p, (is_attr, x) in enumerate(self.pattern):
            step = self.pattern_steps[p]
            if is_attr:
                prefix = best_full[:p]
                # In chain order (the full key, then the rank of the cell's best), so the chosen
                # value comes first even when a later strategy settled a tie between buckets.
                survivors = sorted(
                    (full, cell.buckets[key][0], cell) for full, cell, key in entries if full[:p] == prefix
                )
                buckets: dict[str | None, int] = {}
                candidates = 0
                for full, _, cell in survivors:
                    buckets.setdefault(cell.values[x], full[p])
                    candidates += cell.size
                best = list(buckets.items())
                if best[0][0] != best_cell.values[x]:
                    # random settled the tie: put its pick first
                    best.sort(key=lambda item: item[0] != best_cell.values[x])
                entry: dict[str, Any] = {
                    "strategy": step.label,
                    "candidates": candidates,
                    "ranking": [{"value": value, "tasks": tasks} for value, tasks in best[:RANKED]],
                    "chose": best_cell.values[x],
                }
                tie = self._tie(p, x, best_full, best_cell, entries)
                if tie is not None:
                    entry["tie"] = tie
                ranked.append(entry)
            else:
                if first is None:
                    first = best_cell.first(RANKED)
                name = _KEY_NAMES[step.kind]
                ranked.append(
                    {
                        "strategy": step.label,
                        "ranking": [
                            {"instance": instances[self.order[rank]].instance_id, name: key[x]} for key, rank in first
                        ],
                        "chose": winner.instance_id,
                    }
                )
        if self.random:
            ranked.append({"strategy": "random", "candidates": tied, "chose": winner.instance_id})
        return {
            "profile": "ecs",
            "task": task,
            "group": self.request.group,
            "considered": len(instances),
            "filters": self.filter_summary(),
            "eligible": self.feasible,
            "strategies": ranked,
            "winner": {"instance": winner.instance_id, "arn": winner.arn, "zone": winner.zone},
        }

    def _tie(
        self,
        p: int,
        x: int,
        best_full: tuple[int, ...],
        best_cell: _Cell,
        entries: list[tuple[tuple[int, ...], _Cell, tuple[int, ...]]],
    ) -> dict[str, Any] | None:
        """When other values of step p's attribute had as few tasks as the chosen one: which values,
        and which later step settled it (else the seeded tie-break order, or random)."""
        chosen = best_cell.values[x]
        rivals = [full for full, cell, _ in entries if full[: p + 1] == best_full[: p + 1] and cell.values[x] != chosen]
        if not rivals:
            return None
        values = sorted({cell.values[x] for full, cell, _ in entries if full[: p + 1] == best_full[: p + 1]}, key=str)
        broken_by = "random" if self.random else "tie-break order"
        for q in range(p + 1, len(self.pattern)):
            rivals = [full for full in rivals if full[q] == best_full[q]]
            if not rivals:
                broken_by = self.pattern_steps[q].label
                break
        return {"values": values[:EXAMPLES], "tied": len(values), "brokenBy": broken_by}

    def _commit(self, i: int) -> None:
        request = self.request
        cell = self.cell_of[i]
        assert cell is not None
        rank = self.ranks[i]
        cell.remove(self.key_of[i], rank)
        self.cpu[i] -= request.cpu
        self.memory[i] -= request.memory
        if request.tcp_ports:
            self.tcp[i] = self.tcp[i] | request.tcp_ports
        if request.udp_ports:
            self.udp[i] = self.udp[i] | request.udp_ports
        self.groups[i] += 1
        self.running[i] += 1
        for count, value in zip(self.counts, cell.values, strict=True):
            count[value] += 1
        rejection = self.filters.recheck(
            self.instances[i],
            self.cpu[i],
            self.memory[i],
            self.tcp[i],
            self.udp[i],
            self.groups[i],
            self.running[i],
        )
        if rejection is None:
            key = self.key_of[i] = self.keyf(i)
            cell.add(key, rank)
            return
        self._drop(i, rejection)
        self.cell_of[i] = None
        cell.size -= 1
        self.feasible -= 1
        if cell.size == 0:
            self.cells.remove(cell)


# ---------------------------------------------------------------------------------------------
# Scale-in


def select_for_scale_in(
    count: int,
    tasks: Sequence[TaskView],
    instances: Sequence[InstanceView],
    strategies: Sequence[PlacementStrategy] = (),
    seed: int = 0,
) -> list[str]:
    """The ARNs of `count` tasks to stop, in the order to stop them; the mirror of `place`.

    `tasks` are the tasks of one service (or group). First the tasks on instances that are not
    ACTIVE (or not in `instances` at all): they are leaving anyway. Then, one at a time, the chain
    of strategies is applied in reverse: spread stops a task in the attribute bucket (zone) with
    the most remaining tasks and on the instance with the most; binpack stops a task on the
    instance that keeps the most remaining cpu or memory, so the least-packed instance empties
    first and packing tightens (TaskView carries no sizes, so remaining amounts are the snapshot's);
    random picks uniformly among the ties. Ties go to the seeded instance order, and within an
    instance the most recently started task goes first (the one that has served least).
    """
    validate_placement(strategies, ())
    if count <= 0 or not tasks:
        return []
    steps = normalize(strategies) or normalize(DEFAULT_SERVICE_STRATEGIES)
    by_arn = {inst.arn: inst for inst in instances}
    task_ranks = tiebreak_ranks([task.arn for task in tasks], seed)
    arns = [inst.arn for inst in instances]
    instance_ranks = dict(zip(arns, tiebreak_ranks(arns, seed), strict=True))

    def newest_first(index: int) -> tuple[float, int]:
        return (-tasks[index].started_at, task_ranks[index])

    leaving: list[int] = []
    staying: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        inst = by_arn.get(task.instance_arn)
        if inst is None or inst.status != "ACTIVE":
            leaving.append(index)
        else:
            staying.setdefault(task.instance_arn, []).append(index)
    leaving.sort(key=newest_first)
    chosen = [tasks[index].arn for index in leaving[:count]]
    if len(chosen) >= count:
        return chosen

    for indices in staying.values():
        # Popped from the end: the newest task last in the list.
        indices.sort(key=newest_first, reverse=True)
    rng = random.Random(seed)
    stop_random = steps[-1].kind == "random"
    ordered = steps[:-1] if stop_random else steps
    bucket_counts: list[Counter[str | None]] = []
    for step in ordered:
        counter: Counter[str | None] = Counter()
        if step.kind == "spread_attribute":
            for arn, indices in staying.items():
                counter[by_arn[arn].attributes.get(step.attribute)] += len(indices)
        bucket_counts.append(counter)

    def key(arn: str) -> tuple[int, ...]:
        inst = by_arn[arn]
        out = []
        for step, counter in zip(ordered, bucket_counts, strict=True):
            if step.kind == "spread_attribute":
                out.append(counter[inst.attributes.get(step.attribute)])
            elif step.kind == "spread_instance":
                out.append(len(staying[arn]))
            elif step.kind == "binpack_cpu":
                out.append(inst.remaining_cpu)
            else:
                out.append(inst.remaining_memory)
        return tuple(out)

    while len(chosen) < count and staying:
        keyed = [(key(arn), arn) for arn in staying]
        best = max(k for k, _ in keyed)
        tied = sorted((arn for k, arn in keyed if k == best), key=instance_ranks.__getitem__)
        arn = tied[rng.randrange(len(tied))] if stop_random else tied[0]
        chosen.append(tasks[staying[arn].pop()].arn)
        inst = by_arn[arn]
        for step, counter in zip(ordered, bucket_counts, strict=True):
            if step.kind == "spread_attribute":
                counter[inst.attributes.get(step.attribute)] -= 1
        if not staying[arn]:
            del staying[arn]
    return chosen
