"""select_for_scale_in: the mirror of placement, leaving instances first, deterministic."""

from __future__ import annotations

from collections import Counter

from scheduler import place, select_for_scale_in
from scheduler.types import TaskView

from .builders import binpack, cluster, ids, instance, random_strategy, request, spread, task

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_default_stops_in_the_fullest_zone_on_the_fullest_instance_newest_first() -> None:
    # Zone a: a1 runs 3 tasks, a2 1 (a = 4); zone b: b1 1; zone c: c1 1.
    nodes = [
        instance("i-a1", "us-east-1a"),
        instance("i-a2", "us-east-1a"),
        instance("i-b1", "us-east-1b"),
        instance("i-c1", "us-east-1c"),
    ]
    tasks = [
        task("t-a1-old", "i-a1", started_at=1.0),
        task("t-a1-mid", "i-a1", started_at=2.0),
        task("t-a1-new", "i-a1", started_at=3.0),
        task("t-a2", "i-a2", started_at=1.0),
        task("t-b1", "i-b1", started_at=1.0),
        task("t-c1", "i-c1", started_at=1.0),
    ]
    # 1: zones a 4 > b 1 = c 1 -> a; a1 3 > a2 1 -> a1, its newest task
    # 2: a 3 > 1 -> a; a1 2 > a2 1 -> a1 again, the next newest
    assert ids(select_for_scale_in(2, tasks, nodes)) == ["t-a1-new", "t-a1-mid"]
    # 3: a 2 > 1 -> a; a1 1 = a2 1: a tie the seeded order settles, so only the zone is certain
    third = ids(select_for_scale_in(3, tasks, nodes))[2]
    assert third in ("t-a1-old", "t-a2")


def test_tasks_on_leaving_instances_go_first() -> None:
    # The DRAINING instance holds 1 task, fewer than anyone; unknown-instance tasks are leaving too.
    nodes = [instance("i-1", "us-east-1a"), instance("i-2", "us-east-1b", status="DRAINING")]
    tasks = [
        task("t-1a", "i-1", started_at=1.0),
        task("t-1b", "i-1", started_at=2.0),
        task("t-2", "i-2", started_at=1.0),
        task("t-gone", "i-deregistered", started_at=0.5),
    ]
    # Leaving tasks by newest first: t-2 (1.0) then t-gone (0.5); then i-1's newest t-1b.
    assert ids(select_for_scale_in(3, tasks, nodes)) == ["t-2", "t-gone", "t-1b"]


def test_binpack_stops_tasks_on_the_instance_that_keeps_the_most_memory() -> None:
    # Remaining memory: i-1 3000, i-2 500. Binpack scale-in empties the emptier instance first.
    nodes = [instance("i-1", remaining_memory=3000), instance("i-2", remaining_memory=500)]
    tasks = [task("t-1a", "i-1", started_at=1.0), task("t-1b", "i-1", started_at=2.0), task("t-2", "i-2")]
    # i-1 keeps 3000 > 500 for as long as it has tasks: t-1b (newer), t-1a, then i-2's t-2
    assert ids(select_for_scale_in(3, tasks, nodes, [binpack("memory")])) == ["t-1b", "t-1a", "t-2"]


def test_more_than_available_returns_every_task_and_zero_returns_none() -> None:
    nodes = [instance("i-1")]
    tasks = [task("t-1", "i-1"), task("t-2", "i-1")]
    assert sorted(ids(select_for_scale_in(5, tasks, nodes))) == ["t-1", "t-2"]
    assert select_for_scale_in(0, tasks, nodes) == []


def test_random_scale_in_is_reproducible() -> None:
    nodes = cluster(ZONES, 2)
    tasks = [task(f"t-{n.instance_id}-{k}", n.instance_id, started_at=k) for n in nodes for k in range(3)]
    first = select_for_scale_in(10, tasks, nodes, [random_strategy()], seed=9)
    assert select_for_scale_in(10, tasks, nodes, [random_strategy()], seed=9) == first
    assert len(set(first)) == 10


def test_scale_in_after_a_spread_placement_keeps_zones_even() -> None:
    # Place 12 tasks over 3 zones x 2 instances (2 per instance), then stop 5:
    # 12 - 5 = 7 tasks left over 3 zones -> 3 / 2 / 2, and no instance below 1.
    nodes = cluster(ZONES, 2)
    placed = place(request(12), nodes, seed=1).placements
    tasks = [TaskView(f"task/{k}", p.instance_arn, "service:web", float(k)) for k, p in enumerate(placed)]
    stopped = set(select_for_scale_in(5, tasks, nodes, [], seed=1))
    left = [t for t in tasks if t.arn not in stopped]
    zone = {n.arn: n.zone for n in nodes}
    assert sorted(Counter(zone[t.instance_arn] for t in left).values()) == [2, 2, 3]
    assert min(Counter(t.instance_arn for t in left).values()) >= 1


def test_spread_instance_alone_ignores_zones() -> None:
    # Zone a: a1 runs 2 and a2 runs 2 (a = 4); zone b: b1 runs 3 (b = 3).
    # The default would stop in zone a (4 > 3); spread(instanceId) alone stops on b1 (3 > 2).
    nodes = [instance("i-a1", "us-east-1a"), instance("i-a2", "us-east-1a"), instance("i-b1", "us-east-1b")]
    tasks = [
        task(f"t-{name}-{k}", name, started_at=k)
        for name, n in (("i-a1", 2), ("i-a2", 2), ("i-b1", 3))
        for k in range(n)
    ]
    assert ids(select_for_scale_in(1, tasks, nodes, [spread("instanceId")])) == ["t-i-b1-2"]
    assert ids(select_for_scale_in(1, tasks, nodes))[0].startswith("t-i-a")
