"""`dockerd` restarted under a running service: the tasks come back, nothing runs twice.

The engine is a private dockerd (tests/chaos/private_docker.py: its own roots, socket and no
bridge), so restarting it touches nobody else's containers; the agent reaches it through
DOCKER_HOST. Two restarts: SIGTERM (as `systemctl restart docker`: the engine stops the containers
on its way down) and SIGKILL (the engine dies; its containerd and the containers outlive it, and
the new engine takes them over or cleans them up). After each, the service has its desired count
RUNNING again, each wanted task in exactly one running container, and no task the control plane
counts RUNNING lacks its container.

Figures: seconds from the engine answering again to the service whole again, per restart.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executor.base import LABEL_TASK
from agent.executor.docker import DockerExecutor
from tests.chaos.private_docker import PrivateDockerd
from tests.chaos.procs import AgentProc, Server, containers, figure, tid, timed

DESIRED = 3

pytestmark = pytest.mark.docker


@pytest.fixture
def dockerd(docker_executor: DockerExecutor) -> Iterator[PrivateDockerd]:
    engine = PrivateDockerd()
    try:
        engine.start()
        engine.load("orch/busybox:latest")
        yield engine
    finally:
        engine.close()


def test_dockerd_restarted_under_a_service_recovers_its_tasks_once(dockerd: PrivateDockerd, tmp_path: Path) -> None:
    server = Server(tmp_path, ["--health-grace", "1", "--lost-after", "120"])
    server.start()
    agent = AgentProc(tmp_path, "dockerd-a1", server.url, server.join_token, env={"DOCKER_HOST": dockerd.host})
    engine = DockerExecutor(base_url=dockerd.host)
    try:
        agent.start()
        td = server.register("engine", ["sleep", "3600"])
        server.create_service("engine", td, DESIRED)

        def whole() -> bool:
            """DESIRED tasks RUNNING, each in exactly one running container, and no other running one."""
            wanted = server.running("engine")
            if len(wanted) != DESIRED:
                return False
            running = [c.labels.get(LABEL_TASK, "") for c in containers(engine, agent.instance_id) if c.running]
            return sorted(running) == sorted(tid(t["taskArn"]) for t in wanted)

        timed(whole, 60, f"{DESIRED} RUNNING tasks")
        figures = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            before = {t["taskArn"] for t in server.running("engine")}
            dockerd.restart(sig)
            back = time.monotonic()
            timed(whole, 90, f"the service whole again after dockerd {sig.name}")
            recovered_s = time.monotonic() - back
            after = {t["taskArn"] for t in server.running("engine")}
            # Kept or replaced, never both running: a replaced task is STOPPED in the control plane.
            for arn in before - after:
                assert server.task(arn)["desiredStatus"] == "STOPPED"
            assert agent.alive(), "the agent died with the engine"
            kept = len(before & after)
            figures.append(f"{sig.name}: whole {recovered_s:.1f} s after the engine was back, {kept} tasks kept")
        figure(f"dockerd restarted under a service of {DESIRED} (private engine): " + "; ".join(figures))
    finally:
        agent.stop()
        server.stop()
        engine.close()
