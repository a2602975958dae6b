"""Registration's value rules for the members `taskdef_fields.HONOURED` lets through.

A member we honour may still be honoured only for some values (EC2, the
json-file log driver); those values are refused by name here. The typed shapes below make sure
the agent gets what it will translate for Docker (an int where Docker wants one), and the ECS
rules that tie members together are checked: dependsOn names containers of the task without a
cycle, COMPLETE/SUCCESS targets are not essential, container cpu/memory fit the task's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import ClientException
from orchestrator.core.models import ContainerDefinition
from orchestrator.operations.logs import check_log_configuration

NOT_YET = "is not supported yet"
OUR_LABEL_PREFIX = "orch."
ULIMIT_NAMES = Literal[
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
    "rttime", "sigpending", "stack",
]  # fmt: skip
# ECS: a link name and its alias are up to 255 letters, numbers, hyphens and underscores.
LINK_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
TMPFS_OPTIONS = frozenset(
    [
        "defaults",
        "ro",
        "rw",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "exec",
        "noexec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "bind",
        "rbind",
        "unbindable",
        "runbindable",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ]
)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Ulimit(_Shape):
    name: ULIMIT_NAMES
    softLimit: int = Field(ge=0)
    hardLimit: int = Field(ge=0)


class Capabilities(_Shape):
    add: list[str] | None = None
    drop: list[str] | None = None


class Device(_Shape):
    hostPath: str = Field(min_length=1)
    containerPath: str | None = None
    permissions: list[Literal["read", "write", "mknod"]] | None = None


class Tmpfs(_Shape):
    containerPath: str = Field(min_length=1)
    size: int = Field(gt=0)
    mountOptions: list[str] | None = None


class LinuxParameters(_Shape):
    capabilities: Capabilities | None = None
    devices: list[Device] | None = None
    initProcessEnabled: bool | None = None
    sharedMemorySize: int | None = Field(default=None, gt=0)
    tmpfs: list[Tmpfs] | None = None
    maxSwap: int | None = Field(default=None, ge=0)
    swappiness: int | None = Field(default=None, ge=0, le=100)


class Dependency(_Shape):
    containerName: str = Field(min_length=1)
    condition: Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"]


class HostEntry(_Shape):
    hostname: str = Field(min_length=1)
    ipAddress: str = Field(min_length=1)


class SystemControl(_Shape):
    namespace: str = Field(min_length=1)
    value: str


class LogConfiguration(_Shape):
    logDriver: str
    options: dict[str, str] | None = None


# ECS publishes no limit; 64 is far above the GPUs of any instance type (the largest have 8 or 16).
MAX_GPUS_PER_CONTAINER = 64


class ResourceRequirement(_Shape):
    type: str
    value: str | None = None


class ContainerMembers(_Shape):
    """The members of a container definition beyond ContainerDefinition's own, typed."""

    dockerLabels: dict[str, str] | None = None
    ulimits: list[Ulimit] | None = None
    linuxParameters: LinuxParameters | None = None
    hostname: str | None = None
    extraHosts: list[HostEntry] | None = None
    dnsServers: list[str] | None = None
    dnsSearchDomains: list[str] | None = None
    readonlyRootFilesystem: bool | None = None
    privileged: bool | None = None
    disableNetworking: bool | None = None
    interactive: bool | None = None
    pseudoTerminal: bool | None = None
    systemControls: list[SystemControl] | None = None
    dependsOn: list[Dependency] | None = None
    links: list[str] | None = None
    volumesFrom: list[dict[str, Any]] | None = None  # checked in taskdef_volumes
    startTimeout: int | None = Field(default=None, ge=0)
    logConfiguration: LogConfiguration | None = None
    resourceRequirements: list[ResourceRequirement] | None = None


