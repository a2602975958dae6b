"""boto3, unchanged, against the ECS-compatible endpoint of a cluster of real agents and containers.

One control plane with three real-Docker agents in three zones serves the whole module. Every
response the endpoint sends is recorded server-side and checked against botocore's model by the
last test, so a member botocore would silently drop cannot slip through.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import TASK_DEFINITION, WireLog, real_cluster

REGION = "us-east-1"
ARN = "arn:aws:ecs:us-east-1:000000000000"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def wire() -> Iterator[WireLog]:
    log = WireLog()
    with log.recording():
        yield log


@pytest.fixture(scope="module")
def cluster(
    wire: WireLog, docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    with real_cluster(Path(tmp_path_factory.mktemp("ecs-endpoint")) / "data") as c:
        yield c


@pytest.fixture(scope="module")
def keys(cluster: LocalCluster) -> dict[str, Any]:
    return cluster.api("POST", "/v1/credentials", {"description": "boto3 tests"})


def client(cluster: LocalCluster, keys: dict[str, Any], service: str = "ecs", **overrides: Any) -> BaseClient:
    settings: dict[str, Any] = {
        "endpoint_url": cluster.url,
        "region_name": REGION,
        "aws_access_key_id": keys["accessKeyId"],
        "aws_secret_access_key": keys["secretAccessKey"],
        "config": NO_RETRIES,
        **overrides,
    }
    return boto3.client(service, **settings)


@pytest.fixture(scope="module")
def ecs(cluster: LocalCluster, keys: dict[str, Any]) -> BaseClient:
    return client(cluster, keys)


@pytest.fixture(scope="module")
def sleeper(ecs: BaseClient) -> str:
    return str(ecs.register_task_definition(**TASK_DEFINITION)["taskDefinition"]["taskDefinitionArn"])


def error_code(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def stable(ecs: BaseClient, *services: str, cluster: str = "default") -> None:
    # botocore's own waiter with its own acceptors, polled every second instead of every 15.
    ecs.get_waiter("services_stable").wait(
        cluster=cluster, services=list(services), WaiterConfig={"Delay": 1, "MaxAttempts": 90}
    )


def described(ecs: BaseClient, arns: list[str]) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return tasks


# -- clusters ------------------------------------------------------------------------------------


def test_clusters_default_pagination_failures_and_delete(ecs: BaseClient) -> None:
    for name in ("boto-a", "boto-b"):
        assert ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"] == f"{ARN}:cluster/{name}"
    # Pages of one, by hand: default, boto-a, boto-b.
    arns: list[str] = []
    page = ecs.list_clusters(maxResults=1)
    while True:
        assert len(page["clusterArns"]) == 1
        arns += page["clusterArns"]
        if "nextToken" not in page:
            break
        page = ecs.list_clusters(maxResults=1, nextToken=page["nextToken"])
    assert arns == [f"{ARN}:cluster/{n}" for n in ("boto-a", "boto-b", "default")]

    assert [c["clusterName"] for c in ecs.describe_clusters()["clusters"]] == ["default"]
    out = ecs.describe_clusters(clusters=["boto-a", "nope"], include=["SETTINGS", "STATISTICS", "TAGS"])
    assert [c["clusterName"] for c in out["clusters"]] == ["boto-a"]
    assert out["failures"] == [{"arn": f"{ARN}:cluster/nope", "reason": "MISSING"}]
    assert ecs.describe_clusters()["clusters"][0]["registeredContainerInstancesCount"] == 3

    for name in ("boto-a", "boto-b"):
        assert ecs.delete_cluster(cluster=name)["cluster"]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == [f"{ARN}:cluster/default"]
    code, message, status = error_code(lambda: ecs.delete_cluster(cluster="default"))
    assert (code, status) == ("ClusterContainsContainerInstancesException", 400)
    assert "deregister" in message
    assert error_code(lambda: ecs.list_services(cluster="boto-a"))[0] == "ClusterNotFoundException"


# -- task definitions ----------------------------------------------------------------------------


def test_task_definitions_register_describe_list_deregister(ecs: BaseClient) -> None:
    family = {**TASK_DEFINITION, "family": "boto-td"}
    first = ecs.register_task_definition(**family, tags=[{"key": "team", "value": "a"}])
    assert first["tags"] == [{"key": "team", "value": "a"}]
    ecs.register_task_definition(**family)
    latest = ecs.describe_task_definition(taskDefinition="boto-td", include=["TAGS"])["taskDefinition"]
    assert latest["revision"] == 2 and latest["taskDefinitionArn"] == f"{ARN}:task-definition/boto-td:2"
    # Timestamps travel as epoch seconds; botocore turns them into datetimes.
    assert isinstance(latest["registeredAt"], dt.datetime)
    page = ecs.list_task_definitions(familyPrefix="boto-td", maxResults=1)
    assert page["taskDefinitionArns"] == [f"{ARN}:task-definition/boto-td:1"] and page["nextToken"]
    assert ecs.deregister_task_definition(taskDefinition="boto-td:1")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.list_task_definitions(familyPrefix="boto-td", status="INACTIVE")["taskDefinitionArns"] == [
        f"{ARN}:task-definition/boto-td:1"
    ]
    assert error_code(lambda: ecs.describe_task_definition(taskDefinition="boto-nope"))[0] == "ClientException"
    code, message, _ = error_code(
        lambda: ecs.register_task_definition(
            family="boto-bad", containerDefinitions=[{"name": "app", "image": "orch/busybox:latest"}]
        )
    )
    assert code == "ClientException" and "memory" in message
    assert ecs.list_task_definitions(familyPrefix="boto-bad")["taskDefinitionArns"] == []


# -- services ------------------------------------------------------------------------------------


def test_service_create_rollout_and_delete(ecs: BaseClient, sleeper: str) -> None:
    created = ecs.create_service(serviceName="web", taskDefinition=sleeper, desiredCount=3)["service"]
    assert created["serviceArn"] == f"{ARN}:service/default/web" and created["status"] == "ACTIVE"
    stable(ecs, "web")
    svc = ecs.describe_services(services=["web"], include=["TAGS"])["services"][0]
    assert (svc["runningCount"], svc["desiredCount"], len(svc["deployments"])) == (3, 3, 1)
    assert svc["events"] and isinstance(svc["events"][0]["createdAt"], dt.datetime)

    arns = ecs.list_tasks(serviceName="web")["taskArns"]
    tasks = described(ecs, arns)
    # 3 tasks over 3 zones of one instance each: one per zone.
    assert sorted(Counter(t["availabilityZone"] for t in tasks).values()) == [1, 1, 1]
    assert all(t["lastStatus"] == "RUNNING" and t["group"] == "service:web" for t in tasks)
    missing = ecs.describe_tasks(tasks=[arns[0], "0" * 32], include=["TAGS"])
    assert len(missing["tasks"]) == 1
    assert missing["failures"] == [{"arn": f"{ARN}:task/default/{'0' * 32}", "reason": "MISSING"}]

    second = ecs.register_task_definition(**TASK_DEFINITION)["taskDefinition"]["taskDefinitionArn"]
    updated = ecs.update_service(service="web", taskDefinition=second, desiredCount=4)["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert updated["deployments"][0]["taskDefinition"] == second
    stable(ecs, "web")
    svc = ecs.describe_services(services=[f"{ARN}:service/default/web"])["services"][0]
    assert (svc["runningCount"], len(svc["deployments"]), svc["taskDefinition"]) == (4, 1, second)
    tasks = described(ecs, ecs.list_tasks(serviceName="web")["taskArns"])
    assert len(tasks) == 4 and {t["taskDefinitionArn"] for t in tasks} == {second}

    ecs.create_service(serviceName="idle", taskDefinition=sleeper, desiredCount=0)
    page = ecs.list_services(maxResults=1)
    assert len(page["serviceArns"]) == 1 and page["nextToken"]
    rest = ecs.list_services(maxResults=1, nextToken=page["nextToken"])
    assert {*page["serviceArns"], *rest["serviceArns"]} == {f"{ARN}:service/default/{n}" for n in ("idle", "web")}

    out = ecs.describe_services(services=["web", "ghost"])
    assert out["failures"] == [{"arn": f"{ARN}:service/default/ghost", "reason": "MISSING"}]
    code, message, _ = error_code(lambda: ecs.describe_services(services=[f"s{i}" for i in range(11)]))
    assert code == "InvalidParameterException" and "10" in message
    assert error_code(lambda: ecs.update_service(service="ghost", desiredCount=1))[0] == "ServiceNotFoundException"
    assert error_code(lambda: ecs.list_tasks(serviceName="ghost"))[0] == "ServiceNotFoundException"
    code, message, _ = error_code(lambda: ecs.delete_service(service="web"))
    assert code == "InvalidParameterException" and "force" in message

    assert ecs.delete_service(service="web", force=True)["service"]["status"] == "DRAINING"
    assert ecs.delete_service(service="idle")["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["web", "idle"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert ecs.list_tasks(serviceName="web")["taskArns"] == []


# -- standalone tasks ----------------------------------------------------------------------------


def test_run_start_list_and_stop_tasks(ecs: BaseClient, cluster: LocalCluster, sleeper: str) -> None:
    ran = ecs.run_task(taskDefinition=sleeper, count=2, startedBy="boto")
    assert len(ran["tasks"]) == 2 and ran["failures"] == []
    arns = [t["taskArn"] for t in ran["tasks"]]
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert all(t["lastStatus"] == "RUNNING" for t in described(ecs, arns))
    assert sorted(ecs.list_tasks(startedBy="boto")["taskArns"]) == sorted(arns)
    assert set(arns) <= set(ecs.list_tasks(family="sleeper")["taskArns"])

    instance = cluster.instance_id("agent-2")
    started = ecs.start_task(taskDefinition=sleeper, containerInstances=[instance], startedBy="boto")["tasks"]
    assert [t["containerInstanceArn"] for t in started] == [f"{ARN}:container-instance/default/{instance}"]
    arns.append(started[0]["taskArn"])

    stopped = ecs.stop_task(task=arns[0], reason="done with it")["task"]
    assert (stopped["desiredStatus"], stopped["stoppedReason"]) == ("STOPPED", "done with it")
    ecs.get_waiter("tasks_stopped").wait(tasks=arns[:1], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    task = described(ecs, arns[:1])[0]
    assert task["stopCode"] == "UserInitiated" and isinstance(task["stoppedAt"], dt.datetime)
    assert arns[0] in ecs.list_tasks(desiredStatus="STOPPED")["taskArns"]

    code, message, _ = error_code(lambda: ecs.run_task(taskDefinition=sleeper, count=11))
    assert (code, message) == ("InvalidParameterException", "count must be at most 10, got 11.")
    assert error_code(lambda: ecs.run_task(taskDefinition=sleeper, count=0))[0] == "InvalidParameterException"
    assert error_code(lambda: ecs.stop_task(task="0" * 32))[0] == "InvalidParameterException"
    assert error_code(lambda: ecs.run_task(taskDefinition="nope"))[0] == "ClientException"
    for arn in arns[1:]:
        ecs.stop_task(task=arn)
    assert ecs.list_tasks(startedBy="boto")["taskArns"] == []


# -- container instances -------------------------------------------------------------------------


def test_container_instances_filter_describe_drain_and_attributes(ecs: BaseClient, cluster: LocalCluster) -> None:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    assert len(arns) == 3
    in_a = ecs.list_container_instances(filter="attribute:ecs.availability-zone == us-east-1a")
    assert in_a["containerInstanceArns"] == [f"{ARN}:container-instance/default/{cluster.instance_id('agent-1')}"]
    two = ecs.list_container_instances(filter="attribute:ecs.availability-zone in [us-east-1a, us-east-1b]")
    assert len(two["containerInstanceArns"]) == 2
    code, message, _ = error_code(lambda: ecs.list_container_instances(filter="attribute:ecs.availability-zone =="))
    assert code == "InvalidParameterException" and message.startswith("filter:")

    out = ecs.describe_container_instances(containerInstances=[*arns, "f" * 32], include=["CONTAINER_INSTANCE_HEALTH"])
    assert len(out["containerInstances"]) == 3
    assert out["failures"] == [{"arn": f"{ARN}:container-instance/default/{'f' * 32}", "reason": "MISSING"}]
    inst = out["containerInstances"][0]
    assert isinstance(inst["registeredAt"], dt.datetime) and inst["agentConnected"] is True
    assert {r["name"] for r in inst["registeredResources"]} >= {"CPU", "MEMORY", "PORTS"}

    third = cluster.instance_id("agent-3")
    drained = ecs.update_container_instances_state(containerInstances=[third], status="DRAINING")
    assert drained["containerInstances"][0]["status"] == "DRAINING" and drained["failures"] == []
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == [
        f"{ARN}:container-instance/default/{third}"
    ]
    ecs.update_container_instances_state(containerInstances=[third], status="ACTIVE")
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == []

    ecs.put_attributes(attributes=[{"name": "stage", "value": "blue", "targetId": third}])
    assert ecs.list_container_instances(filter="attribute:stage == blue")["containerInstanceArns"] == [
        f"{ARN}:container-instance/default/{third}"
    ]


# -- authentication ------------------------------------------------------------------------------


def test_requests_that_fail_authentication_run_nothing(
    ecs: BaseClient, cluster: LocalCluster, keys: dict[str, Any]
) -> None:
    unsigned = client(cluster, keys, config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    assert error_code(lambda: unsigned.create_cluster(clusterName="evil")) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        403,
    )
    wrong = client(cluster, keys, aws_secret_access_key="x" * 40)
    assert error_code(lambda: wrong.create_cluster(clusterName="evil"))[0] == "InvalidSignatureException"
    unknown = client(cluster, keys, aws_access_key_id="AKIAAAAAAAAAAAAAAAAA")
    assert error_code(lambda: unknown.create_cluster(clusterName="evil"))[0] == "UnrecognizedClientException"

    ten_minutes_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", return_value=ten_minutes_ago):
        code, message, _ = error_code(lambda: ecs.create_cluster(clusterName="evil"))
    assert code == "InvalidSignatureException" and message.startswith("Signature expired")

    revoked_keys = cluster.api("POST", "/v1/credentials")
    revoked = client(cluster, revoked_keys)
    assert revoked.list_clusters()["clusterArns"]
    cluster.api("DELETE", f"/v1/credentials/{revoked_keys['accessKeyId']}")
    assert error_code(lambda: revoked.create_cluster(clusterName="evil"))[0] == "UnrecognizedClientException"

    assert f"{ARN}:cluster/evil" not in ecs.list_clusters()["clusterArns"]


def test_operations_we_do_not_implement_say_so(ecs: BaseClient) -> None:
    code, message, status = error_code(lambda: ecs.describe_task_sets(cluster="default", service="x"))
    assert (code, status) == ("UnknownOperationException", 400)
    assert "DescribeTaskSets is not supported" in message and "RunTask" in message
    # ExecuteCommand needs a Session Manager we do not have: the refusal says what to use instead.
    code, message, status = error_code(
        lambda: ecs.execute_command(cluster="default", task="t", command="sh", interactive=True)
    )
    assert (code, status) == ("UnknownOperationException", 400)
    assert "ExecuteCommand is not supported" in message and "orchestrator task exec" in message


# -- Application Auto Scaling -------------------------------------------------------------------


def test_application_auto_scaling_scales_an_idle_service_in(
    ecs: BaseClient, cluster: LocalCluster, keys: dict[str, Any], sleeper: str
) -> None:
    aas = client(cluster, keys, "application-autoscaling")
    ecs.create_service(serviceName="scaled", taskDefinition=sleeper, desiredCount=2)
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": "service/default/scaled",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    arn = aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)["ScalableTargetARN"]
    listed = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/default/scaled"])
    assert [(t["ScalableTargetARN"], t["MinCapacity"], t["MaxCapacity"]) for t in listed["ScalableTargets"]] == [
        (arn, 1, 3)
    ]
    assert isinstance(listed["ScalableTargets"][0]["CreationTime"], dt.datetime)
    policy = aas.put_scaling_policy(
        **target,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "ScaleInCooldown": 0,
            "ScaleOutCooldown": 0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )
    policies = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId="service/default/scaled")
    assert [p["PolicyARN"] for p in policies["ScalingPolicies"]] == [policy["PolicyARN"]]

    def scaled_in() -> list[dict[str, Any]]:
        activities = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId="service/default/scaled")
        return [a for a in activities["ScalingActivities"] if a["StatusCode"] == "Successful"]

    # Sleeping busybox uses about 0 % CPU, under 90 % of the 50 % target for 3 periods of 1 s: the
    # low alarm fires and target tracking scales in, down to the target's minimum of 1.
    activity = wait_for(scaled_in, 60, interval=0.5, what="a successful scale-in activity")[0]
    assert activity["Description"] == "Setting desired count to 1."
    assert ecs.describe_services(services=["scaled"])["services"][0]["desiredCount"] == 1

    code, message, _ = error_code(
        lambda: aas.register_scalable_target(
            **{**target, "ResourceId": "service/default/ghost"}, MinCapacity=1, MaxCapacity=2
        )
    )
    assert code == "ValidationException" and "ghost" in message
    code, _, _ = error_code(lambda: aas.delete_scaling_policy(**target, PolicyName="nope"))
    assert code == "ObjectNotFoundException"
    aas.delete_scaling_policy(**target, PolicyName="cpu50")
    aas.deregister_scalable_target(**target)
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    ecs.delete_service(service="scaled", force=True)


# -- the model, for everything above -------------------------------------------------------------


def test_every_response_of_this_module_fits_the_botocore_model(wire: WireLog) -> None:
    # Runs last (pytest keeps file order): by now the tests above produced these operations.
    assert {
        "CreateCluster",
        "DescribeServices",
        "DescribeTasks",
        "DescribeContainerInstances",
        "RunTask",
        "UpdateService",
        "RegisterTaskDefinition",
        "PutScalingPolicy",
        "DescribeScalingActivities",
    } <= wire.operations()
    assert wire.problems() == []
