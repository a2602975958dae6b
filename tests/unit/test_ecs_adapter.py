"""The AWS JSON 1.1 adapter and its access keys, driven with requests signed by botocore's own signer.

No Docker and no network: the endpoint's `handle` gets the request as the server would see it, over
a real SQLite store and the real operations, with a fake clock that the signatures are dated by.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import structlog
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi.testclient import TestClient

from orchestrator.api.aws.awsjson import AUTOSCALING, CONTENT_TYPE, ECS, target_for
from orchestrator.api.aws.ecs import EcsEndpoint, WireResponse, conform, handler_for, snake_case, supported_operations
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.security.credentials import DOC_KIND, MASTER_KEY_FILE, AccessKeys
from orchestrator.server import ControlPlane
from tests.botocore_shapes import check_output

START = 1_700_000_000.0
HOST = "127.0.0.1:8420"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "orchestrator.db")
    s.ensure_cluster("default")
    yield s
    s.close()


@pytest.fixture
def keys(store: Store, tmp_path: Path, clock: FakeClock) -> AccessKeys:
    return AccessKeys(store, tmp_path / MASTER_KEY_FILE, clock)


@pytest.fixture
def ops(store: Store, clock: FakeClock) -> Operations:
    return Operations(Context(store=store, clock=clock))


@pytest.fixture
def endpoint(ops: Operations, keys: AccessKeys, clock: FakeClock) -> EcsEndpoint:
    return EcsEndpoint(ops, keys, clock)


@pytest.fixture
def pair(keys: AccessKeys) -> Credentials:
    created, _ = keys.create("unit tests")
    return Credentials(created.access_key_id, created.secret_access_key)


def signed(
    operation: str,
    body: Any,
    credentials: Credentials | None,
    *,
    service: str = ECS,
    at: float = START,
    signing_name: str | None = None,
    host: str = HOST,
) -> tuple[str, str, str, dict[str, str], bytes]:
    """(method, path, query, headers, body) of a request as a botocore client would put it on the wire."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=raw,
        headers={"X-Amz-Target": target_for(service, operation), "Content-Type": CONTENT_TYPE},
    )
    if credentials is not None:
        when = dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            SigV4Auth(credentials, signing_name or service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    headers = dict(prepared.headers.items())
    headers["Host"] = urlsplit(prepared.url).netloc
    return "POST", "/", "", headers, raw


def call(
    endpoint: EcsEndpoint, operation: str, body: Any, credentials: Credentials | None, **kwargs: Any
) -> tuple[WireResponse, dict[str, Any]]:
    response = endpoint.handle(*signed(operation, body, credentials, **kwargs))
    return response, json.loads(response.body)


def cluster_names(ops: Operations) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in ops.list_clusters({})["clusterArns"]]


# -- dispatch ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "method"),
    [
        ("DescribeServices", "describe_services"),
        ("UpdateContainerInstancesState", "update_container_instances_state"),
        ("RegisterScalableTarget", "register_scalable_target"),
        ("ListTagsForResource", "list_tags_for_resource"),
        ("CreateECSThing", "create_ecs_thing"),  # a run of capitals stays one word
    ],
)
def test_snake_case(operation: str, method: str) -> None:
    assert snake_case(operation) == method


def test_every_ecs_operation_the_notes_name_is_dispatched(ops: Operations) -> None:
    needed = {
        "CreateCluster",
        "ListClusters",
        "DescribeClusters",
        "DeleteCluster",
        "RegisterTaskDefinition",
        "DescribeTaskDefinition",
        "ListTaskDefinitions",
        "DeregisterTaskDefinition",
        "CreateService",
        "ListServices",
        "DescribeServices",
        "UpdateService",
        "DeleteService",
        "RunTask",
        "StartTask",
        "ListTasks",
        "DescribeTasks",
        "StopTask",
        "ListContainerInstances",
        "DescribeContainerInstances",
        "DeregisterContainerInstance",
        "UpdateContainerInstancesState",
        "PutAttributes",
    }
    assert needed <= set(supported_operations(ops, ECS))


def test_operations_outside_the_model_are_never_dispatched_and_shared_ones_serve_ecs_only(ops: Operations) -> None:
    # `service_events` is a method, but ServiceEvents is no ECS operation.
    assert handler_for(ops, ECS, "ServiceEvents") is None
    # Our agents' calls are not ECS operations either, even though ECS has similar-sounding ones.
    assert handler_for(ops, ECS, "RegisterContainerInstance") is None
    # TagResource means different inputs in ECS and Application Auto Scaling: each has its own method.
    assert handler_for(ops, ECS, "TagResource") == ops.tag_resource
    assert handler_for(ops, AUTOSCALING, "TagResource") == ops.autoscaling_tag_resource
    assert handler_for(ops, AUTOSCALING, "ListTagsForResource") == ops.autoscaling_list_tags_for_resource
    assert handler_for(ops, ECS, "DescribeServices") == ops.describe_services


