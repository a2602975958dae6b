"""The agent dies between `docker create` and its report: the container is adopted or removed
when it comes back, never left running unknown to the control plane.

The agent process is made to exit at that exact point by a test hook in the Docker executor
(`ORCH_TEST_EXIT_AFTER=create|start`, agent/executor/docker.py; inert unless set), as a kill -9
at that instant would. Two cases: dead right after the create (the container exists, never
started) with the task still wanted: the restarted agent runs the task in that container; dead
right after the start (the container runs, the control plane has heard nothing) and the task
stopped by the user meanwhile: the restarted agent stops and removes it.

Figures: seconds from the restart to the task RUNNING (adopted) and to the container gone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.executor.base import LABEL_TASK
from agent.executor.docker import DockerExecutor
from tests.chaos.procs import CLUSTER, AgentProc, Server, containers, figure, remove_containers, tid, timed

pytestmark = pytest.mark.docker


def test_a_container_created_or_started_before_the_agent_died_is_adopted_or_removed(
    docker_executor: DockerExecutor, tmp_path: Path
) -> None:
    server = Server(tmp_path, ["--health-grace", "1"])
    server.start()
    agent = AgentProc(tmp_path, "create-a1", server.url, server.join_token)
    try:
        agent.start({"ORCH_TEST_EXIT_AFTER": "create"})
        td = server.register("created", ["sleep", "3600"])

        def mine(task: str) -> list[str]:
            return [c.id for c in containers(docker_executor, agent.instance_id) if c.labels.get(LABEL_TASK) == task]

        # 1. Dead right after `docker create`: the task is still wanted.
        first = server.api("POST", f"{CLUSTER}/tasks", {"taskDefinition": td})["tasks"][0]["taskArn"]
        assert agent.proc is not None and agent.proc.wait(timeout=60) == 86, "the hook did not fire"
        created = mine(tid(first))
        assert len(created) == 1 and not docker_executor.inspect(created[0]).running  # type: ignore[union-attr]
        assert server.task(first)["lastStatus"] != "RUNNING"  # nothing was reported
        agent.start()
        t0 = time.monotonic()
        timed(lambda: server.task(first)["lastStatus"] == "RUNNING", 60, "the created container adopted and run")
        adopted_s = time.monotonic() - t0
        assert mine(tid(first)) == created, "the created container was not the one adopted"
        assert server.task(first)["containers"][0]["runtimeId"] == created[0]
        agent.stop()

        # 2. Dead right after the start, and the task stopped by the user while nobody listened.
        agent.start({"ORCH_TEST_EXIT_AFTER": "start"})
        second = server.api("POST", f"{CLUSTER}/tasks", {"taskDefinition": td})["tasks"][0]["taskArn"]
        assert agent.proc is not None and agent.proc.wait(timeout=60) == 86, "the hook did not fire"
        started = mine(tid(second))
        assert len(started) == 1 and docker_executor.inspect(started[0]).running  # type: ignore[union-attr]
        assert server.task(second)["lastStatus"] != "RUNNING"
        server.api("POST", f"{CLUSTER}/tasks/{tid(second)}/stop", {"reason": "chaos"})
        agent.start()
        t0 = time.monotonic()
        timed(lambda: not mine(tid(second)), 60, "the unknown running container removed")
        removed_s = time.monotonic() - t0
        assert server.task(second)["lastStatus"] == "STOPPED"

        # Whatever runs on the instance is a task the control plane knows to be RUNNING.
        known = {tid(t["taskArn"]) for t in server.tasks() if t["lastStatus"] == "RUNNING"}
        running = {c.labels.get(LABEL_TASK) for c in containers(docker_executor, agent.instance_id) if c.running}
        assert running == {tid(first)} and running <= known
        figure(
            f"agent dead right after docker create: container adopted, task RUNNING {adopted_s:.1f} s after restart; "
            f"dead right after docker start, task stopped meanwhile: container removed {removed_s:.1f} s after restart"
        )
    finally:
        ids = [agent.instance_id] if agent.state_file.exists() else []
        agent.stop()
        server.stop()
        remove_containers(docker_executor, ids)
