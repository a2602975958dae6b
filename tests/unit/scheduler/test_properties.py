"""Property tests over thousands of random clusters: safety, determinism, spread, and the index against the rule."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler import place, select_for_scale_in
from scheduler.constraints import parse
from scheduler.rules.ecs import place_ecs
from scheduler.types import InstanceView, PlacementRequest, PlacementResult

from .builders import (
    GROUP,
    binpack,
    cluster,
    distinct,
    instance,
    member_of,
    random_strategy,
    request,
    spread,
    spread_zone,
    task,
)

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
STRATEGIES = [
    spread_zone(),
    spread("instanceId"),
    spread("host"),
    spread("attribute:rack"),
    binpack("cpu"),
    binpack("memory"),
    random_strategy(),
]
CONSTRAINTS = [
    distinct(),
    member_of("attribute:rack == r1"),
    member_of("attribute:ecs.os-type != windows"),
    member_of("runningTasksCount < 4"),  # dynamic: placing tasks can make it false
    member_of("not(task:group == service:db)"),
    member_of("task:group == service:web or runningTasksCount == 0"),  # dynamic, can stay true
]

REQUIRED: list[dict[str, str | None]] = [{}, {}, {"ecs.os-type": "linux"}, {"rack": None}]


@st.composite
def instances(draw: st.DrawFn, max_size: int = 14) -> list[InstanceView]:
    count = draw(st.integers(0, max_size))
    out = []
    for n in range(count):
        cpu = draw(st.sampled_from([1024, 2048, 4096]))
        memory = draw(st.sampled_from([1024, 2048, 4096]))
        attributes = {}
        rack = draw(st.sampled_from(["r1", "r2", None]))
        if rack:
            attributes["rack"] = rack
        os_type = draw(st.sampled_from(["linux", "linux", "windows", None]))
        if os_type:
            attributes["ecs.os-type"] = os_type
        web = draw(st.integers(0, 3))
        db = draw(st.integers(0, 2))
        out.append(
            instance(
                f"i-{n}",
                draw(st.sampled_from([*ZONES, None])),
                cpu=cpu,
                memory=memory,
                remaining_cpu=draw(st.integers(0, cpu)),
                remaining_memory=draw(st.integers(0, memory)),
                status=draw(st.sampled_from(["ACTIVE"] * 6 + ["DRAINING", "INACTIVE"])),
                agent=draw(st.booleans()) or draw(st.booleans()),
                attributes=attributes,
                tcp=draw(st.sets(st.sampled_from([22, 80, 443]))),
                udp=draw(st.sets(st.sampled_from([53, 123]))),
                groups={GROUP: web, "service:db": db},
                running=web + db + draw(st.integers(0, 2)),
            )
        )
    return out


@st.composite
def requests(draw: st.DrawFn) -> PlacementRequest:
    return request(
        draw(st.integers(1, 20)),
        draw(st.sampled_from([0, 128, 256, 512, 1024])),
        draw(st.sampled_from([0, 256, 512, 1024])),
        tcp=draw(st.sets(st.sampled_from([80, 8080]), max_size=1)),
        udp=draw(st.sets(st.sampled_from([53]), max_size=1)),
        strategies=draw(st.lists(st.sampled_from(STRATEGIES), max_size=3)),
        constraints=draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=3, unique=True)),
        required=draw(st.sampled_from(REQUIRED)),
    )


seeds = st.integers(0, 2**32)


def _replay(req: PlacementRequest, cluster_: list[InstanceView], result: PlacementResult) -> None:
    """Apply the placements one by one and assert that every one was allowed at its moment."""
    views = {view.arn: view for view in cluster_}
    exprs = [parse(c.expression) for c in req.constraints if c.type == "memberOf"]
    for placement in result.placements:
        view = views[placement.instance_arn]
        assert view.status == "ACTIVE" and view.agent_connected
        assert view.remaining_cpu >= req.cpu and view.remaining_memory >= req.memory
        assert not (req.tcp_ports & view.used_tcp_ports) and not (req.udp_ports & view.used_udp_ports)
        for name, want in req.required_attributes.items():
            assert view.attributes.get(name) is not None and want in (None, view.attributes[name])
        if any(c.type == "distinctInstance" for c in req.constraints):
            assert view.task_groups.get(req.group, 0) == 0
        assert all(expr.evaluate(view) for expr in exprs)
        groups = dict(view.task_groups)
        groups[req.group] = groups.get(req.group, 0) + 1
        views[view.arn] = replace(
            view,
            remaining_cpu=view.remaining_cpu - req.cpu,
            remaining_memory=view.remaining_memory - req.memory,
            used_tcp_ports=view.used_tcp_ports | req.tcp_ports,
            used_udp_ports=view.used_udp_ports | req.udp_ports,
            task_groups=groups,
            running_tasks_count=view.running_tasks_count + 1,
        )


@settings(max_examples=1000, deadline=None)
@given(instances(), requests(), seeds)
def test_the_fast_index_and_the_plain_ecs_rule_agree_exactly(
    cluster_: list[InstanceView], req: PlacementRequest, seed: int
) -> None:
    result = place(req, cluster_, seed=seed)
    if cluster_:  # place() answers an empty cluster itself, before any rule runs
        # The same instances, the same explanations field for field, the same failure and tally.
        assert result == place_ecs(req, cluster_, seed)
    assert len(result.placements) + result.unplaced == req.count
    # Each explanation accounts for every instance: dropped by exactly one filter, or eligible.
    for placement in result.placements:
        counted: Counter[str] = Counter()
        for entry in placement.explanation["filters"]:
            counted[entry["filter"]] += entry["removed"]
        assert counted.total() + placement.explanation["eligible"] == len(cluster_)
    if result.failure is not None:
        assert result.failure.total_instances == len(cluster_)
        assert sum(result.failure.tally.values()) == len(cluster_)


@settings(max_examples=500, deadline=None)
@given(instances(), requests(), seeds, st.sampled_from(["ecs", "kubernetes"]))
def test_nothing_is_over_committed_and_constraints_hold(
    cluster_: list[InstanceView], req: PlacementRequest, seed: int, profile: str
) -> None:
    req = replace(req, profile=profile)  # type: ignore[arg-type]
    result = place(req, cluster_, seed=seed)
    assert len(result.placements) + result.unplaced == req.count
    assert (result.failure is None) == (result.unplaced == 0)
    _replay(req, cluster_, result)


@settings(max_examples=300, deadline=None)
@given(instances(), requests(), seeds, st.randoms(use_true_random=False))
def test_same_input_and_seed_give_the_same_output_whatever_the_instance_order(
    cluster_: list[InstanceView], req: PlacementRequest, seed: int, shuffler: object
) -> None:
    first = place(req, cluster_, seed=seed)
    assert place(req, cluster_, seed=seed) == first
    shuffled = list(cluster_)
    shuffler.shuffle(shuffled)  # type: ignore[attr-defined]
    again = place(req, shuffled, seed=seed)
    assert [p.instance_arn for p in again.placements] == [p.instance_arn for p in first.placements]
    assert again.failure == first.failure or (
        again.failure is not None and first.failure is not None and again.failure.tally == first.failure.tally
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 4),  # instances per zone
    st.integers(1, 8),  # tasks an instance can hold
    st.integers(0, 200),
    seeds,
    st.sampled_from(["ecs", "kubernetes"]),
)
def test_default_strategy_keeps_zone_skew_at_most_one(
    per_zone: int, capacity: int, wanted: int, seed: int, profile: str
) -> None:
    nodes = cluster(ZONES, per_zone, cpu=256 * capacity, memory=512 * capacity)
    count = min(wanted, len(nodes) * capacity)
    result = place(request(count, 256, 512, profile=profile), nodes, seed=seed)
    assert result.unplaced == 0
    by_arn = {n.arn: n.zone for n in nodes}
    zones = Counter(by_arn[p.instance_arn] for p in result.placements)
    counts = [zones.get(zone, 0) for zone in ZONES]
    assert max(counts) - min(counts) <= 1
    # Within a zone the default spread also evens out instances (ECS profile only: kube scores).
    if profile == "ecs":
        per_instance = Counter(p.instance_arn for p in result.placements)
        for zone in ZONES:
            loads = [per_instance.get(n.arn, 0) for n in nodes if n.zone == zone]
            assert max(loads) - min(loads) <= 1


@settings(max_examples=300, deadline=None)
@given(instances(), st.integers(0, 12), st.lists(st.sampled_from(STRATEGIES), max_size=2), seeds)
def test_scale_in_picks_distinct_known_tasks_deterministically(
    cluster_: list[InstanceView], count: int, strategies: list[object], seed: int
) -> None:
    tasks = [
        task(f"t-{view.instance_id}-{k}", view.instance_id, started_at=float(k))
        for view in cluster_
        for k in range(view.task_groups.get(GROUP, 0))
    ]
    chosen = select_for_scale_in(count, tasks, cluster_, strategies, seed)  # type: ignore[arg-type]
    assert len(chosen) == min(count, len(tasks))
    assert len(set(chosen)) == len(chosen)
    assert set(chosen) <= {t.arn for t in tasks}
    assert select_for_scale_in(count, tasks, cluster_, strategies, seed) == chosen  # type: ignore[arg-type]
    # Tasks on instances that are leaving go first.
    leaving = {t.arn for t in tasks if not any(v.arn == t.instance_arn and v.status == "ACTIVE" for v in cluster_)}
    assert set(chosen[: min(len(leaving), len(chosen))]) <= leaving
