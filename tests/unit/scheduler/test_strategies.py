"""Spread, binpack, random, their chaining, the defaults, and strategy/constraint validation."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from scheduler import (
    DEFAULT_RUN_TASK_STRATEGIES,
    DEFAULT_SERVICE_STRATEGIES,
    PlacementConstraint,
    PlacementError,
    PlacementStrategy,
    place,
    validate_placement,
)
from scheduler.strategies import tiebreak_ranks
from scheduler.types import InstanceView

from .builders import (
    binpack,
    cluster,
    distinct,
    ids,
    instance,
    member_of,
    random_strategy,
    request,
    spread,
    spread_zone,
)

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def chosen(nodes: list[InstanceView], **kwargs: object) -> list[str]:
    result = place(request(**kwargs), nodes)  # type: ignore[arg-type]
    assert result.unplaced == 0
    return ids(p.instance_arn for p in result.placements)


def zone_of(nodes: list[InstanceView]) -> dict[str, str]:
    return {n.instance_id: n.zone for n in nodes}


@pytest.mark.parametrize(
    ("per_zone", "count", "per_zone_tasks", "per_instance_tasks"),
    [
        # 3 zones x 1 instance, 3 tasks: 3 / 3 = 1 per zone, 1 per instance
        (1, 3, 1, {1}),
        # 3 zones x 2 instances, 6 tasks: 6 / 3 = 2 per zone, 2 / 2 = 1 per instance
        (2, 6, 2, {1}),
        # 3 zones x 2 instances, 12 tasks: 4 per zone, 2 per instance
        (2, 12, 4, {2}),
        # 3 zones x 3 instances, 9 tasks: 3 per zone, 1 per instance
        (3, 9, 3, {1}),
    ],
)
def test_default_spreads_by_zone_then_instance(
    per_zone: int, count: int, per_zone_tasks: int, per_instance_tasks: set[int]
) -> None:
    nodes = cluster(ZONES, per_zone)
    names = chosen(nodes, count=count)
    zones = Counter(zone_of(nodes)[name] for name in names)
    assert zones == dict.fromkeys(ZONES, per_zone_tasks)
    assert set(Counter(names).values()) == per_instance_tasks


def test_empty_strategies_mean_the_service_default() -> None:
    nodes = cluster(ZONES, 3)
    assert chosen(nodes, count=7) == chosen(nodes, count=7, strategies=DEFAULT_SERVICE_STRATEGIES)
    assert (
        PlacementStrategy("spread", "attribute:ecs.availability-zone"),
        PlacementStrategy("spread", "instanceId"),
    ) == DEFAULT_SERVICE_STRATEGIES
    assert DEFAULT_RUN_TASK_STRATEGIES == DEFAULT_SERVICE_STRATEGIES


def test_spread_by_zone_fills_the_emptiest_zone_first() -> None:
    # One instance per zone holding a: 4, b: 2, c: 0 tasks of the service.
    nodes = [
        instance("i-a", "us-east-1a", groups={"service:web": 4}),
        instance("i-b", "us-east-1b", groups={"service:web": 2}),
        instance("i-c", "us-east-1c"),
    ]
    names = chosen(nodes, count=6, strategies=[spread_zone()])
    # c: 0 -> 1 -> 2 (two tasks while it is the emptiest), then b and c share the next four
    # (b 2 -> 4, c 2 -> 4), never a: everything ends at 4 / 4 / 4.
    assert names[:2] == ["i-c", "i-c"]
    assert Counter(names) == {"i-b": 2, "i-c": 4}


def test_tasks_on_draining_instances_do_not_count_for_the_zone() -> None:
    # Zone a: a DRAINING instance with 5 tasks (leaving) and an empty ACTIVE one; zone b: 1 task.
    # Counted: a = 0 (the DRAINING 5 are ignored), b = 1, so zone a gets the task.
    nodes = [
        instance("i-a1", "us-east-1a", status="DRAINING", groups={"service:web": 5}),
        instance("i-a2", "us-east-1a"),
        instance("i-b1", "us-east-1b", groups={"service:web": 1}),
    ]
    assert chosen(nodes, count=1) == ["i-a2"]


@dataclass(frozen=True)
class AttributeCase:
    name: str
    racks: dict[str, tuple[str | None, int]]  # instance -> (rack, tasks of the service)
    first: str


ATTRIBUTE_CASES = [
    # r1: 2, r2: 1, no rack: 1 + 1 = 2 -> r2 is the emptiest bucket
    AttributeCase(
        "missing attribute is one bucket",
        {"i-1": ("r1", 2), "i-2": ("r2", 1), "i-3": (None, 1), "i-4": (None, 1)},
        "i-2",
    ),
    # r1: 2, r2: 2, no rack: 0 + 1 = 1 -> the no-rack bucket; in it i-3 has 0 < 1 tasks
    AttributeCase(
        "missing bucket can win", {"i-1": ("r1", 2), "i-2": ("r2", 2), "i-3": (None, 0), "i-4": (None, 1)}, "i-3"
    ),
]


@pytest.mark.parametrize("case", ATTRIBUTE_CASES, ids=[c.name for c in ATTRIBUTE_CASES])
def test_spread_by_attribute(case: AttributeCase) -> None:
    nodes = [
        instance(name, attributes={"rack": rack} if rack else {}, groups={"service:web": tasks})
        for name, (rack, tasks) in case.racks.items()
    ]
    result = place(request(1, strategies=[spread("attribute:rack"), spread("instanceId")]), nodes)
    assert ids(p.instance_arn for p in result.placements) == [case.first]


def test_spread_host_is_spread_instance_id() -> None:
    nodes = cluster(ZONES, 2)
    assert chosen(nodes, count=9, strategies=[spread("host")]) == chosen(
        nodes, count=9, strategies=[spread("instanceId")]
    )


@dataclass(frozen=True)
class BinpackCase:
    name: str
    field: str
    left: dict[str, int]  # instance -> remaining cpu or memory
    count: int
    expected: list[str]


# Tasks ask for 256 CPU units and 256 MiB.
BINPACK = [
    # i-2 has 512 left, i-1 1024: binpack picks i-2 (512 < 1024)
    BinpackCase("least memory left", "memory", {"i-1": 1024, "i-2": 512}, 1, ["i-2"]),
    # i-2: 512 -> 256 -> 0, then it no longer fits and i-1 (1024) takes the third
    BinpackCase("fills one before the next", "memory", {"i-1": 1024, "i-2": 512}, 3, ["i-2", "i-2", "i-1"]),
    # i-3 has 200 left: least, but 200 < 256 does not fit; i-2 (300) is the least that fits
    BinpackCase("least that still fits", "memory", {"i-1": 1024, "i-2": 300, "i-3": 200}, 1, ["i-2"]),
    BinpackCase("cpu", "cpu", {"i-1": 2048, "i-2": 768, "i-3": 1024}, 1, ["i-2"]),
    # cpu: i-2 768 -> 512 -> 256 -> 0 (three tasks), then i-3 1024
    BinpackCase("cpu fills one", "cpu", {"i-1": 2048, "i-2": 768, "i-3": 1024}, 4, ["i-2", "i-2", "i-2", "i-3"]),
]


@pytest.mark.parametrize("case", BINPACK, ids=[c.name for c in BINPACK])
def test_binpack(case: BinpackCase) -> None:
    other = "remaining_cpu" if case.field == "memory" else "remaining_memory"
    nodes = [
        instance(name, cpu=4096, memory=4096, **{f"remaining_{case.field}": left, other: 4096})  # type: ignore[arg-type]
        for name, left in case.left.items()
    ]
    result = place(request(case.count, cpu=256, memory=256, strategies=[binpack(case.field)]), nodes)
    assert ids(p.instance_arn for p in result.placements) == case.expected


def test_spread_zone_then_binpack_memory_is_even_across_zones_packed_within() -> None:
    # Remaining memory: a1 1024, a2 512, b1 2048, b2 768; zone b already runs 1 task (on b1).
    nodes = [
        instance("i-a1", "us-east-1a", remaining_memory=1024),
        instance("i-a2", "us-east-1a", remaining_memory=512),
        instance("i-b1", "us-east-1b", remaining_memory=2048, groups={"service:web": 1}),
        instance("i-b2", "us-east-1b", remaining_memory=768),
    ]
    names = chosen(nodes, count=4, memory=256, strategies=[spread_zone(), binpack("memory")])
    # 1: zones a 0 < b 1 -> a; binpack in a: a2 (512 < 1024)              -> a2 (256 left)
    # 2: a 1 = b 1, both zones tie; binpack over both: a2 256 is least      -> a2 (0 left)
    # 3: a 2 > b 1 -> b; binpack in b: b2 (768 < 2048)                      -> b2 (512 left)
    # 4: a 2 = b 2; a2 no longer fits (0 < 256); least is b2 512            -> b2
    assert names == ["i-a2", "i-a2", "i-b2", "i-b2"]


def test_random_is_reproducible_from_the_seed_and_uses_every_candidate() -> None:
    nodes = cluster(ZONES, 2)
    req = request(60, cpu=1, memory=1, strategies=[random_strategy()])
    first = place(req, nodes, seed=42)
    assert place(req, nodes, seed=42) == first
    picks = ids(p.instance_arn for p in first.placements)
    # 60 draws over 6 instances: every instance is drawn (a miss has probability ~6 x (5/6)^60)
    assert set(picks) == {n.instance_id for n in nodes}
    # and not in a fixed rotation: another seed gives another sequence
    assert ids(p.instance_arn for p in place(req, nodes, seed=43).placements) != picks


def test_strategies_after_random_are_ignored() -> None:
    nodes = cluster(ZONES, 2)
    alone = place(request(10, strategies=[random_strategy()]), nodes, seed=5)
    followed = place(request(10, strategies=[random_strategy(), binpack("cpu")]), nodes, seed=5)
    assert [p.instance_arn for p in alone.placements] == [p.instance_arn for p in followed.placements]


def test_ties_are_broken_by_the_seeded_order() -> None:
    # Four identical empty instances: spread(instanceId) ties, the seeded rank decides, and it
    # does not depend on the order the instances are listed in.
    nodes = [instance(f"i-{n}") for n in range(4)]
    for seed in range(5):
        ranks = tiebreak_ranks([n.arn for n in nodes], seed)
        first = nodes[ranks.index(0)].instance_id
        assert chosen_with_seed(nodes, seed) == first
        assert chosen_with_seed(list(reversed(nodes)), seed) == first


def chosen_with_seed(nodes: list[InstanceView], seed: int) -> str:
    result = place(request(1, strategies=[spread("instanceId")]), nodes, seed=seed)
    return ids(p.instance_arn for p in result.placements)[0]


@pytest.mark.parametrize(
    ("strategies", "constraints", "message"),
    [
        ([spread("instanceId")] * 6, [], "6 placement strategies given; use at most 5"),
        ([], [distinct()] * 11, "11 placement constraints given; use at most 10"),
        ([PlacementStrategy("spread", "")], [], "spread takes the field instanceId, host or attribute:<name>"),
        ([PlacementStrategy("spread", "attribute:")], [], "spread takes the field"),
        ([PlacementStrategy("binpack", "disk")], [], "binpack takes the field cpu or memory"),
        ([PlacementStrategy("random", "cpu")], [], "random takes no field; remove it"),
        ([PlacementStrategy("pack", "cpu")], [], "unknown strategy type; use spread, binpack or random"),  # type: ignore[arg-type]
        # a typo after random is still reported even though random ends the chain
        ([random_strategy(), PlacementStrategy("binpack", "gpu")], [], "strategy 2"),
        ([], [PlacementConstraint("distinctInstance", "x == y")], "distinctInstance takes no expression"),
        ([], [PlacementConstraint("memberOf", " ")], "memberOf needs an expression"),
        ([], [member_of("attribute:ecs.instance-type ~= t2.*")], "placement constraint 1 (memberOf)"),
        ([], [PlacementConstraint("affinity", "")], "unknown constraint type"),  # type: ignore[arg-type]
    ],
)
def test_validate_placement_says_what_to_fix(
    strategies: list[PlacementStrategy], constraints: list[PlacementConstraint], message: str
) -> None:
    with pytest.raises(PlacementError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_placement(strategies, constraints)


def test_place_rejects_invalid_input_before_placing() -> None:
    with pytest.raises(PlacementError, match="binpack takes the field cpu or memory"):
        place(request(1, strategies=[PlacementStrategy("binpack", "disk")]), [instance()])
    with pytest.raises(PlacementError, match="unknown placement profile 'nomad'; use ecs or kubernetes"):
        place(request(1, profile="nomad"), [instance()])


@pytest.mark.parametrize(
    "strategies",
    [
        [spread_zone(), spread("instanceId"), binpack("cpu"), binpack("memory"), random_strategy()],
        [PlacementStrategy("spread", "host"), PlacementStrategy("binpack", "CPU")],
    ],
)
def test_validate_placement_accepts_valid_chains(strategies: list[PlacementStrategy]) -> None:
    validate_placement(strategies, [distinct(), member_of("attribute:ecs.os-type == linux")])
    assert place(request(1, strategies=strategies), [instance()]).unplaced == 0
