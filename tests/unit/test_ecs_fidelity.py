"""What ECS keeps, refuses and answers: service members, tags, the default cluster, new calls, ARNs.

Driven through the operations over a real SQLite store and a fake clock (no Docker, no network);
`test_ecs_response_shapes.py` checks the wire form of the same objects.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from agent.overrides import with_overrides
from orchestrator.api.aws.awsjson import CONTENT_TYPE, target_for
from orchestrator.api.aws.ecs import EcsEndpoint
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import ApiError
from orchestrator.core.models import DEFAULT_REGION, arn_prefix, set_region
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.reconcile.services import ServiceController
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from tests.builders import container, control_plane, instance, task_definition

START = 1_700_000_000.0

OTHER_ACCOUNT = "arn:aws:ecs:us-east-1:111111111111"
OTHER_REGION = "arn:aws:ecs:eu-west-1:000000000000"


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "i1", "us-east-1a", cpu=4096, memory=4096)
    instance(o, "i2", "us-east-1b", cpu=4096, memory=4096)
    task_definition(o, "web")
    return o


def refused(call: Any, code: str, *words: str) -> str:
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.code == code, err.value.message
    for word in words:
        assert word in err.value.message
    return err.value.message


def tag_map(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags}


# -- CreateService / UpdateService members ------------------------------------------------------


def _target_group(ops: Operations) -> str:
    """A target group behind a load balancer's listener, as loadBalancers needs."""
    lb = ops.create_load_balancer({"Name": "kept-lb"})["LoadBalancers"][0]["LoadBalancerArn"]
    tg: str = ops.create_target_group({"Name": "kept-tg", "Protocol": "HTTP", "Port": 80})["TargetGroups"][0][
        "TargetGroupArn"
    ]
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    ops.create_listener({"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": 18099, "DefaultActions": forward})
    return tg


def test_create_service_keeps_and_returns_every_member_it_accepts(ops: Operations) -> None:
    task_definition(ops, "lbweb", portMappings=[{"containerPort": 80}])
    req = {
        "serviceName": "kept",
        "taskDefinition": "lbweb:1",
        "desiredCount": 1,
        "loadBalancers": [{"targetGroupArn": _target_group(ops), "containerName": "app", "containerPort": 80}],
        "serviceRegistries": [{"registryArn": "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1"}],
        "role": "ecsServiceRole",
        "propagateTags": "SERVICE",
        "enableECSManagedTags": True,
        "enableExecuteCommand": True,
        "deploymentController": {"type": "ECS"},
        "tags": [{"key": "team", "value": "web"}],
    }
    created = ops.create_service(req)["service"]
    described = ops.describe_services({"services": ["kept"], "include": ["TAGS"]})["services"][0]
    for svc in (created, described):
        assert svc["loadBalancers"] == req["loadBalancers"]
        assert svc["serviceRegistries"] == req["serviceRegistries"]
        assert svc["roleArn"] == "arn:aws:iam::000000000000:role/ecsServiceRole"
        assert (svc["propagateTags"], svc["enableECSManagedTags"], svc["enableExecuteCommand"]) == (
            "SERVICE",
            True,
            True,
        )
        assert svc["deploymentController"] == {"type": "ECS"}
        assert svc["tags"] == [{"key": "team", "value": "web"}]
    # Without include: [TAGS], no tags, as on ECS.
    assert "tags" not in ops.describe_services({"services": ["kept"]})["services"][0]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"schedulingStrategy": "DAEMON", "desiredCount": 2}, "desiredCount"),
        ({"schedulingStrategy": "DAEMON", "placementStrategy": [{"type": "random"}]}, "placementStrategy"),
        ({"schedulingStrategy": "SOMETIMES"}, "schedulingStrategy"),
        ({"deploymentController": {"type": "EXTERNAL"}}, "EXTERNAL"),
        ({"deploymentController": {"type": "CODE_DEPLOY"}}, "CODE_DEPLOY"),
        ({"capacityProviderStrategy": [{"capacityProvider": "cp"}]}, "capacityProviderStrategy"),
        ({"platformVersion": "LATEST"}, "platformVersion"),
        ({"serviceConnectConfiguration": {"enabled": True}}, "serviceConnectConfiguration"),
        ({"availabilityZoneRebalancing": "ENABLED"}, "availabilityZoneRebalancing"),
        ({"deploymentConfiguration": {"strategy": "BLUE_GREEN"}}, "strategy"),
        ({"deploymentConfiguration": {"alarms": {"alarmNames": ["a"], "enable": True}}}, "alarms"),
        ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"]}}}, "networkMode"),
        ({"role": "r"}, "load balancer"),
        ({"loadBalancers": [{"targetGroupArn": "tg", "containerName": "nope", "containerPort": 80}]}, "targetGroupArn"),
        ({"propagateTags": "EVERYTHING"}, "propagateTags"),
        ({"tags": [{"key": "aws:x", "value": "y"}]}, "aws:"),
    ],
)
def test_create_service_refuses_what_it_cannot_honour_by_name(
    ops: Operations, extra: dict[str, Any], named: str
) -> None:
    refused(
        lambda: ops.create_service({"serviceName": "no", "taskDefinition": "web:1", **extra}),
        "InvalidParameterException",
        named,
    )
    assert ops.list_services({})["serviceArns"] == []


