"""A model-driven fuzz of the ECS JSON endpoint: for every operation the endpoint implements,
inputs are drawn from botocore's ECS model (each member's shape: structures, lists, maps, enums,
numbers, strings), mostly plausible, sometimes hostile (lone surrogates, 64-bit overflows, huge
strings, wrong types, NaN, deep nesting), signed with SigV4 and sent to a real server process on
loopback. Fixed seed, bounded: not one response >= 500, the process stays up, memory bounded."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.model
import botocore.session
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.api.aws.awsjson import ECS
from orchestrator.api.aws.ecs import handler_for
from orchestrator.operations import Operations
from tests.reliability.hostile import Ecs
from tests.reliability.server_process import ServerProcess, server_process

EXAMPLES = 1000
PLAUSIBLE = [
    "default",
    "web",
    "web:1",
    "fuzz",
    "fuzz:1",
    "agent-1",
    "a" * 32,
    "arn:aws:ecs:us-east-1:000000000000:cluster/default",
]
HOSTILE_STRINGS = ["\ud800", "x\udfffy", "%", "_", "\x00", "f" * 60_000, "inf vcpu", "-1 GB", "nan", "1e999", "9" * 30]
HOSTILE_VALUES: list[Any] = [2**63, -(2**63) - 1, 10**4300 // 10**4290, [1, 2], {"a": 1}, None, True, 1e308, -1]


def _model() -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


def _implemented() -> list[str]:
    model = _model()
    return sorted(op for op in model.operation_names if handler_for(Operations.__new__(Operations), ECS, op))


def rarely(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`odd` about one draw in eight, so most requests get deep enough to reach the operations."""
    return st.one_of(*([usual] * 7), odd)


def shape_values(shape: botocore.model.Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    hostile = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_VALUES))
    if depth > 5:
        return st.one_of(st.none(), hostile)
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        if not members:
            return st.just({})
        return rarely(
            st.fixed_dictionaries(
                {}, optional={name: shape_values(member, depth + 1) for name, member in members.items()}
            ),
            st.one_of(st.just({"unknownMember": 1}), hostile),
        )
    if kind == "list":
        return rarely(st.lists(shape_values(shape.member, depth + 1), max_size=4), hostile)
    if kind == "map":
        return st.dictionaries(
            st.one_of(st.sampled_from(PLAUSIBLE), st.text(max_size=8)), shape_values(shape.value, depth + 1), max_size=3
        )
    if kind == "string":
        enum = shape.enum or []
        plausible = st.sampled_from(enum) if enum else st.sampled_from(PLAUSIBLE)
        return rarely(st.one_of(plausible, plausible, st.text(max_size=20)), hostile)
    if kind in ("integer", "long"):
        return rarely(st.integers(-5, 200), st.one_of(st.integers(-(2**70), 2**70), hostile))
    if kind in ("double", "float"):
        return rarely(st.floats(allow_nan=False, allow_infinity=False), hostile)
    if kind == "boolean":
        return rarely(st.booleans(), hostile)
    if kind == "timestamp":
        return rarely(st.floats(0, 2e9), hostile)
    return st.one_of(st.none(), hostile)


def _body(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


RAW_BODIES = [
    '{"a":' * 100_000 + "1" + "}" * 100_000,
    '{"maxResults": ' + "9" * 4301 + "}",
    "[1,2]",
    "{",
    '"x"',
    "{}" * 3,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(Path(tmp_path_factory.mktemp("ecsfuzz"))) as s:
        yield s


def test_no_ecs_operation_answers_5xx_to_model_driven_inputs(server: ServerProcess) -> None:
    admin = {"authorization": f"Bearer {server.admin_token}"}
    keys = httpx.post(server.url + "/v1/credentials", json={"description": "fuzz"}, headers=admin).json()
    client = Ecs(server.url, keys["accessKeyId"], keys["secretAccessKey"])
    # Something to find: a cluster, an instance, a task definition.
    assert client.call("CreateCluster", {"clusterName": "default"}).status_code == 200
    httpx.post(
        server.url + "/v1/agent/register",
        json={"joinToken": server.join_token, "zone": "us-east-1a", "cpu": 4096, "memory": 4096, "name": "agent-1"},
    )
    td = {"family": "fuzz", "containerDefinitions": [{"name": "a", "image": "orch/busybox", "memory": 8}]}
    assert client.call("RegisterTaskDefinition", td).status_code == 200
    model = _model()
    operations = _implemented()
    assert len(operations) > 30
    cases = rarely(
        st.one_of(
            *[
                st.tuples(st.just(op), shape_values(model.operation_model(op).input_shape).map(_body))
                for op in operations
                if model.operation_model(op).input_shape is not None
            ]
        ),
        st.tuples(st.sampled_from(operations), st.sampled_from(RAW_BODIES)),
    )
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    rss_before = server.rss_kib()

    @settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def one(case: tuple[str, str]) -> None:
        operation, body = case
        try:
            resp = client.call(operation, body)
        except httpx.HTTPError as err:
            failures.append(f"{operation}: {type(err).__name__}")
            return
        statuses[resp.status_code] += 1
        if resp.status_code >= 500:
            failures.append(f"{operation} {body[:200]!r} -> {resp.status_code}: {resp.text[:200]}")

    one()
    rss_after = server.rss_kib()
    print(
        f"ECS fuzz: {sum(statuses.values())} requests over {len(operations)} operations: "
        f"{dict(sorted(statuses.items()))}"
    )
    print(f"RSS {rss_before} -> {rss_after} KiB")
    assert not failures, failures[:10]
    assert server.alive()
    assert client.call("ListClusters", {}).status_code == 200
    assert rss_after - rss_before < 200 * 1024
