"""`select_for_scale_in`: which tasks to stop when a service scales in; the mirror of placement."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from scheduler.strategies import chain, tiebreak_ranks, validate_placement
from scheduler.types import InstanceView, PlacementStrategy, TaskView


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
    steps = chain(strategies)
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
