"""Each case of issue 14's "Why", over real HTTP on loopback: a hostile client (an agent with a
credential, a join-token holder, an admin, an ECS caller) sends a wrongly typed, out-of-range or
non-Unicode member; the control plane refuses it with a 4xx that names the member, stores
nothing, and every read keeps answering, also after a restart on the same data dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.local import LocalCluster
from tests.reliability.hostile import Hand, ecs, hand, healthy_reads, plane, raw, register

SURROGATE = "\ud800"


def _placed_task(c: LocalCluster, h: Hand) -> str:
    td = c.register("why", memory=64)
    tasks = c.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": td, "count": 1})["tasks"]
    assert tasks and tasks[0]["containerInstanceArn"] == h.arn
    return str(tasks[0]["taskArn"])


def _all_ok(c: LocalCluster, h: Hand | None = None) -> None:
    statuses = healthy_reads(c, h)
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("exitCode", "abc"),  # an int in the model: "abc" was copied in and broke every read of the task
        ("runtimeId", [1, 2]),  # a string
        ("reason", SURROGATE),  # a lone UTF-16 surrogate: valid JSON (as an escape), not valid Unicode
        ("exitCode", 2**63),  # past SQLite's and ECS's integer range
        ("networkBindings", [{"containerPort": "x", "hostPort": 1}]),
    ],
)
def test_a_wrongly_typed_container_report_is_refused_and_the_cluster_keeps_answering(
    tmp_path: Path, member: str, value: Any
) -> None:
    with plane(tmp_path / "data") as c:
        h = hand(c)
        task = _placed_task(c, h)
        report = {"taskArn": task, "lastStatus": "RUNNING", "containers": [{"name": "app", member: value}]}
        resp = raw(c, "POST", "/v1/agent/task-states", json.dumps({"tasks": [report]}), admin=False, **h.headers)
        assert resp.status_code == 400, resp.text
        assert member in resp.json()["message"]
        # Nothing of the report was applied, not even its valid lastStatus.
        assert (
            c.api("GET", f"/v1/clusters/default/tasks/{task.rsplit('/', 1)[-1]}")["tasks"][0]["lastStatus"] != "RUNNING"
        )
        _all_ok(c, h)
        resp = c.http.post("/v1/clusters/default/tasks", json={"taskDefinition": "why", "count": 1})
        assert resp.status_code == 200, resp.text
    with plane(tmp_path / "data") as again:  # the same data dir, a new control plane
        _all_ok(again)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("startedAt", "yesterday"),  # a timestamp
        ("stoppedReason", SURROGATE),
        ("lastStatus", ["RUNNING"]),
        ("containers", "all of them"),
    ],
)
def test_a_wrongly_typed_task_report_is_refused(tmp_path: Path, member: str, value: Any) -> None:
    with plane(tmp_path / "data") as c:
        h = hand(c)
        task = _placed_task(c, h)
        report = {"taskArn": task, "lastStatus": "RUNNING", member: value}
        resp = raw(c, "POST", "/v1/agent/task-states", json.dumps({"tasks": [report]}), admin=False, **h.headers)
        assert resp.status_code == 400, resp.text
        assert member in resp.json()["message"]
        _all_ok(c, h)


@pytest.mark.parametrize(
    ("member", "value"),
    [("agentVersion", SURROGATE), ("dockerVersion", 12), ("name", "x" * 10_000), ("cpu", 10**30), ("memory", -1)],
)
def test_a_bad_registration_is_refused(tmp_path: Path, member: str, value: Any) -> None:
    with plane(tmp_path / "data") as c:
        resp = register(c, **{member: value})
        assert resp.status_code == 400, resp.text
        assert member in resp.json()["message"]
        assert c.api("GET", "/v1/clusters/default/container-instances", expect=400 if False else 200) is not None
        _all_ok(c)


def test_a_lone_surrogate_in_a_task_definition_env_name_is_refused(tmp_path: Path) -> None:
    body = {
        "family": "surrogate",
        "containerDefinitions": [
            {"name": "app", "image": "orch/busybox", "memory": 64, "environment": [{"name": SURROGATE, "value": "v"}]}
        ],
    }
    with plane(tmp_path / "data") as c:
        resp = raw(c, "POST", "/v1/task-definitions", json.dumps(body))
        assert resp.status_code == 400, resp.text
        client = ecs(c)
        resp = client.call("RegisterTaskDefinition", json.dumps(body))
        assert resp.status_code == 400, resp.text
        _all_ok(c)
    with plane(tmp_path / "data") as again:
        _all_ok(again)


def test_a_lone_surrogate_in_a_credential_description_is_refused(tmp_path: Path) -> None:
    with plane(tmp_path / "data") as c:
        resp = raw(c, "POST", "/v1/credentials", json.dumps({"description": SURROGATE}))
        assert resp.status_code == 400, resp.text
        assert "description" in resp.json()["message"]
        _all_ok(c)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListTaskDefinitions", _nested(100_000)),
        ("ListTaskDefinitions", '{"maxResults": ' + "9" * 4301 + "}"),
        ("DescribeTaskDefinition", json.dumps({"taskDefinition": "why:" + "9" * 25})),
        ("DescribeTaskDefinition", json.dumps({"taskDefinition": f"why:{2**63}"})),
        ("ListTaskDefinitions", json.dumps({"familyPrefix": "f" * 60_000})),
        ("ListClusters", json.dumps({"nextToken": SURROGATE})),
        ("DescribeClusters", json.dumps({"clusters": [SURROGATE]})),
        ("DescribeClusters", '{"clusters": ["default"], "include": NaN}'),
        (
            "RegisterTaskDefinition",
            json.dumps({"family": "inf", "cpu": "inf vcpu", "containerDefinitions": [{"name": "a", "image": "i"}]}),
        ),
        (
            "RegisterTaskDefinition",
            json.dumps({"family": "nan", "cpu": "nan vcpu", "containerDefinitions": [{"name": "a", "image": "i"}]}),
        ),
        (
            "RegisterTaskDefinition",
            json.dumps({"family": "neg", "memory": "-1 GB", "containerDefinitions": [{"name": "a", "image": "i"}]}),
        ),
        (
            "RegisterTaskDefinition",
            json.dumps({"family": "big", "memory": "1e300 GB", "containerDefinitions": [{"name": "a", "image": "i"}]}),
        ),
    ],
)
def test_hostile_ecs_requests_get_a_4xx(tmp_path: Path, operation: str, body: str) -> None:
    with plane(tmp_path / "data") as c:
        c.register("why", memory=64)
        client = ecs(c)
        resp = client.call(operation, body)
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.json()["__type"]
        _all_ok(c)
        assert client.call("ListClusters", "{}").status_code == 200


def test_event_offsets_past_sqlites_integer_range_get_a_4xx(tmp_path: Path) -> None:
    with plane(tmp_path / "data") as c:
        td = c.register("why", memory=64)
        c.api("POST", "/v1/clusters/default/services", {"serviceName": "web", "taskDefinition": td, "desiredCount": 0})
        resp = c.http.get("/v1/clusters/default/services/web/events", params={"after": str(2**63)})
        assert 400 <= resp.status_code < 500, resp.text
        resp = c.http.get(f"/v1/task-definitions/why:{2**64}")
        assert 400 <= resp.status_code < 500, resp.text
        _all_ok(c)


def test_negative_memory_does_not_grow_an_instance(tmp_path: Path) -> None:
    """`memory: "-1 GB"` was taken as -1024 MiB: ten such tasks raised remaining memory from 1,024 to 11,248."""
    with plane(tmp_path / "data") as c:
        hand(c)
        body = {"family": "neg", "memory": "-1 GB", "containerDefinitions": [{"name": "a", "image": "orch/busybox"}]}
        resp = c.http.post("/v1/task-definitions", json=body)
        assert resp.status_code == 400, resp.text
        assert "memory" in resp.json()["message"]
        inst = c.api("GET", "/v1/clusters/default/container-instances")["containerInstances"][0]
        remaining = {r["name"]: r.get("integerValue") for r in inst["remainingResources"]}
        assert remaining["MEMORY"] == 1024


@pytest.mark.parametrize("pattern", ["%", "_" * 32, "%/%"])
def test_stop_task_matches_ids_exactly_never_as_patterns(tmp_path: Path, pattern: str) -> None:
    with plane(tmp_path / "data") as c:
        h = hand(c)
        task = _placed_task(c, h)
        resp = c.http.post("/v1/clusters/default/tasks/stop", json={})  # a path of its own, not a task id
        client = ecs(c)
        resp = client.call("StopTask", {"cluster": "default", "task": pattern})
        assert resp.status_code == 400, resp.text
        resp = client.call("DescribeTasks", {"cluster": "default", "tasks": [pattern]})
        assert resp.status_code == 200 and resp.json()["tasks"] == []
        assert (
            c.api("GET", f"/v1/clusters/default/tasks/{task.rsplit('/', 1)[-1]}")["tasks"][0]["desiredStatus"]
            == "RUNNING"
        )
        # Deregistering by a pattern of an instance id finds nothing either.
        resp = client.call(
            "DeregisterContainerInstance", {"cluster": "default", "containerInstance": "%", "force": True}
        )
        assert 400 <= resp.status_code < 500, resp.text
        assert httpx.get(c.url + "/v1/agent/assignments?wait=0", headers=h.headers).status_code == 200
