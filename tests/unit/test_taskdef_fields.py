"""The one rule at registration: every RegisterTaskDefinition member is honoured or refused by name.

The first test walks botocore's own model of the request, so a member botocore gains (or one we
forget) fails here until it is put in one of the two tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.model
import botocore.session
import pytest

from orchestrator.core.errors import ApiError
from orchestrator.core.settings import Settings
from orchestrator.operations import Operations
from orchestrator.operations.taskdef_fields import HONOURED, REFUSED
from orchestrator.operations.workload_policy import parse_allow
from tests.builders import container, control_plane

# Members whose keys are the user's (label names, driver options), so nothing below them is a member.
MAPS = {"containerDefinitions.dockerLabels", "containerDefinitions.logConfiguration.options"}


def _members(shape: botocore.model.Shape, path: str) -> list[str]:
    """Every member path under shape, descending into structures (and lists of them) we honour."""
    if isinstance(shape, botocore.model.ListShape):
        return _members(shape.member, path)
    if not isinstance(shape, botocore.model.StructureShape):
        return []
    found = []
    for name, member in shape.members.items():
        member_path = f"{path}.{name}" if path else name
        found.append(member_path)
        if member_path in HONOURED and member_path not in MAPS:
            found += _members(member, member_path)
    return found


def test_every_member_of_botocores_model_is_honoured_or_refused() -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    members = _members(model.operation_model("RegisterTaskDefinition").input_shape, "")
    assert len(members) > 100  # the walk went deep: task, container and nested members
    neither = [m for m in members if m not in HONOURED and m not in REFUSED]
    assert neither == [], f"add these to taskdef_fields.HONOURED or REFUSED: {neither}"
    both = sorted(set(HONOURED) & set(REFUSED))
    assert both == []
    # and the tables name nothing botocore does not have (a typo would honour nothing)
    assert sorted((set(HONOURED) | set(REFUSED)) - set(members)) == []


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    return control_plane(tmp_path)


def register(ops: Operations, *, task: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    req = {"family": "x", "containerDefinitions": [container(**overrides)], **(task or {})}
    result: dict[str, Any] = ops.register_task_definition(req)
    return result


REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    # (what, task-level members, container members, words the error must contain)
    ("proxyConfiguration", {"proxyConfiguration": {"type": "APPMESH", "containerName": "app"}}, {},
     ["proxyConfiguration", "not supported yet"]),
    ("network mode", {"networkMode": "nat"}, {}, ["networkMode: 'nat' is not a network mode"]),
    ("host network", {"networkMode": "host"}, {}, ["networkMode: host", "rule host-network", "--allow host-network"]),
    ("Fargate", {"requiresCompatibilities": ["FARGATE"]}, {}, ["Fargate only supports network mode 'awsvpc'"]),
    ("EXTERNAL", {"requiresCompatibilities": ["EXTERNAL"]}, {}, ["requiresCompatibilities: EXTERNAL"]),
    ("EFS volume", {"volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}, {},
     ["volumes[0].efsVolumeConfiguration is not supported yet"]),
    ("volume name twice", {"volumes": [{"name": "v"}, {"name": "v"}]}, {}, ["volumes[1].name: v is already"]),
    ("host and docker", {"volumes": [{"name": "v", "host": {}, "dockerVolumeConfiguration": {}}]}, {},
     ["give host or dockerVolumeConfiguration, not both"]),
    ("relative source", {"volumes": [{"name": "v", "host": {"sourcePath": "data"}}]}, {}, ["absolute path"]),
    ("scope", {"volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "forever"}}]}, {},
     ["scope must be task or shared"]),
    ("autoprovision task scope", {"volumes": [{"name": "v", "dockerVolumeConfiguration": {"autoprovision": True}}]},
     {}, ["autoprovision is only valid with scope shared"]),
    ("host bind mount", {"volumes": [{"name": "v", "host": {"sourcePath": "/srv"}}]}, {},
     ["volumes[0].host.sourcePath /srv", "rule host-bind-mounts", "--allow host-bind-mounts"]),
    ("docker socket", {"volumes": [{"name": "v", "host": {"sourcePath": "/var/run/docker.sock"}}]}, {},
     ["rule docker-socket"]),
    ("mount relative", {"volumes": [{"name": "v"}]}, {"mountPoints": [{"sourceVolume": "v", "containerPath": "d"}]},
     ["mountPoints[0].containerPath must be an absolute path"]),
    ("volumesFrom itself", {}, {"volumesFrom": [{"sourceContainer": "app"}]},
     ["volumesFrom[0].sourceContainer: 'app' is not another container"]),
    ("taskRoleArn", {"taskRoleArn": "arn:aws:iam::1:role/r"}, {}, ["taskRoleArn"]),
    ("ephemeralStorage", {"ephemeralStorage": {"sizeInGiB": 30}}, {}, ["ephemeralStorage", "Fargate"]),
    ("pidMode task", {"pidMode": "task"}, {}, ["pidMode: task is not supported yet"]),
    ("cpuArchitecture", {"runtimePlatform": {"cpuArchitecture": "ARM64"}}, {}, ["runtimePlatform.cpuArchitecture"]),
    ("Windows", {"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}}, {}, ["LINUX"]),
    ("mountPoints", {}, {"mountPoints": [{"sourceVolume": "v", "containerPath": "/d"}]},
     ["mountPoints[0].sourceVolume: 'v' is not a volume"]),
    (
        "secrets from s3",
        {},
        {"secrets": [{"name": "A", "valueFrom": "arn:aws:s3:::bucket/key"}]},
        ["containerDefinitions[0].secrets[0].valueFrom", "only ssm and secretsmanager"],
    ),
    ("InferenceAccelerator", {}, {"resourceRequirements": [{"type": "InferenceAccelerator", "value": "d1"}]},
     ["resourceRequirements[0].type: InferenceAccelerator is not supported yet"]),
    ("NeuronDevice", {}, {"resourceRequirements": [{"type": "NeuronDevice", "value": "ALL"}]},
     ["resourceRequirements[0].type: NeuronDevice"]),
    ("GPU ALL", {}, {"resourceRequirements": [{"type": "GPU", "value": "ALL"}]}, ["value: ALL is not supported"]),
    ("GPU zero", {}, {"resourceRequirements": [{"type": "GPU", "value": "0"}]}, ["whole number of GPUs from 1"]),
    ("GPU not a number", {}, {"resourceRequirements": [{"type": "GPU", "value": "two"}]}, ["got 'two'"]),
    ("GPU twice", {}, {"resourceRequirements": [{"type": "GPU", "value": "1"}, {"type": "GPU", "value": "1"}]},
     ["resourceRequirements[1]: the container already lists a GPU"]),
    ("GPU sharing", {}, {"resourceRequirements": [{"type": "GPU", "sharingStrategy": {"nvidiaMps": {}}}]},
     ["resourceRequirements[0].sharingStrategy is not supported yet"]),
    ("port name", {}, {"portMappings": [{"containerPort": 80, "name": "web"}]},
     ["containerDefinitions[0].portMappings[0].name"]),
    ("awslogs without a group", {}, {"logConfiguration": {"logDriver": "awslogs"}}, ["awslogs-group is required"]),
    ("awslogs option", {},
     {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "tag": "x"}}},
     ["options: tag is not supported for awslogs"]),
    ("log driver", {}, {"logConfiguration": {"logDriver": "splunk"}}, ["logDriver: splunk is not supported"]),
    ("unknown member", {}, {"colour": "blue"}, ["containerDefinitions[0].colour is not a member"]),
    ("our labels", {}, {"dockerLabels": {"orch.task": "x"}}, ["orch.task", "agent's own"]),
    ("maxSwap without memory", {"memory": "256"}, {"memory": None, "linuxParameters": {"maxSwap": 10}},
     ["maxSwap needs the container's memory"]),
    # ECS ignores swappiness without maxSwap; we say so instead of accepting and ignoring it
    ("swappiness alone", {}, {"linuxParameters": {"swappiness": 10}}, ["swappiness takes effect only with maxSwap"]),
    ("ulimit name", {}, {"ulimits": [{"name": "files", "softLimit": 1, "hardLimit": 1}]}, ["ulimits[0].name"]),
    ("ulimit soft > hard", {}, {"ulimits": [{"name": "nofile", "softLimit": 2, "hardLimit": 1}]}, ["softLimit"]),
    ("tmpfs option", {}, {"linuxParameters": {"tmpfs": [{"containerPath": "/t", "size": 8, "mountOptions": ["x"]}]}},
     ["mountOptions"]),
    # container memory 64 > task memory 32
    ("container over task memory", {"memory": "32"}, {}, ["must not exceed the task's memory"]),
    # container cpu 128 > task cpu 64
    ("container over task cpu", {"cpu": "64"}, {}, ["more than the task's cpu"]),
    ("dependsOn unknown", {}, {"dependsOn": [{"containerName": "db", "condition": "START"}]}, ["'db' is not another"]),
    ("dependsOn condition", {}, {"dependsOn": [{"containerName": "app", "condition": "READY"}]}, ["condition"]),
    ("link to itself", {}, {"links": ["app"]}, ["containerDefinitions[0].links: 'app' is not another"]),
    ("link unknown", {}, {"links": ["db:database"]}, ["links: 'db' is not another"]),
    # workload policy, by default
    ("privileged", {}, {"privileged": True}, ["privileged", "rule privileged", "--allow privileged"]),
    ("pidMode host", {"pidMode": "host"}, {}, ["rule host-pid", "--allow host-pid"]),
    ("ipcMode host", {"ipcMode": "host"}, {}, ["rule host-ipc"]),
    ("SYS_ADMIN", {}, {"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}},
     ["SYS_ADMIN", "--allow capabilities"]),
    ("devices", {}, {"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}}, ["--allow devices"]),
]  # fmt: skip


@pytest.mark.parametrize(("task", "cdef", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refused_by_name_and_nothing_stored(
    ops: Operations, task: dict[str, Any], cdef: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(ApiError) as info:
        register(ops, task=task, **cdef)
    assert info.value.code == "ClientException"
    for word in words:
        assert word in info.value.message
    assert ops.list_task_definitions({})["taskDefinitionArns"] == []


def test_two_container_dependency_rules(ops: Operations) -> None:
    init = container(name="init", essential=True)
    app = container(name="app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}])
    with pytest.raises(ApiError, match="init is essential, so it cannot be a SUCCESS dependency"):
        ops.register_task_definition({"family": "x", "containerDefinitions": [init, app]})
    db = container(name="db")
    app = container(name="app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}])
    with pytest.raises(ApiError, match="db has no healthCheck"):
        ops.register_task_definition({"family": "x", "containerDefinitions": [db, app]})
    a = container(name="a", dependsOn=[{"containerName": "b", "condition": "START"}])
    b = container(name="b", dependsOn=[{"containerName": "a", "condition": "START"}])
    with pytest.raises(ApiError, match="a cycle: a -> b -> a"):
        ops.register_task_definition({"family": "x", "containerDefinitions": [a, b]})
    # A link orders as a START dependency does, so it closes a cycle too.
    a = container(name="a", links=["b:db"])
    with pytest.raises(ApiError, match="a cycle: a -> b -> a"):
        ops.register_task_definition({"family": "x", "containerDefinitions": [a, b]})
    bad_alias = container(name="c", links=["b:no spaces"])
    with pytest.raises(ApiError, match="a link is name or name:alias"):
        ops.register_task_definition({"family": "x", "containerDefinitions": [container(name="b"), bad_alias]})


HONOURED_TD: dict[str, Any] = {
    "networkMode": "bridge",
    "requiresCompatibilities": ["EC2"],
    "runtimePlatform": {"operatingSystemFamily": "LINUX"},
    "ipcMode": "none",
    "cpu": "256",
    "memory": "512",
    # empty refused members are as good as absent (the aws CLI skeleton sends them)
    "volumes": [],
    "taskRoleArn": "",
}
HONOURED_CONTAINER: dict[str, Any] = {
    "dockerLabels": {"team": "core"},
    "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
    "linuxParameters": {
        "initProcessEnabled": True,
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["NET_RAW"]},  # a Docker default: no rule
        "sharedMemorySize": 64,
        "tmpfs": [{"containerPath": "/scratch", "size": 16, "mountOptions": ["noexec", "mode=1777"]}],
        "maxSwap": 0,
        "swappiness": 0,
    },
    "hostname": "app",
    "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
    "dnsServers": ["10.0.0.2"],
    "dnsSearchDomains": ["corp"],
    "readonlyRootFilesystem": True,
    "user": "1000",
    "workingDirectory": "/",
    "disableNetworking": False,
    "interactive": True,
    "pseudoTerminal": True,
    "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
    "startTimeout": 30,
    "stopTimeout": 5,
    "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
    "links": [],
    "versionConsistency": "disabled",  # what we do anyway
}


def test_every_honoured_member_registers_and_is_returned(ops: Operations) -> None:
    td = register(ops, task=HONOURED_TD, **HONOURED_CONTAINER)["taskDefinition"]
    c = td["containerDefinitions"][0]
    for key, value in HONOURED_CONTAINER.items():
        if value not in ([], False, "disabled"):
            assert c[key] == value, key
    assert (td["cpu"], td["memory"], td["ipcMode"]) == ("256", "512", "none")


def test_allowed_rules_let_the_workload_through(tmp_path: Path) -> None:
    ops = control_plane(tmp_path, Settings(allow=parse_allow(["privileged,host-pid", "capabilities"])))
    td = register(
        ops, task={"pidMode": "host"}, privileged=True, linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}}
    )
    assert td["taskDefinition"]["containerDefinitions"][0]["privileged"] is True
    # devices is still not allowed on this server
    with pytest.raises(ApiError, match="--allow devices"):
        register(ops, linuxParameters={"devices": [{"hostPath": "/dev/fuse"}]})


def test_unknown_allow_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown rule host-everything"):
        parse_allow(["privileged,host-everything"])
