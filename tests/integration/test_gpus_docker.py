"""GPUs on the real engine, which has none: the container asks Docker for exactly its GPUs, and a
task placed on an agent that offers GPUs (`--gpus 1`) stops with a reason that says the NVIDIA
runtime is missing, instead of running without its GPU."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.container_spec import container_spec
from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.harness import wait_for

pytestmark = pytest.mark.docker

BUSYBOX = "orch/busybox:latest"
NO_RUNTIME = "this Docker engine has no NVIDIA GPU runtime"


def test_the_container_requests_its_gpus_and_fails_clearly_without_a_runtime(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    task = {
        "taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/default/{test_labels['orch.test']}",
        "containers": [{"name": "app", "gpuIds": ["0", "1"]}],
    }
    cdef = {"name": "app", "image": BUSYBOX, "memory": 32, "command": ["true"], "dockerLabels": test_labels}
    state = docker_executor.run(container_spec(task, cdef, "default", "i-test"))
    assert not state.running
    assert NO_RUNTIME in state.error and "GPU 0, 1" in state.error, state.error
    inspected = subprocess.run(["docker", "inspect", state.id], capture_output=True, text=True, check=True)
    (request,) = json.loads(inspected.stdout)[0]["HostConfig"]["DeviceRequests"]
    assert (request["Driver"], request["DeviceIDs"], request["Capabilities"]) == ("nvidia", ["0", "1"], [["gpu"]])


@pytest.fixture
def gpu_cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(
        tmp_path / "data",
        executor_factory=DockerExecutor,
        settings=Settings(health_grace_s=1.0, heartbeat_interval_s=1.0),
        agent_gpus=1,
    )
    c.start_agents(1)
    yield c
    c.close()


def test_a_gpu_task_without_a_gpu_runtime_stops_saying_so(gpu_cluster: LocalCluster) -> None:
    body = {
        "family": "gpu",
        "containerDefinitions": [
            {
                "name": "train",
                "image": BUSYBOX,
                "memory": 32,
                "stopTimeout": 1,
                "command": ["sleep", "300"],
                "resourceRequirements": [{"type": "GPU", "value": "1"}],
            }
        ],
    }
    gpu_cluster.api("POST", "/v1/task-definitions", body)
    (task,) = gpu_cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": "gpu"})["tasks"]
    assert task["containers"][0]["gpuIds"] == ["0"]
    tid = task["taskArn"].rsplit("/", 1)[-1]

    def stopped() -> dict[str, Any] | None:
        t: dict[str, Any] = gpu_cluster.api("GET", f"/v1/clusters/default/tasks/{tid}")["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    done = wait_for(stopped, 60, what="the GPU task STOPPED")
    assert NO_RUNTIME in done["stoppedReason"], done["stoppedReason"]
