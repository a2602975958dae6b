"""Each placement filter, its reason, its ECS failure code, and the order filters run in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scheduler import place

from .builders import distinct, ids, instance, member_of, request


@dataclass(frozen=True)
class Case:
    name: str
    instance: dict[str, Any]
    request: dict[str, Any] = field(default_factory=dict)
    code: str | None = None  # None: the task fits
    reason: str = ""
    tally: str = ""


# The task asks for 256 CPU units and 512 MiB unless the case says otherwise.
CASES = [
    Case("ACTIVE and roomy: fits", {}),
    Case("DRAINING", {"status": "DRAINING"}, code="INACTIVE", reason="DRAINING", tally="DRAINING"),
    Case("INACTIVE", {"status": "INACTIVE"}, code="INACTIVE", reason="INACTIVE", tally="INACTIVE"),
    Case("REGISTERING", {"status": "REGISTERING"}, code="INACTIVE", reason="REGISTERING", tally="REGISTERING"),
    Case(
        "agent disconnected",
        {"agent": False},
        code="AGENT",
        reason="agent disconnected",
        tally="agent disconnected",
    ),
    # 255 CPU units left < 256 asked
    Case(
        "one CPU unit short",
        {"remaining_cpu": 255},
        code="RESOURCE:CPU",
        reason="insufficient CPU units available",
        tally="insufficient CPU",
    ),
    # 256 left >= 256 asked: an exact fit is a fit
    Case("exact CPU fit", {"remaining_cpu": 256}),
    # 511 MiB left < 512 asked
    Case(
        "one MiB short",
        {"remaining_memory": 511},
        code="RESOURCE:MEMORY",
        reason="insufficient memory available",
        tally="insufficient memory",
    ),
    Case("exact memory fit", {"remaining_memory": 512}),
    Case(
        "TCP port held",
        {"tcp": [22, 80]},
        {"tcp": [80]},
        code="RESOURCE:PORTS",
        reason="port 80 already in use",
        tally="port in use",
    ),
    # the lowest clashing port is named
    Case(
        "two TCP ports held",
        {"tcp": [443, 80]},
        {"tcp": [443, 80]},
        code="RESOURCE:PORTS",
        reason="port 80 already in use",
        tally="port in use",
    ),
    Case(
        "UDP port held",
        {"udp": [53]},
        {"udp": [53]},
        code="RESOURCE:PORTS",
        reason="port 53/udp already in use",
        tally="port in use",
    ),
    # TCP 53 held, the task wants UDP 53: different protocols never clash
    Case("same number, other protocol", {"tcp": [53]}, {"udp": [53]}),
    Case(
        "required attribute missing",
        {},
        {"required": {"ecs.os-type": "linux"}},
        code="ATTRIBUTE",
        reason="missing attribute ecs.os-type",
        tally="missing attribute ecs.os-type",
    ),
    Case(
        "required attribute with another value",
        {"attributes": {"ecs.os-type": "windows"}},
        {"required": {"ecs.os-type": "linux"}},
        code="ATTRIBUTE",
        reason="attribute ecs.os-type is 'windows', not 'linux'",
        tally="attribute ecs.os-type mismatch",
    ),
    # None asks only that the attribute exists
    Case("required attribute present", {"attributes": {"gpu": "a100"}}, {"required": {"gpu": None}}),
    Case(
        "distinctInstance",
        {"groups": {"service:web": 1}},
        {"constraints": [distinct()]},
        code="ATTRIBUTE",
        reason="already runs a task of group service:web",
        tally="distinctInstance",
    ),
    # another group's task does not count for distinctInstance
    Case("distinctInstance, other group", {"groups": {"service:db": 1}}, {"constraints": [distinct()]}),
    Case(
        "memberOf",
        {"attributes": {"ecs.instance-type": "m5.large"}},
        {"constraints": [member_of("attribute:ecs.instance-type =~ t2.*")]},
        code="ATTRIBUTE",
        reason="does not match memberOf expression 'attribute:ecs.instance-type =~ t2.*'",
        tally="memberOf",
    ),
    Case(
        "memberOf matches",
        {"attributes": {"ecs.instance-type": "t2.micro"}},
        {"constraints": [member_of("attribute:ecs.instance-type =~ t2.*")]},
    ),
    # Order: the first failing filter names the reason.
    # DRAINING and 100 MiB left: status comes before memory
    Case(
        "status before memory",
        {"status": "DRAINING", "remaining_memory": 100},
        code="INACTIVE",
        reason="DRAINING",
        tally="DRAINING",
    ),
    # disconnected and short of CPU: agent comes before CPU
    Case(
        "agent before CPU",
        {"agent": False, "remaining_cpu": 0},
        code="AGENT",
        reason="agent disconnected",
        tally="agent disconnected",
    ),
    # 0 CPU and 0 MiB left: CPU comes before memory
    Case(
        "CPU before memory",
        {"remaining_cpu": 0, "remaining_memory": 0},
        code="RESOURCE:CPU",
        reason="insufficient CPU units available",
        tally="insufficient CPU",
    ),
    Case(
        "memory before ports",
        {"remaining_memory": 0, "tcp": [80]},
        {"tcp": [80]},
        code="RESOURCE:MEMORY",
        reason="insufficient memory available",
        tally="insufficient memory",
    ),
    Case(
        "ports before attributes",
        {"tcp": [80]},
        {"tcp": [80], "required": {"ecs.os-type": "linux"}},
        code="RESOURCE:PORTS",
        reason="port 80 already in use",
        tally="port in use",
    ),
    Case(
        "attributes before constraints",
        {"groups": {"service:web": 1}},
        {"required": {"ecs.os-type": None}, "constraints": [distinct()]},
        code="ATTRIBUTE",
        reason="missing attribute ecs.os-type",
        tally="missing attribute ecs.os-type",
    ),
    Case(
        "constraints in the order given",
        {"groups": {"service:web": 1}},
        {"constraints": [member_of("attribute:ecs.os-type exists"), distinct()]},
        code="ATTRIBUTE",
        reason="does not match memberOf expression 'attribute:ecs.os-type exists'",
        tally="memberOf",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_filter(case: Case) -> None:
    node = instance("i-1", **case.instance)
    result = place(request(1, **case.request), [node])
    if case.code is None:
        assert ids(p.instance_arn for p in result.placements) == ["i-1"]
        assert result.failure is None
        return
    assert result.placements == () and result.unplaced == 1
    assert result.failure is not None
    assert result.failure.reason == case.code
    assert result.failure.closest_instance_arn == node.arn
    assert result.failure.closest_reason == case.reason
    assert dict(result.failure.tally) == {case.tally: 1}


def test_a_long_memberof_expression_is_shortened_in_the_reason() -> None:
    expression = "attribute:team == " + "x" * 300
    result = place(request(1, constraints=[member_of(expression)]), [instance("i-1")])
    assert result.failure is not None
    # 100 characters shown: the first 97 and "..."
    assert result.failure.closest_reason == f"does not match memberOf expression '{expression[:97]}...'"


@dataclass(frozen=True)
class Sequential:
    name: str
    instance: dict[str, Any]
    request: dict[str, Any]
    placed: int
    reason: str


# One instance; each placement updates it before the next task is tried.
SEQUENTIAL = [
    # 1024 MiB / 512 per task = 2 tasks, the third finds 0 MiB
    Sequential("memory runs out", {"memory": 1024}, {"count": 3}, 2, "insufficient memory available"),
    # 600 CPU units / 256 = 2 tasks (88 units left), the third is short
    Sequential("CPU runs out", {"cpu": 600}, {"count": 3}, 2, "insufficient CPU units available"),
    # the first task takes port 80, so the second clashes with it
    Sequential("a placed task holds its port", {}, {"count": 2, "tcp": [80]}, 1, "port 80 already in use"),
    Sequential("UDP too", {}, {"count": 2, "udp": [514]}, 1, "port 514/udp already in use"),
    # the first task makes the group count 1
    Sequential(
        "distinctInstance counts placed tasks",
        {},
        {"count": 2, "constraints": [distinct()]},
        1,
        "already runs a task of group service:web",
    ),
    # runningTasksCount 0 -> 1 -> 2: two tasks fit, the third sees 2 < 2 false
    Sequential(
        "dynamic memberOf sees runningTasksCount grow",
        {},
        {"count": 3, "constraints": [member_of("runningTasksCount < 2")]},
        2,
        "does not match memberOf expression 'runningTasksCount < 2'",
    ),
    # no task of service:web yet, so `task:group != service:web` holds once, then fails
    Sequential(
        "dynamic memberOf sees the group's own tasks",
        {},
        {"count": 2, "constraints": [member_of("task:group != service:web")]},
        1,
        "does not match memberOf expression 'task:group != service:web'",
    ),
]


@pytest.mark.parametrize("case", SEQUENTIAL, ids=[c.name for c in SEQUENTIAL])
def test_each_placement_updates_the_instance_before_the_next(case: Sequential) -> None:
    result = place(request(**case.request), [instance("i-1", **case.instance)])
    assert len(result.placements) == case.placed
    assert result.unplaced == case.request["count"] - case.placed
    assert result.failure is not None and result.failure.closest_reason == case.reason


def test_memberof_that_becomes_true_only_after_a_placement_never_admits_the_instance() -> None:
    # `task:group == service:web` is false on an empty instance; nothing else can place there
    # within the request, so it stays false: no placement at all.
    result = place(request(2, constraints=[member_of("task:group == service:web")]), [instance("i-1")])
    assert result.placements == () and result.unplaced == 2


def test_distinct_instance_spreads_one_task_per_instance_then_fails() -> None:
    nodes = [instance("i-1"), instance("i-2"), instance("i-3")]
    result = place(request(4, constraints=[distinct()]), nodes)
    # 3 instances x 1 task each = 3 placed; the 4th finds every instance holding one
    assert sorted(ids(p.instance_arn for p in result.placements)) == ["i-1", "i-2", "i-3"]
    assert result.unplaced == 1
    assert result.failure is not None and dict(result.failure.tally) == {"distinctInstance": 3}
