"""The REST API's errors over real HTTP: the ECS error shape with 404 for what is missing and 409
for a conflict, and an OpenAPI schema that documents exactly those answers instead of 422."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("rest-errors") / "data", executor_factory=FakeExecutor)
    c.start_agents(1)
    yield c
    c.close()


def _call(cluster: LocalCluster, method: str, path: str, body: object = None) -> httpx.Response:
    return cluster.http.request(method, path, json=body)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v1/clusters/nope/services", None, 404, "ClusterNotFoundException"),
        ("PATCH", "/v1/clusters/default/services/nope", {"desiredCount": 1}, 404, "ServiceNotFoundException"),
        ("POST", "/v1/clusters/default/services", {"serviceName": "x", "desiredCount": "many"}, 400, None),
        ("POST", "/v1/task-definitions", {"family": "f"}, 400, None),
        ("DELETE", "/v1/clusters/default", None, 409, "ClusterContainsContainerInstancesException"),
    ],
)
def test_errors_carry_the_ecs_shape_and_a_rest_status(
    cluster: LocalCluster, method: str, path: str, body: object, status: int, code: str | None
) -> None:
    resp = _call(cluster, method, path, body)
    assert resp.status_code == status, resp.text
    err = resp.json()
    assert set(err) == {"__type", "code", "message"} and err["__type"] == err["code"] and err["message"]
    if code:
        assert err["code"] == code


def test_the_openapi_schema_documents_the_real_errors(cluster: LocalCluster) -> None:
    schema = httpx.get(cluster.url + "/openapi.json").json()
    assert "Error" in schema["components"]["schemas"]
    operations = [(p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert len(operations) > 20
    for path, method, op in operations:
        codes = set(op["responses"])
        assert "422" not in codes, f"{method.upper()} {path} still documents FastAPI's 422"
        if path == "/healthz":
            continue
        assert {"200", "400", "500"} <= codes, f"{method.upper()} {path}: {sorted(codes)}"
        if path.startswith("/v1/clusters"):
            assert "404" in codes, f"{method.upper()} {path} can answer 404 but does not say so"
        err = op["responses"]["400"]["content"]["application/json"]["schema"]
        assert err == {"$ref": "#/components/schemas/Error"}
    # The statuses the handlers really answered above are among the documented ones.
    services = schema["paths"]["/v1/clusters/{cluster}/services/{name}"]["get"]["responses"]
    assert {"404", "401"} <= set(services)
    cluster_delete = schema["paths"]["/v1/clusters/{cluster}"]["delete"]["responses"]
    assert "409" in cluster_delete
