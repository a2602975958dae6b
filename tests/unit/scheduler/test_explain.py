"""Explanations: their shape, their bounded size, and the plain-words renderings."""

from __future__ import annotations

import json

from scheduler import InstanceView, explain_text, place

from .builders import binpack, instance, random_strategy, request, spread
from .test_kubernetes import contrast_cluster


def doc_cluster() -> list[InstanceView]:
    # Zone a: i-1 DRAINING, i-3 with 2 tasks of the service, i-6 empty  -> a counts 2 + 0 = 2
    # Zone b: i-2 DRAINING, i-4 empty, i-5 with 1 task                    -> b counts 0 + 1 = 1
    return [
        instance("i-1", "us-east-1a", status="DRAINING"),
        instance("i-2", "us-east-1b", status="DRAINING"),
        instance("i-3", "us-east-1a", groups={"service:web": 2}),
        instance("i-4", "us-east-1b"),
        instance("i-5", "us-east-1b", groups={"service:web": 1}),
        instance("i-6", "us-east-1a"),
    ]


def test_default_strategy_explanation() -> None:
    explanation = place(request(1), doc_cluster()).placements[0].explanation
    assert explanation["considered"] == 6
    assert explanation["eligible"] == 4
    assert explanation["filters"] == [
        {
            "filter": "status",
            "removed": 2,
            "examples": [{"instance": "i-1", "reason": "DRAINING"}, {"instance": "i-2", "reason": "DRAINING"}],
        }
    ]
    zone, host = explanation["strategies"]
    # b (1 task) is preferred over a (2 tasks); 4 eligible instances took part
    assert zone == {
        "strategy": "spread(attribute:ecs.availability-zone)",
        "candidates": 4,
        "ranking": [{"value": "us-east-1b", "tasks": 1}, {"value": "us-east-1a", "tasks": 2}],
        "chose": "us-east-1b",
    }
    # inside b: i-4 (0 tasks) before i-5 (1)
    assert host["ranking"] == [{"instance": "i-4", "tasks": 0}, {"instance": "i-5", "tasks": 1}]
    assert explanation["winner"]["instance"] == "i-4"
    assert json.loads(json.dumps(explanation)) == explanation
    assert explain_text(explanation) == (
        "6 instances considered; 2 dropped by status (i-1: DRAINING, i-2: DRAINING); 4 eligible; "
        "spread(attribute:ecs.availability-zone) preferred us-east-1b (1 task of service:web) over "
        "us-east-1a (2 tasks); spread(instanceId) preferred i-4 (0 tasks of service:web) over "
        "i-5 (1 task); chose i-4 in us-east-1b."
    )


def test_explanations_stay_small_on_big_clusters() -> None:
    # 5,000 instances in 3 zones, 1,000 of them DRAINING: still 5 examples and 3 ranked entries.
    nodes = [
        instance(f"i-{n}", f"us-east-1{'abc'[n % 3]}", status="DRAINING" if n % 5 == 0 else "ACTIVE")
        for n in range(5000)
    ]
    result = place(request(20), nodes)
    for placement in result.placements:
        explanation = placement.explanation
        assert len(json.dumps(explanation)) < 2000
        (status,) = explanation["filters"]
        assert status["removed"] == 1000 and len(status["examples"]) == 5
        assert all(len(step["ranking"]) <= 3 for step in explanation["strategies"])
    text = explain_text(result.placements[0].explanation)
    # 1000 removed - 5 shown = 995 more
    assert "1000 dropped by status (i-0: DRAINING, i-5: DRAINING, i-10: DRAINING, i-15: DRAINING, " in text
    assert "i-20: DRAINING, and 995 more)" in text


def test_binpack_explanation_text() -> None:
    # i-2 has 512 MiB left, i-1 1024: binpack(memory) prefers i-2
    nodes = [instance("i-1", remaining_memory=1024), instance("i-2", remaining_memory=512)]
    explanation = place(request(1, memory=256, strategies=[binpack("memory")]), nodes).placements[0].explanation
    assert explain_text(explanation) == (
        "2 instances considered; 2 eligible; binpack(memory) preferred i-2 (512 MiB left) over "
        "i-1 (1024 MiB left); chose i-2 in us-east-1a."
    )


def test_random_explanation_text() -> None:
    nodes = [instance("i-1"), instance("i-2", status="DRAINING"), instance("i-3")]
    placement = place(request(1, strategies=[random_strategy()]), nodes, seed=1).placements[0]
    picked = placement.explanation["winner"]["instance"]
    assert explain_text(placement.explanation) == (
        f"3 instances considered; 1 dropped by status (i-2: DRAINING); 2 eligible; "
        f"random picked {picked} among 2 candidates; chose {picked} in us-east-1a."
    )


def test_missing_attribute_bucket_is_named() -> None:
    nodes = [instance("i-1", attributes={"rack": "r1"}, groups={"service:web": 1}), instance("i-2")]
    placement = place(request(1, strategies=[binpack("cpu")]), nodes).placements[0]
    assert "binpack(cpu)" in explain_text(placement.explanation)
    placement = place(request(1, strategies=[spread("attribute:rack")]), nodes).placements[0]
    assert "spread(attribute:rack) preferred (no attribute) (0 tasks of service:web) over r1 (1 task)" in explain_text(
        placement.explanation
    )


def test_kubernetes_explanation_text() -> None:
    explanation = place(request(1, 512, 1024, profile="kubernetes"), contrast_cluster()).placements[0].explanation
    assert explain_text(explanation) == (
        "2 instances considered; 2 eligible; pods of the group per zone: us-east-1a 1 (minimum 1, maxSkew 1); "
        "top scores: i-2 175 (LeastAllocated 75 + BalancedAllocation 100), "
        "i-1 125 (LeastAllocated 25 + BalancedAllocation 100); chose i-2 in us-east-1a."
    )


def test_explain_text_copes_with_sparse_input() -> None:
    assert explain_text({}) == "0 instances considered."
