"""ECS's error codes and messages for the common refusals, word for word, on the wire and on REST.

Scripts match on these (`except ecs.exceptions.ClusterNotFoundException`, `grep "Service not
found."`), so each row is one call, the code and message we answer, and in a comment where ECS's
own wording was taken from: an error a user pasted from real ECS into an issue. Rows marked "by
analogy" have no such report for that very call; they use the wording ECS gives the nearest call
that has one. The REST API shares the operations, so it must answer the same code and message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from fastapi.testclient import TestClient

from orchestrator.api.aws.ecs import EcsEndpoint
from orchestrator.core.clock import FakeClock
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from orchestrator.server import ControlPlane
from tests.unit.test_ecs_adapter import START, call

TD = {"family": "web", "containerDefinitions": [{"name": "web", "image": "orch/web", "memory": 64}]}
CREATE = {"serviceName": "api", "desiredCount": 0}

# (case, operation, request, code, message). Set-up (below): cluster `default` with no container
# instance, task definition web:1 INACTIVE and web:2 ACTIVE, service `api` ACTIVE, service `old` deleted.
TABLE: list[tuple[str, str, dict[str, Any], str, str]] = [
    # https://github.com/hashicorp/terraform/pull/15073 (ECS's raw body for an unknown service) and
    # https://github.com/github-developer/octochat-aws/issues/9 ("Cluster not found.").
    (
        "unknown cluster",
        "DescribeServices",
        {"cluster": "nope", "services": ["api"]},
        "ClusterNotFoundException",
        "Cluster not found.",
    ),
    # https://github.com/aws/aws-sdk-js/issues/3118 (ClusterNotFoundException from ECS): by analogy for these calls.
    ("unknown cluster", "ListServices", {"cluster": "nope"}, "ClusterNotFoundException", "Cluster not found."),
    (
        "unknown cluster",
        "RunTask",
        {"cluster": "nope", "taskDefinition": "web"},
        "ClusterNotFoundException",
        "Cluster not found.",
    ),
    ("unknown cluster", "DeleteCluster", {"cluster": "nope"}, "ClusterNotFoundException", "Cluster not found."),
    # https://github.com/hashicorp/terraform/pull/15073, UpdateService's raw body:
    # {"__type":"ServiceNotFoundException","message":"Service not found."}
    (
        "unknown service",
        "UpdateService",
        {"service": "ghost", "desiredCount": 1},
        "ServiceNotFoundException",
        "Service not found.",
    ),
    # https://github.com/turbot/steampipe-plugin-aws/issues/1415:
    # ListTasks, "ServiceNotFoundException: Service not found."
    ("unknown service", "ListTasks", {"serviceName": "ghost"}, "ServiceNotFoundException", "Service not found."),
    # By analogy with UpdateService.
    ("unknown service", "DeleteService", {"service": "ghost"}, "ServiceNotFoundException", "Service not found."),
    # https://github.com/Nextdoor/kingpin/pull/493 and the UpdateService reference: a deleted service is not ACTIVE.
    (
        "deleted service",
        "UpdateService",
        {"service": "old", "desiredCount": 1},
        "ServiceNotActiveException",
        "Service was not ACTIVE.",
    ),
    # https://github.com/sil-org/ecs-deploy/issues/145 and https://github.com/hashicorp/terraform/pull/12609:
    # "(ClientException) when calling the DescribeTaskDefinition operation: Unable to describe task definition."
    (
        "unknown task definition",
        "DescribeTaskDefinition",
        {"taskDefinition": "ghost"},
        "ClientException",
        "Unable to describe task definition.",
    ),
    (
        "unknown revision",
        "DescribeTaskDefinition",
        {"taskDefinition": "web:9"},
        "ClientException",
        "Unable to describe task definition.",
    ),
    # https://github.com/Cloud-CV/EvalAI/issues/2419: "(ClientException) when calling the CreateService operation:
    # TaskDefinition not found." (also https://github.com/remind101/empire/issues/353).
    (
        "unknown task definition",
        "CreateService",
        {**CREATE, "taskDefinition": "ghost"},
        "ClientException",
        "TaskDefinition not found.",
    ),
    # By analogy with CreateService.
    (
        "unknown task definition",
        "UpdateService",
        {"service": "api", "taskDefinition": "ghost:1"},
        "ClientException",
        "TaskDefinition not found.",
    ),
    ("unknown task definition", "RunTask", {"taskDefinition": "ghost"}, "ClientException", "TaskDefinition not found."),
    # https://github.com/DefangLabs/defang/pull/775:
    # "ECS: RunTask, ... InvalidParameterException: TaskDefinition is inactive"
    (
        "inactive task definition",
        "RunTask",
        {"taskDefinition": "web:1"},
        "InvalidParameterException",
        "TaskDefinition is inactive",
    ),
    # By analogy with RunTask.
    (
        "inactive task definition",
        "CreateService",
        {**CREATE, "serviceName": "x", "taskDefinition": "web:1"},
        "InvalidParameterException",
        "TaskDefinition is inactive",
    ),
    (
        "inactive task definition",
        "UpdateService",
        {"service": "api", "taskDefinition": "web:1"},
        "InvalidParameterException",
        "TaskDefinition is inactive",
    ),
    # https://github.com/aws/amazon-ecs-cli/issues/1122 and the CloudTrail record in
    # https://github.com/linz/geostore/issues/1687: RunTask, InvalidParameterException,
    # "No Container Instances were found in your cluster."
    (
        "no container instance",
        "RunTask",
        {"taskDefinition": "web:2"},
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    ),
    # https://github.com/aws/copilot-cli/issues/3551: "(InvalidParameterException) when calling the DescribeTasks
    # operation: Tasks cannot be empty."
    ("empty list", "DescribeTasks", {"tasks": []}, "InvalidParameterException", "Tasks cannot be empty."),
    # By analogy with DescribeTasks.
    ("empty list", "DescribeServices", {"services": []}, "InvalidParameterException", "Services cannot be empty."),
]

# InvalidParameterException per member: ECS names the member; we check the code and that the member is named.
# https://github.com/awslabs/amazon-ecs-nodejs-microservices/issues/18 shows ECS naming the member it refused.
PER_MEMBER: list[tuple[str, dict[str, Any], str]] = [
    ("CreateService", {**CREATE, "serviceName": "y", "taskDefinition": "web", "desiredCount": -1}, "desiredCount"),
    ("CreateService", {**CREATE, "serviceName": "a b", "taskDefinition": "web"}, "serviceName"),
    ("CreateCluster", {"clusterName": "a b"}, "clusterName"),
    ("RunTask", {"taskDefinition": "web:2", "count": 11}, "count"),
    ("ListTasks", {"desiredStatus": "SLEEPING"}, "desiredStatus"),
]


def _set_up(ops: Operations) -> None:
    ops.create_cluster({"clusterName": "default"})
    ops.register_task_definition(TD)
    ops.register_task_definition(TD)
    ops.deregister_task_definition({"taskDefinition": "web:1"})
    ops.create_service({**CREATE, "taskDefinition": "web:2"})
    ops.create_service({**CREATE, "serviceName": "old", "taskDefinition": "web:2"})
    ops.delete_service({"service": "old", "force": True})


@pytest.fixture
def wire(tmp_path: Path) -> Iterator[tuple[EcsEndpoint, Credentials]]:
    store = Store(tmp_path / "orchestrator.db")
    clock = FakeClock(START)
    ops = Operations(Context(store=store, clock=clock))
    _set_up(ops)
    keys = AccessKeys(store, tmp_path / MASTER_KEY_FILE, clock)
    created, _ = keys.create("error wording")
    yield EcsEndpoint(ops, keys, clock), Credentials(created.access_key_id, created.secret_access_key)
    store.close()


@pytest.mark.parametrize(("case", "operation", "body", "code", "message"), TABLE, ids=[f"{r[1]}-{r[0]}" for r in TABLE])
def test_ecs_wording_on_the_wire(
    wire: tuple[EcsEndpoint, Credentials], case: str, operation: str, body: dict[str, Any], code: str, message: str
) -> None:
    response, out = call(wire[0], operation, body, wire[1])
    assert (response.status, out) == (400, {"__type": code, "message": message})


@pytest.mark.parametrize(("operation", "body", "member"), PER_MEMBER, ids=[r[2] for r in PER_MEMBER])
def test_invalid_parameters_name_the_member(
    wire: tuple[EcsEndpoint, Credentials], operation: str, body: dict[str, Any], member: str
) -> None:
    response, out = call(wire[0], operation, body, wire[1])
    assert (response.status, out["__type"]) == (400, "InvalidParameterException")
    assert member in out["message"]


def test_the_rest_api_answers_the_same_codes_and_messages(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "data")
    try:
        _set_up(plane.ops)
        client = TestClient(plane.app)
        auth = {"authorization": f"Bearer {plane.admin_token}"}
        # REST says more with its status (404 for what does not exist) but the same code and words.
        cases = [
            (
                client.get("/v1/clusters/nope/services", headers=auth),
                404,
                "ClusterNotFoundException",
                "Cluster not found.",
            ),
            (
                client.patch("/v1/clusters/default/services/ghost", json={"desiredCount": 1}, headers=auth),
                404,
                "ServiceNotFoundException",
                "Service not found.",
            ),
            (
                client.get("/v1/task-definitions/ghost", headers=auth),
                400,
                "ClientException",
                "Unable to describe task definition.",
            ),
            (
                client.post(
                    "/v1/clusters/default/services",
                    json={**CREATE, "serviceName": "z", "taskDefinition": "ghost"},
                    headers=auth,
                ),
                400,
                "ClientException",
                "TaskDefinition not found.",
            ),
            (
                client.post("/v1/clusters/default/tasks", json={"taskDefinition": "web:2"}, headers=auth),
                400,
                "InvalidParameterException",
                "No Container Instances were found in your cluster.",
            ),
        ]
        for response, status, code, message in cases:
            body = response.json()
            assert (response.status_code, body["code"], body["message"]) == (status, code, message)
    finally:
        plane.store.close()
