"""`svc plan` against the update it previews, on real containers: a service of 3 on three Docker
agents is scaled out, scaled in and redeployed (forceNewDeployment); for each change the plan is
taken through the REST API, the same change is made, and once the service has settled the tasks it
started (per instance) and the tasks it stopped (exactly which) must be the plan's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.deployment_checks import settled_on

SVC = "/v1/clusters/default/services"
# Exits at once on SIGTERM, so a stop takes no stopTimeout.
TRAPS_SIGTERM = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


@pytest.fixture
def cluster(docker_cluster: LocalCluster) -> LocalCluster:
    docker_cluster.start_agents(3)
    return docker_cluster


def all_tasks(c: LocalCluster) -> dict[str, dict[str, Any]]:
    return {t["taskArn"]: t for desired in ("RUNNING", "STOPPED") for t in c.tasks("web", desired=desired)}


def settled(c: LocalCluster, desired: int) -> bool:
    svc = c.service("web")
    live = [t for t in all_tasks(c).values() if t["lastStatus"] != "STOPPED"]
    return (
        settled_on(svc, svc["deployments"][0]["id"])
        and svc["desiredCount"] == desired
        and len(live) == desired
        and all(t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING" for t in live)
    )


def check_change(c: LocalCluster, desired: int, **req: Any) -> tuple[dict[str, int], set[str]]:
    """Plan `req`, make it, wait for the service to settle; assert they agree; return what happened."""
    before = all_tasks(c)
    plan = c.api("POST", f"{SVC}/web/plan", req)
    assert all_tasks(c) == before, "a plan changed the tasks"
    planned_starts = Counter(s["containerInstanceArn"] for step in plan["steps"] for s in step["starts"])
    planned_stops = {s["taskArn"] for step in plan["steps"] for s in step["stops"]}
    c.api("PATCH", f"{SVC}/web", req)
    wait_for(lambda: settled(c, desired), 60, what=f"web settled at {desired} RUNNING tasks")
    after = all_tasks(c)
    started = Counter(t["containerInstanceArn"] for arn, t in after.items() if arn not in before)
    stopped = {
        arn
        for arn, t in after.items()
        if t["desiredStatus"] == "STOPPED" and before.get(arn, t)["desiredStatus"] == "RUNNING"
    }
    assert (dict(started), stopped) == (dict(planned_starts), planned_stops)
    return dict(started), stopped


def test_plan_matches_the_update_on_real_containers(cluster: LocalCluster) -> None:
    c = cluster
    c.register("web", command=TRAPS_SIGTERM, stopTimeout=1)
    c.api("POST", SVC, {"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 3})
    wait_for(lambda: settled(c, 3), 60, what="web settled at 3 RUNNING tasks")

    # 3 -> 7 at 100/200: 4 more, at least one on each agent (spread over the 3 zones).
    started, stopped = check_change(c, 7, desiredCount=7)
    assert sum(started.values()) == 4 and len(started) == 3 and not stopped
    # 7 -> 2: 5 stop, none starts.
    started, stopped = check_change(c, 2, desiredCount=2)
    assert not started and len(stopped) == 5
    # A forced new deployment of the same revision replaces both tasks.
    survivors = {arn for arn, t in all_tasks(c).items() if t["desiredStatus"] == "RUNNING"}
    started, stopped = check_change(c, 2, forceNewDeployment=True)
    assert sum(started.values()) == 2 and stopped == survivors
