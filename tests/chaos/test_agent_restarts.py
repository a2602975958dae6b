"""An agent killed with `kill -9` and started again 10 times under a running service: the service
keeps the same tasks in the same containers, nothing runs twice, and no report is lost: in each
round a standalone task exits (code 7) while the agent is dead, and every one of them ends
STOPPED with exit code 7 once the agent is back.

Figures: rounds, seconds per round, and what changed (tasks, containers, duplicates, lost reports).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.executor.base import LABEL_TASK
from agent.executor.docker import DockerExecutor
from tests.chaos.procs import CLUSTER, AgentProc, Server, containers, figure, remove_containers, running_by_task, tid
from tests.harness import wait_for

ROUNDS = 10
DESIRED = 3

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_ten_kill_9_restarts_keep_the_same_containers_and_every_report(
    docker_executor: DockerExecutor, tmp_path: Path
) -> None:
    # lost_after well above a round: the instance must never be given up in between.
    server = Server(tmp_path, ["--health-grace", "1", "--lost-after", "120"])
    server.start()
    agent = AgentProc(tmp_path, "restart-a1", server.url, server.join_token)
    try:
        agent.start()
        web = server.register("steady", ["sleep", "3600"])
        # Exits with 7 about a second after it starts: while the agent is dead.
        short = server.register("short", ["sh", "-c", "sleep 1; exit 7"])
        server.create_service("steady", web, DESIRED)
        wait_for(lambda: len(server.running("steady")) == DESIRED, 60, what=f"{DESIRED} RUNNING tasks")

        def service_containers() -> dict[str, str]:
            tasks = {tid(t["taskArn"]) for t in server.tasks(serviceName="steady")}
            return {
                c.labels[LABEL_TASK]: c.id
                for c in containers(docker_executor, agent.instance_id)
                if c.running and c.labels.get(LABEL_TASK) in tasks
            }

        tasks_before = {t["taskArn"] for t in server.running("steady")}
        containers_before = service_containers()
        assert len(containers_before) == DESIRED
        shorts: list[str] = []
        t_start = time.monotonic()
        for _ in range(ROUNDS):
            arn = server.api("POST", f"{CLUSTER}/tasks", {"taskDefinition": short})["tasks"][0]["taskArn"]
            shorts.append(arn)

            def status(arn: str = arn) -> str:
                return str(server.task(arn)["lastStatus"])

            def exited(arn: str = arn) -> bool:
                return not running_by_task(docker_executor, [agent.instance_id])[tid(arn)]

            wait_for(lambda: status() == "RUNNING", 90, interval=0.05, what="the short task RUNNING")
            agent.kill9()
            wait_for(exited, 90, interval=0.1, what="the short task to exit while nobody watches")
            agent.start()
            wait_for(lambda: status() == "STOPPED", 90, interval=0.05, what="its exit reported")
            counts = running_by_task(docker_executor, [agent.instance_id])
            assert set(counts.values()) <= {1}, f"a task runs twice: {counts}"
        per_round = (time.monotonic() - t_start) / ROUNDS

        after = server.running("steady")
        assert {t["taskArn"] for t in after} == tasks_before, "the service's tasks changed"
        assert service_containers() == containers_before, "the service's containers changed"
        assert not server.tasks("STOPPED", serviceName="steady"), "a service task was stopped"
        reports = [server.task(a) for a in shorts]
        ends = {r["taskArn"]: (r["lastStatus"], r["containers"][0].get("exitCode")) for r in reports}
        lost = [arn for arn, end in ends.items() if end != ("STOPPED", 7)]
        assert not lost, f"reports lost: {lost}"
        assert agent.starts == ROUNDS + 1
        figure(
            f"agent kill -9 and restart x{ROUNDS} under a service of {DESIRED}: {per_round:.1f} s per round; "
            f"same {DESIRED} tasks and containers, 0 duplicates, {ROUNDS}/{ROUNDS} exits while dead reported "
            "(exit code 7)"
        )
    finally:
        ids = [agent.instance_id] if agent.state_file.exists() else []
        agent.stop()
        server.stop()
        remove_containers(docker_executor, ids)