def test_update_service_changes_kept_members_and_refuses_other_controllers(ops: Operations) -> None:
    ops.create_service({"serviceName": "s", "taskDefinition": "web:1", "desiredCount": 1})
    before = ops.describe_services({"services": ["s"]})["services"][0]
    after = ops.update_service({"service": "s", "enableExecuteCommand": True, "propagateTags": "TASK_DEFINITION"})
    svc = after["service"]
    assert (svc["enableExecuteCommand"], svc["propagateTags"]) == (True, "TASK_DEFINITION")
    # Changing what tasks run with opens a deployment, as on ECS.
    assert len(svc["deployments"]) == len(before["deployments"]) + 1
    refused(
        lambda: ops.update_service({"service": "s", "deploymentController": {"type": "EXTERNAL"}}),
        "InvalidParameterException",
        "EXTERNAL",
    )
    refused(lambda: ops.update_service({"service": "s", "platformVersion": "1.4.0"}), "InvalidParameterException")


def test_list_services_honours_launch_type_and_scheduling_strategy(ops: Operations) -> None:
    ops.create_service({"serviceName": "s", "taskDefinition": "web:1"})
    assert len(ops.list_services({"launchType": "EC2"})["serviceArns"]) == 1
    assert ops.list_services({"launchType": "FARGATE"})["serviceArns"] == []
    assert len(ops.list_services({"schedulingStrategy": "REPLICA"})["serviceArns"]) == 1
    assert ops.list_services({"schedulingStrategy": "DAEMON"})["serviceArns"] == []
    refused(lambda: ops.list_services({"schedulingStrategy": "SOMETIMES"}), "InvalidParameterException", "REPLICA")


# -- tags ----------------------------------------------------------------------------------------