def check_task_values(req: Mapping[str, Any]) -> None:
    compat = req.get("requiresCompatibilities") or []
    if not isinstance(compat, list):
        raise ClientException("requiresCompatibilities must be a list.")
    for c in compat:
        if c not in ("EC2", "FARGATE"):
            raise ClientException(
                f"requiresCompatibilities: {c} {NOT_YET}: tasks run on the cluster's container instances (EC2) "
                "or on the managed Fargate pool (FARGATE); use EC2 or FARGATE, or leave it out."
            )
    for member, allowed in (("pidMode", ("host",)), ("ipcMode", ("host", "none"))):
        value = req.get(member)
        if value is None:
            continue
        if value == "task":
            raise ClientException(
                f"{member}: task {NOT_YET}: containers of a task cannot share a namespace yet; leave {member} "
                "out (each container gets its own)."
            )
        if value not in allowed:
            raise ClientException(f"{member} must be one of {', '.join(allowed)} (or task, not supported yet).")
    platform = req.get("runtimePlatform") or {}
    if not isinstance(platform, dict):
        raise ClientException("runtimePlatform must be an object.")
    family = platform.get("operatingSystemFamily")
    if family not in (None, "LINUX"):
        raise ClientException(
            f"runtimePlatform.operatingSystemFamily: {family} {NOT_YET}: agents run Linux containers; use LINUX."
        )


def check_container_values(
    containers: list[ContainerDefinition],
    members: list[ContainerMembers],
    task_cpu: int | None,
    task_memory: int | None,
) -> None:
    """ECS's rules within each container's typed members and across the containers."""
    names = {c.name: i for i, c in enumerate(containers)}
    for i, (c, m) in enumerate(zip(containers, members, strict=True)):
        where = f"containerDefinitions[{i}]"
        for label in m.dockerLabels or {}:
            if label.startswith(OUR_LABEL_PREFIX):
                raise ClientException(
                    f"{where}.dockerLabels: {label} is one of the agent's own labels ({OUR_LABEL_PREFIX}*), which "
                    "tell it which containers it manages; choose another name."
                )
        if m.logConfiguration is not None:
            check_log_configuration(where, m.logConfiguration.model_dump(exclude_none=True))
        lp = m.linuxParameters
        if lp is not None:
            if lp.maxSwap is not None and c.memory is None:
                raise ClientException(
                    f"{where}.linuxParameters.maxSwap needs the container's memory (its hard limit): Docker counts "
                    "swap on top of it. Set memory or remove maxSwap."
                )
            if lp.swappiness is not None and lp.maxSwap is None:
                raise ClientException(
                    f"{where}.linuxParameters.swappiness takes effect only with maxSwap (as in ECS); set maxSwap or "
                    "remove swappiness."
                )
            for j, t in enumerate(lp.tmpfs or []):
                for option in t.mountOptions or []:
                    if option.split("=", 1)[0] not in TMPFS_OPTIONS:
                        raise ClientException(
                            f"{where}.linuxParameters.tmpfs[{j}].mountOptions: {option!r} is not a tmpfs mount option."
                        )
        _check_resource_requirements(where, m.resourceRequirements or [])
        for ul in m.ulimits or []:
            if ul.softLimit > ul.hardLimit:
                raise ClientException(f"{where}.ulimits: {ul.name} softLimit must not exceed hardLimit.")
        for dep in m.dependsOn or []:
            target = dep.containerName
            if target == c.name or target not in names:
                raise ClientException(
                    f"{where}.dependsOn: {target!r} is not another container of this task definition."
                )
            if dep.condition in ("COMPLETE", "SUCCESS") and containers[names[target]].essential:
                raise ClientException(
                    f"{where}.dependsOn: {target} is essential, so it cannot be a {dep.condition} dependency "
                    f"(it must run to completion and exit); make {target} essential: false."
                )
            if dep.condition == "HEALTHY" and containers[names[target]].healthCheck is None:
                raise ClientException(
                    f"{where}.dependsOn: {target} has no healthCheck, so it can never be HEALTHY; give it one."
                )
        for link in m.links or []:
            target, _, alias = link.partition(":")
            if target == c.name or target not in names:
                raise ClientException(f"{where}.links: {target!r} is not another container of this task definition.")
            if not LINK_NAME.fullmatch(alias or target):
                raise ClientException(
                    f"{where}.links: {link!r}: a link is name or name:alias, each up to 255 letters, numbers, "
                    "hyphens and underscores."
                )
    _check_cycles(containers, members)
    _check_task_size(containers, task_cpu, task_memory)


