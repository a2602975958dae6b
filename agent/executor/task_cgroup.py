"""The cgroup of a whole task: the parent of its containers' cgroups, holding task-level cpu and memory.

As the ECS agent does on Linux, task-level `cpu` and `memory` cap the task's containers together:
the agent creates one cgroup per task, writes the limits into it, and Docker creates each of the
task's containers beneath it (`cgroup_parent`). Only the cgroupfs layout (Docker's cgroupfs driver,
cgroup v1 or v2) is handled; the files are written from the agent, so it must run on the Docker
host with write access to the cgroup tree. Anything else raises CgroupError saying so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from agent.executor.base import TaskLimits

CPU_PERIOD_US = 100_000
_MIB = 1024 * 1024


class CgroupError(RuntimeError):
    """The task cgroup could not be set up; the message says what the host lacks."""


def is_v2(root: Path) -> bool:
    return (root / "cgroup.controllers").is_file()


def directories(root: Path, name: str) -> list[Path]:
    """The task cgroup's directories: one on v2, one per controller we limit on v1."""
    if is_v2(root):
        return [root / name]
    return [root / "memory" / name, root / "cpu" / name]


def ensure(root: Path, limits: TaskLimits) -> None:
    """Create the task's cgroup (if new) and write its limits; idempotent."""
    quota = limits.cpu_units * CPU_PERIOD_US // 1024 if limits.cpu_units else None
    memory = limits.memory_mib * _MIB if limits.memory_mib else None
    try:
        if is_v2(root):
            d = root / limits.cgroup
            d.mkdir(exist_ok=True)
            if memory is not None:
                _write(d / "memory.max", str(memory))
            if quota is not None:
                _write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        mem_dir, cpu_dir = root / "memory" / limits.cgroup, root / "cpu" / limits.cgroup
        if memory is not None:
            mem_dir.mkdir(exist_ok=True)
            _write(mem_dir / "memory.limit_in_bytes", str(memory))
        if quota is not None:
            cpu_dir.mkdir(exist_ok=True)
            _write(cpu_dir / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(quota))
    except OSError as err:
        raise CgroupError(
            f"task-level cpu/memory need the task cgroup {limits.cgroup} under {root}, and it could not be "
            f"set up ({err}). Run the agent as root on the Docker host, or remove the task-level cpu and "
            "memory and set them per container."
        ) from err


def remove(root: Path, name: str) -> None:
    """Remove the task's cgroup once its last container is gone; a busy or missing one is left as is."""
    for d in directories(root, name):
        with contextlib.suppress(OSError):
            d.rmdir()


def _write(path: Path, value: str) -> None:
    path.write_text(value)
