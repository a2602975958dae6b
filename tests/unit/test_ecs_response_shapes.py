"""Our ECS responses against ECS's own, member by member (fixtures taken from the AWS CLI's ECS examples).

Each case makes one call through the AWS JSON 1.1 endpoint, signed as botocore signs it, over a
real store and the real operations, and compares the body that went out with the fixture in
`tests/fixtures/ecs_responses/` level by level: the same members at every depth (lists compared
through their first element) and the same JSON type for every value. Values themselves (ARNs,
ids, times) are ECS's examples and are not compared. Each request is the request of the example
the fixture comes from (README.md there); what differs is listed below, each with its reason.
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

# Members ECS's example shows that we do not produce, by JSON path, each with why.
KNOWN_GAPS: dict[str, str] = {
    "$.containerInstances[0].versionInfo.agentHash": "the ECS agent's build (git) hash; our agent has none to report",
}

# Members we return that the fixture's example does not show, by JSON path, each with why. Most
# examples are older than the member: the newer example named shows ECS writing it.
_NEWER_SERVICE = "newer than this example (2016/2019): create-service.rst Examples 3-5 and update-service.rst show it"
_NEWER_INSTANCE = (
    "newer than this example (agent 1.0.0, Docker 1.5.0):"
    " update-container-instances-state.rst and deregister-container-instance.rst show it"
)
_REQUIRES = (
    "no example shows it, but ECS writes it for every task definition: ecs-deploy (PyPI) indexes it without"
    " a fallback and works against ECS (tests/integration/test_ecs_deploy.py)"
)
_PROTOCOL = (
    "newer than this example (2016): ECS writes tcp when a port mapping names no protocol; tools that compare"
    " their own definition with DescribeTaskDefinition's saw it appear (ansible/ansible#22547)"
)
EXTRAS: dict[str, str] = {
    "$.nextToken": "the scenario has over 10 account settings and ECS pages them 10 at a time; the 2019 example had 3",
    "$.settings[0].type": "newer than this example (2019): put-account-setting.rst (2024) shows it",
    "$.containerInstances[0].attachments": _NEWER_INSTANCE,
    "$.containerInstances[0].attributes": _NEWER_INSTANCE,
    "$.containerInstances[0].registeredAt": _NEWER_INSTANCE,
    "$.containerInstances[0].version": _NEWER_INSTANCE,
    "$.taskDefinition.registeredAt": "newer than this example: describe-task-definition.rst (2024) shows it",
    "$.taskDefinition.registeredBy": "newer than this example: describe-task-definition.rst (2024) shows it",
    "$.taskDefinition.requiresAttributes": _REQUIRES,
    "$.taskDefinition.containerDefinitions[0].portMappings[0].protocol": _PROTOCOL,
    # CreateService's example (2019) has more of the service than DescribeServices' (2016).
    **{
        f"$.service.{member}": _NEWER_SERVICE
        for member in (
            "createdBy",
            "deploymentController",
            "enableExecuteCommand",
            "deploymentConfiguration.deploymentCircuitBreaker",
            "deployments[0].failedTasks",
            "deployments[0].rolloutState",
            "deployments[0].rolloutStateReason",
        )
    },
    **{
        f"$.services[0].{member}": _NEWER_SERVICE
        for member in (
            "createdBy",
            "deploymentController",
            "enableExecuteCommand",
            "enableECSManagedTags",
            "deploymentConfiguration",
            "launchType",
            "placementConstraints",
            "placementStrategy",
            "propagateTags",
            "schedulingStrategy",
            "serviceRegistries",
            "deployments[0].failedTasks",
            "deployments[0].launchType",
            "deployments[0].rolloutState",
            "deployments[0].rolloutStateReason",
        )
    },
}


# The requests of the AWS CLI examples the fixtures come from (tests/fixtures/ecs_responses/README.md),
# so that each response can be compared with the one ECS gave for the same request.
SLEEP360 = {  # register-task-definition.rst, Example 1 (sleep360.json)
    "containerDefinitions": [
        {"name": "sleep", "image": "busybox", "cpu": 10, "command": ["sleep", "360"], "memory": 10, "essential": True}
    ],
    "family": "sleep360",
}
HELLO_WORLD = {  # describe-task-definition.rst: hello_world, wordpress linked to mysql
    "family": "hello_world",
    "containerDefinitions": [
        {
            "name": "wordpress",
            "image": "wordpress",
            "cpu": 10,
            "memory": 500,
            "essential": True,
            "links": ["mysql"],
            "portMappings": [{"containerPort": 80, "hostPort": 80}],
        },
        {
            "name": "mysql",
            "image": "mysql",
            "cpu": 10,
            "memory": 500,
            "essential": True,
            "environment": [{"name": "MYSQL_ROOT_PASSWORD", "value": "password"}],
        },
    ],
}
TAGS = [{"key": "key1", "value": "value1"}, {"key": "key2", "value": "value2"}, {"key": "key3", "value": "value3"}]


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
    """One response per fixture, each from the request of the CLI example the fixture was taken from."""
    endpoint, pair, ops = world
    got: dict[str, dict[str, Any]] = {}

    def ask(name: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        got[name] = _request(endpoint, pair, operation, body)
        return got[name]

    settings = [{"name": "containerInsights", "value": "enhanced"}]
    ask("CreateCluster", "CreateCluster", {"clusterName": "MyCluster", "settings": settings})
    ask("DescribeClusters", "DescribeClusters", {"clusters": ["MyCluster"]})
    ask("UpdateClusterSettings", "UpdateClusterSettings", {"cluster": "MyCluster", "settings": settings})
    cluster_arn = got["CreateCluster"]["cluster"]["clusterArn"]
    _request(endpoint, pair, "TagResource", {"resourceArn": cluster_arn, "tags": TAGS})
    ask("ListTagsForResource", "ListTagsForResource", {"resourceArn": cluster_arn})
    ask("PutAccountSetting", "PutAccountSetting", {"name": "containerInsights", "value": "enhanced"})
    ask("ListAccountSettings", "ListAccountSettings", {"effectiveSettings": True})
    # An agent joining `default` creates it, as the ECS agent does; RunTask needs an instance to place on.
    ops.register_instance(
        {"name": "i1", "zone": "us-east-1b", "cpu": 2048, "memory": 3955, "dockerVersion": "DockerVersion: 1.5.0"}
    )
    instance = ops.list_container_instances({})["containerInstanceArns"][0]
    ask("DescribeContainerInstances", "DescribeContainerInstances", {"containerInstances": [instance]})
    attribute = {"name": "stack", "value": "production", "targetType": "container-instance", "targetId": instance}
    _request(endpoint, pair, "PutAttributes", {"cluster": "default", "attributes": [attribute]})
    ask(
        "ListAttributes",
        "ListAttributes",
        {
            "cluster": "default",
            "targetType": "container-instance",
            "attributeName": "stack",
            "attributeValue": "production",
        },
    )
    ask("RegisterTaskDefinition", "RegisterTaskDefinition", SLEEP360)
    _request(endpoint, pair, "RegisterTaskDefinition", {**HELLO_WORLD, "tags": TAGS})
    ask("DescribeTaskDefinition", "DescribeTaskDefinition", {"taskDefinition": "hello_world:1"})
    ask(
        "DescribeTaskDefinition-include-TAGS",
        "DescribeTaskDefinition",
        {"taskDefinition": "hello_world:1", "include": ["TAGS"]},
    )
    ask("ListTaskDefinitionFamilies", "ListTaskDefinitionFamilies", {})
    ask(
        "CreateService",
        "CreateService",
        {
            "cluster": "MyCluster",
            "serviceName": "ecs-simple-service",
            "taskDefinition": "sleep360:1",
            "desiredCount": 1,
        },
    )
    _request(
        endpoint,
        pair,
        "CreateService",
        {"serviceName": "my-http-service", "taskDefinition": "hello_world:1", "desiredCount": 1, "tags": TAGS},
    )
    ask("DescribeServices", "DescribeServices", {"services": ["my-http-service"]})
    ask("DescribeServices-include-TAGS", "DescribeServices", {"services": ["my-http-service"], "include": ["TAGS"]})
    run = ask(
        "RunTask",
        "RunTask",
        {"cluster": "default", "taskDefinition": "sleep360:1", "clientToken": "550e8400-e29b-41d4-a716-446655440000"},
    )
    task_arn = run["tasks"][0]["taskArn"]
    ask("DescribeTasks", "DescribeTasks", {"tasks": [task_arn]})
    _request(endpoint, pair, "TagResource", {"resourceArn": task_arn, "tags": TAGS})
    ask("DescribeTasks-include-TAGS", "DescribeTasks", {"tasks": [task_arn], "include": ["TAGS"]})
    return got


def test_every_fixture_is_exercised(world: tuple[EcsEndpoint, Credentials, Operations]) -> None:
    assert sorted(_responses(world)) == sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_our_response_has_exactly_the_members_ecs_writes(
    name: str, world: tuple[EcsEndpoint, Credentials, Operations]
) -> None:
    ours = _responses(world)[name]
    theirs = json.loads((FIXTURES / f"{name}.json").read_text())
    problems = [p for p in shape_differences(ours, theirs) if not _excused(p)]
    assert problems == []


def _excused(problem: str) -> bool:
    path, _, what = problem.partition(": ")
    if what == "ECS returns it, we do not":
        return path in KNOWN_GAPS
    return what == "we return it, ECS does not" and path in EXTRAS


def test_every_excuse_is_still_needed(world: tuple[EcsEndpoint, Credentials, Operations]) -> None:
    # A gap closed or an extra gone must leave the lists too, or they would excuse a regression later.
    got = _responses(world)
    found = {
        p.split(": ")[0]
        for name in got
        for p in shape_differences(got[name], json.loads((FIXTURES / f"{name}.json").read_text()))
    }
    assert sorted(set(KNOWN_GAPS) - found) == []
    assert sorted(set(EXTRAS) - found) == []


def dump_responses(tmp: Path) -> dict[str, dict[str, Any]]:  # pragma: no cover - a tool for writing fixtures
    store = Store(tmp / "orchestrator.db")
    clock = FakeClock(START)
    ops = Operations(Context(store=store, clock=clock))
    keys = AccessKeys(store, tmp / MASTER_KEY_FILE, clock)
    created, _ = keys.create("shape tests")
    world = (EcsEndpoint(ops, keys, clock), Credentials(created.access_key_id, created.secret_access_key), ops)
    return _responses(world)
