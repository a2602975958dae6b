"""The fast index for the ECS rule: the decisions of `scheduler.rules.ecs`, at a cost that stays flat.

Every task of a request is identical and an instance's state only changes when a task lands on
it, so:

- every filter runs once per instance per request (`RequestFilters.check`), and after a placement
  only the chosen instance is re-checked (`RequestFilters.recheck`); the set of candidates is
  therefore always exact, and an instance that drops out never comes back within the request;
- candidates live in *cells*, one per combination of the values of the attributes that the chain
  spreads on (one cell per zone by default, a single cell when no strategy spreads by attribute).
  All instances of a cell share the attribute buckets, so inside a cell the chain only orders by
  the instance-level keys (tasks on the instance, remaining cpu or memory) and then by the seeded
  tie-break rank: a heap of distinct keys, each key holding the sorted ranks of its instances;
- a placement compares the best instance of each cell (cost: the number of cells, times log of
  the cell size to keep the heap), then moves one instance to its new key.

So the cost of a placement grows with the number of distinct spread-attribute values, not with
the number of instances. The property tests check that `place_ecs` here and the plain rule
choose the same instances and explain them identically.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush
from operator import attrgetter

from scheduler.explanation import EXAMPLES, RANKED, EcsExplanation, StrategyStep, Tie, Winner
from scheduler.filters import FilterLog, Rejection, RequestFilters, unplaceable
from scheduler.state import InstanceState, states_of
from scheduler.strategies import Step, chain, tiebreak_ranks
from scheduler.types import InstanceView, Placement, PlacementRequest, PlacementResult

Key = tuple[int, ...]


def place_ecs(request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> PlacementResult:
    """The ECS rule for `request` (see scheduler.rules.ecs), computed with the index."""
    return _Index(request, instances, seed).run()


class _Cell:
    """The candidates sharing one combination of spread-attribute values."""

    __slots__ = ("buckets", "heap", "size", "values")

    def __init__(self, values: tuple[str | None, ...]) -> None:
        self.values = values
        self.size = 0
        # instance-level key -> ranks of the candidates with that key, ascending
        self.buckets: dict[Key, list[int]] = {}
        # the distinct keys; entries whose bucket has emptied are dropped lazily
        self.heap: list[Key] = []

    def top(self) -> Key:
        heap, buckets = self.heap, self.buckets
        while heap[0] not in buckets:
            heappop(heap)
        return heap[0]

    def add(self, key: Key, rank: int) -> None:
        ranks = self.buckets.get(key)
        if ranks is None:
            self.buckets[key] = [rank]
            heappush(self.heap, key)
            if len(self.heap) > 2 * len(self.buckets) + 32:
                self.heap = list(self.buckets)
                heapify(self.heap)
        else:
            insort(ranks, rank)

    def remove(self, key: Key, rank: int) -> None:
        ranks = self.buckets[key]
        if len(ranks) == 1:
            del self.buckets[key]
        else:
            del ranks[bisect_left(ranks, rank)]

    def first(self, limit: int) -> list[tuple[Key, int]]:
        """Up to `limit` (key, rank) pairs in order, walking the heap best-first."""
        heap, buckets = self.heap, self.buckets
        out: list[tuple[Key, int]] = []
        seen: set[Key] = set()
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


# The InstanceState field each instance-level step ranks by, and its name in explanations.
_LEVEL_FIELDS = {
    "spread_instance": ("group_tasks", "tasks"),
    "binpack_cpu": ("remaining_cpu", "remaining_cpu"),
    "binpack_memory": ("remaining_memory", "remaining_memory"),
}


def _key_function(level_steps: Sequence[Step]) -> Callable[[InstanceState], Key]:
    getters = [attrgetter(_LEVEL_FIELDS[step.kind][0]) for step in level_steps]
    if not getters:
        return lambda state: ()
    if len(getters) == 1:
        (first,) = getters
        return lambda state: (first(state),)
    together: Callable[[InstanceState], Key] = attrgetter(*(_LEVEL_FIELDS[step.kind][0] for step in level_steps))
    return together


class _Index:
    """One `place` call for the ECS profile; see the module docstring for the structures."""

    def __init__(self, request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> None:
        self.request = request
        self.instances = instances
        self.filters = RequestFilters(request)
        self.rng = random.Random(seed)
        steps = chain(request.strategies)
        self.random = steps[-1].kind == "random"
        ordered = steps[:-1] if self.random else steps
        self.attr_names = [s.attribute for s in ordered if s.kind == "spread_attribute"]
        level_steps = [s for s in ordered if s.instance_level]
        # pattern[p] = (is attribute step, index among attribute steps or among instance steps)
        self.pattern: list[tuple[bool, int]] = []
        self.pattern_steps: list[Step] = list(ordered)
        self.labels = [step.label for step in ordered]
        a = m = 0
        for step in ordered:
            if step.kind == "spread_attribute":
                self.pattern.append((True, a))
                a += 1
            else:
                self.pattern.append((False, m))
                m += 1

        n = len(instances)
        self.states = states = states_of(instances, request.group)
        self.ranks = tiebreak_ranks([inst.arn for inst in instances], seed)
        self.order = [0] * n
        for i, rank in enumerate(self.ranks):
            self.order[rank] = i
        self.keyf = _key_function(level_steps)
        self.counts: list[dict[str | None, int]] = [{} for _ in self.attr_names]
        self.log = FilterLog(self.filters.names())
        self.rejections: list[Rejection | None] = [None] * n

        self.cell_of: list[_Cell | None] = [None] * n
        self.key_of: list[Key] = [()] * n
        cells: dict[tuple[str | None, ...], _Cell] = {}
        check = self.filters.check
        for i, state in enumerate(states):
            inst = state.instance
            attributes = inst.attributes
            values = tuple(attributes.get(name) for name in self.attr_names)
            if inst.status == "ACTIVE":
                for count, value in zip(self.counts, values, strict=True):
                    count[value] = count.get(value, 0) + state.group_tasks
            rejection = check(state)
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
                key = self.key_of[i] = self.keyf(states[i])
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

    def _drop(self, i: int, rejection: Rejection) -> None:
        self.rejections[i] = rejection
        self.log.drop(self.states[i], rejection)

    def run(self) -> PlacementResult:
        placements: list[Placement] = []
        count = self.request.count
        for task in range(count):
            if not self.cells:
                failure = unplaceable(self.instances, self.rejections, self.ranks)
                return PlacementResult(tuple(placements), count - task, failure)
            i, why = self._choose(task)
            placements.append(Placement(self.instances[i].arn, why, self._commit(i)))
        return PlacementResult(tuple(placements), 0, None)

    def _choose(self, task: int) -> tuple[int, EcsExplanation]:
        counts, pattern = self.counts, self.pattern
        entries: list[tuple[Key, _Cell, Key]] = []
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
        best_full: Key,
        best_cell: _Cell,
        entries: list[tuple[Key, _Cell, Key]],
        tied: int,
    ) -> EcsExplanation:
        instances = self.instances
        winner = instances[i]
        explained: list[StrategyStep] = []
        first: list[tuple[Key, int]] | None = None
        for p, (is_attr, x) in enumerate(self.pattern):
            if is_attr:
                prefix = best_full[:p]
                chosen = best_cell.values[x]
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
                if best[0][0] != chosen:
                    # random settled the tie: put its pick first
                    best.sort(key=lambda item: item[0] != chosen)
                low = best_full[p]
                has_tie = len(best) > 1 and best[1][1] == low
                explained.append(
                    StrategyStep(
                        self.labels[p],
                        chosen,
                        tuple(best[:RANKED]),
                        "",
                        candidates,
                        self._tie(p, x, best_full, chosen, survivors, buckets) if has_tie else None,
                    )
                )
            else:
                if first is None:
                    first = best_cell.first(RANKED)
                name = _LEVEL_FIELDS[self.pattern_steps[p].kind][1]
                ranking = tuple((instances[self.order[rank]].instance_id, key[x]) for key, rank in first)
                explained.append(StrategyStep(self.labels[p], winner.instance_id, ranking, ranked_by=name))
        if self.random:
            explained.append(StrategyStep("random", winner.instance_id, candidates=tied))
        return EcsExplanation(
            task=task,
            group=self.request.group,
            considered=len(instances),
            filters=self.log.summary(),
            eligible=self.feasible,
            winner=Winner(winner.instance_id, winner.arn, winner.zone),
            strategies=tuple(explained),
        )

    def _tie(
        self,
        p: int,
        x: int,
        best_full: Key,
        chosen: str | None,
        survivors: list[tuple[Key, int, _Cell]],
        buckets: dict[str | None, int],
    ) -> Tie:
        """Step p's tie: the values of its attribute that had as few tasks as the chosen one, and
        which later step settled it (else the seeded tie-break order, or random). Called only when
        there is one, because most placements of a big request have none worth computing."""
        low = best_full[p]
        values = sorted((value for value, tasks in buckets.items() if tasks == low), key=str)
        rivals = [full for full, _, cell in survivors if full[p] == low and cell.values[x] != chosen]
        broken_by = "random" if self.random else "tie-break order"
        for q in range(p + 1, len(self.pattern)):
            rivals = [full for full in rivals if full[q] == best_full[q]]
            if not rivals:
                broken_by = self.labels[q]
                break
        return Tie(tuple(values[:EXAMPLES]), len(values), broken_by)

    def _commit(self, i: int) -> tuple[str, ...]:
        """Place one task on instance i and re-file it; the GPU ids the task took."""
        cell = self.cell_of[i]
        assert cell is not None
        rank = self.ranks[i]
        state = self.states[i]
        cell.remove(self.key_of[i], rank)
        gpu_ids = state.add_task(self.request)
        for count, value in zip(self.counts, cell.values, strict=True):
            count[value] += 1
        rejection = self.filters.recheck(state)
        if rejection is None:
            key = self.key_of[i] = self.keyf(state)
            cell.add(key, rank)
            return gpu_ids
        self._drop(i, rejection)
        self.cell_of[i] = None
        cell.size -= 1
        self.feasible -= 1
        if cell.size == 0:
            self.cells.remove(cell)
        return gpu_ids
