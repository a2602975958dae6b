"""CPU and memory sampling of task containers straight from the kernel's cgroup files.

Reading a few small files takes microseconds, where the Docker stats API blocks about a second per
container; the Docker executor uses these functions first and the stats API only when the files are
not where this module looks (a remote engine, an unusual cgroup layout). Everything here is pure
file reading against a cgroup root passed in, so tests run it on a temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.executor.base import ResourceSample

DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")

# 1024 CPU units are one full core (ECS convention).
CPU_UNITS_PER_CORE = 1024

# Where dockerd puts a container's cgroup, relative to the cgroup root. The systemd cgroup driver
# uses a "docker-<id>.scope" unit, the cgroupfs driver a "docker/<id>" directory.
_V2_DIRS = ("system.slice/docker-{id}.scope", "docker/{id}")
_V1_CPU_DIRS = (
    "cpuacct/docker/{id}",
    "cpu,cpuacct/docker/{id}",
    "cpuacct,cpu/docker/{id}",
    "cpuacct/system.slice/docker-{id}.scope",
    "cpu,cpuacct/system.slice/docker-{id}.scope",
    "cpuacct,cpu/system.slice/docker-{id}.scope",
)
TASK_CGROUP_GLOB = "orch-task-*"
_V1_MEMORY_DIRS = ("memory/docker/{id}", "memory/system.slice/docker-{id}.scope")


@dataclass(frozen=True)
class CgroupFiles:
    """The files holding one container's counters; which version decides how they are parsed."""

    version: int  # 1 or 2
    cpu: Path  # v1: cpuacct.usage (ns); v2: cpu.stat (usage_usec)
    memory_usage: Path  # v1: memory.usage_in_bytes; v2: memory.current
    memory_stat: Path  # memory.stat, for the inactive file cache to subtract


def parse_flat_keyed(text: str) -> dict[str, int]:
    """Parse "key value" lines (cpu.stat, memory.stat); lines that are not a key and an int are skipped."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return values


def locate(root: Path, container_id: str) -> CgroupFiles | None:
    """Find a container's cgroup files under root, or None when this layout is not one we know.

    Version 2 wins only when it has the memory files: on a hybrid host (v1 controllers plus a v2
    tree at /sys/fs/cgroup/unified) the v2 directory exists but holds no memory accounting.
    """
    for template in _V2_DIRS:
        for base in (root, root / "unified"):
            d = base / template.format(id=container_id)
            if (d / "memory.current").is_file() and (d / "cpu.stat").is_file():
                return CgroupFiles(2, d / "cpu.stat", d / "memory.current", d / "memory.stat")
    cpu = _first_file(root, _V1_CPU_DIRS, container_id, "cpuacct.usage")
    mem_dir = _first_file(root, _V1_MEMORY_DIRS, container_id, "memory.usage_in_bytes")
    if cpu is None or mem_dir is None:
        return _in_task_cgroup(root, container_id)
    return CgroupFiles(1, cpu, mem_dir, mem_dir.with_name("memory.stat"))


def _in_task_cgroup(root: Path, container_id: str) -> CgroupFiles | None:
    """A container of a task with task-level limits lives under the task's cgroup (orch-task-<id>)."""
    for d in root.glob(f"{TASK_CGROUP_GLOB}/{container_id}"):
        if (d / "memory.current").is_file() and (d / "cpu.stat").is_file():
            return CgroupFiles(2, d / "cpu.stat", d / "memory.current", d / "memory.stat")
    mem = next(iter(root.glob(f"memory/{TASK_CGROUP_GLOB}/{container_id}/memory.usage_in_bytes")), None)
    cpu = next(iter(root.glob(f"cpuacct*/{TASK_CGROUP_GLOB}/{container_id}/cpuacct.usage")), None)
    if mem is None or cpu is None:
        return None
    return CgroupFiles(1, cpu, mem, mem.with_name("memory.stat"))


def _first_file(root: Path, templates: Iterable[str], container_id: str, name: str) -> Path | None:
    for template in templates:
        path = root / template.format(id=container_id) / name
        if path.is_file():
            return path
    return None


def read_files(files: CgroupFiles, at: float) -> ResourceSample:
    """Read one sample; raises OSError if the container went away between locate and read.

    Memory is usage minus the inactive file cache, as `docker stats` reports it: page cache the
    kernel can drop at once is not memory the task needs.
    """
    if files.version == 2:
        usage_usec = parse_flat_keyed(files.cpu.read_text()).get("usage_usec", 0)
        cpu_ns = usage_usec * 1000
        inactive_key = "inactive_file"
    else:
        cpu_ns = int(files.cpu.read_text().strip() or 0)
        inactive_key = "total_inactive_file"
    usage = int(files.memory_usage.read_text().strip() or 0)
    try:
        stat = parse_flat_keyed(files.memory_stat.read_text())
    except FileNotFoundError:
        stat = {}
    inactive = stat.get(inactive_key, stat.get("inactive_file", 0))
    return ResourceSample(cpu_ns=cpu_ns, memory_bytes=max(0, usage - inactive), at=at)


def read_sample(root: Path, container_id: str, at: float) -> ResourceSample | None:
    """Locate and read one container's sample; None if its cgroup is not found (or vanished)."""
    files = locate(root, container_id)
    if files is None:
        return None
    try:
        return read_files(files, at)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Utilization:
    """What a container used between two samples, in the units ECS metrics are computed from."""

    cpu_units: float  # 1024 = one full core busy for the whole interval
    cpu_percent: float | None  # of the reserved cpu units; None when nothing was reserved
    memory_bytes: int  # at the later sample
    memory_percent: float | None  # of the reserved memory; None when nothing was reserved


def cpu_units_used(earlier: ResourceSample, later: ResourceSample) -> float:
    """CPU units used between two samples: delta_cpu_ns / delta_wall_ns x 1024.

    A counter that went backwards (the container restarted in between) or no elapsed time gives 0.
    """
    wall_ns = (later.at - earlier.at) * 1e9
    cpu_ns = later.cpu_ns - earlier.cpu_ns
    if wall_ns <= 0 or cpu_ns < 0:
        return 0.0
    return cpu_ns / wall_ns * CPU_UNITS_PER_CORE


def utilization(
    earlier: ResourceSample,
    later: ResourceSample,
    cpu_reserved_units: int,
    memory_reserved_mib: int | None = None,
) -> Utilization:
    """CPU and memory use of one container against its reservation (ECS: may exceed 100 %)."""
    units = cpu_units_used(earlier, later)
    cpu_percent = 100.0 * units / cpu_reserved_units if cpu_reserved_units > 0 else None
    memory_percent = 100.0 * later.memory_bytes / (memory_reserved_mib * 1024 * 1024) if memory_reserved_mib else None
    return Utilization(
        cpu_units=units,
        cpu_percent=cpu_percent,
        memory_bytes=later.memory_bytes,
        memory_percent=memory_percent,
    )
