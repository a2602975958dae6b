"""`instance_views` with a memo gives the views it would build afresh: the same view object back
only for the same instance model holding the same usage."""

from __future__ import annotations

from collections import Counter

from orchestrator.core.placing import InstanceUsage, ViewMemo, instance_views
from tests.builders import instance_row

NODES = [instance_row(f"n{i}", "us-east-1a", cpu=4096, memory=8192) for i in range(3)]


def usage(cpu: int, group: str = "service:web") -> InstanceUsage:
    return InstanceUsage(cpu=cpu, memory=2 * cpu, running=1, groups=Counter({group: 1}))


def test_views_from_the_memo_are_the_views_built_afresh() -> None:
    memo: ViewMemo = {}
    first = {NODES[0].containerInstanceArn: usage(256), NODES[1].containerInstanceArn: usage(512)}
    built = instance_views(NODES, first, memo)
    assert built == instance_views(NODES, first)

    # n1 now holds 512 more CPU (a pass placed there); n0 and n2 hold what they held.
    second = {**first, NODES[1].containerInstanceArn: usage(1024)}
    again = instance_views(NODES, second, memo)
    assert again == instance_views(NODES, second)
    assert again[0] is built[0] and again[2] is built[2]  # unchanged: the kept views
    assert again[1] is not built[1] and again[1].remaining_cpu == 4096 - 1024

    # Another group on n0 with the same CPU is another usage: built again.
    third = {**second, NODES[0].containerInstanceArn: usage(256, group="service:api")}
    assert instance_views(NODES, third, memo)[0].task_groups == {"service:api": 1}

    # The same row parsed again (another model, even with equal content) is built again too.
    reparsed = [NODES[0].model_copy(update={"agentConnected": False}), *NODES[1:]]
    view = instance_views(reparsed, third, memo)[0]
    assert view.agent_connected is False and view == instance_views(reparsed, third)[0]