def test_tag_untag_and_list_on_every_kind_of_resource(ops: Operations) -> None:
    ops.create_service({"serviceName": "s", "taskDefinition": "web:1"})
    task = ops.run_task({"taskDefinition": "web"})["tasks"][0]
    arns = [
        f"{arn_prefix()}:cluster/default",
        f"{arn_prefix()}:service/default/s",
        f"{arn_prefix()}:task-definition/web:1",
        task["taskArn"],
        task["containerInstanceArn"],
    ]
    for arn in arns:
        ops.tag_resource({"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]})
        ops.tag_resource({"resourceArn": arn, "tags": [{"key": "a", "value": "3"}]})
        ops.untag_resource({"resourceArn": arn, "tagKeys": ["b"]})
        assert ops.list_tags_for_resource({"resourceArn": arn})["tags"] == [{"key": "a", "value": "3"}], arn


def test_tag_limits_and_the_reserved_prefix(ops: Operations) -> None:
    arn = f"{arn_prefix()}:cluster/default"
    fifty = [{"key": f"k{i}", "value": "v"} for i in range(50)]
    ops.tag_resource({"resourceArn": arn, "tags": fifty})
    # 50 + 1 new key = 51 > 50; overwriting an existing key keeps 50.
    refused(
        lambda: ops.tag_resource({"resourceArn": arn, "tags": [{"key": "x", "value": "v"}]}),
        "InvalidParameterException",
        "50",
    )
    ops.tag_resource({"resourceArn": arn, "tags": [{"key": "k0", "value": "w"}]})
    assert len(ops.list_tags_for_resource({"resourceArn": arn})["tags"]) == 50
    refused(
        lambda: ops.tag_resource({"resourceArn": arn, "tags": [{"key": "k" * 129, "value": ""}]}),
        "InvalidParameterException",
        "128",
    )
    refused(
        lambda: ops.tag_resource({"resourceArn": arn, "tags": [{"key": "k", "value": "v" * 257}]}),
        "InvalidParameterException",
        "256",
    )
    refused(
        lambda: ops.tag_resource({"resourceArn": arn, "tags": [{"key": "AWS:x", "value": "v"}]}),
        "InvalidParameterException",
        "aws:",
    )
    refused(
        lambda: ops.untag_resource({"resourceArn": arn, "tagKeys": ["aws:ecs:clusterName"]}),
        "InvalidParameterException",
        "aws:",
    )


@pytest.mark.parametrize("prefix", [OTHER_ACCOUNT, OTHER_REGION])
def test_an_arn_of_another_account_or_region_is_not_ours(ops: Operations, prefix: str) -> None:
    ops.create_service({"serviceName": "s", "taskDefinition": "web:1"})
    refused(
        lambda: ops.list_tags_for_resource({"resourceArn": f"{prefix}:cluster/default"}), "ResourceNotFoundException"
    )
    described = ops.describe_clusters({"clusters": [f"{prefix}:cluster/default"]})
    assert described == {"clusters": [], "failures": [{"arn": f"{prefix}:cluster/default", "reason": "MISSING"}]}
    services = ops.describe_services({"services": [f"{prefix}:service/default/s"]})
    assert services["failures"] == [{"arn": f"{prefix}:service/default/s", "reason": "MISSING"}]
    task = ops.run_task({"taskDefinition": "web"})["tasks"][0]
    foreign = task["taskArn"].replace(arn_prefix(), prefix)
    assert ops.describe_tasks({"tasks": [foreign]})["failures"] == [{"arn": foreign, "reason": "MISSING"}]


def test_service_tasks_get_propagated_and_managed_tags(ops: Operations) -> None:
    ops.tag_resource({"resourceArn": f"{arn_prefix()}:task-definition/web:1", "tags": [{"key": "from", "value": "td"}]})
    ops.create_service(
        {
            "serviceName": "s",
            "taskDefinition": "web:1",
            "desiredCount": 1,
            "propagateTags": "SERVICE",
            "enableECSManagedTags": True,
            "tags": [{"key": "from", "value": "service"}],
        }
    )
    # The service controller starts the task; its tags come with it.
    ServiceController(ops.ctx).reconcile_all()
    (arn,) = ops.list_tasks({"serviceName": "s"})["taskArns"]
    tags = tag_map(ops.describe_tasks({"tasks": [arn], "include": ["TAGS"]})["tasks"][0]["tags"])
    assert tags == {"from": "service", "aws:ecs:clusterName": "default", "aws:ecs:serviceName": "s"}


def test_run_task_tags_propagation_and_managed_tags(ops: Operations) -> None:
    ops.tag_resource({"resourceArn": f"{arn_prefix()}:task-definition/web:1", "tags": [{"key": "from", "value": "td"}]})
    out = ops.run_task(
        {
            "taskDefinition": "web",
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": True,
            "tags": [{"key": "mine", "value": "1"}],
        }
    )
    assert tag_map(out["tasks"][0]["tags"]) == {"from": "td", "mine": "1", "aws:ecs:clusterName": "default"}
    refused(
        lambda: ops.run_task({"taskDefinition": "web", "propagateTags": "SERVICE"}),
        "InvalidParameterException",
        "SERVICE",
    )


def test_task_definition_tags_on_register_and_with_include(ops: Operations) -> None:
    out = ops.register_task_definition(
        {"family": "tagged", "containerDefinitions": [container()], "tags": [{"key": "t", "value": "1"}]}
    )
    assert out["tags"] == [{"key": "t", "value": "1"}]
    assert "tags" not in ops.describe_task_definition({"taskDefinition": "tagged"})
    assert ops.describe_task_definition({"taskDefinition": "tagged", "include": ["TAGS"]})["tags"] == out["tags"]
    refused(
        lambda: ops.describe_task_definition({"taskDefinition": "tagged", "include": ["ALL"]}),
        "InvalidParameterException",
        "TAGS",
    )


# -- RunTask overrides and client tokens ----------------------------------------------------------


def test_run_task_keeps_command_and_environment_overrides_and_refuses_the_rest(ops: Operations) -> None:
    overrides = {
        "containerOverrides": [{"name": "app", "command": ["echo", "hi"], "environment": [{"name": "A", "value": "1"}]}]
    }
    task = ops.run_task({"taskDefinition": "web", "overrides": overrides})["tasks"][0]
    assert task["overrides"]["containerOverrides"] == overrides["containerOverrides"]
    cdef = {
        "name": "app",
        "command": ["sleep", "1"],
        "environment": [{"name": "A", "value": "0"}, {"name": "B", "value": "2"}],
    }
    applied = with_overrides(task, cdef)
    assert applied["command"] == ["echo", "hi"]
    assert applied["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    for bad, named in [
        ({"containerOverrides": [{"name": "app", "memory": 64}]}, "memory"),
        ({"containerOverrides": [{"name": "app", "cpu": 64}]}, "cpu"),
        ({"taskRoleArn": "arn:aws:iam::000000000000:role/r"}, "taskRoleArn"),
        ({"containerOverrides": [{"name": "ghost"}]}, "ghost"),
    ]:
        refused(
            lambda b=bad: ops.run_task({"taskDefinition": "web", "overrides": b}), "InvalidParameterException", named
        )


def test_a_repeated_client_token_returns_the_same_tasks(ops: Operations) -> None:
    first = ops.run_task({"taskDefinition": "web", "clientToken": "t-1"})["tasks"]
    again = ops.run_task({"taskDefinition": "web", "clientToken": "t-1"})["tasks"]
    assert [t["taskArn"] for t in again] == [t["taskArn"] for t in first]
    assert len(ops.list_tasks({})["taskArns"]) == 1


# -- the default cluster, clusters and their settings ---------------------------------------------


def test_the_default_cluster_exists_only_once_something_creates_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "fresh.db")
    ops = Operations(Context(store=store, clock=FakeClock()))
    assert ops.list_clusters({})["clusterArns"] == []
    refused(lambda: ops.list_services({}), "ClusterNotFoundException", "Cluster not found.")
    ops.register_task_definition({"family": "web", "containerDefinitions": [container()]})
    refused(lambda: ops.run_task({"taskDefinition": "web"}), "ClusterNotFoundException")
    refused(lambda: ops.create_service({"serviceName": "s", "taskDefinition": "web"}), "ClusterNotFoundException")
    missing = ops.describe_clusters({})
    assert missing["failures"] == [{"arn": f"{arn_prefix()}:cluster/default", "reason": "MISSING"}]
    # Another cluster is not created by an agent joining it; `default` is.
    other = {"cluster": "other", "zone": "us-east-1a", "cpu": 1024, "memory": 1024}
    refused(lambda: ops.register_instance(other), "ClusterNotFoundException")
    instance(ops, "i1", "us-east-1a")
    assert ops.list_clusters({})["clusterArns"] == [f"{arn_prefix()}:cluster/default"]
    store.close()


def test_cluster_settings_and_tags_through_create_update_and_describe(ops: Operations) -> None:
    created = ops.create_cluster(
        {
            "clusterName": "c",
            "tags": [{"key": "env", "value": "dev"}],
            "settings": [{"name": "containerInsights", "value": "enabled"}],
        }
    )["cluster"]
    assert created["tags"] == [{"key": "env", "value": "dev"}]
    assert created["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    updated = ops.update_cluster_settings(
        {"cluster": "c", "settings": [{"name": "containerInsights", "value": "disabled"}]}
    )
    assert updated["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    plain = ops.describe_clusters({"clusters": ["c"]})["clusters"][0]
    assert (plain["settings"], plain["tags"], plain["statistics"]) == ([], [], [])
    full = ops.describe_clusters({"clusters": ["c"], "include": ["SETTINGS", "TAGS", "STATISTICS"]})["clusters"][0]
    assert full["tags"] == [{"key": "env", "value": "dev"}] and full["settings"][0]["value"] == "disabled"
    assert {s["name"] for s in full["statistics"]} >= {"runningEC2TasksCount", "activeEC2ServiceCount"}
    refused(
        lambda: ops.update_cluster({"cluster": "c", "settings": [{"name": "other", "value": "x"}]}),
        "InvalidParameterException",
        "containerInsights",
    )
    refused(
        lambda: ops.create_cluster({"clusterName": "d", "capacityProviders": ["FARGATE"]}),
        "InvalidParameterException",
        "capacityProviders",
    )
    refused(lambda: ops.update_cluster({"cluster": "ghost"}), "ClusterNotFoundException")


# -- task definition families and deletion --------------------------------------------------------


def test_list_task_definition_families_by_status(ops: Operations) -> None:
    task_definition(ops, "api")
    task_definition(ops, "old")
    ops.deregister_task_definition({"taskDefinition": "old:1"})
    assert ops.list_task_definition_families({})["families"] == ["api", "old", "web"]
    assert ops.list_task_definition_families({"status": "ACTIVE"})["families"] == ["api", "web"]
    assert ops.list_task_definition_families({"status": "INACTIVE"})["families"] == ["old"]
    assert ops.list_task_definition_families({"familyPrefix": "a"})["families"] == ["api"]
    refused(lambda: ops.list_task_definition_families({"status": "GONE"}), "InvalidParameterException", "status")


def test_delete_task_definitions_only_deletes_inactive_revisions(ops: Operations) -> None:
    task_definition(ops, "web")  # web:2
    ops.deregister_task_definition({"taskDefinition": "web:1"})
    out = ops.delete_task_definitions({"taskDefinitions": ["web:1", "web:2", "ghost:1"]})
    assert [(t["family"], t["revision"], t["status"]) for t in out["taskDefinitions"]] == [
        ("web", 1, "DELETE_IN_PROGRESS")
    ]
    reasons = {f["arn"].rsplit("/", 1)[-1]: f["reason"] for f in out["failures"]}
    assert "ACTIVE" in reasons["web:2"] and "does not exist" in reasons["ghost:1"]
    assert ops.describe_task_definition({"taskDefinition": "web:1"})["taskDefinition"]["status"] == "DELETE_IN_PROGRESS"
    refused(
        lambda: ops.create_service({"serviceName": "s", "taskDefinition": "web:1"}),
        "InvalidParameterException",
        "inactive",
    )


def test_task_definitions_keep_only_the_compatibilities_the_caller_named(ops: Operations) -> None:
    assert "requiresCompatibilities" not in ops.describe_task_definition({"taskDefinition": "web"})["taskDefinition"]
    out = ops.register_task_definition(
        {"family": "ec2", "containerDefinitions": [container()], "requiresCompatibilities": ["EC2"]}
    )
    assert out["taskDefinition"]["requiresCompatibilities"] == ["EC2"]


# -- account settings and attributes ----------------------------------------------------------------

ROOT = "arn:aws:iam::000000000000:root"
USER = "arn:aws:iam::000000000000:user/dev"


def test_account_settings_per_principal_with_effective_values(ops: Operations) -> None:
    user = ops.put_account_setting({"name": "containerInsights", "value": "enhanced", "principalArn": USER})
    assert user["setting"] == {"name": "containerInsights", "value": "enhanced", "principalArn": USER, "type": "user"}
    default = ops.put_account_setting_default({"name": "containerInsights", "value": "enabled"})
    assert default["setting"]["principalArn"] == ROOT
    assert ops.list_account_settings({"principalArn": USER})["settings"] == [user["setting"]]
    # effectiveSettings: the user's own value, else the account default, else ECS's default.
    effective = ops.list_account_settings({"principalArn": USER, "effectiveSettings": True, "maxResults": 10})
    values = {s["name"]: s["value"] for s in effective["settings"]}
    assert values["containerInsights"] == "enhanced" and values["taskLongArnFormat"] == "enabled"
    # The account default is what a new cluster starts with.
    created = ops.create_cluster({"clusterName": "insights"})["cluster"]
    assert created["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    deleted = ops.delete_account_setting({"name": "containerInsights", "principalArn": USER})
    assert deleted["setting"]["value"] == "enhanced"
    assert ops.list_account_settings({"principalArn": USER})["settings"] == []
    refused(
        lambda: ops.delete_account_setting({"name": "containerInsights", "principalArn": USER}),
        "InvalidParameterException",
    )


@pytest.mark.parametrize(
    ("req", "named"),
    [
        ({"name": "taskLongArnFormat", "value": "disabled"}, "long ARN"),
        ({"name": "awsvpcTrunking", "value": "enabled"}, "awsvpcTrunking"),
        ({"name": "containerInsights", "value": "maybe"}, "containerInsights"),
        ({"name": "nope", "value": "x"}, "name"),
        (
            {"name": "containerInsights", "value": "enabled", "principalArn": "arn:aws:iam::111111111111:root"},
            "account",
        ),
    ],
)
def test_account_settings_we_cannot_honour_are_refused_by_name(
    ops: Operations, req: dict[str, str], named: str
) -> None:
    refused(lambda: ops.put_account_setting(req), "InvalidParameterException", named)
    assert ops.list_account_settings({})["settings"] == []


def test_list_and_delete_attributes(ops: Operations) -> None:
    arn = ops.list_container_instances({})["containerInstanceArns"][0]
    ops.put_attributes({"attributes": [{"name": "stack", "value": "blue", "targetId": arn}]})
    listed = ops.list_attributes({"targetType": "container-instance", "attributeName": "stack"})["attributes"]
    assert listed == [{"name": "stack", "value": "blue", "targetId": arn}]
    assert (
        ops.list_attributes({"targetType": "container-instance", "attributeName": "stack", "attributeValue": "red"})[
            "attributes"
        ]
        == []
    )
    zones = ops.list_attributes({"targetType": "container-instance", "attributeName": "ecs.availability-zone"})
    assert len(zones["attributes"]) == 2
    refused(lambda: ops.list_attributes({}), "InvalidParameterException", "targetType")
    refused(
        lambda: ops.delete_attributes({"attributes": [{"name": "ecs.availability-zone", "targetId": arn}]}),
        "InvalidParameterException",
        "built-in",
    )
    refused(
        lambda: ops.delete_attributes({"attributes": [{"name": "stack", "targetId": "ghost"}]}),
        "TargetNotFoundException",
    )
    out = ops.delete_attributes({"attributes": [{"name": "stack", "targetId": arn}]})
    assert out["attributes"] == [{"name": "stack", "targetType": "container-instance", "targetId": arn}]
    assert ops.list_attributes({"targetType": "container-instance", "attributeName": "stack"})["attributes"] == []


# -- one region per control plane ------------------------------------------------------------------


@pytest.fixture
def eu_west_1() -> Iterator[str]:
    set_region("eu-west-1")
    try:
        yield "eu-west-1"
    finally:
        set_region(DEFAULT_REGION)


def _signed_call(endpoint: EcsEndpoint, operation: str, body: dict[str, Any], pair: Credentials, region: str) -> Any:
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8420/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": target_for("ecs", operation), "Content-Type": CONTENT_TYPE},
    )
    when = dt.datetime.fromtimestamp(START, dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(pair, "ecs", region).add_auth(request)
    prepared = request.prepare()
    headers = {**dict(prepared.headers.items()), "Host": "127.0.0.1:8420"}
    response = endpoint.handle("POST", "/", "", headers, request.body)
    return response.status, json.loads(response.body)


def test_every_arn_names_the_region_and_other_regions_signatures_are_refused(tmp_path: Path, eu_west_1: str) -> None:
    store = Store(tmp_path / "eu.db")
    clock = FakeClock(START)
    ops = Operations(Context(store=store, clock=clock))
    keys = AccessKeys(store, tmp_path / MASTER_KEY_FILE, clock)
    created, _ = keys.create("region tests")
    pair = Credentials(created.access_key_id, created.secret_access_key)
    endpoint = EcsEndpoint(ops, keys, clock)
    status, out = _signed_call(endpoint, "CreateCluster", {"clusterName": "eu"}, pair, eu_west_1)
    assert status == 200 and out["cluster"]["clusterArn"] == "arn:aws:ecs:eu-west-1:000000000000:cluster/eu"
    status, out = _signed_call(endpoint, "ListClusters", {}, pair, "us-east-1")
    assert (status, out["__type"]) == (400, "IncompleteSignatureException")
    assert "Credential should be scoped to a valid region" in out["message"]
    # An ARN of the default region is another region's now: not ours.
    us = "arn:aws:ecs:us-east-1:000000000000:cluster/eu"
    status, out = _signed_call(endpoint, "DescribeClusters", {"clusters": [us]}, pair, eu_west_1)
    assert out["failures"] == [{"arn": us, "reason": "MISSING"}]
    store.close()


def test_start_task_keeps_tags_overrides_and_exec_like_run_task(ops: Operations) -> None:
    arn = ops.list_container_instances({})["containerInstanceArns"][0]
    out = ops.start_task(
        {
            "taskDefinition": "web",
            "containerInstances": [arn],
            "tags": [{"key": "mine", "value": "1"}],
            "enableECSManagedTags": True,
            "enableExecuteCommand": True,
            "overrides": {"containerOverrides": [{"name": "app", "command": ["true"]}]},
        }
    )
    (task,) = out["tasks"]
    assert tag_map(task["tags"]) == {"mine": "1", "aws:ecs:clusterName": "default"}
    assert task["enableExecuteCommand"] is True
    assert task["overrides"]["containerOverrides"] == [{"name": "app", "command": ["true"]}]
    refused(
        lambda: ops.start_task({"taskDefinition": "web", "containerInstances": [arn], "referenceId": "r"}),
        "InvalidParameterException",
        "referenceId",
    )


def test_describe_container_instances_with_health_and_tags(ops: Operations) -> None:
    arn = ops.list_container_instances({})["containerInstanceArns"][0]
    ops.tag_resource({"resourceArn": arn, "tags": [{"key": "rack", "value": "r1"}]})
    include = ["TAGS", "CONTAINER_INSTANCE_HEALTH"]
    (described,) = ops.describe_container_instances({"containerInstances": [arn], "include": include})[
        "containerInstances"
    ]
    assert described["tags"] == [{"key": "rack", "value": "r1"}]
    assert described["healthStatus"]["overallStatus"] == "OK"
    assert described["healthStatus"]["details"][0]["type"] == "CONTAINER_RUNTIME"
    (plain,) = ops.describe_container_instances({"containerInstances": [arn]})["containerInstances"]
    assert "healthStatus" not in plain and "tags" not in plain
    refused(
        lambda: ops.describe_container_instances({"containerInstances": [arn], "include": ["EVERYTHING"]}),
        "InvalidParameterException",
        "TAGS",
    )
