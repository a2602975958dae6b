"""launchType FARGATE: tasks run on the managed pool, which no cluster lists; RunTask and services
place there without the user choosing instances, and the normal agent path runs them (fake executor)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.executor.fake import FakeExecutor
from orchestrator.core.errors import ApiError
from orchestrator.core.fargate import POOL_CLUSTER, is_pool_instance
from orchestrator.local import LocalCluster
from orchestrator.operations import Operations
from orchestrator.reconcile.services import ServiceController
from tests.builders import container, control_plane, instance
from tests.harness import wait_for

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-local"]}}


FARGATE_WEB: dict[str, Any] = {
    "family": "web",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [container(cpu=0, memory=None)],
}


def fargate_definition(ops: Operations) -> str:
    td = ops.register_task_definition(FARGATE_WEB)["taskDefinition"]
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    return f"web:{td['revision']}"


def pool_agent(ops: Operations, name: str, zone: str = "us-east-1a", cpu: int = 1024, memory: int = 2048) -> str:
    arn: str = ops.register_instance({"name": name, "zone": zone, "cpu": cpu, "memory": memory, "fargate": True})[
        "containerInstanceArn"
    ]
    return arn


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "ec2-1", "us-east-1a", cpu=4096, memory=4096)
    fargate_definition(o)
    return o


def run_fargate(ops: Operations, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = ops.run_task(
        {"taskDefinition": "web:1", "launchType": "FARGATE", "networkConfiguration": NETWORK, **extra}
    )
    return result


def test_the_pool_is_no_clusters_container_instances(ops: Operations) -> None:
    pool = pool_agent(ops, "fargate-1")
    assert is_pool_instance(pool) and f"/{POOL_CLUSTER}/" in pool
    listed = ops.list_container_instances({})["containerInstanceArns"]
    assert len(listed) == 1 and pool not in listed
    described = ops.describe_container_instances({"containerInstances": [pool]})
    assert described["containerInstances"] == [] and described["failures"][0]["reason"] == "MISSING"
    (cluster,) = ops.describe_clusters({"clusters": ["default"]})["clusters"]
    assert cluster["registeredContainerInstancesCount"] == 1
    assert all(POOL_CLUSTER not in arn for arn in ops.list_clusters({})["clusterArns"])


def test_run_task_fargate_places_on_the_pool_and_shows_what_ecs_shows(ops: Operations) -> None:
    pool = {pool_agent(ops, "fargate-1"), pool_agent(ops, "fargate-2", "us-east-1b")}
    out = run_fargate(ops, count=2)
    assert out["failures"] == []
    for task in out["tasks"]:
        assert task["launchType"] == "FARGATE"
        assert (task["platformVersion"], task["platformFamily"]) == ("1.4.0", "Linux")
        assert "containerInstanceArn" not in task  # as on ECS
        row = ops.ctx.store.get_task(task["taskArn"])
        assert row is not None and row.containerInstanceArn in pool
    described = ops.describe_tasks({"tasks": [t["taskArn"] for t in out["tasks"]]})["tasks"]
    assert all("containerInstanceArn" not in t and t["launchType"] == "FARGATE" for t in described)
    # The EC2 instance holds nothing: the pool took both tasks (256 CPU + 512 MiB each).
    (ec2,) = ops.describe_container_instances(
        {"containerInstances": ops.list_container_instances({})["containerInstanceArns"]}
    )["containerInstances"]
    assert ec2["runningTasksCount"] + ec2["pendingTasksCount"] == 0


def test_the_pool_fills_up_as_its_hosts_do(ops: Operations) -> None:
    # One pool host of 1024 CPU units: four tasks of 256 fit (4 x 256 = 1024), the fifth does not.
    pool_agent(ops, "fargate-1", cpu=1024, memory=8192)
    assert len(run_fargate(ops, count=4)["tasks"]) == 4
    full = run_fargate(ops)
    assert full["tasks"] == []
    (failure,) = full["failures"]
    assert failure["reason"].startswith("Capacity is unavailable at this time")
    assert POOL_CLUSTER not in str(failure)  # the pool's hosts are never named


def test_fargate_refusals_are_ecs_s(ops: Operations) -> None:
    def refused(req: dict[str, Any], words: str) -> None:
        with pytest.raises(ApiError) as info:
            ops.run_task(req)
        assert words in info.value.message, info.value.message

    base = {"taskDefinition": "web:1", "launchType": "FARGATE", "networkConfiguration": NETWORK}
    refused(base, "no Fargate capacity is registered")  # no pool agent yet
    pool_agent(ops, "fargate-1")
    refused(
        {**base, "placementStrategy": [{"type": "random"}]},
        "placementStrategy is not supported with launch type FARGATE",
    )
    refused({**base, "placementConstraints": [{"type": "distinctInstance"}]}, "placementConstraints is not supported")
    refused({**base, "platformVersion": "1.3.0"}, "platformVersion 1.3.0 is not supported here")
    refused({"taskDefinition": "web:1", "platformVersion": "LATEST"}, "The platform version must be null")
    ops.register_task_definition({"family": "bridge", "containerDefinitions": [container()]})
    refused({**base, "taskDefinition": "bridge"}, "Task definition does not support launch_type FARGATE.")
    refused({**base, "launchType": "EXTERNAL"}, "launchType EXTERNAL is not supported")
    # LATEST and 1.4.0 are the platform here.
    assert run_fargate(ops, platformVersion="LATEST")["tasks"][0]["platformVersion"] == "1.4.0"
    assert run_fargate(ops, platformVersion="1.4.0")["tasks"][0]["platformVersion"] == "1.4.0"


def test_a_fargate_service_runs_on_the_pool(ops: Operations) -> None:
    pool = {pool_agent(ops, "fargate-1"), pool_agent(ops, "fargate-2", "us-east-1b")}
    svc = ops.create_service(
        {
            "serviceName": "web",
            "taskDefinition": "web:1",
            "desiredCount": 3,
            "launchType": "FARGATE",
            "networkConfiguration": NETWORK,
        }
    )["service"]
    assert (svc["launchType"], svc["platformVersion"], svc["platformFamily"]) == ("FARGATE", "LATEST", "Linux")
    assert svc["deployments"][0]["launchType"] == "FARGATE"
    ServiceController(ops.ctx).reconcile("default", "web")
    tasks = ops.describe_tasks({"tasks": ops.list_tasks({"serviceName": "web"})["taskArns"]})["tasks"]
    assert len(tasks) == 3
    assert all(t["launchType"] == "FARGATE" and "containerInstanceArn" not in t for t in tasks)
    rows = [ops.ctx.store.get_task(t["taskArn"]) for t in tasks]
    assert {r.containerInstanceArn for r in rows if r is not None} == pool  # spread over both zones
    with pytest.raises(ApiError, match="placementStrategy is not supported with launch type FARGATE"):
        ops.update_service({"service": "web", "placementStrategy": [{"type": "random"}]})
    with pytest.raises(ApiError, match="DAEMON scheduling strategy is not supported with launch type FARGATE"):
        ops.create_service(
            {"serviceName": "d", "taskDefinition": "web:1", "launchType": "FARGATE", "schedulingStrategy": "DAEMON",
             "networkConfiguration": NETWORK}
        )  # fmt: skip


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "data", executor_factory=FakeExecutor)
    cluster.start_agents(1)
    cluster.start_fargate_agents(2)
    yield cluster
    cluster.close()


def test_pool_agents_run_fargate_tasks_through_the_normal_agent_path(local: LocalCluster) -> None:
    local.api("POST", "/v1/task-definitions", FARGATE_WEB)
    out = local.api(
        "POST",
        "/v1/clusters/default/tasks",
        {"taskDefinition": "web:1", "launchType": "FARGATE", "networkConfiguration": NETWORK, "count": 2},
    )
    ids = [t["taskArn"].rsplit("/", 1)[-1] for t in out["tasks"]]
    assert len(ids) == 2

    def running() -> list[dict[str, Any]] | None:
        tasks = [local.api("GET", f"/v1/clusters/default/tasks/{i}")["tasks"][0] for i in ids]
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = wait_for(running, 30, what="both FARGATE tasks RUNNING")
    assert all("containerInstanceArn" not in t for t in tasks)
    # The containers run on the pool's agents, never on the EC2 one.
    pool_agents = [r.agent for name, r in local.agents.items() if name.startswith("fargate-")]
    ec2 = local.agents["agent-1"].agent
    started = [spec.name for a in pool_agents for spec in a.worker.executor.runs]  # type: ignore[union-attr]
    # (beside the awsvpc sandbox that holds each task's network namespace)
    assert sorted(n for n in started if n.endswith("-app")) == sorted(f"orch-{i}-app" for i in ids)
    assert ec2.worker is not None and ec2.worker.executor.runs == []  # type: ignore[attr-defined]
    listed = local.api("GET", "/v1/clusters/default/container-instances")
    assert [i["attributes"] for i in listed["containerInstances"] if "fargate" in str(i["attributes"])] == []
    assert len(listed["containerInstances"]) == 1
