"""The instance controller's decision as a table: which agents count as disconnected, which
instances' tasks are given up as lost, from the heartbeats and the time alone."""

from __future__ import annotations

import pytest

from orchestrator.core.settings import Settings
from orchestrator.reconcile.instances import decide_instances
from tests.builders import instance_row

SETTINGS = Settings(disconnected_after_s=15.0, lost_after_s=60.0, stopped_task_retention_s=3600.0)
NOW = 10_000.0


@pytest.mark.parametrize(
    ("last_heartbeat", "connected", "started_at", "disconnects", "lost"),
    [
        # Heard from 5 s ago: nothing to do.
        (NOW - 5, True, 0.0, False, False),
        # 15 s is the limit itself: still connected (silent must exceed it).
        (NOW - 15, True, 0.0, False, False),
        # 16 s of silence: disconnected, not lost yet.
        (NOW - 16, True, 0.0, True, False),
        # 61 s: lost; already marked disconnected by an earlier pass, so no second disconnect.
        (NOW - 61, False, 0.0, False, True),
        # 61 s silent, but this control plane started 10 s ago: only 10 s count.
        (NOW - 61, True, NOW - 10, False, False),
        # No heartbeat recorded at all (a row the store just registered): counts as heard from now.
        (None, True, NOW - 100, False, False),
    ],
)
def test_silence_disconnects_then_loses_an_instance(
    last_heartbeat: float | None, connected: bool, started_at: float, disconnects: bool, lost: bool
) -> None:
    inst = instance_row("i1", "us-east-1a")
    inst.agentConnected = connected
    heartbeats = {} if last_heartbeat is None else {inst.containerInstanceArn: last_heartbeat}
    actions = decide_instances([inst], heartbeats, NOW, started_at, SETTINGS)
    assert bool(actions.disconnected) == disconnects
    assert actions.lost == ([inst.containerInstanceArn] if lost else [])
    assert all(not r.agentConnected for r in actions.disconnected)  # the store bumps the version on write
    assert inst.agentConnected == connected, "the decision changed its input"
    assert actions.purge_before == NOW - 3600.0
