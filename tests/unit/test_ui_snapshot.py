"""The dashboard's cluster view: the figures it adds are the controllers' own."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api.ui.snapshot import cluster_view
from tests.builders import control_plane, instance, service, task_definition


def test_instances_by_zone_with_usage_and_tasks_with_their_instance(tmp_path: Path) -> None:
    ops = control_plane(tmp_path)
    a = instance(ops, "agent-1", "us-east-1a", cpu=1024, memory=1024, rack="r1")
    b = instance(ops, "agent-2", "us-east-1b", cpu=1024, memory=1024)
    td = task_definition(ops, "batch", cpu=128, memory=64)
    placed = ops.run_task({"taskDefinition": td, "count": 2})["tasks"]
    view = cluster_view(ops.ctx.store, "default")
    assert view["zones"] == ["us-east-1a", "us-east-1b"]
    assert [i["arn"] for i in view["instances"]] == [a, b]
    # Wherever the scheduler put them, two tasks of 128 units / 64 MiB use 2 x 128 and 2 x 64 in all.
    assert sum(i["cpu"]["used"] for i in view["instances"]) == 256
    assert sum(i["memory"]["used"] for i in view["instances"]) == 128
    assert all(i["cpu"]["registered"] == 1024 for i in view["instances"])
    # Custom attributes are shown; the built-in ones are the box's name, type and heading.
    assert view["instances"][0]["attributes"] == {"rack": "r1"}
    assert view["instances"][0]["name"] == "agent-1"
    by_arn = {t["arn"]: t for t in view["tasks"]}
    assert set(by_arn) == {t["taskArn"] for t in placed}
    for t in placed:
        assert by_arn[t["taskArn"]]["containerInstanceArn"] == t["containerInstanceArn"]
        assert by_arn[t["taskArn"]]["taskDefinition"] == "batch:1"
        assert by_arn[t["taskArn"]]["service"] is None


@pytest.mark.parametrize(
    ("desired", "minimum_healthy", "maximum", "bounds", "threshold"),
    [
        # floor(6 x 200 / 100) = 12 at most; ceil(6 x 100 / 100) = 6 healthy; breaker max(3, ceil(6 / 2)) = 3.
        (6, 100, 200, {"maximum": 12, "minimumHealthy": 6}, 3),
        # floor(3 x 150 / 100) = 4; ceil(3 x 50 / 100) = 2; breaker at least 3.
        (3, 50, 150, {"maximum": 4, "minimumHealthy": 2}, 3),
        # floor(10 x 100 / 100) = 10; ceil(10 x 0 / 100) = 0; breaker ceil(10 / 2) = 5.
        (10, 0, 100, {"maximum": 10, "minimumHealthy": 0}, 5),
    ],
)
def test_service_bounds_and_breaker_threshold(
    tmp_path: Path, desired: int, minimum_healthy: int, maximum: int, bounds: dict[str, int], threshold: int
) -> None:
    ops = control_plane(tmp_path)
    instance(ops, "agent-1", "us-east-1a")
    task_definition(ops, "web")
    config = {
        "minimumHealthyPercent": minimum_healthy,
        "maximumPercent": maximum,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    service(ops, "web", desired=desired, deploymentConfiguration=config)
    (svc,) = cluster_view(ops.ctx.store, "default")["services"]
    assert svc["bounds"] == bounds
    assert svc["circuitBreaker"] == {"enable": True, "rollback": True, "failedTasks": 0, "threshold": threshold}
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY"]
    assert svc["arn"].endswith(":service/default/web")
