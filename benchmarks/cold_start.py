"""Cold start: a service of 30 tasks from CreateService to 30 RUNNING, against the floor.

The floor is the same 30 containers (same image, command, CPU shares, memory, labels) started
straight through the Docker executor (the SDK's create + start) from a thread pool of the same
concurrency the agents use (3 agents x 8 start threads). Both run on the same engine in the same
process, alternately, and the script prints each median and their ratio. Goal: ratio <= 1.3.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.executor.base import ContainerSpec  # noqa: E402
from agent.executor.docker import DockerExecutor  # noqa: E402
from orchestrator.core.settings import Settings  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from tests.harness import wait_for  # noqa: E402

TASKS = 30
AGENTS = 3
START_THREADS = 8  # per agent, as agent.worker.Worker defaults
ROUNDS = 3
CONTAINER = {
    "name": "app",
    "image": "orch/busybox:latest",
    "essential": True,
    "cpu": 64,
    "memory": 32,
    "command": ["sleep", "3600"],
    "stopTimeout": 1,
}


def floor_once(executor: DockerExecutor) -> float:
    label = {"orch.bench": uuid.uuid4().hex[:10]}
    specs = [
        ContainerSpec(
            name=f"bench-{label['orch.bench']}-{i}",
            image=CONTAINER["image"],  # type: ignore[arg-type]
            labels={**label, "orch.managed": "bench"},
            command=tuple(CONTAINER["command"]),  # type: ignore[arg-type]
            cpu_shares=64,
            memory_mib=32,
            stop_timeout_s=1,
        )
        for i in range(TASKS)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(AGENTS * START_THREADS) as pool:
        states = list(pool.map(executor.run, specs))
    elapsed = time.perf_counter() - started
    assert all(s.running for s in states), "a floor container did not start"
    for s in executor.list(label):
        executor.remove(s.id)
    return elapsed


def ours_once(executor: DockerExecutor) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(
            Path(tmp), executor_factory=DockerExecutor, settings=Settings(health_grace_s=1.0, heartbeat_interval_s=1.0)
        )
        try:
            cluster.start_agents(AGENTS)
            td = cluster.api("POST", "/v1/task-definitions", {"family": "cold", "containerDefinitions": [CONTAINER]})
            ref = f"cold:{td['taskDefinition']['revision']}"
            started = time.perf_counter()
            cluster.api(
                "POST",
                "/v1/clusters/default/services",
                {"serviceName": "cold", "taskDefinition": ref, "desiredCount": TASKS},
            )
            wait_for(
                lambda: cluster.service("cold")["runningCount"] == TASKS, 120, interval=0.02, what=f"{TASKS} RUNNING"
            )
            return time.perf_counter() - started
        finally:
            cluster.close()


def main() -> None:
    for script in ("ensure-docker.sh", "build-images.sh"):
        subprocess.run(["bash", str(ROOT / "scripts" / script)], check=True, capture_output=True)
    executor = DockerExecutor()
    floor_once(executor)  # warm the engine's caches before measuring either side
    floors, ours = [], []
    for _ in range(ROUNDS):
        floors.append(floor_once(executor))
        ours.append(ours_once(executor))
    floor, mine = statistics.median(floors), statistics.median(ours)
    print(
        f"floor (Docker SDK direct, {AGENTS * START_THREADS} threads): "
        + ", ".join(f"{x:.2f}" for x in floors)
        + f" s; median {floor:.2f} s"
    )
    print(
        f"orchestrator (create service -> {TASKS} RUNNING): "
        + ", ".join(f"{x:.2f}" for x in ours)
        + f" s; median {mine:.2f} s"
    )
    print(f"cold start ratio {mine / floor:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
