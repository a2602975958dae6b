"""An agent killed with `kill -9` and left dead: after `--lost-after` of silence the control plane
gives its tasks up and the service replaces them on the other agent, within lost_after + 15 s;
when the agent comes back it stops the superseded containers within two heartbeats (the agent's
long-poll is its heartbeat, 5 s), and nothing runs twice.

Figures: seconds from the kill to the replacements RUNNING, and from the agent's return to its
superseded containers stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.executor.docker import DockerExecutor
from tests.chaos.procs import AgentProc, Server, figure, remove_containers, running_by_task, tid, timed

LOST_AFTER_S = 5.0
HEARTBEAT_S = 5.0  # the agent's assignment long-poll (AgentConfig.poll_wait_s), which is its heartbeat

pytestmark = pytest.mark.docker


def test_a_dead_agent_is_replaced_and_on_return_stops_what_was_superseded(
    docker_executor: DockerExecutor, tmp_path: Path
) -> None:
    server = Server(tmp_path, ["--lost-after", str(LOST_AFTER_S), "--health-grace", "1"])
    server.start()
    a1 = AgentProc(tmp_path, "lost-a1", server.url, server.join_token, zone="us-east-1a")
    a2 = AgentProc(tmp_path, "lost-a2", server.url, server.join_token, zone="us-east-1b")
    try:
        a1.start()
        a2.start()
        td = server.register("lost", ["sleep", "3600"])
        # Spread over the two zones (the service default): one task on each agent.
        server.create_service("lost", td, 2)
        timed(lambda: len(server.running("lost")) == 2, 60, "2 RUNNING tasks")
        on_a1 = [t for t in server.running("lost") if t["containerInstanceArn"].endswith(a1.instance_id)]
        assert len(on_a1) == 1, "the spread placed both tasks on one agent"
        victim = on_a1[0]["taskArn"]

        a1.kill9()
        killed_at = time.monotonic()

        def replaced() -> bool:
            running = server.running("lost")
            return len(running) == 2 and all(t["containerInstanceArn"].endswith(a2.instance_id) for t in running)

        timed(replaced, LOST_AFTER_S + 15, f"the tasks of the dead agent replaced within {LOST_AFTER_S:g} + 15 s")
        replaced_s = time.monotonic() - killed_at
        gone = server.task(victim)
        assert gone["lastStatus"] == "STOPPED"
        assert gone["stoppedReason"] == "Task stopped due to container instance lost"
        # The dead agent's container still runs: nobody was there to stop it.
        assert running_by_task(docker_executor, [a1.instance_id])[tid(victim)] == 1

        a1.start()
        back_at = time.monotonic()
        timed(lambda: server.instance(a1.instance_id)["agentConnected"], 30, "the agent to reconnect")
        connected_at = time.monotonic()
        timed(
            lambda: not running_by_task(docker_executor, [a1.instance_id]),
            2 * HEARTBEAT_S,
            "the superseded container stopped within two heartbeats",
        )
        stopped_s = time.monotonic() - connected_at
        counts = running_by_task(docker_executor, [a1.instance_id, a2.instance_id])
        assert sorted(counts) == sorted(tid(t["taskArn"]) for t in server.running("lost"))
        assert set(counts.values()) == {1}, f"a task runs twice: {counts}"
        figure(
            f"agent kill -9, left dead: replaced in {replaced_s:.1f} s (lost_after {LOST_AFTER_S:g} s, "
            f"bound {LOST_AFTER_S + 15:g} s); on return superseded container stopped {stopped_s:.1f} s after "
            f"reconnecting ({connected_at - back_at:.1f} s to reconnect; bound 2 heartbeats = {2 * HEARTBEAT_S:g} s)"
        )
    finally:
        ids = [a.instance_id for a in (a1, a2) if a.state_file.exists()]
        a1.stop()
        a2.stop()
        server.stop()
        remove_containers(docker_executor, ids)
