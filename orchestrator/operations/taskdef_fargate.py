"""Fargate's rules for a task definition: checked at registration when it asks for FARGATE, and
what `compatibilities` reports (EC2 always; FARGATE when the definition passes these rules, as
ECS computes it whether or not it was asked for).

The rules are the ECS developer guide's (task definition differences for Fargate): network mode
awsvpc; task-level cpu and memory from Fargate's table of sizes; no host paths and no Docker
volumes; pidMode task only; no ipcMode, placementConstraints, privileged, links,
disableNetworking, dnsServers, dnsSearchDomains, extraHosts, GPUs, maxSwap or swappiness; in
linuxParameters no devices, sharedMemorySize or tmpfs, and no added capability but SYS_PTRACE.
The three messages ECS is known to give (network mode, task-level cpu/memory, the size table)
are ECS's own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import ClientException

FARGATE = "FARGATE"
_GIB = 1024


def _gib_steps(low: int, high: int, step: int) -> list[int]:
    """Memory sizes in MiB from `low` to `high` GiB in `step` GiB steps."""
    return list(range(low * _GIB, high * _GIB + 1, step * _GIB))


# cpu units -> the memory sizes (MiB) Fargate offers with it (Linux), from the ECS guide's table.
MEMORY_BY_CPU: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: _gib_steps(1, 4, 1),  # 1024 ... 4096: 4 sizes
    1024: _gib_steps(2, 8, 1),  # 2048 ... 8192: 7 sizes
    2048: _gib_steps(4, 16, 1),  # 4096 ... 16384: 13 sizes
    4096: _gib_steps(8, 30, 1),  # 8192 ... 30720: 23 sizes
    8192: _gib_steps(16, 60, 4),  # 16384 ... 61440: 12 sizes
    16384: _gib_steps(32, 120, 8),  # 32768 ... 122880: 12 sizes
}

_CONTAINER_MEMBERS_NOT_VALID = (
    "disableNetworking",
    "dnsSearchDomains",
    "dnsServers",
    "extraHosts",
    "links",
    "privileged",
)
_LINUX_PARAMETERS_NOT_VALID = ("devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness")
_PTRACE = ("SYS_PTRACE", "CAP_SYS_PTRACE")


def valid_memory(cpu: int) -> list[int]:
    """The memory sizes (MiB) Fargate offers with `cpu` units; [] for a cpu it does not offer."""
    return MEMORY_BY_CPU.get(cpu, [])


def _present(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != {} and value != ""


def problem(req: Mapping[str, Any], cpu: int | None, memory: int | None) -> str | None:
    """Why this definition cannot run on Fargate (ECS's ClientException message), or None.

    `cpu` and `memory` are the task-level sizes already read into units and MiB.
    """
    if req.get("networkMode") != "awsvpc":
        return "Fargate only supports network mode 'awsvpc'."
    if cpu is None:
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory is None:
        return "Fargate requires that 'memory' be defined at the task level."
    offered = valid_memory(cpu)
    if memory not in offered:
        hint = (
            f"with {cpu} CPU units, memory is one of {_sizes(offered)} MiB"
            if offered
            else f"cpu is one of {', '.join(str(c) for c in MEMORY_BY_CPU)} units"
        )
        return (
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS "
            f"documentation for the valid values ({hint})."
        )
    if _present(req.get("ipcMode")):
        return "ipcMode is not supported on Fargate; remove it."
    pid = req.get("pidMode")
    if _present(pid) and pid != "task":
        return f"pidMode: Fargate supports only task, not {pid}."
    if _present(req.get("placementConstraints")):
        return "placementConstraints are not supported on Fargate (it chooses where tasks run); remove them."
    for i, v in enumerate(req.get("volumes") or []):
        if not isinstance(v, dict):
            continue
        if _present((v.get("host") or {}).get("sourcePath")):
            return (
                f"volumes[{i}].host.sourcePath: Fargate supports no host paths, only a task volume (host empty or "
                "absent) that lives with the task."
            )
        if _present(v.get("dockerVolumeConfiguration")):
            return f"volumes[{i}].dockerVolumeConfiguration: not on Fargate; use a task volume (empty host)."
    for i, c in enumerate(req.get("containerDefinitions") or []):
        if not isinstance(c, dict):
            continue
        where = f"containerDefinitions[{i}]"
        for member in _CONTAINER_MEMBERS_NOT_VALID:
            if _present(c.get(member)):
                return f"{where}.{member} is not supported on Fargate; remove it."
        lp = c.get("linuxParameters") or {}
        if isinstance(lp, dict):
            for member in _LINUX_PARAMETERS_NOT_VALID:
                if _present(lp.get(member)):
                    return f"{where}.linuxParameters.{member} is not supported on Fargate; remove it."
            added = (lp.get("capabilities") or {}).get("add") or []
            other = [cap for cap in added if str(cap).upper() not in _PTRACE]
            if other:
                return (
                    f"{where}.linuxParameters.capabilities.add: {other[0]}: the only capability Fargate lets a task "
                    "add is SYS_PTRACE."
                )
        for j, r in enumerate(c.get("resourceRequirements") or []):
            if isinstance(r, dict) and r.get("type") == "GPU":
                return f"{where}.resourceRequirements[{j}]: GPUs are not supported on Fargate; run on EC2 instances."
    return None


def _sizes(values: list[int]) -> str:
    if len(values) <= 4:
        return ", ".join(str(v) for v in values)
    return f"{values[0]} to {values[-1]} in steps of {values[1] - values[0]}"


def requires_fargate(req: Mapping[str, Any]) -> bool:
    compat = req.get("requiresCompatibilities") or []
    return isinstance(compat, list) and FARGATE in compat


def check(req: Mapping[str, Any], cpu: int | None, memory: int | None) -> None:
    """A definition that requires FARGATE must pass Fargate's rules (ClientException otherwise)."""
    if requires_fargate(req):
        why = problem(req, cpu, memory)
        if why is not None:
            raise ClientException(why)


def compatibilities(req: Mapping[str, Any], cpu: int | None, memory: int | None) -> list[str]:
    """What ECS reports: EC2, and FARGATE when the definition could run there."""
    return ["EC2", FARGATE] if problem(req, cpu, memory) is None else ["EC2"]
