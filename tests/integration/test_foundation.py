"""The foundation end to end on real containers: zone spread, replacement of a killed container,
scale to zero, adoption after an agent restart, and bad input that changes nothing."""

from __future__ import annotations

import collections

import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for


def _task_containers(executor: DockerExecutor, tasks: list[dict]) -> list:
    ids = {t["taskArn"].rsplit("/", 1)[-1] for t in tasks}
    return [s for s in executor.list({"orch.managed": "true"}) if s.labels.get("orch.task") in ids]


@pytest.fixture
def web(docker_cluster: LocalCluster) -> LocalCluster:
    """3 agents in 3 zones running a service `web` of 6 busybox httpd tasks."""
    c = docker_cluster
    c.start_agents(3)
    td = c.register("web", image="orch/web:latest", command=None, portMappings=[{"containerPort": 80}])
    c.api("POST", "/v1/clusters/default/services", {"serviceName": "web", "taskDefinition": td, "desiredCount": 6})
    wait_for(lambda: len(c.running("web")) == 6, 60, what="6 RUNNING tasks")
    return c


def test_six_tasks_spread_two_per_zone_on_real_containers(web: LocalCluster, docker_executor: DockerExecutor) -> None:
    running = web.running("web")
    # 6 tasks, 3 zones of one instance each: the zone spread gives 6 / 3 = 2 per zone.
    assert sorted(collections.Counter(t["availabilityZone"] for t in running).values()) == [2, 2, 2]
    containers = _task_containers(docker_executor, running)
    assert len(containers) == 6 and all(s.running for s in containers)


def test_killed_container_is_replaced_and_scale_to_zero_leaves_none(
    web: LocalCluster, docker_executor: DockerExecutor
) -> None:
    before = web.running("web")
    victim = _task_containers(docker_executor, before)[0]
    docker_executor.stop(victim.id, 0)  # SIGKILL at once, as `docker kill` does
    victim_task = victim.labels["orch.task"]

    def replaced() -> bool:
        running = web.running("web")
        ids = {t["taskArn"].rsplit("/", 1)[-1] for t in running}
        return len(running) == 6 and victim_task not in ids

    wait_for(replaced, 60, what="a replacement for the killed task")
    stopped = web.api("GET", "/v1/clusters/default/tasks/" + victim_task)["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["containers"][0]["exitCode"] == 137  # 128 + SIGKILL (9)
    events = [e["message"] for e in web.service("web")["events"]]
    assert any("has started 1 tasks" in m for m in events)

    all_tasks = before + web.running("web")
    web.api("PATCH", "/v1/clusters/default/services/web", {"desiredCount": 0})
    wait_for(
        lambda: not [s for s in _task_containers(docker_executor, all_tasks) if s.running],
        60,
        what="no running task container",
    )
    wait_for(lambda: web.service("web")["runningCount"] == 0, 30, what="runningCount 0")


def test_agent_restart_adopts_the_same_containers(web: LocalCluster, docker_executor: DockerExecutor) -> None:
    on_agent = web.instance_id("agent-1")
    mine = [t for t in web.running("web") if t["containerInstanceArn"].endswith(on_agent)]
    before = {s.labels["orch.task"]: s.id for s in _task_containers(docker_executor, mine)}
    assert len(before) == 2
    web.stop_agent("agent-1")
    web.start_agent("agent-1", "us-east-1a")
    assert web.instance_id("agent-1") == on_agent  # the same container instance came back

    def adopted() -> bool:
        running = [t for t in web.running("web") if t["containerInstanceArn"].endswith(on_agent)]
        return {t["taskArn"].rsplit("/", 1)[-1] for t in running} == set(before)

    wait_for(adopted, 30, what="the agent to report its adopted tasks")
    after = {s.labels["orch.task"]: s.id for s in _task_containers(docker_executor, mine)}
    assert after == before  # same container ids, none duplicated
    assert len(web.running("web")) == 6


def test_bad_task_definition_is_rejected_and_nothing_is_stored(docker_cluster: LocalCluster) -> None:
    c = docker_cluster
    bad = {"family": "bad", "containerDefinitions": [{"name": "app", "image": "", "memory": 32}]}
    resp = c.http.post("/v1/task-definitions", json=bad)
    assert resp.status_code == 400
    assert resp.json()["code"] == "ClientException"
    assert "image" in resp.json()["message"]
    assert c.api("GET", "/v1/task-definitions", familyPrefix="bad")["taskDefinitionArns"] == []
