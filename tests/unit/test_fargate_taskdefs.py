"""Fargate's rules for task definitions, as a table: what ECS refuses for requiresCompatibilities
FARGATE, the valid cpu/memory combinations, and the compatibilities ECS reports."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.errors import ClientException
from orchestrator.operations.taskdef_fargate import MEMORY_BY_CPU, compatibilities, problem, valid_memory
from tests.builders import container

OK: dict[str, Any] = {"networkMode": "awsvpc", "cpu": "256", "memory": "512"}


def definition(task: dict[str, Any], **cdef: Any) -> dict[str, Any]:
    return {"family": "f", "requiresCompatibilities": ["FARGATE"], **task, "containerDefinitions": [container(**cdef)]}


def sizes(req: dict[str, Any]) -> tuple[int | None, int | None]:
    def read(v: Any) -> int | None:
        return int(v) if v is not None else None

    return read(req.get("cpu")), read(req.get("memory"))


SIZE_CASES = [
    # (cpu units, memory MiB, valid on Fargate?)
    (256, 512, True),  # the smallest size
    (256, 2048, True),  # 256 goes up to 2 GiB
    (256, 1536, False),  # 256 offers 512, 1024, 2048 only
    (256, 4096, False),
    (512, 1024, True),  # 512: 1-4 GiB in 1 GiB steps
    (512, 4096, True),
    (512, 512, False),  # below 1 GiB
    (512, 5120, False),  # above 4 GiB
    (1024, 2048, True),  # 1024: 2-8 GiB
    (1024, 1024, False),  # the TeamCity error: 1024 CPU, 1024 memory
    (1024, 8192, True),
    (1024, 2560, False),  # 2.5 GiB is not a 1 GiB step
    (2048, 16384, True),  # 2048: 4-16 GiB
    (2048, 3072, False),
    (4096, 30720, True),  # 4096: 8-30 GiB
    (4096, 31744, False),  # 31 GiB > 30
    (8192, 16384, True),  # 8192: 16-60 GiB in 4 GiB steps
    (8192, 20480, True),  # 16 + 4 = 20 GiB
    (8192, 17408, False),  # 17 GiB is not a 4 GiB step from 16
    (8192, 61440, True),  # 60 GiB
    (16384, 32768, True),  # 16384: 32-120 GiB in 8 GiB steps
    (16384, 40960, True),  # 32 + 8 = 40 GiB
    (16384, 36864, False),  # 36 GiB is not an 8 GiB step from 32
    (16384, 122880, True),  # 120 GiB
    (16384, 131072, False),  # 128 GiB > 120
    (300, 1024, False),  # not a Fargate cpu
]


@pytest.mark.parametrize(("cpu", "memory", "valid"), SIZE_CASES)
def test_the_table_of_sizes(cpu: int, memory: int, valid: bool) -> None:
    req = definition({**OK, "cpu": str(cpu), "memory": str(memory)})
    why = problem(req, cpu, memory)
    assert (why is None) == valid, why
    if not valid:
        assert why is not None and why.startswith(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory."
        )


def test_how_many_sizes_each_cpu_offers() -> None:
    # 256: 3; 512: (4-1)/1+1 = 4; 1024: (8-2)+1 = 7; 2048: (16-4)+1 = 13; 4096: (30-8)+1 = 23;
    # 8192: (60-16)/4+1 = 12; 16384: (120-32)/8+1 = 12.
    assert {cpu: len(valid_memory(cpu)) for cpu in MEMORY_BY_CPU} == {
        256: 3, 512: 4, 1024: 7, 2048: 13, 4096: 23, 8192: 12, 16384: 12
    }  # fmt: skip


REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # (what, task-level members, container members, words of the ClientException)
    ("bridge", {"networkMode": "bridge"}, {}, "Fargate only supports network mode 'awsvpc'."),
    ("no network mode (bridge)", {"networkMode": None}, {}, "Fargate only supports network mode 'awsvpc'."),
    ("no cpu", {"cpu": None}, {}, "Fargate requires that 'cpu' be defined at the task level."),
    ("no memory", {"memory": None}, {}, "Fargate requires that 'memory' be defined at the task level."),
    ("host path", {"volumes": [{"name": "v", "host": {"sourcePath": "/srv"}}]}, {}, "volumes[0].host.sourcePath"),
    ("docker volume", {"volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "task"}}]}, {},
     "volumes[0].dockerVolumeConfiguration"),
    ("pidMode host", {"pidMode": "host"}, {}, "pidMode: Fargate supports only task"),
    ("ipcMode", {"ipcMode": "none"}, {}, "ipcMode is not supported on Fargate"),
    ("placementConstraints", {"placementConstraints": [{"type": "memberOf", "expression": "attribute:a == b"}]}, {},
     "placementConstraints are not supported on Fargate"),
    ("privileged", {}, {"privileged": True}, "containerDefinitions[0].privileged is not supported on Fargate"),
    ("links", {}, {"links": ["db"]}, "containerDefinitions[0].links is not supported on Fargate"),
    ("dnsServers", {}, {"dnsServers": ["10.0.0.2"]}, "containerDefinitions[0].dnsServers"),
    ("extraHosts", {}, {"extraHosts": [{"hostname": "a", "ipAddress": "10.0.0.1"}]}, "[0].extraHosts"),
    ("disableNetworking", {}, {"disableNetworking": True}, "containerDefinitions[0].disableNetworking"),
    ("devices", {}, {"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}}, "linuxParameters.devices"),
    ("shm", {}, {"linuxParameters": {"sharedMemorySize": 64}}, "linuxParameters.sharedMemorySize"),
    ("tmpfs", {}, {"linuxParameters": {"tmpfs": [{"containerPath": "/t", "size": 8}]}}, "linuxParameters.tmpfs"),
    ("maxSwap", {}, {"linuxParameters": {"maxSwap": 0}}, "linuxParameters.maxSwap"),
    ("NET_ADMIN", {}, {"linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}}},
     "containerDefinitions[0].linuxParameters.capabilities.add: NET_ADMIN"),
    ("GPU", {}, {"resourceRequirements": [{"type": "GPU", "value": "1"}]}, "[0].resourceRequirements[0]: GPUs"),
]  # fmt: skip


@pytest.mark.parametrize(("task", "cdef", "start"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_fargate_refuses_what_fargate_refuses(task: dict[str, Any], cdef: dict[str, Any], start: str) -> None:
    req = definition({**OK, **task}, **cdef)
    why = problem(req, *sizes(req))
    assert why is not None and start in why, why


@pytest.mark.parametrize(
    ("task", "cdef"),
    [
        ({}, {}),
        ({"pidMode": "task"}, {}),  # the one pidMode Fargate has
        ({"volumes": [{"name": "v", "host": {}}]}, {}),  # a task volume
        ({}, {"linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}}}),
        ({}, {"linuxParameters": {"initProcessEnabled": True}}),
    ],
)
def test_what_fargate_accepts(task: dict[str, Any], cdef: dict[str, Any]) -> None:
    req = definition({**OK, **task}, **cdef)
    assert problem(req, *sizes(req)) is None
    assert compatibilities(req, *sizes(req)) == ["EC2", "FARGATE"]


def test_compatibilities_are_computed_whether_or_not_fargate_was_asked_for() -> None:
    # Not asked for, but awsvpc with a Fargate size: ECS reports both.
    plain = {"family": "f", **OK, "containerDefinitions": [container()]}
    assert compatibilities(plain, 256, 512) == ["EC2", "FARGATE"]
    # bridge, or a size Fargate does not offer: EC2 only.
    assert compatibilities({**plain, "networkMode": "bridge"}, 256, 512) == ["EC2"]
    assert compatibilities(plain, 256, 1536) == ["EC2"]


def test_registration_gives_fargates_own_words(tmp_path: Any) -> None:
    from tests.builders import control_plane

    ops = control_plane(tmp_path)
    with pytest.raises(
        ClientException, match="No Fargate configuration exists for given values: 1024 CPU, 1024 memory"
    ):
        ops.register_task_definition(definition({**OK, "cpu": "1 vCPU", "memory": "1 GB"}))
    with pytest.raises(ClientException, match="Fargate only supports network mode 'awsvpc'"):
        ops.register_task_definition(definition({"cpu": "256", "memory": "512"}))
    assert ops.list_task_definitions({})["taskDefinitionArns"] == []
    # An EC2 definition reports EC2 only.
    td = ops.register_task_definition({"family": "e", "containerDefinitions": [container()]})["taskDefinition"]
    assert td["compatibilities"] == ["EC2"] and "requiresCompatibilities" not in td
