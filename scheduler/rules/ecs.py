"""The ECS placement rule, stated plainly: what `place` decides for the "ecs" profile.

The tasks of a request are placed one after another. For each task:

1. Filter. Every instance goes through the filter chain (`scheduler.filters`: status ACTIVE,
   agent connected, enough CPU, enough memory, enough unassigned GPUs, free host ports, the required attributes, then
   the constraints in the order given). Those that pass every filter are the candidates. When
   there is none, this task and the rest of the request are unplaced, and the failure names
   the instance that got furthest through the chain.
2. Rank. The strategy chain (`scheduler.strategies`; spread by zone then by instance when the
   request has none) narrows the candidates step by step, each step keeping those with the
   lowest key:
   - spread(attribute:<name>): tasks of the group on the ACTIVE instances that share the
     candidate's value of the attribute (instances without it share one bucket);
   - spread(instanceId) or spread(host): tasks of the group on the candidate;
   - binpack(cpu) / binpack(memory): the candidate's remaining CPU units / MiB;
   - random: one of the remaining candidates, uniformly, drawn from random.Random(seed) over
     them in the seeded order; it settles the choice.
3. Break ties. The first of the remaining candidates in the request's seeded order
   (`tiebreak_ranks`) wins.
4. Place. The winner takes the task (`InstanceState.add_task`): less CPU, memory and ports left,
   its first unassigned GPUs given to the task, one more task of the group. The next task starts again at 1.

`place_ecs` below is that, line for line, at O(instances) per task. `scheduler.rules.ecs_index`
gives exactly the same results, explanations included, at a cost that grows with the number of
zones rather than of instances; `place` uses the index, and the property tests check that the
two agree on random clusters.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from scheduler.explanation import EXAMPLES, RANKED, EcsExplanation, StrategyStep, Tie, Winner
from scheduler.filters import FilterLog, Rejection, RequestFilters, unplaceable
from scheduler.state import InstanceState, states_of
from scheduler.strategies import Step, chain, tiebreak_ranks
from scheduler.types import InstanceView, Placement, PlacementRequest, PlacementResult

Key = Callable[[InstanceState], int]


def place_ecs(request: PlacementRequest, instances: Sequence[InstanceView], seed: int) -> PlacementResult:
    """Place `request.count` tasks by the rule in the module docstring, one at a time."""
    steps = chain(request.strategies)
    filters = RequestFilters(request)
    states = states_of(instances, request.group)
    ranks = tiebreak_ranks([instance.arn for instance in instances], seed)
    rng = random.Random(seed)
    placements: list[Placement] = []
    for task in range(request.count):
        # 1. Filter.
        rejections = [filters.check(state) for state in states]
        candidates = [state for state, rejection in zip(states, rejections, strict=True) if rejection is None]
        if not candidates:
            failure = unplaceable(instances, rejections, ranks)
            return PlacementResult(tuple(placements), request.count - task, failure)
        # 2. Rank, in the seeded order so that random draws among the tied and 3. the first wins.
        tied = sorted(candidates, key=lambda state: ranks[state.index])
        drawn_from = tied
        for step in steps:
            if step.kind == "random":
                drawn_from = tied
                tied = [tied[rng.randrange(len(tied))]]
                break
            key = key_of(step, states)
            best = min(key(state) for state in tied)
            tied = [state for state in tied if key(state) == best]
        winner = tied[0]
        why = _explain(task, request, filters, steps, states, rejections, candidates, ranks, winner, drawn_from)
        # 4. Place.
        placements.append(Placement(winner.instance.arn, why, winner.add_task(request)))
    return PlacementResult(tuple(placements), 0, None)


def key_of(step: Step, states: Sequence[InstanceState]) -> Key:
    """The key a strategy step ranks candidates by (lower is better), given every instance's state."""
    if step.kind == "spread_instance":
        return lambda state: state.group_tasks
    if step.kind == "binpack_cpu":
        return lambda state: state.remaining_cpu
    if step.kind == "binpack_memory":
        return lambda state: state.remaining_memory
    name = step.attribute
    tasks: dict[str | None, int] = {}
    for state in states:
        if state.instance.status == "ACTIVE":
            value = state.instance.attributes.get(name)
            tasks[value] = tasks.get(value, 0) + state.group_tasks
    return lambda state: tasks[state.instance.attributes.get(name)]


