"""GPU placement: a task needing N GPUs goes only where N are unassigned, and gets those ids."""

from __future__ import annotations

import pytest

from scheduler import describe_failure, explain_text, place
from scheduler.rules import ecs
from scheduler.types import InstanceView

from .builders import ids, instance, request, spread


def gpu_ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


CASES = [
    # (what, GPUs left per instance, GPUs per task, tasks, where they go)
    # i-1 has 1 GPU (< 2), i-2 has 2: only i-2 fits one task; after it, 0 left there.
    ("two on the only instance with two", [1, 2], 2, 1, ["i-2"]),
    # i-1 4 GPUs = 2 tasks of 2, i-2 1 GPU = none: two tasks both on i-1.
    ("two tasks of two on four", [4, 1], 2, 2, ["i-1", "i-1"]),
    # 3 + 3 GPUs, tasks of 2: one task on each (3 - 2 = 1 left, less than 2), the third nowhere.
    ("leftovers do not add up across instances", [3, 3], 2, 3, ["i-1", "i-2"]),
    # no GPU needed: instances without GPUs are as good as any.
    ("no GPU needed", [0, 0], 0, 2, ["i-1", "i-2"]),
]


@pytest.mark.parametrize(("left", "per_task", "count", "where"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_places_by_gpu_count(left: list[int], per_task: int, count: int, where: list[str]) -> None:
    nodes = [instance(f"i-{n + 1}", gpus=gpu_ids(g, f"g{n + 1}")) for n, g in enumerate(left)]
    # The fast index (place) and the plain rule must agree.
    for engine in ("index", "plain"):
        req = request(count, gpus=per_task, strategies=[spread("instanceId")])
        result = place(req, nodes, seed=0) if engine == "index" else ecs.place_ecs(req, nodes, 0)
        assert sorted(ids(p.instance_arn for p in result.placements)) == where
        assert result.unplaced == count - len(where)
        for p in result.placements:
            assert len(p.gpu_ids) == per_task
        # No GPU is given twice.
        given = [g for p in result.placements for g in p.gpu_ids]
        assert len(given) == len(set(given))


def test_gpu_ids_are_the_first_unassigned_ones() -> None:
    node = instance("i-1", gpus=["GPU-a", "GPU-b", "GPU-c"])
    result = place(request(3, gpus=1), [node], seed=0)
    assert [p.gpu_ids for p in result.placements] == [("GPU-a",), ("GPU-b",), ("GPU-c",)]


def test_gpu_filter_is_explained_and_fails_with_resource_gpu() -> None:
    nodes: list[InstanceView] = [instance("i-1", gpus=["0"]), instance("i-2", gpus=["0", "1"])]
    result = place(request(1, gpus=2), nodes, seed=0)
    (placement,) = result.placements
    filters = placement.explanation["filters"]
    assert {
        "filter": "gpu",
        "removed": 1,
        "examples": [{"instance": "i-1", "reason": "insufficient GPUs available"}],
    } in filters
    assert "gpu" in explain_text(placement.explanation)
    # Now i-2 holds both of its GPUs: the next task of 2 fits nowhere.
    after = [instance("i-1", gpus=["0"]), instance("i-2", gpus=[])]
    failure = place(request(1, gpus=2), after, seed=0).failure
    assert failure is not None
    assert failure.reason == "RESOURCE:GPU"
    assert dict(failure.tally) == {"insufficient GPU": 2}
    assert "has insufficient GPUs available" in describe_failure(failure)


def test_cpu_comes_before_gpu_in_the_filter_order() -> None:
    # i-1 lacks CPU (filter 3), i-2 lacks GPUs (filter 5): i-2 got further, it is the closest.
    nodes = [instance("i-1", remaining_cpu=0, gpus=["0", "1"]), instance("i-2", gpus=[])]
    failure = place(request(1, gpus=1), nodes, seed=0).failure
    assert failure is not None
    assert failure.reason == "RESOURCE:GPU" and failure.closest_instance_arn == nodes[1].arn
