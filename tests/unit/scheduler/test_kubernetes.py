"""The "kubernetes" profile: kube-scheduler's scores and topology spread, and where it differs from ECS."""

from __future__ import annotations

import pytest

from scheduler import InstanceView, place
from scheduler.rules.kubernetes import balanced_allocation, least_allocated

from .builders import ids, instance, request


@pytest.mark.parametrize(
    ("capacity", "remaining", "pod", "least", "balanced"),
    [
        # free after: cpu 4096-1024 = 3072 -> 3072*100//4096 = 75; memory 8192-2048 = 6144 -> 75
        # LeastAllocated (75 + 75) // 2 = 75
        # requested fractions 1024/4096 = 0.25 and 2048/8192 = 0.25 -> std |0.25-0.25|/2 = 0 -> 100
        ((4096, 8192), (4096, 8192), (1024, 2048), 75, 100),
        # cpu half used: free cpu 2048-1024 = 1024 -> 25; memory 6144 -> 75; (25 + 75) // 2 = 50
        # fractions 3072/4096 = 0.75, 2048/8192 = 0.25 -> std 0.5/2 = 0.25 -> (1-0.25)*100 = 75
        ((4096, 8192), (2048, 8192), (1024, 2048), 50, 75),
        # integer division: free 2000*100//3000 = 66, 2500*100//3000 = 83; (66 + 83) // 2 = 74
        # fractions 1000/3000 = 0.333, 500/3000 = 0.167 -> std 0.0833 -> 91.67 -> int 91
        ((3000, 3000), (3000, 3000), (1000, 500), 74, 91),
        # the pod fills the node: free 0 and 0 -> 0; fractions 1 and 1 -> std 0 -> 100
        ((4096, 8192), (1024, 2048), (1024, 2048), 0, 100),
        # memory only: free cpu 4096 -> 100, memory 4096-2048 = 2048 -> 25; (100 + 25) // 2 = 62
        # fractions 0/4096 = 0 and 6144/8192 = 0.75 -> std 0.375 -> 62.5 -> int 62
        ((4096, 8192), (4096, 4096), (0, 2048), 62, 62),
    ],
)
def test_scores(
    capacity: tuple[int, int], remaining: tuple[int, int], pod: tuple[int, int], least: int, balanced: int
) -> None:
    free_cpu, free_memory = remaining[0] - pod[0], remaining[1] - pod[1]
    assert least_allocated(free_cpu, capacity[0], free_memory, capacity[1]) == least
    requested = (capacity[0] - free_cpu, capacity[1] - free_memory)
    assert balanced_allocation(requested[0], capacity[0], requested[1], capacity[1]) == balanced
    # and place() reports the same numbers for a node in that state
    node = instance(
        "i-1", cpu=capacity[0], memory=capacity[1], remaining_cpu=remaining[0], remaining_memory=remaining[1]
    )
    result = place(request(1, pod[0], pod[1], profile="kubernetes"), [node])
    (score,) = result.placements[0].explanation["scores"]
    assert score == {
        "instance": "i-1",
        "least_allocated": least,
        "balanced_allocation": balanced,
        "total": least + balanced,
    }


def contrast_cluster() -> list[InstanceView]:
    # One zone, nodes of 4096 CPU / 8192 MiB. i-1 runs no task of the service but is busy with
    # others (1536 / 3072 left); i-2 runs one task of the service and little else (3584 / 7168 left).
    return [
        instance("i-1", cpu=4096, memory=8192, remaining_cpu=1536, remaining_memory=3072, groups={"service:other": 5}),
        instance("i-2", cpu=4096, memory=8192, remaining_cpu=3584, remaining_memory=7168, groups={"service:web": 1}),
    ]


def test_ecs_and_kubernetes_decide_differently_on_the_same_cluster() -> None:
    nodes = contrast_cluster()
    # ECS default: same zone, then fewest tasks of the service: i-1 (0) over i-2 (1).
    ecs = place(request(1, 512, 1024), nodes)
    assert ids(p.instance_arn for p in ecs.placements) == ["i-1"]
    # Kubernetes, pod 512 / 1024:
    #   i-1: free 1024 / 2048 -> 25, 25 -> LA 25; requested 3072/4096 = 0.75 = 6144/8192 -> BA 100; 125
    #   i-2: free 3072 / 6144 -> 75, 75 -> LA 75; requested 0.25 = 0.25 -> BA 100; total 175
    kube = place(request(1, 512, 1024, profile="kubernetes"), nodes)
    assert ids(p.instance_arn for p in kube.placements) == ["i-2"]
    explanation = kube.placements[0].explanation
    assert explanation["scores"] == [
        {"instance": "i-2", "least_allocated": 75, "balanced_allocation": 100, "total": 175},
        {"instance": "i-1", "least_allocated": 25, "balanced_allocation": 100, "total": 125},
    ]
    assert explanation["weights"] == {"least_allocated": 1, "balanced_allocation": 1}
    # one zone holding 1 pod of the group: skew 1 + 1 - 1 = 1 <= maxSkew 1, feasible
    assert explanation["topology"]["zones"] == [{"zone": "us-east-1a", "tasks": 1}]


def test_a_full_zone_blocks_kubernetes_but_not_ecs() -> None:
    # Zones a, b, c with one node each; a's node is full; b and c run one task of the service.
    nodes = [
        instance("i-a", "us-east-1a", remaining_cpu=0),
        instance("i-b", "us-east-1b", groups={"service:web": 1}),
        instance("i-c", "us-east-1c", groups={"service:web": 1}),
    ]
    # ECS: zone a has no candidate; b and c tie at 1 and one of them takes the task.
    ecs = place(request(1), nodes)
    assert ids(p.instance_arn for p in ecs.placements)[0] in ("i-b", "i-c")
    # Kubernetes: the minimum is zone a's 0 (a is eligible, only full), so b and c would reach
    # 1 + 1 - 0 = 2 > maxSkew 1: DoNotSchedule leaves the pod pending.
    kube = place(request(1, profile="kubernetes"), nodes)
    assert kube.unplaced == 1
    failure = kube.failure
    assert failure is not None
    assert failure.reason == "ATTRIBUTE"
    assert dict(failure.tally) == {"topology spread": 2, "insufficient CPU": 1}
    assert failure.closest_instance_arn in (nodes[1].arn, nodes[2].arn)
    assert "skew 2 > maxSkew 1" in failure.closest_reason


def test_a_node_without_a_zone_cannot_take_a_pod() -> None:
    result = place(request(1, profile="kubernetes"), [instance("i-1", zone=None)])
    assert result.failure is not None
    assert result.failure.closest_reason == "missing attribute ecs.availability-zone (topology spread)"


def test_kubernetes_explanation_lists_at_most_ten_scores() -> None:
    nodes = [instance(f"i-{n}", "us-east-1a", remaining_cpu=2048 - n * 32) for n in range(30)]
    explanation = place(request(1, profile="kubernetes"), nodes).placements[0].explanation
    scores = explanation["scores"]
    assert len(scores) == 10
    assert [s["total"] for s in scores] == sorted((s["total"] for s in scores), reverse=True)
    assert explanation["winner"]["instance"] == scores[0]["instance"]