def _check_resource_requirements(where: str, requirements: list[ResourceRequirement]) -> None:
    """GPU with a whole count, at most once per container; the other types refused by name."""
    seen = False
    for j, r in enumerate(requirements):
        at = f"{where}.resourceRequirements[{j}]"
        if r.type == "InferenceAccelerator":
            raise ClientException(
                f"{at}.type: InferenceAccelerator {NOT_YET}: there are no Elastic Inference accelerators here; "
                "remove it (type GPU is supported)."
            )
        if r.type == "NeuronDevice":
            raise ClientException(
                f"{at}.type: NeuronDevice {NOT_YET}: there are no AWS Neuron devices here (ECS offers them on "
                "Managed Instances only); remove it (type GPU is supported)."
            )
        if r.type != "GPU":
            raise ClientException(f"{at}.type must be GPU, InferenceAccelerator or NeuronDevice, got {r.type!r}.")
        if seen:
            raise ClientException(f"{at}: the container already lists a GPU requirement; give one with the total.")
        seen = True
        if r.value == "ALL":
            raise ClientException(
                f'{at}.value: ALL {NOT_YET}: placement reserves a known number of GPUs; give how many, such as "1".'
            )
        if r.value is None or not r.value.isdigit() or not 1 <= int(r.value) <= MAX_GPUS_PER_CONTAINER:
            raise ClientException(
                f"{at}.value: a GPU requirement is a whole number of GPUs from 1 to {MAX_GPUS_PER_CONTAINER} as a "
                f'string, such as "1"; got {r.value!r}.'
            )


def _check_cycles(containers: list[ContainerDefinition], members: list[ContainerMembers]) -> None:
    # A link and a volumesFrom order too: their container starts first.
    needs = {
        c.name: [d.containerName for d in m.dependsOn or []]
        + [link.partition(":")[0] for link in m.links or []]
        + [str(v.get("sourceContainer")) for v in m.volumesFrom or []]
        for c, m in zip(containers, members, strict=True)
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise ClientException(
                f"containerDefinitions.dependsOn, links and volumesFrom: a cycle: {' -> '.join(cycle)}."
            )
        state[name] = 1
        for dep in needs.get(name, []):
            visit(dep, [*path, name])
        state[name] = 2

    for c in containers:
        visit(c.name, [])


def _check_task_size(containers: list[ContainerDefinition], task_cpu: int | None, task_memory: int | None) -> None:
    """ECS's rules: each hard limit fits the task's memory, the reservations together too; cpu likewise."""
    if task_memory is not None:
        for i, c in enumerate(containers):
            if c.memory is not None and c.memory > task_memory:
                raise ClientException(
                    f"containerDefinitions[{i}].memory ({c.memory} MiB) must not exceed the task's memory "
                    f"({task_memory} MiB)."
                )
        reserved = sum(c.memoryReservation or c.memory or 0 for c in containers)
        if reserved > task_memory:
            raise ClientException(
                f"containerDefinitions: the containers reserve {reserved} MiB together (memoryReservation, else "
                f"memory), more than the task's memory ({task_memory} MiB)."
            )
    if task_cpu is not None:
        total = sum(c.cpu for c in containers)
        if total > task_cpu:
            raise ClientException(
                f"containerDefinitions: the containers' cpu adds up to {total} units, more than the task's cpu "
                f"({task_cpu})."
            )