# -- conforming responses to the model -----------------------------------------------------------


def test_conform_drops_members_the_model_does_not_define_at_every_depth() -> None:
    response = {
        "services": [
            {
                "serviceName": "web",
                "schedulerProfile": "ecs",  # ours, not ECS's
                "deployments": [{"id": "ecs-svc/1", "explanation": {"why": "x"}, "createdAt": 1.5}],
                "events": [{"id": "7", "createdAt": 2.0, "message": "m"}],
            }
        ],
        "failures": [],
        "debug": True,
    }
    out = conform(ECS, "DescribeServices", response)
    assert sorted(out) == ["failures", "services"]
    (service,) = out["services"]
    assert "schedulerProfile" not in service and service["serviceName"] == "web"
    assert service["events"] == [{"id": "7", "createdAt": 2.0, "message": "m"}]
    (deployment,) = service["deployments"]
    assert "explanation" not in deployment and (deployment["id"], deployment["createdAt"]) == ("ecs-svc/1", 1.5)
    assert check_output(ECS, "DescribeServices", out) == []


def test_conform_keeps_map_keys_and_turns_timestamps_and_nulls_into_wire_form() -> None:
    td = {
        "family": "web",
        "revision": 1,
        "containerDefinitions": [
            {
                "name": "app",
                "dockerLabels": {"any.key": "v"},
                "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
            }
        ],
        "registeredAt": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "deregisteredAt": None,
    }
    out = conform(ECS, "DescribeTaskDefinition", {"taskDefinition": td})
    container = out["taskDefinition"]["containerDefinitions"][0]
    assert container["dockerLabels"] == {"any.key": "v"}
    assert container["logConfiguration"]["options"] == {"max-size": "1m"}
    assert out["taskDefinition"]["registeredAt"] == 1704067200.0
    assert "deregisteredAt" not in out["taskDefinition"]
    assert check_output(ECS, "DescribeTaskDefinition", out) == []


# -- signed requests -----------------------------------------------------------------------------


def test_a_signed_request_runs_the_operation_and_answers_in_aws_json(
    endpoint: EcsEndpoint, ops: Operations, pair: Credentials
) -> None:
    response, body = call(endpoint, "CreateCluster", {"clusterName": "blue"}, pair)
    assert response.status == 200
    assert body["cluster"]["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/blue"
    assert len(response.request_id) == 36
    assert "blue" in cluster_names(ops)
    assert check_output(ECS, "CreateCluster", body) == []


def test_an_omitted_cluster_means_default(endpoint: EcsEndpoint, pair: Credentials) -> None:
    response, body = call(endpoint, "DescribeClusters", {}, pair)
    assert response.status == 200
    assert [c["clusterName"] for c in body["clusters"]] == ["default"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unsigned", 403, "MissingAuthenticationTokenException"),
        ("wrong secret", 400, "InvalidSignatureException"),
        ("expired", 400, "InvalidSignatureException"),
        ("unknown key", 400, "UnrecognizedClientException"),
        ("scoped to another service", 400, "IncompleteSignatureException"),
        ("body changed after signing", 400, "InvalidSignatureException"),
    ],
)
def test_requests_that_fail_authentication_get_aws_errors_and_change_nothing(
    endpoint: EcsEndpoint, ops: Operations, pair: Credentials, case: str, status: int, code: str
) -> None:
    body = {"clusterName": "intruder"}
    kwargs: dict[str, Any] = {}
    credentials: Credentials | None = pair
    if case == "unsigned":
        credentials = None
    elif case == "wrong secret":
        credentials = Credentials(pair.access_key, "x" * 40)
    elif case == "expired":
        kwargs["at"] = START - 600  # the verifier allows 5 minutes of skew
    elif case == "unknown key":
        credentials = Credentials("AKIAAAAAAAAAAAAAAAAA", pair.secret_key)
    elif case == "scoped to another service":
        kwargs["signing_name"] = "application-autoscaling"
    request = signed("CreateCluster", body, credentials, **kwargs)
    if case == "body changed after signing":
        request = (*request[:4], json.dumps({"clusterName": "intruder", "x": 1}).encode())
    response = endpoint.handle(*request)
    error = json.loads(response.body)
    assert (response.status, error["__type"]) == (status, code)
    assert error["message"]
    assert "intruder" not in cluster_names(ops)


def test_a_revoked_key_is_refused_from_the_next_request(
    endpoint: EcsEndpoint, keys: AccessKeys, pair: Credentials
) -> None:
    assert call(endpoint, "ListClusters", {}, pair)[0].status == 200
    keys.revoke(pair.access_key)
    response, error = call(endpoint, "ListClusters", {}, pair)
    assert (response.status, error["__type"]) == (400, "UnrecognizedClientException")