def _tie(
    p: int,
    step: Step,
    ordered: Sequence[Step],
    candidates: Sequence[InstanceState],
    full: dict[int, tuple[int, ...]],
    bucket: dict[int, tuple[str | None, ...]],
    best: tuple[int, ...],
    winner: InstanceState,
    drew: bool,
) -> Tie | None:
    """Whether other values of step p's attribute had as few tasks as the winner's, and what settled it.

    The rivals are the buckets of another value that tie with the winner up to step p, each
    represented by its best candidate; the first later step on which none of them ties any more
    settled it, else random (when the chain ends with it) or the seeded tie-break order.
    """
    bests: dict[tuple[str | None, ...], tuple[int, ...]] = {}
    for state in candidates:
        key = bucket[state.index]
        if key not in bests or full[state.index] < bests[key]:
            bests[key] = full[state.index]
    tied = {key: value for key, value in bests.items() if value[: p + 1] == best[: p + 1]}
    chosen = winner.instance.attributes.get(step.attribute)
    position = [s.attribute for s in ordered if s.kind == "spread_attribute"].index(step.attribute)
    rivals = [value for key, value in tied.items() if key[position] != chosen]
    if not rivals:
        return None
    values = sorted({key[position] for key in tied}, key=str)
    broken_by = "random" if drew else "tie-break order"
    for q in range(p + 1, len(ordered)):
        rivals = [value for value in rivals if value[q] == best[q]]
        if not rivals:
            broken_by = ordered[q].label
            break
    return Tie(tuple(values[:EXAMPLES]), len(values), broken_by)


_KEY_NAMES = {"spread_instance": "tasks", "binpack_cpu": "remaining_cpu", "binpack_memory": "remaining_memory"}


def _explain(
    task: int,
    request: PlacementRequest,
    filters: RequestFilters,
    steps: Sequence[Step],
    states: Sequence[InstanceState],
    rejections: Sequence[Rejection | None],
    candidates: Sequence[InstanceState],
    ranks: Sequence[int],
    winner: InstanceState,
    drawn_from: Sequence[InstanceState],
) -> EcsExplanation:
    """The explanation of one choice, from the same quantities as the rule.

    A spread(attribute) step ranks the buckets still in the running (those holding a candidate
    that ties with the winner on the earlier steps), each by its best candidate in chain order;
    its `candidates` counts the candidates in those buckets, a bucket being one combination of
    the values of every attribute the chain spreads on. The instance-level steps rank the
    candidates of the winner's bucket in chain order.
    """
    log = FilterLog(filters.names())
    for state, rejection in zip(states, rejections, strict=True):
        if rejection is not None:
            log.drop(state, rejection)
    ordered = [step for step in steps if step.kind != "random"]
    keys = [key_of(step, states) for step in ordered]
    attributes = [step.attribute for step in ordered if step.kind == "spread_attribute"]

    full = {state.index: tuple(key(state) for key in keys) for state in candidates}
    bucket = {state.index: tuple(state.instance.attributes.get(name) for name in attributes) for state in candidates}
    level_keys = [key for step, key in zip(ordered, keys, strict=True) if step.kind != "spread_attribute"]

    in_chain_order = sorted(candidates, key=lambda state: (full[state.index], ranks[state.index]))
    best = full[winner.index]
    in_bucket = sorted(
        (state for state in candidates if bucket[state.index] == bucket[winner.index]),
        key=lambda state: (tuple(key(state) for key in level_keys), ranks[state.index]),
    )[:RANKED]
    explained: list[StrategyStep] = []
    for p, step in enumerate(ordered):
        if step.kind == "spread_attribute":
            survivors = [state for state in in_chain_order if full[state.index][:p] == best[:p]]
            running = {bucket[state.index] for state in survivors}
            buckets: dict[str | None, int] = {}
            for state in survivors:
                buckets.setdefault(state.instance.attributes.get(step.attribute), full[state.index][p])
            chose = winner.instance.attributes.get(step.attribute)
            ranking = sorted(buckets.items(), key=lambda item: item[0] != chose)[:RANKED]
            explained.append(
                StrategyStep(
                    step.label,
                    chose,
                    ranking=tuple(ranking),
                    candidates=sum(1 for state in candidates if bucket[state.index] in running),
                    tie=_tie(p, step, ordered, candidates, full, bucket, best, winner, steps[-1].kind == "random"),
                )
            )
        else:
            name, key = _KEY_NAMES[step.kind], keys[p]
            ranked = tuple((state.instance.instance_id, key(state)) for state in in_bucket)
            explained.append(StrategyStep(step.label, winner.instance.instance_id, ranked, ranked_by=name))
    if steps[-1].kind == "random":
        explained.append(StrategyStep("random", winner.instance.instance_id, candidates=len(drawn_from)))
    return EcsExplanation(
        task=task,
        group=request.group,
        considered=len(states),
        filters=log.summary(),
        eligible=len(candidates),
        winner=Winner(winner.instance.instance_id, winner.instance.arn, winner.instance.zone),
        strategies=tuple(explained),
    )
