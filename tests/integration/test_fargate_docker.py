"""launchType FARGATE through boto3, unchanged, on real containers: the task runs on the managed
pool of a dev cluster (awsvpc: its own network namespace and IP), with no container instance shown."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.harness import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(
        tmp_path / "data",
        executor_factory=DockerExecutor,
        settings=Settings(health_grace_s=1.0, heartbeat_interval_s=1.0),
    )
    c.start_agents(1)
    c.start_fargate_agents(1)
    yield c
    c.close()


def ecs_client(cluster: LocalCluster) -> BaseClient:
    keys = cluster.api("POST", "/v1/credentials", {"description": "fargate test"})
    return boto3.client(
        "ecs",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_a_fargate_task_runs_a_container_on_the_pool(cluster: LocalCluster) -> None:
    ecs = ecs_client(cluster)
    td = ecs.register_task_definition(
        family="fg",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "app", "image": "orch/busybox:latest", "essential": True, "stopTimeout": 1,
             "command": ["sleep", "300"]}
        ],
    )["taskDefinition"]  # fmt: skip
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    out = ecs.run_task(
        taskDefinition="fg",
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-local"]}},
    )
    (task,) = out["tasks"]
    arn = task["taskArn"]

    def running() -> dict[str, Any] | None:
        (t,) = ecs.describe_tasks(tasks=[arn])["tasks"]
        return t if t["lastStatus"] == "RUNNING" else None

    t = wait_for(running, 60, what="the FARGATE task RUNNING")
    assert (t["launchType"], t["platformVersion"], t["platformFamily"]) == ("FARGATE", "1.4.0", "Linux")
    assert "containerInstanceArn" not in t
    ips = [d["value"] for a in t["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address"]
    assert ips, t["attachments"]
    # The container really runs, labelled as one of the pool agent's.
    tid = arn.rsplit("/", 1)[-1]
    pool_ids = {r.agent.session.instance_id for n, r in cluster.agents.items() if n.startswith("fargate-")}
    ps = subprocess.run(
        ["docker", "ps", "--filter", f"label=orch.task={tid}", "--filter", "label=orch.container=app",
         "--format", '{{.Label "orch.instance"}}'],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert ps and set(ps) <= pool_ids, (ps, pool_ids)
    # The pool is no cluster's container instances.
    assert len(ecs.list_container_instances()["containerInstanceArns"]) == 1
    ecs.stop_task(task=arn)
