"""awsvpc on the control plane: networkConfiguration's local meaning, the task's ENI attachment
from placement to the agent's report to the stop, and load balancer target types by network mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from orchestrator.api.aws.ecs import EcsEndpoint, conform
from orchestrator.core.errors import ApiError
from orchestrator.core.task_network import LOCAL_SUBNET
from orchestrator.operations import Operations
from orchestrator.operations.service_members import ECS_WIRE
from orchestrator.reconcile import targets
from orchestrator.reconcile.services import ServiceController
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from tests.builders import container, control_plane, instance
from tests.unit.test_ecs_adapter import call
from tests.unit.test_lb_targets import FakePlane

VPC = {"awsvpcConfiguration": {"subnets": [LOCAL_SUBNET]}}


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "a", "us-east-1a")
    for family, mode in (("vpc", "awsvpc"), ("br", "bridge")):
        o.register_task_definition(
            {"family": family, "networkMode": mode,
             "containerDefinitions": [container(portMappings=[{"containerPort": 80}])]}
        )  # fmt: skip
    return o


def run(ops: Operations, family: str, **req: Any) -> dict[str, Any]:
    [task] = ops.run_task({"taskDefinition": family, **req})["tasks"]
    return dict(task)


def test_rest_and_cli_get_the_local_subnet_when_they_name_none(ops: Operations) -> None:
    task = run(ops, "vpc")
    assert task["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [LOCAL_SUBNET]
    [attachment] = task["attachments"]
    assert (attachment["type"], attachment["status"]) == ("ElasticNetworkInterface", "PRECREATED")
    assert attachment["details"] == [{"name": "subnetId", "value": LOCAL_SUBNET}]
    assert "attachments" not in run(ops, "br") or run(ops, "br")["attachments"] == []


NETWORK_REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    # (what, family, networkConfiguration, words of the InvalidParameterException)
    ("another subnet", "vpc", {"awsvpcConfiguration": {"subnets": ["subnet-0abc"]}},
     "subnets: 'subnet-0abc' is not a subnet here. The one subnet is subnet-local"),
    ("security group", "vpc", {"awsvpcConfiguration": {"subnets": [LOCAL_SUBNET], "securityGroups": ["sg-1"]}},
     "securityGroups: sg-1: there are no security groups here"),
    ("public IP", "vpc", {"awsvpcConfiguration": {"subnets": [LOCAL_SUBNET], "assignPublicIp": "ENABLED"}},
     "only supported with FARGATE"),
    ("no subnets", "vpc", {"awsvpcConfiguration": {"subnets": []}}, "subnets must name 1 to 16 subnets"),
    ("bridge", "br", VPC, "Network Configuration is not valid for the given networkMode of this task definition."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "network", "words"), [r[1:] for r in NETWORK_REFUSED], ids=[r[0] for r in NETWORK_REFUSED]
)
def test_network_configuration_refused_by_name(
    ops: Operations, family: str, network: dict[str, Any], words: str
) -> None:
    for call_ in (
        lambda: ops.run_task({"taskDefinition": family, "networkConfiguration": network}),
        lambda: ops.create_service(
            {"serviceName": "s", "taskDefinition": family, "desiredCount": 1, "networkConfiguration": network}
        ),
    ):
        with pytest.raises(ApiError) as info:
            call_()
        assert info.value.code == "InvalidParameterException"
        assert words in info.value.message
    assert ops.list_tasks({})["taskArns"] == []


def test_the_ecs_endpoint_requires_it_as_ecs_does(ops: Operations, tmp_path: Path) -> None:
    message = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    with pytest.raises(ApiError, match=message):
        ops.run_task({"taskDefinition": "vpc", ECS_WIRE: True})
    with pytest.raises(ApiError, match=message):
        ops.create_service({"serviceName": "s", "taskDefinition": "vpc", ECS_WIRE: True})
    # and on the wire itself
    keys = AccessKeys(ops.ctx.store, tmp_path / MASTER_KEY_FILE, ops.ctx.clock)
    created, _ = keys.create("t")
    endpoint = EcsEndpoint(ops, keys, ops.ctx.clock)
    creds = Credentials(created.access_key_id, created.secret_access_key)
    response, out = call(endpoint, "RunTask", {"taskDefinition": "vpc"}, creds)
    assert (response.status, out) == (400, {"__type": "InvalidParameterException", "message": message})
    response, out = call(endpoint, "RunTask", {"taskDefinition": "vpc", "networkConfiguration": VPC}, creds)
    assert response.status == 200
    assert out["tasks"][0]["attachments"][0]["type"] == "ElasticNetworkInterface"


def report(ops: Operations, task: dict[str, Any], status: str, **extra: Any) -> None:
    ops.report_task_states(
        task["containerInstanceArn"],
        [{"taskArn": task["taskArn"], "lastStatus": status,
          "containers": [{"name": "app", "lastStatus": status}], **extra}],
    )  # fmt: skip


def describe(ops: Operations, task: dict[str, Any]) -> dict[str, Any]:
    [t] = ops.describe_tasks({"tasks": [task["taskArn"]]})["tasks"]
    return dict(t)


def test_the_agents_report_fills_the_attachment_and_the_containers(ops: Operations) -> None:
    task = run(ops, "vpc", networkConfiguration=VPC)
    eni = {"privateIPv4Address": "172.18.0.5", "macAddress": "02:42:ac:12:00:05", "networkInterfaceId": "ab" * 32}
    report(ops, task, "RUNNING", networkInterface=eni)
    t = describe(ops, task)
    [attachment] = t["attachments"]
    assert attachment["status"] == "ATTACHED"
    assert attachment["details"] == [
        {"name": "subnetId", "value": LOCAL_SUBNET},
        {"name": "networkInterfaceId", "value": "ab" * 32},
        {"name": "macAddress", "value": "02:42:ac:12:00:05"},
        {"name": "privateIPv4Address", "value": "172.18.0.5"},
    ]
    assert t["containers"][0]["networkInterfaces"] == [
        {"attachmentId": attachment["id"], "privateIpv4Address": "172.18.0.5"}
    ]
    # what DescribeTasks sends on the ECS wire keeps both (they are members of ECS's shapes)
    wire = conform("ecs", "DescribeTasks", {"tasks": [t], "failures": []})["tasks"][0]
    assert wire["attachments"] == [attachment]
    assert wire["containers"][0]["networkInterfaces"] == t["containers"][0]["networkInterfaces"]
    report(ops, task, "STOPPED")
    assert describe(ops, task)["attachments"][0]["status"] == "DELETED"


def test_a_report_with_a_bad_address_is_refused_by_name(ops: Operations) -> None:
    from orchestrator.api.agent_wire import TaskStates, parse

    with pytest.raises(ApiError, match=r"tasks\[0\].networkInterface.privateIPv4Address"):
        parse(TaskStates, {"tasks": [{"taskArn": "a", "networkInterface": {"privateIPv4Address": "x"}}]})


def test_awsvpc_tasks_reserve_no_instance_port(ops: Operations) -> None:
    ops.register_task_definition(
        {"family": "vpc80", "networkMode": "awsvpc",
         "containerDefinitions": [container(cpu=1, memory=8, portMappings=[{"containerPort": 80, "hostPort": 80}])]}
    )  # fmt: skip
    # Five tasks on port 80 on one instance: each has its own IP, so none clashes.
    placed = ops.run_task({"taskDefinition": "vpc80", "count": 5})
    assert (len(placed["tasks"]), placed["failures"]) == (5, [])


# -- load balancers by network mode ------------------------------------------------------------


def lb_group(ops: Operations, target_type: str) -> str:
    from tests.integration.test_load_balancing import free_port

    lb = ops.create_load_balancer({"Name": f"lb-{target_type}"})["LoadBalancers"][0]["LoadBalancerArn"]
    tg = ops.create_target_group(
        {"Name": f"tg-{target_type}", "Protocol": "HTTP", "Port": 80, "TargetType": target_type}
    )["TargetGroups"][0]["TargetGroupArn"]
    ops.create_listener(
        {"LoadBalancerArn": lb, "Port": free_port(), "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}
    )
    return str(tg)


@pytest.mark.parametrize(("family", "target_type", "mode"), [("vpc", "instance", "awsvpc"), ("br", "ip", "bridge")])
def test_a_target_type_the_network_mode_cannot_use_is_refused_as_ecs_does(
    ops: Operations, family: str, target_type: str, mode: str
) -> None:
    tg = lb_group(ops, target_type)
    with pytest.raises(ApiError) as info:
        ops.create_service(
            {"serviceName": "s", "taskDefinition": family, "desiredCount": 1,
             "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]}
        )  # fmt: skip
    assert info.value.message == (
        f"The provided target group {tg} has target type {target_type}, which is incompatible with the {mode} "
        "network mode specified in the task definition."
    )


def test_an_awsvpc_task_is_an_ip_target_at_its_own_address(ops: Operations) -> None:
    tg = lb_group(ops, "ip")
    ops.create_service(
        {"serviceName": "s", "taskDefinition": "vpc", "desiredCount": 1,
         "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]}
    )  # fmt: skip
    ServiceController(ops.ctx).reconcile_all()
    [task] = ops.describe_tasks({"tasks": ops.list_tasks({})["taskArns"]})["tasks"]
    plane = FakePlane()
    controller = targets.TargetController(ops.ctx, plane)  # type: ignore[arg-type]
    report(ops, task, "RUNNING")  # running, but no address reported yet: not a target yet
    controller.tick()
    assert ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"] == []
    report(ops, task, "RUNNING", networkInterface={"privateIPv4Address": "172.18.0.9"})
    controller.tick()
    [d] = ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"]
    assert (d["Target"]["Id"], d["Target"]["Port"]) == ("172.18.0.9", 80)
    [server] = [s for b in plane.spec.backends for s in b.servers]
    assert (server.address, server.port) == ("172.18.0.9", 80)


def test_update_service_to_awsvpc_and_back(ops: Operations) -> None:
    ops.create_service({"serviceName": "s", "taskDefinition": "br", "desiredCount": 0})
    # ECS's endpoint wants the network named for the new awsvpc revision ...
    with pytest.raises(ApiError, match="Network Configuration must be provided"):
        ops.update_service({"service": "s", "taskDefinition": "vpc", ECS_WIRE: True})
    # ... REST and the CLI get the local subnet, and lose it again going back to bridge
    svc = ops.update_service({"service": "s", "taskDefinition": "vpc"})["service"]
    assert svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [LOCAL_SUBNET]
    with pytest.raises(ApiError, match="Network Configuration is not valid"):
        ops.update_service({"service": "s", "taskDefinition": "br", ECS_WIRE: True})
    svc = ops.update_service({"service": "s", "taskDefinition": "br"})["service"]
    assert svc.get("networkConfiguration") is None


def test_host_mode_ports_are_static_ports_of_the_instance(tmp_path: Path) -> None:
    from orchestrator.core.settings import Settings
    from orchestrator.operations.workload_policy import parse_allow

    o = control_plane(tmp_path, Settings(allow=parse_allow(["host-network"])))
    instance(o, "a", "us-east-1a")
    o.register_task_definition(
        {"family": "h", "networkMode": "host",
         "containerDefinitions": [container(cpu=1, memory=8, portMappings=[{"containerPort": 9000}])]}
    )  # fmt: skip
    # hostPort left out is containerPort 9000: the first task takes it, the second cannot be placed there.
    placed = o.run_task({"taskDefinition": "h", "count": 2})
    assert len(placed["tasks"]) == 1
    assert placed["failures"][0]["reason"] == "RESOURCE:PORTS"
