"""Our ECS responses against ECS's own, member by member (fixtures hand-written from the AWS docs).

Each case makes one call through the AWS JSON 1.1 endpoint, signed as botocore signs it, over a
real store and the real operations, and compares the body that went out with the fixture in
`tests/fixtures/ecs_responses/` level by level: the same members at every depth (lists compared
through their first element) and the same JSON type for every value. Values themselves (ARNs,
ids, times) are ECS's examples and are not compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from orchestrator.api.aws.ecs import EcsEndpoint
from orchestrator.core.clock import FakeClock
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from tests.botocore_shapes import check_output
from tests.unit.test_ecs_adapter import START, call

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ecs_responses"

# Members ECS returns that we do not produce yet, by JSON path: each one is a known, named gap.
# agentHash is the ECS agent's build (git) hash; our agent has none to report.
KNOWN_GAPS: frozenset[str] = frozenset({"$.containerInstances[0].versionInfo.agentHash"})

CONTAINER = {
    "name": "wordpress",
    "image": "wordpress",
    "cpu": 10,
    "memory": 500,
    "memoryReservation": 250,
    "portMappings": [{"containerPort": 80, "hostPort": 80}],
    "essential": True,
    "environment": [{"name": "STAGE", "value": "prod"}],
}
TASK_DEFINITION = {
    "family": "hello_world",
    "networkMode": "bridge",
    "containerDefinitions": [CONTAINER],
    "tags": [{"key": "team", "value": "web"}],
}


def shape_differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Every member one side has and the other lacks, and every value of another JSON type."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: ECS has an object, we have {type(ours).__name__}"]
        found = [f"{path}.{k}: ECS returns it, we do not" for k in sorted(set(theirs) - set(ours))]
        found += [f"{path}.{k}: we return it, ECS does not" for k in sorted(set(ours) - set(theirs))]
        for key in sorted(set(theirs) & set(ours)):
            found += shape_differences(ours[key], theirs[key], f"{path}.{key}")
        return found
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: ECS has a list, we have {type(ours).__name__}"]
        if theirs and not ours:
            return [f"{path}: ECS has items here, we have none"]
        if ours and not theirs:
            return [f"{path}: ECS has an empty list, we have items"]
        return shape_differences(ours[0], theirs[0], f"{path}[0]") if theirs else []
    kind = (bool, (int, float), str)
    for k in kind:
        if isinstance(theirs, k):
            # JSON numbers: 0 and 0.0 are the same member type to botocore.
            ok = isinstance(ours, k) and (k is bool or not isinstance(ours, bool))
            return [] if ok else [f"{path}: ECS has {type(theirs).__name__}, we have {type(ours).__name__}"]
    return []


def test_the_comparison_finds_missing_extra_and_retyped_members() -> None:
    theirs = {"a": [], "b": {"c": 1}, "d": [{"e": "x"}]}
    assert shape_differences({"a": [], "b": {"c": 2}, "d": [{"e": "y"}]}, theirs) == []
    assert shape_differences({"b": {"c": "1"}, "d": [{"e": "y", "f": 1}], "g": 0}, theirs) == [
        "$.a: ECS returns it, we do not",
        "$.g: we return it, ECS does not",
        "$.b.c: ECS has int, we have str",
        "$.d[0].f: we return it, ECS does not",
    ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[EcsEndpoint, Credentials, Operations]]:
    store = Store(tmp_path / "orchestrator.db")
    clock = FakeClock(START)
    ops = Operations(Context(store=store, clock=clock))
    keys = AccessKeys(store, tmp_path / MASTER_KEY_FILE, clock)
    created, _ = keys.create("shape tests")
    yield EcsEndpoint(ops, keys, clock), Credentials(created.access_key_id, created.secret_access_key), ops
    store.close()


def _request(endpoint: EcsEndpoint, pair: Credentials, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response, out = call(endpoint, operation, body, pair)
    assert response.status == 200, out
    assert check_output("ecs", operation, out) == []
    return out


def _responses(world: tuple[EcsEndpoint, Credentials, Operations]) -> dict[str, dict[str, Any]]:
    """One response per fixture, from one scenario: a cluster, a task definition, a service, a task."""
    endpoint, pair, ops = world
    got: dict[str, dict[str, Any]] = {}

    def ask(name: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        got[name] = _request(endpoint, pair, operation, body)
        return got[name]

    ask("CreateCluster", "CreateCluster", {"clusterName": "MyCluster", "tags": [{"key": "env", "value": "dev"}]})
    ask("DescribeClusters", "DescribeClusters", {"clusters": ["MyCluster"]})
    # An agent joining `default` creates it, as the ECS agent does.
    ops.register_instance(
        {"name": "i1", "zone": "us-east-1a", "cpu": 2048, "memory": 3768, "dockerVersion": "DockerVersion: 24.0.7"}
    )
    ask("RegisterTaskDefinition", "RegisterTaskDefinition", TASK_DEFINITION)
    ask("DescribeTaskDefinition", "DescribeTaskDefinition", {"taskDefinition": "hello_world"})
    ask(
        "DescribeTaskDefinition-include-TAGS",
        "DescribeTaskDefinition",
        {"taskDefinition": "hello_world:1", "include": ["TAGS"]},
    )
    ask(
        "CreateService",
        "CreateService",
        {
            "serviceName": "web",
            "taskDefinition": "hello_world",
            "desiredCount": 1,
            "tags": [{"key": "team", "value": "web"}],
        },
    )
    ask("DescribeServices", "DescribeServices", {"services": ["web"]})
    ask("DescribeServices-include-TAGS", "DescribeServices", {"services": ["web"], "include": ["TAGS"]})
    run = ask("RunTask", "RunTask", {"taskDefinition": "hello_world", "startedBy": "fixture"})
    task_arn = run["tasks"][0]["taskArn"]
    ask("DescribeTasks", "DescribeTasks", {"tasks": [task_arn]})
    _request(endpoint, pair, "TagResource", {"resourceArn": task_arn, "tags": [{"key": "team", "value": "web"}]})
    ask("DescribeTasks-include-TAGS", "DescribeTasks", {"tasks": [task_arn], "include": ["TAGS"]})
    instance = run["tasks"][0]["containerInstanceArn"]
    ask("DescribeContainerInstances", "DescribeContainerInstances", {"containerInstances": [instance]})
    return got


def test_every_fixture_is_exercised(world: tuple[EcsEndpoint, Credentials, Operations]) -> None:
    assert sorted(_responses(world)) == sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_our_response_has_exactly_the_members_ecs_writes(
    name: str, world: tuple[EcsEndpoint, Credentials, Operations]
) -> None:
    ours = _responses(world)[name]
    theirs = json.loads((FIXTURES / f"{name}.json").read_text())
    problems = [p for p in shape_differences(ours, theirs) if p.split(":")[0] not in KNOWN_GAPS]
    assert problems == []
