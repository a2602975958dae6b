"""Bad input gets a 4xx-class ApiError naming the field, and changes nothing; good input works."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import ApiError
from orchestrator.operations import Operations
from tests.builders import container, control_plane, instance, report_running, service, task_definition


def _db_digest(ops: Operations) -> str:
    """Every row of every table, so 'nothing changed' is checked, not assumed."""
    store = ops.ctx.store
    h = hashlib.sha256()
    with store.read():
        for table in (
            "clusters",
            "task_definitions",
            "services",
            "tasks",
            "container_instances",
            "events",
            "documents",
        ):
            for row in store._rows(f"SELECT * FROM {table} ORDER BY 1, 2"):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "a", "us-east-1a")
    task_definition(o, "web")
    service(o, "web", desired=1)
    return o


BAD: list[tuple[str, Callable[[Operations], Any], str, str]] = [
    (
        "taskdef without image",
        lambda o: o.register_task_definition({"family": "x", "containerDefinitions": [container(image="")]}),
        "ClientException",
        "image",
    ),
    (
        "taskdef negative memory",
        lambda o: o.register_task_definition({"family": "x", "containerDefinitions": [container(memory=-5)]}),
        "ClientException",
        "memory",
    ),
    (
        "taskdef cpu of the wrong type",
        lambda o: o.register_task_definition({"family": "x", "containerDefinitions": [container(cpu="lots")]}),
        "ClientException",
        "cpu",
    ),
    (
        "taskdef with no essential container",
        lambda o: o.register_task_definition({"family": "x", "containerDefinitions": [container(essential=False)]}),
        "ClientException",
        "essential",
    ),
    (
        "taskdef with neither memory nor reservation",
        lambda o: o.register_task_definition({"family": "x", "containerDefinitions": [container(memory=None)]}),
        "ClientException",
        "memoryReservation",
    ),
    (
        "taskdef reservation above memory",
        lambda o: o.register_task_definition(
            {"family": "x", "containerDefinitions": [container(memory=32, memoryReservation=64)]}
        ),
        "ClientException",
        "memoryReservation",
    ),
    (
        "taskdef without containers",
        lambda o: o.register_task_definition({"family": "x"}),
        "ClientException",
        "containerDefinitions",
    ),
    (
        "taskdef with a bad family",
        lambda o: o.register_task_definition({"family": "no spaces", "containerDefinitions": [container()]}),
        "ClientException",
        "family",
    ),
    (
        "taskdef health check interval out of range",
        lambda o: o.register_task_definition(
            {
                "family": "x",
                "containerDefinitions": [container(healthCheck={"command": ["CMD", "true"], "interval": 1})],
            }
        ),
        "ClientException",
        "interval",
    ),
    (
        "service on an unknown cluster",
        lambda o: o.create_service({"cluster": "nope", "serviceName": "s", "taskDefinition": "web:1"}),
        "ClusterNotFoundException",
        "Cluster not found.",
    ),
    (
        "service with a negative desired count",
        lambda o: o.create_service({"serviceName": "s", "taskDefinition": "web:1", "desiredCount": -1}),
        "InvalidParameterException",
        "desiredCount",
    ),
    (
        "service with an unknown task definition",
        lambda o: o.create_service({"serviceName": "s", "taskDefinition": "ghost:1"}),
        "ClientException",
        "TaskDefinition not found.",
    ),
    (
        "service that exists already",
        lambda o: o.create_service({"serviceName": "web", "taskDefinition": "web:1"}),
        "InvalidParameterException",
        "web",
    ),
    (
        "update of an unknown service",
        lambda o: o.update_service({"service": "ghost", "desiredCount": 2}),
        "ServiceNotFoundException",
        "Service not found.",
    ),
    (
        "update to a negative desired count",
        lambda o: o.update_service({"service": "web", "desiredCount": -3}),
        "InvalidParameterException",
        "desiredCount",
    ),
    (
        "update with maximumPercent below 100",
        lambda o: o.update_service({"service": "web", "deploymentConfiguration": {"maximumPercent": 50}}),
        "InvalidParameterException",
        "maximumPercent",
    ),
    (
        "memberOf that does not parse",
        lambda o: o.update_service(
            {"service": "web", "placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]}
        ),
        "InvalidParameterException",
        "position",
    ),
    (
        "six placement strategies",
        lambda o: o.update_service({"service": "web", "placementStrategy": [{"type": "random"}] * 6}),
        "InvalidParameterException",
        "5",
    ),
    (
        "binpack on a field that is not cpu or memory",
        lambda o: o.update_service({"service": "web", "placementStrategy": [{"type": "binpack", "field": "disk"}]}),
        "InvalidParameterException",
        "binpack",
    ),
    (
        "delete a scaled-up service without force",
        lambda o: o.delete_service({"service": "web"}),
        "InvalidParameterException",
        "desiredCount",
    ),
    (
        "run 11 tasks",
        lambda o: o.run_task({"taskDefinition": "web:1", "count": 11}),
        "InvalidParameterException",
        "count",
    ),
    (
        "describe 11 services",
        lambda o: o.describe_services({"services": ["a"] * 11}),
        "InvalidParameterException",
        "10",
    ),
    (
        "drain to an unknown status",
        lambda o: o.update_container_instances_state({"containerInstances": ["x"], "status": "PAUSED"}),
        "InvalidParameterException",
        "status",
    ),
    (
        "instance filter that does not parse",
        lambda o: o.list_container_instances({"filter": "(runningTasksCount == 1"}),
        "InvalidParameterException",
        "position",
    ),
    (
        "delete the default cluster while it has instances",
        lambda o: o.delete_cluster({"cluster": "default"}),
        "ClusterContainsContainerInstancesException",
        "instances",
    ),
]


@pytest.mark.parametrize(("case", "call", "code", "names"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(
    ops: Operations, case: str, call: Callable[[Operations], Any], code: str, names: str
) -> None:
    before = _db_digest(ops)
    with pytest.raises(ApiError) as err:
        call(ops)
    assert err.value.code == code, err.value.message
    assert 400 <= err.value.status < 500
    assert names in err.value.message, err.value.message
    assert _db_digest(ops) == before


def test_register_revisions_and_resolve_latest_active(tmp_path: Path) -> None:
    ops = control_plane(tmp_path)
    assert task_definition(ops, "app") == "app:1"
    assert task_definition(ops, "app") == "app:2"
    ops.deregister_task_definition({"taskDefinition": "app:2"})
    # The family alone resolves to the latest ACTIVE revision: 2 is INACTIVE, so 1.
    assert ops.describe_task_definition({"taskDefinition": "app"})["taskDefinition"]["revision"] == 1


def test_run_task_reports_ecs_failure_reasons(tmp_path: Path) -> None:
    ops = control_plane(tmp_path)
    instance(ops, "small", "us-east-1a", cpu=1024, memory=100)
    task_definition(ops, "big", memory=512)
    # 512 MiB needed, the only instance has 100: RESOURCE:MEMORY, naming the closest instance.
    result = ops.run_task({"taskDefinition": "big:1"})
    assert result["tasks"] == []
    assert result["failures"][0]["reason"] == "RESOURCE:MEMORY"
    assert "insufficient memory" in result["failures"][0]["detail"]


def test_default_cluster_exists_and_services_spread_over_zones(tmp_path: Path) -> None:
    ops = control_plane(tmp_path)
    for name, zone in (("a", "us-east-1a"), ("b", "us-east-1b"), ("c", "us-east-1c")):
        instance(ops, name, zone)
    task_definition(ops, "web")
    service(ops, "web", desired=6)
    from orchestrator.reconcile.services import ServiceController

    ServiceController(ops.ctx).reconcile("default", "web")
    tasks = ops.describe_tasks({"tasks": ops.list_tasks({"serviceName": "web"})["taskArns"]})["tasks"]
    zones = sorted(t["availabilityZone"] for t in tasks)
    # 6 tasks over 3 zones: 2 each.
    assert zones == ["us-east-1a"] * 2 + ["us-east-1b"] * 2 + ["us-east-1c"] * 2
    events = ops.service_events({"service": "web"})["events"]
    assert events[0]["message"].startswith("(service web) has started 6 tasks: (task ")


def test_list_tasks_pages_walk_every_task_once_oldest_first(tmp_path: Path) -> None:
    from orchestrator.reconcile.services import ServiceController

    ops = control_plane(tmp_path)
    instance(ops, "a", "us-east-1a", cpu=4096, memory=4096)
    task_definition(ops, "web")
    service(ops, "web", desired=5)
    service(ops, "api", desired=2)
    for name in ("web", "api"):
        ServiceController(ops.ctx).reconcile("default", name)
    first_api = ops.list_tasks({"serviceName": "api"})["taskArns"][:1]
    report_running(ops, ops.describe_tasks({"tasks": first_api})["tasks"][0])

    def walk(**filters: Any) -> tuple[list[str], int]:
        seen: list[str] = []
        token, pages = None, 0
        while True:
            page = ops.list_tasks({"maxResults": 2, **filters, **({"nextToken": token} if token else {})})
            seen += page["taskArns"]
            pages += 1
            if not (token := page.get("nextToken")):
                return seen, pages

    every, pages = walk()
    # 5 + 2 = 7 tasks in pages of 2: 4 pages, the last of 1; the same order as one page of 100.
    assert (len(every), len(set(every)), pages) == (7, 7, 4)
    assert every == ops.list_tasks({})["taskArns"]
    created = [t["createdAt"] for t in ops.describe_tasks({"tasks": every})["tasks"]]
    assert created == sorted(created)
    web, pages = walk(serviceName="web")
    assert (len(web), pages) == (5, 3)  # 2 + 2 + 1
    # PENDING: wanted RUNNING and not yet RUNNING: the one api task reported running is not listed.
    pending, _ = walk(desiredStatus="PENDING")
    assert len(pending) == 6 and set(pending) < set(every)
    assert ops.list_tasks({"maxResults": 2, "nextToken": "7"})["taskArns"] == []  # past the end: an empty page
