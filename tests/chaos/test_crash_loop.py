"""A crash-looping essential container backs off as ECS does and never starves the others.

ECS (ECS-NOTES.md, Services: Throttling): tasks of a service that stop before they ever run
healthy are retried with a growing delay, up to 15 minutes, never abandoned, reset by a service
update; here the first two failures are retried at once, then base x 2^(failures - 3) with base
5 s (`Settings.start_retry_base_s`). With a real agent and real containers, service `crash`
(desired 1, `exit 1` at once) loops while service `steady` (desired 2) is created and rolled to a
new revision: the gaps between crash launches grow (0, 0, 5, 10, 20 s ...), the service says it
is throttled, and steady's deployment completes with its tasks running.

Figures: crash launches in the window, the gaps between them, and how long steady's rollout took.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.reconcile.service_decide import retry_delay
from tests.chaos.procs import AgentProc, Server, figure, remove_containers
from tests.harness import wait_for

WINDOW_S = 20.0
BASE_S = 5.0

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_crash_loop_backs_off_and_another_service_still_deploys(
    docker_executor: DockerExecutor, tmp_path: Path
) -> None:
    # A task counts healthy after 5 s RUNNING: `exit 1` never gets there, however late its
    # STOPPED report is on a busy machine (a healthy task would end the run of failures).
    server = Server(tmp_path, ["--health-grace", "5"])
    server.start()
    agent = AgentProc(tmp_path, "crash-a1", server.url, server.join_token)
    try:
        agent.start()
        crash = server.register("crash", ["sh", "-c", "exit 1"])
        steady_v1 = server.register("steady", ["sleep", "3600"])
        steady_v2 = server.register("steady", ["sleep", "3601"])
        t0 = time.monotonic()
        server.create_service("crash", crash, 1)
        server.create_service("steady", steady_v1, 2)
        wait_for(lambda: len(server.running("steady")) == 2, 60, what="steady's 2 tasks RUNNING")
        # The other service rolls to a new revision while the crash loop goes on.
        rolled = time.monotonic()
        update = {"taskDefinition": steady_v2}
        deployment = server.api("PATCH", "/v1/clusters/default/services/steady", update)["service"]["deployments"][0]
        wait_for(
            lambda: (
                [(d["id"], d["rolloutState"]) for d in server.service("steady")["deployments"]]
                == [(deployment["id"], "COMPLETED")]
            ),
            60,
            what="steady's deployment to complete",
        )
        rollout_s = time.monotonic() - rolled
        assert len(server.running("steady")) == 2
        time.sleep(max(0.0, WINDOW_S - (time.monotonic() - t0)))

        launches = sorted(
            t["createdAt"] for t in server.tasks("STOPPED", serviceName="crash") + server.tasks(serviceName="crash")
        )
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(launches)]
        # Unthrottled, a task that fails in about a second would be relaunched some 15 or more
        # times in 20 s. With the back-off, even tasks that failed in no time at all would have
        # launched at 0, 0, 0, 5, 15, 35, 75 ... s (the delays 0, 0, 5, 10, 20, 40 ... summed).
        elapsed = time.monotonic() - t0
        at_most = sum(1 for n in range(12) if sum(retry_delay(k, BASE_S, 900) for k in range(1, n + 1)) <= elapsed)
        assert 3 <= len(launches) <= at_most, f"{len(launches)} launches in {elapsed:.0f} s: {launches}"
        assert all(g >= BASE_S * 2 ** (i - 2) * 0.9 for i, g in enumerate(gaps) if i >= 2), f"gaps {gaps}"
        messages = [e["message"] for e in server.service("crash")["events"]]
        assert any("is unable to consistently start tasks successfully" in m for m in messages), messages
        stopped = server.tasks("STOPPED", serviceName="crash")
        assert {t["stopCode"] for t in stopped} == {"EssentialContainerExited"}
        figure(
            f"crash loop (exit 1, desired 1) beside a rolling service: {len(launches)} launches in {WINDOW_S:g} s, "
            f"gaps {gaps} s (ECS-style back-off, base {BASE_S:g} s doubling); the other service rolled to a new "
            f"revision in {rollout_s:.1f} s meanwhile, 2/2 RUNNING"
        )
    finally:
        ids = [agent.instance_id] if agent.state_file.exists() else []
        agent.stop()
        server.stop()
        remove_containers(docker_executor, ids)
