"""Rolling deployments on real containers: v1 -> v2 under 100/200 and 50/100 with the bounds sampled
throughout, a broken v3 failed by the circuit breaker and rolled back (through `svc update --wait`),
a revision whose health check fails, and the draining of an instance.

Task definitions stop in 1 s (stopTimeout) and the control plane's health grace is 1 s, so each
rollout takes seconds. Counts are sampled through the REST API by `BoundsSampler`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.deployment_checks import BoundsSampler, is_healthy, revision, settled_on

REPO = Path(__file__).resolve().parents[2]
ORCH = str(Path(sys.executable).with_name("orchestrator"))
SVC = "/v1/clusters/default/services"
# busybox `sleep` as PID 1 ignores SIGTERM, so only the SIGKILL after stopTimeout ends it.
IGNORES_SIGTERM = ["sleep", "3600"]
# A shell that exits 0 on SIGTERM (the trap runs once the current 0.2 s sleep returns).
TRAPS_SIGTERM = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


@pytest.fixture
def cluster(docker_cluster: LocalCluster) -> LocalCluster:
    docker_cluster.start_agents(3)
    return docker_cluster


def register(c: LocalCluster, family: str = "web", **container: Any) -> str:
    return c.register(family, stopTimeout=1, **container)


def create(c: LocalCluster, name: str, td: str, desired: int, **req: Any) -> dict[str, Any]:
    svc: dict[str, Any] = c.api(
        "POST", SVC, {"serviceName": name, "taskDefinition": td, "desiredCount": desired, **req}
    )["service"]
    first = svc["deployments"][0]["id"]
    wait_for(
        lambda: settled_on(c.service(name), first) and len(healthy_tasks(c, name)) == desired,
        60,
        what=f"{desired} healthy tasks of {td}",
    )
    return c.service(name)


def healthy_tasks(c: LocalCluster, name: str) -> list[dict[str, Any]]:
    now = time.time()
    return [t for t in c.tasks(name) if is_healthy(t, now, c.settings.health_grace_s)]


def stopped_tasks(c: LocalCluster, name: str) -> list[dict[str, Any]]:
    """Tasks told to stop (desiredStatus STOPPED), stopped or still stopping."""
    return c.tasks(name, desired="STOPPED")


def sampler(c: LocalCluster, name: str) -> BoundsSampler:
    return BoundsSampler(c.url, c.plane.admin_token, name, grace_s=c.settings.health_grace_s)


def cli(c: LocalCluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCH_SERVER": c.url, "ORCH_TOKEN": c.plane.admin_token, "COLUMNS": "200"}
    return subprocess.run(
        [ORCH, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, check=False
    )


@pytest.mark.parametrize(
    ("min_pct", "max_pct", "v1_command", "max_tasks", "min_healthy"),
    [
        # 6 tasks at 100/200: floor(6 x 2) = 12 at most, ceil(6 x 1) = 6 healthy at least.
        (100, 200, TRAPS_SIGTERM, 12, 6),
        # 6 tasks at 50/100: floor(6 x 1) = 6 at most, ceil(6 x 0.5) = 3 healthy at least.
        (50, 100, IGNORES_SIGTERM, 6, 3),
    ],
)
def test_six_tasks_roll_from_v1_to_v2_within_the_bounds(
    cluster: LocalCluster, min_pct: int, max_pct: int, v1_command: list[str], max_tasks: int, min_healthy: int
) -> None:
    c = cluster
    v1 = register(c, command=v1_command)
    v2 = register(c, command=IGNORES_SIGTERM)
    create(c, "web", v1, 6, deploymentConfiguration={"minimumHealthyPercent": min_pct, "maximumPercent": max_pct})
    old = {t["taskArn"] for t in c.tasks("web")}
    with sampler(c, "web") as s:
        svc = c.api("PATCH", f"{SVC}/web", {"taskDefinition": v2})["service"]
        deployment = svc["deployments"][0]["id"]
        assert [d["status"] for d in svc["deployments"]] == ["PRIMARY", "ACTIVE"]
        wait_for(lambda: settled_on(c.service("web"), deployment), 90, what=f"deployment {deployment} to complete")
        wait_for(lambda: len(healthy_tasks(c, "web")) == 6, 30, what="6 healthy tasks")
    most, fewest = s.check(max_tasks, min_healthy)
    # The rollout used the room it had: above 6 under 200 %, below 6 healthy under 50 %.
    assert most > 6 if max_pct == 200 else fewest < 6, (most, fewest)
    assert {revision(t) for t in c.tasks("web")} == {v2}

    stopped = [t for t in stopped_tasks(c, "web") if t["taskArn"] in old]
    assert len(stopped) == 6
    for t in stopped:
        assert (t["lastStatus"], t["stopCode"], t["stoppedReason"]) == (
            "STOPPED",
            "ServiceSchedulerInitiated",
            f"Scaling activity initiated by (deployment {deployment})",
        )
        exit_code = t["containers"][0]["exitCode"]
        if v1_command is TRAPS_SIGTERM:
            assert exit_code == 0  # SIGTERM came first, and the container used it
        else:
            # SIGTERM ignored: SIGKILL (128 + 9) after the task definition's stopTimeout of 1 s.
            assert exit_code == 137
            assert t["stoppedAt"] - t["stoppingAt"] >= 1.0
    events = [e["message"] for e in c.service("web")["events"]]
    assert f"(service web) (deployment {deployment}) deployment completed." in events
    assert events[0] == "(service web) has reached a steady state."


def test_a_broken_revision_fails_rolls_back_and_svc_update_wait_says_so(cluster: LocalCluster) -> None:
    c = cluster
    v2 = register(c, command=IGNORES_SIGTERM)
    v3 = register(c, command=["sh", "-c", "exit 3"])
    before = create(c, "web", v2, 6)
    completed = before["deployments"][0]["id"]
    old = {t["taskArn"] for t in c.tasks("web")}
    with sampler(c, "web") as s:
        proc = cli(c, "svc", "update", "web", "--taskdef", v3, "--circuit-breaker", "rollback", "--wait", "-o", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    final = json.loads(proc.stdout)["services"][0]
    # It prints the settled state: back on v2, one deployment (the revived one), all 6 running.
    assert revision(final["taskDefinition"]) == v2
    assert [(d["id"], d["status"], d["rolloutState"]) for d in final["deployments"]] == [
        (completed, "PRIMARY", "COMPLETED")
    ]
    assert final["runningCount"] == 6
    s.check(12, 6)  # v2 kept every task the whole time: 6 + 6 new at most, 6 healthy at least
    assert {t["taskArn"] for t in healthy_tasks(c, "web")} == old

    events = [e["message"] for e in final["events"]]
    failed = next(m for m in events if "deployment failed" in m)
    assert failed.startswith("(service web) (deployment ecs-svc/") and failed.endswith(
        ") deployment failed: tasks failed to start."
    )
    assert f"(service web) rolling back to deployment {completed}." in events
    broken = [t for t in stopped_tasks(c, "web") if revision(t) == v3]
    # threshold max(3, ceil(0.5 x 6)) = 3 failed tasks trip the breaker
    assert len([t for t in broken if t["stopCode"] in ("EssentialContainerExited", "TaskFailedToStart")]) >= 3
    assert any(t["containers"][0].get("exitCode") == 3 for t in broken)


def test_a_revision_failing_its_health_check_has_its_tasks_replaced_and_counted(cluster: LocalCluster) -> None:
    c = cluster
    v1 = register(c, command=IGNORES_SIGTERM)
    # ECS's smallest interval is 5 s; no start period and 1 retry: UNHEALTHY after the first check.
    v2 = register(
        c,
        command=IGNORES_SIGTERM,
        healthCheck={"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1, "startPeriod": 0},
    )
    create(c, "web", v1, 2)
    with sampler(c, "web") as s:
        svc = c.api("PATCH", f"{SVC}/web", {"taskDefinition": v2})["service"]
        deployment = svc["deployments"][0]["id"]

        def failed_and_replaced() -> bool:
            mine: dict[str, Any] = next((d for d in c.service("web")["deployments"] if d["id"] == deployment), {})
            started = stopped_tasks(c, "web") + c.tasks("web")
            # 2 failed and counted, and more than the first 2 tasks of v2 started since
            return mine.get("failedTasks", 0) >= 2 and len([t for t in started if revision(t) == v2]) > 2

        wait_for(failed_and_replaced, 60, what="v2 tasks failing their health check to be counted and replaced")
    s.check(4, 2)  # 2 x 200 % = 4 at most; the 2 v1 tasks stay healthy throughout
    stopped = [t for t in stopped_tasks(c, "web") if revision(t) == v2 and t["lastStatus"] == "STOPPED"]
    assert len(stopped) >= 2
    for t in stopped:
        assert (t["stopCode"], t["stoppedReason"]) == (
            "ServiceSchedulerInitiated",
            "Task failed container health checks",
        )
        assert (t["healthStatus"], t["containers"][0]["healthStatus"]) == ("UNHEALTHY", "UNHEALTHY")
    assert {revision(t) for t in healthy_tasks(c, "web")} == {v1}
    primary = c.service("web")["deployments"][0]
    assert (primary["id"], primary["rolloutState"]) == (deployment, "IN_PROGRESS")


def test_draining_an_instance_moves_its_service_tasks_within_the_bounds(cluster: LocalCluster) -> None:
    c = cluster
    td = register(c, command=IGNORES_SIGTERM)
    create(c, "web", td, 6)
    drained = c.instance_id("agent-1")
    on_drained = {t["taskArn"] for t in c.tasks("web") if t["containerInstanceArn"].endswith(drained)}
    assert len(on_drained) == 2  # 6 tasks over 3 zones of one instance each
    standalone = c.api(
        "POST", "/v1/clusters/default/tasks/start", {"taskDefinition": td, "containerInstances": [drained]}
    )["tasks"][0]
    standalone_path = "/v1/clusters/default/tasks/" + standalone["taskArn"].rsplit("/", 1)[-1]
    wait_for(
        lambda: c.api("GET", standalone_path)["tasks"][0]["lastStatus"] == "RUNNING",
        30,
        what="the standalone task to run",
    )
    with sampler(c, "web") as s:
        proc = cli(c, "instance", "drain", drained)
        assert proc.returncode == 0, proc.stdout + proc.stderr

        def moved() -> bool:
            tasks = c.tasks("web")
            return (
                not [t for t in tasks if t["containerInstanceArn"].endswith(drained)]
                and len(healthy_tasks(c, "web")) == 6
                and c.service("web")["runningCount"] == 6
            )

        wait_for(moved, 60, what="the drained instance's service tasks to move")
        wait_for(
            lambda: [t["lastStatus"] for t in stopped_tasks(c, "web")] == ["STOPPED"] * 2,
            30,
            what="the 2 replaced tasks to stop",
        )
    s.check(12, 6)  # default 100/200 for 6 tasks: start the 2 elsewhere first, then stop
    assert {t["taskArn"] for t in stopped_tasks(c, "web")} == on_drained
    kept = c.api("GET", standalone_path)["tasks"][0]
    assert (kept["desiredStatus"], kept["lastStatus"]) == ("RUNNING", "RUNNING")  # standalone tasks stay
    instance = c.api("GET", f"/v1/clusters/default/container-instances/{drained}")["containerInstances"][0]
    assert instance["status"] == "DRAINING"