def test_the_target_is_covered_by_the_signature(endpoint: EcsEndpoint, ops: Operations, pair: Credentials) -> None:
    method, path, query, headers, body = signed("ListClusters", {"clusterName": "x"}, pair)
    headers["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113.CreateCluster"
    response = endpoint.handle(method, path, query, headers, body)
    assert json.loads(response.body)["__type"] == "InvalidSignatureException"
    assert "x" not in cluster_names(ops)


def test_unsupported_operations_get_a_400_naming_what_is_supported(endpoint: EcsEndpoint, pair: Credentials) -> None:
    response, error = call(endpoint, "CreateCapacityProvider", {"name": "x"}, pair)
    assert (response.status, error["__type"]) == (400, "UnknownOperationException")
    assert "CreateCapacityProvider is not supported" in error["message"] and "DescribeServices" in error["message"]


def test_a_target_outside_both_models_is_an_unknown_operation(endpoint: EcsEndpoint, pair: Credentials) -> None:
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/",
        data=b"{}",
        headers={"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.LaunchRockets", "Content-Type": CONTENT_TYPE},
    )
    with mock.patch(
        "botocore.auth.get_current_datetime", return_value=dt.datetime.fromtimestamp(START, dt.UTC).replace(tzinfo=None)
    ):
        SigV4Auth(pair, "ecs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    response = endpoint.handle("POST", "/", "", {**dict(prepared.headers.items()), "Host": HOST}, b"{}")
    error = json.loads(response.body)
    assert (response.status, error["__type"]) == (400, "UnknownOperationException")
    assert "LaunchRockets" in error["message"]


def test_a_body_that_is_not_json_is_a_serialization_error(endpoint: EcsEndpoint, pair: Credentials) -> None:
    response, error = call(endpoint, "ListClusters", b"{not json", pair)
    assert (response.status, error["__type"]) == (400, "SerializationException")


def test_operation_errors_keep_their_ecs_names(endpoint: EcsEndpoint, pair: Credentials) -> None:
    response, error = call(endpoint, "DescribeServices", {"cluster": "nope", "services": ["web"]}, pair)
    assert (response.status, error["__type"]) == (400, "ClusterNotFoundException")
    assert error["message"] == "Cluster not found."
    response, error = call(endpoint, "RunTask", {"taskDefinition": "web", "count": 11}, pair)
    assert (error["__type"], error["message"]) == ("InvalidParameterException", "count must be at most 10, got 11.")
    response, error = call(endpoint, "DescribeServices", {"services": [f"s{i}" for i in range(11)]}, pair)
    assert error["__type"] == "InvalidParameterException"


def test_an_unexpected_failure_is_a_500_server_exception_without_details(
    endpoint: EcsEndpoint, pair: Credentials
) -> None:
    with mock.patch.object(Operations, "list_clusters", side_effect=RuntimeError("secret internals")):
        response, error = call(endpoint, "ListClusters", {}, pair)
    assert (response.status, error["__type"]) == (500, "ServerException")
    assert "secret internals" not in error["message"] and response.request_id in error["message"]


def test_autoscaling_is_dispatched_and_its_errors_use_a_capitalised_message_key(
    endpoint: EcsEndpoint, pair: Credentials
) -> None:
    kwargs: dict[str, Any] = {"service": AUTOSCALING, "signing_name": "application-autoscaling"}
    response, body = call(endpoint, "DescribeScalableTargets", {"ServiceNamespace": "ecs"}, pair, **kwargs)
    assert (response.status, body) == (200, {"ScalableTargets": []})
    response, error = call(endpoint, "DescribeScalableTargets", {"ServiceNamespace": "ec2"}, pair, **kwargs)
    assert (response.status, error["__type"]) == (400, "ValidationException")
    assert "ec2" in error["Message"] and "message" not in error
    # A request signed for ECS does not reach Application Auto Scaling.
    response, error = call(
        endpoint, "DescribeScalableTargets", {"ServiceNamespace": "ecs"}, pair, service=AUTOSCALING, signing_name="ecs"
    )
    assert (response.status, error["__type"]) == (400, "IncompleteSignatureException")


def test_pagination_tokens_round_trip(endpoint: EcsEndpoint, pair: Credentials) -> None:
    for name in ("a", "b", "c"):
        call(endpoint, "CreateCluster", {"clusterName": name}, pair)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        request: dict[str, Any] = {"maxResults": 2, **({"nextToken": token} if token else {})}
        _, page = call(endpoint, "ListClusters", request, pair)
        seen += page["clusterArns"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    # 4 clusters (default, a, b, c) in pages of 2.
    assert pages == 2 and len(seen) == 4 == len(set(seen))


# -- access keys ---------------------------------------------------------------------------------


def test_secrets_are_sealed_at_rest_and_never_listed(keys: AccessKeys, store: Store, tmp_path: Path) -> None:
    pair, key = keys.create("ci")
    rows = sqlite3.connect(store.path).execute("SELECT body FROM documents WHERE kind=?", (DOC_KIND,)).fetchall()
    assert len(rows) == 1 and pair.secret_access_key not in rows[0][0] and pair.access_key_id in rows[0][0]
    assert os.stat(tmp_path / MASTER_KEY_FILE).st_mode & 0o777 == 0o600
    listed = [k.wire() for k in keys.list()]
    assert listed == [{"accessKeyId": pair.access_key_id, "createdAt": START, "description": "ci"}]
    assert keys.secret_for(pair.access_key_id) == pair.secret_access_key
    assert key.access_key_id == pair.access_key_id


def test_a_row_that_does_not_unseal_is_an_unknown_key(keys: AccessKeys, store: Store) -> None:
    first, _ = keys.create()
    second, _ = keys.create()
    # Move the second pair's sealed secret onto the first pair's row: bound to its own id, it fails.
    with store.write() as s:
        moved = s.get_doc(DOC_KIND, second.access_key_id)
        assert moved is not None
        s.put_doc(DOC_KIND, first.access_key_id, {**moved, "accessKeyId": first.access_key_id})
    assert keys.secret_for(first.access_key_id) is None
    assert keys.secret_for(second.access_key_id) == second.secret_access_key


def test_revoking_an_unknown_key_says_how_to_find_the_real_ones(keys: AccessKeys) -> None:
    with pytest.raises(InvalidParameterException, match="credentials list"):
        keys.revoke("AKIANOPE")


def test_no_secret_reaches_the_logs(endpoint: EcsEndpoint, keys: AccessKeys) -> None:
    with structlog.testing.capture_logs() as logs:
        created, _ = keys.create()
        credentials = Credentials(created.access_key_id, created.secret_access_key)
        call(endpoint, "ListClusters", {}, credentials)
        call(endpoint, "DescribeServices", {"cluster": "nope", "services": ["x"]}, credentials)
        call(endpoint, "ListClusters", {}, Credentials(created.access_key_id, "wrong"))
    text = json.dumps(logs, default=str)
    assert logs and created.access_key_id in text
    assert created.secret_access_key not in text


# -- through the HTTP application ----------------------------------------------------------------


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / "data")
    yield cp
    cp.store.close()


def test_credentials_routes_need_the_admin_token(plane: ControlPlane) -> None:
    client = TestClient(plane.app)
    assert client.post("/v1/credentials").status_code == 401
    assert client.get("/v1/credentials", headers={"authorization": "Bearer oat_wrong"}).status_code == 401
    admin = {"authorization": f"Bearer {plane.admin_token}"}
    created = client.post("/v1/credentials", json={"description": "laptop"}, headers=admin).json()
    assert set(created) == {"accessKeyId", "secretAccessKey", "createdAt", "description"}
    listed = client.get("/v1/credentials", headers=admin).json()
    assert [k["accessKeyId"] for k in listed["credentials"]] == [created["accessKeyId"]]
    assert created["secretAccessKey"] not in json.dumps(listed)
    bad = client.post("/v1/credentials", json={"secret": "mine"}, headers=admin)
    assert (bad.status_code, bad.json()["code"]) == (400, "InvalidParameterException")
    assert client.delete(f"/v1/credentials/{created['accessKeyId']}", headers=admin).status_code == 200
    missing = client.delete(f"/v1/credentials/{created['accessKeyId']}", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (400, "InvalidParameterException")
    assert client.get("/v1/credentials", headers=admin).json() == {"credentials": []}


def test_the_endpoint_verifies_the_raw_request_through_the_asgi_stack(plane: ControlPlane) -> None:
    client = TestClient(plane.app, base_url="http://testserver")
    admin = {"authorization": f"Bearer {plane.admin_token}"}
    created = client.post("/v1/credentials", headers=admin).json()
    credentials = Credentials(created["accessKeyId"], created["secretAccessKey"])
    now = plane.clock.now()
    _, _, _, headers, body = signed("ListClusters", {}, credentials, at=now, host="testserver")
    response = client.post("/", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["x-amzn-RequestId"]
    # No agent has joined and nothing created a cluster: not even `default` exists yet, as on ECS.
    assert response.json()["clusterArns"] == []
    # The same signature does not cover another path or query.
    moved = client.post("/?x=1", content=body, headers=headers)
    assert (moved.status_code, moved.json()["__type"]) == (400, "InvalidSignatureException")
