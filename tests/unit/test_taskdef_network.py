"""networkMode at registration: what each mode allows in a container, the hostPorts it stores, and
the workload policy's host-network rule (see orchestrator/operations/taskdef_network.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import ApiError
from orchestrator.core.settings import Settings
from orchestrator.operations import Operations
from orchestrator.operations.workload_policy import parse_allow
from tests.builders import container, control_plane


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    return control_plane(tmp_path, Settings(allow=parse_allow(["host-network"])))


def register(ops: Operations, mode: str, *containers: dict[str, Any]) -> dict[str, Any]:
    req = {"family": "n", "networkMode": mode, "containerDefinitions": list(containers) or [container()]}
    td: dict[str, Any] = ops.register_task_definition(req)["taskDefinition"]
    return td


def ports(*mappings: dict[str, Any]) -> dict[str, Any]:
    return container(portMappings=list(mappings))


REFUSED: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # (what, mode, container, words the ClientException must contain)
    ("awsvpc hostPort differs", "awsvpc", ports({"containerPort": 80, "hostPort": 8080}),
     ["portMappings[0]", "When networkMode=awsvpc, the host ports and container ports in port mappings must match",
      "hostPort is 8080, containerPort 80"]),
    ("host hostPort differs", "host", ports({"containerPort": 80, "hostPort": 81}),
     ["When networkMode=host", "make it 80"]),
    ("none with ports", "none", ports({"containerPort": 80}), ["portMappings", "networkMode none"]),
    ("awsvpc links", "awsvpc", container(links=["db"]), ["links are not supported when networkMode=awsvpc",
                                                        "127.0.0.1"]),
    ("host links", "host", container(links=["db"]), ["links are not supported when networkMode=host"]),
    ("none links", "none", container(links=["db"]), ["links are not supported when networkMode=none"]),
    ("awsvpc hostname", "awsvpc", container(hostname="h"), ["hostname is not supported when networkMode=awsvpc"]),
    ("awsvpc extraHosts", "awsvpc", container(extraHosts=[{"hostname": "a", "ipAddress": "10.0.0.1"}]),
     ["extraHosts is not supported"]),
    ("awsvpc dnsServers", "awsvpc", container(dnsServers=["10.0.0.2"]), ["dnsServers is not supported"]),
    ("awsvpc dnsSearchDomains", "awsvpc", container(dnsSearchDomains=["corp"]), ["dnsSearchDomains"]),
    ("awsvpc disableNetworking", "awsvpc", container(disableNetworking=True), ["use networkMode none"]),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "cdef", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_by_name_and_nothing_stored(ops: Operations, mode: str, cdef: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ApiError) as info:
        register(ops, mode, cdef)
    assert info.value.code == "ClientException"
    for word in words:
        assert word in info.value.message, info.value.message
    assert ops.list_task_definitions({})["taskDefinitionArns"] == []


STORED: list[tuple[str, str, dict[str, Any], int | None]] = [
    # (what, mode, the mapping given, the hostPort stored)
    ("awsvpc omitted: containerPort", "awsvpc", {"containerPort": 80}, 80),
    ("awsvpc 0: containerPort", "awsvpc", {"containerPort": 80, "hostPort": 0}, 80),
    ("awsvpc equal", "awsvpc", {"containerPort": 80, "hostPort": 80}, 80),
    ("host omitted: containerPort", "host", {"containerPort": 9000}, 9000),
    ("host equal", "host", {"containerPort": 9000, "hostPort": 9000}, 9000),
    ("bridge omitted stays dynamic", "bridge", {"containerPort": 80}, None),
    ("bridge static", "bridge", {"containerPort": 80, "hostPort": 8080}, 8080),
]


@pytest.mark.parametrize(("mode", "mapping", "stored"), [r[1:] for r in STORED], ids=[r[0] for r in STORED])
def test_host_ports_as_ecs_stores_them(ops: Operations, mode: str, mapping: dict[str, Any], stored: int | None) -> None:
    td = register(ops, mode, ports(mapping))
    assert td["networkMode"] == mode
    assert td["containerDefinitions"][0]["portMappings"][0].get("hostPort") == stored


def test_every_mode_registers_its_honoured_members(ops: Operations) -> None:
    assert register(ops, "none", container(hostname="h"))["networkMode"] == "none"
    assert register(ops, "host", container(dnsServers=["10.0.0.2"]))["networkMode"] == "host"
    two = [container(name="app", portMappings=[{"containerPort": 80}]), container(name="side")]
    assert register(ops, "awsvpc", *two)["networkMode"] == "awsvpc"
    assert register(ops, "bridge", container(name="db"), container(links=["db:database"]))["networkMode"] == "bridge"


def test_host_network_is_refused_by_default(tmp_path: Path) -> None:
    strict = control_plane(tmp_path)
    with pytest.raises(ApiError) as info:
        register(strict, "host")
    assert "rule host-network" in info.value.message
    assert "orchestrator server --allow host-network" in info.value.message
    assert strict.list_task_definitions({})["taskDefinitionArns"] == []
    # awsvpc and none reach nothing of the host's: no rule
    assert register(strict, "awsvpc")["networkMode"] == "awsvpc"
    assert register(strict, "none")["networkMode"] == "none"
