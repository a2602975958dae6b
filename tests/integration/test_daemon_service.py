"""A DAEMON service on real agents and real containers: one per instance, following joins and drains.

Driven through boto3 against the ECS endpoint; what runs is checked in Docker by the containers'
task labels, so a task row the agents never started would not count.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import SETTINGS, TASK_DEFINITION

pytestmark = pytest.mark.docker


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "data", executor_factory=DockerExecutor, settings=SETTINGS)
    try:
        c.start_agents(2)
        yield c
    finally:
        c.close()


@pytest.fixture
def ecs(cluster: LocalCluster, tmp_path: Path) -> Any:
    from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys

    keys = AccessKeys(cluster.plane.store, cluster.data_dir / MASTER_KEY_FILE, cluster.plane.clock)
    created, _ = keys.create("daemon tests")
    return boto3.client(
        "ecs",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=created.access_key_id,
        aws_secret_access_key=created.secret_access_key,
    )


def running_on(ecs: Any) -> list[str]:
    """Instance ids of the daemon's RUNNING tasks whose container Docker really runs."""
    arns = ecs.list_tasks(cluster="default", serviceName="node-agent")["taskArns"]
    tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"] if arns else []
    out = []
    for t in tasks:
        task_id = t["taskArn"].rsplit("/", 1)[-1]
        ps = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=orch.task={task_id}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        if t["lastStatus"] == "RUNNING" and ps.stdout.strip():
            out.append(t["containerInstanceArn"].rsplit("/", 1)[-1])
    return sorted(out)


def test_a_daemon_runs_one_task_on_every_instance(cluster: LocalCluster, ecs: Any) -> None:
    td = ecs.register_task_definition(**TASK_DEFINITION)["taskDefinition"]
    ecs.create_service(
        cluster="default", serviceName="node-agent", taskDefinition=td["taskDefinitionArn"], schedulingStrategy="DAEMON"
    )
    two = sorted(cluster.instance_id(n) for n in ("agent-1", "agent-2"))
    wait_for(lambda: running_on(ecs) == two, timeout=90, what="a daemon task on each of the two agents")

    cluster.start_agent("agent-3", "us-east-1c")
    three = sorted([*two, cluster.instance_id("agent-3")])
    wait_for(lambda: running_on(ecs) == three, timeout=90, what="a daemon task on the agent that joined")
    svc = ecs.describe_services(cluster="default", services=["node-agent"])["services"][0]
    assert (svc["schedulingStrategy"], svc["desiredCount"]) == ("DAEMON", 3)

    ecs.update_container_instances_state(
        cluster="default", containerInstances=[cluster.instance_id("agent-1")], status="DRAINING"
    )
    rest = sorted(cluster.instance_id(n) for n in ("agent-2", "agent-3"))
    wait_for(lambda: running_on(ecs) == rest, timeout=90, what="the drained agent's daemon task stopped")
    assert ecs.describe_services(cluster="default", services=["node-agent"])["services"][0]["desiredCount"] == 2
