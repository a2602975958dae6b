"""Unplaceable tasks: the ECS reason code, the closest instance, the tally and the messages."""

from __future__ import annotations

from collections import Counter

from scheduler import describe_failure, place
from scheduler.strategies import tiebreak_ranks

from .builders import arn, ids, instance, request


def test_tally_and_closest_instance() -> None:
    # The task needs 1024 MiB. Two DRAINING instances stop at filter 1 (status); four ACTIVE
    # ones get to filter 4 (memory) with 256, 512, 768 and 1000 MiB left, all < 1024.
    nodes = [
        instance("i-1", status="DRAINING"),
        instance("i-2", status="DRAINING"),
        instance("i-3", remaining_memory=256),
        instance("i-4", remaining_memory=512),
        instance("i-5", remaining_memory=768),
        instance("i-6", remaining_memory=1000),
    ]
    result = place(request(2, memory=1024), nodes, seed=3)
    assert result.placements == () and result.unplaced == 2
    failure = result.failure
    assert failure is not None
    assert failure.reason == "RESOURCE:MEMORY"
    # Four instances got equally far; the seeded order picks among them.
    ranks = tiebreak_ranks([n.arn for n in nodes], 3)
    closest = min(nodes[2:], key=lambda n: ranks[nodes.index(n)])
    assert failure.closest_instance_arn == closest.arn
    assert failure.closest_reason == "insufficient memory available"
    assert dict(failure.tally) == {"insufficient memory": 4, "DRAINING": 2}
    assert failure.total_instances == 6
    assert failure.message == (
        f"The closest matching (container-instance {closest.arn}) has insufficient memory available."
    )
    assert describe_failure(failure) == (
        f"0/6 instances: 4 insufficient memory, 2 DRAINING. The closest matching "
        f"(container-instance {closest.arn}) has insufficient memory available."
    )


def test_the_instance_furthest_through_the_filters_is_the_closest() -> None:
    # i-1 fails at CPU (3rd filter), i-2 at memory (4th), i-3 at ports (5th): i-3 is closest.
    nodes = [
        instance("i-1", remaining_cpu=0),
        instance("i-2", remaining_memory=0),
        instance("i-3", tcp=[8080]),
    ]
    failure = place(request(1, tcp=[8080]), nodes).failure
    assert failure is not None
    assert failure.closest_instance_arn == arn("i-3")
    assert failure.reason == "RESOURCE:PORTS"
    assert failure.message == (
        f"The closest matching (container-instance {arn('i-3')}) is already using a port required by "
        "your task (port 8080 already in use)."
    )
    # Ties in the tally are listed by name: 1 each.
    assert list(failure.tally.items()) == [("insufficient CPU", 1), ("insufficient memory", 1), ("port in use", 1)]


def test_partial_placement_counts_the_rest_as_unplaced() -> None:
    # 2 instances x (1024 / 512) = 4 tasks fit; 6 asked: 4 placed, 2 unplaced.
    nodes = [instance("i-1", memory=1024), instance("i-2", memory=1024)]
    result = place(request(6, memory=512), nodes)
    assert len(result.placements) == 4 and result.unplaced == 2
    assert Counter(ids(p.instance_arn for p in result.placements)) == {"i-1": 2, "i-2": 2}
    assert result.failure is not None
    assert dict(result.failure.tally) == {"insufficient memory": 2}


def test_no_instances_at_all_is_missing() -> None:
    result = place(request(3), [])
    assert result.unplaced == 3
    failure = result.failure
    assert failure is not None
    assert failure.reason == "MISSING"
    assert failure.closest_instance_arn is None
    assert failure.total_instances == 0 and dict(failure.tally) == {}
    assert failure.message == "No container instances were found in your cluster."
    assert describe_failure(failure) == "0/0 instances: no container instances are registered."


def test_agent_reason_code() -> None:
    failure = place(request(1), [instance("i-1", agent=False)]).failure
    assert failure is not None and failure.reason == "AGENT"
    assert failure.message.endswith("has its agent disconnected.")


def test_zero_tasks_places_nothing_and_fails_nothing() -> None:
    result = place(request(0), [])
    assert result.placements == () and result.unplaced == 0 and result.failure is None
