"""agent.stats on fake cgroup trees: where each layout keeps its files, and the arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.executor.base import ResourceSample
from agent.stats import (
    cpu_units_used,
    locate,
    parse_flat_keyed,
    read_sample,
    utilization,
)

CID = "ab" * 32  # a 64-hex container id


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v1_tree(root: Path, cpu_dir: str = "cpuacct/docker", mem_dir: str = "memory/docker") -> None:
    write(root, f"{cpu_dir}/{CID}/cpuacct.usage", "2500000000\n")
    write(root, f"{mem_dir}/{CID}/memory.usage_in_bytes", "10485760\n")
    write(
        root,
        f"{mem_dir}/{CID}/memory.stat",
        "cache 4194304\ninactive_file 1048576\ntotal_inactive_file 3145728\nrss 6291456\n",
    )


def v2_tree(root: Path, rel_dir: str) -> None:
    write(root, f"{rel_dir}/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    write(root, f"{rel_dir}/memory.current", "8388608\n")
    write(root, f"{rel_dir}/memory.stat", "anon 4194304\nfile 4194304\ninactive_file 2097152\n")


def test_v1_cgroupfs_layout(tmp_path: Path) -> None:
    v1_tree(tmp_path)
    sample = read_sample(tmp_path, CID, at=7.0)
    # cpuacct.usage is already nanoseconds: 2.5 s of CPU.
    # memory: 10 MiB usage - 3 MiB total_inactive_file (v1 key, hierarchy-wide) = 7 MiB = 7340032
    assert sample == ResourceSample(cpu_ns=2_500_000_000, memory_bytes=7_340_032, at=7.0)


@pytest.mark.parametrize(
    ("cpu_dir", "mem_dir"),
    [
        ("cpu,cpuacct/docker", "memory/docker"),
        ("cpuacct/system.slice", "memory/system.slice"),
    ],
)
def test_v1_other_mounts(tmp_path: Path, cpu_dir: str, mem_dir: str) -> None:
    if "system.slice" in cpu_dir:
        # systemd driver: docker-<id>.scope instead of docker/<id>
        write(tmp_path, f"{cpu_dir}/docker-{CID}.scope/cpuacct.usage", "42\n")
        write(tmp_path, f"{mem_dir}/docker-{CID}.scope/memory.usage_in_bytes", "100\n")
    else:
        write(tmp_path, f"{cpu_dir}/{CID}/cpuacct.usage", "42\n")
        write(tmp_path, f"{mem_dir}/{CID}/memory.usage_in_bytes", "100\n")
    sample = read_sample(tmp_path, CID, at=1.0)
    # no memory.stat at all: nothing to subtract, 100 - 0 = 100
    assert sample == ResourceSample(cpu_ns=42, memory_bytes=100, at=1.0)


@pytest.mark.parametrize("rel_dir", [f"system.slice/docker-{CID}.scope", f"docker/{CID}"])
def test_v2_layouts(tmp_path: Path, rel_dir: str) -> None:
    v2_tree(tmp_path, rel_dir)
    files = locate(tmp_path, CID)
    assert files is not None and files.version == 2
    sample = read_sample(tmp_path, CID, at=3.0)
    # cpu: usage_usec 1_500_000 us x 1000 = 1_500_000_000 ns
    # memory: 8 MiB current - 2 MiB inactive_file = 6 MiB = 6291456
    assert sample == ResourceSample(cpu_ns=1_500_000_000, memory_bytes=6_291_456, at=3.0)


def test_hybrid_host_prefers_v1_when_unified_tree_has_no_memory(tmp_path: Path) -> None:
    # Hybrid hosts mount v1 controllers plus a v2 tree under unified/; the v2 directory exists for
    # the container but only carries cpu.stat, so the v1 files must win.
    v1_tree(tmp_path)
    write(tmp_path, f"unified/docker/{CID}/cpu.stat", "usage_usec 1\n")
    files = locate(tmp_path, CID)
    assert files is not None and files.version == 1
    assert files.cpu == tmp_path / f"cpuacct/docker/{CID}/cpuacct.usage"


def test_unknown_container_or_layout_gives_none(tmp_path: Path) -> None:
    v1_tree(tmp_path)
    assert locate(tmp_path, "cd" * 32) is None
    assert read_sample(tmp_path, "cd" * 32, at=0.0) is None
    assert read_sample(tmp_path / "nowhere", CID, at=0.0) is None


def test_cpu_without_memory_is_not_a_match(tmp_path: Path) -> None:
    write(tmp_path, f"cpuacct/docker/{CID}/cpuacct.usage", "1\n")
    assert locate(tmp_path, CID) is None


def test_inactive_cache_larger_than_usage_clamps_to_zero(tmp_path: Path) -> None:
    rel = f"docker/{CID}"
    v2_tree(tmp_path, rel)
    write(tmp_path, f"{rel}/memory.current", "1000\n")
    # 1000 - 2097152 < 0 -> 0 (the counters are read at slightly different instants)
    sample = read_sample(tmp_path, CID, at=0.0)
    assert sample is not None and sample.memory_bytes == 0


def test_parse_flat_keyed_skips_junk() -> None:
    assert parse_flat_keyed("a 1\nb two\n\nc 3 4\nd -5\n") == {"a": 1, "d": -5}


@pytest.mark.parametrize(
    ("cpu_ns_delta", "wall_s", "expected_units"),
    [
        # one core busy for the whole second: 1e9 ns / 1e9 ns x 1024 = 1024
        (1_000_000_000, 1.0, 1024.0),
        # a quarter core over 2 s: 0.5e9 / 2e9 x 1024 = 256
        (500_000_000, 2.0, 256.0),
        # two cores flat out over 0.5 s: 1e9 / 0.5e9 x 1024 = 2048
        (1_000_000_000, 0.5, 2048.0),
        # idle
        (0, 10.0, 0.0),
    ],
)
def test_cpu_units_used(cpu_ns_delta: int, wall_s: float, expected_units: float) -> None:
    earlier = ResourceSample(cpu_ns=5_000, memory_bytes=0, at=100.0)
    later = ResourceSample(cpu_ns=5_000 + cpu_ns_delta, memory_bytes=0, at=100.0 + wall_s)
    assert cpu_units_used(earlier, later) == pytest.approx(expected_units)


def test_cpu_units_zero_when_counter_resets_or_no_time_passes() -> None:
    a = ResourceSample(cpu_ns=9_000, memory_bytes=0, at=10.0)
    restarted = ResourceSample(cpu_ns=1_000, memory_bytes=0, at=11.0)
    same_instant = ResourceSample(cpu_ns=20_000, memory_bytes=0, at=10.0)
    assert cpu_units_used(a, restarted) == 0.0
    assert cpu_units_used(a, same_instant) == 0.0


def test_utilization_against_reservation() -> None:
    earlier = ResourceSample(cpu_ns=0, memory_bytes=0, at=0.0)
    # 0.75 s CPU over 1.5 s wall = half a core = 512 units
    later = ResourceSample(cpu_ns=750_000_000, memory_bytes=96 * 1024 * 1024, at=1.5)
    u = utilization(earlier, later, cpu_reserved_units=256, memory_reserved_mib=128)
    assert u.cpu_units == pytest.approx(512.0)
    # 512 used / 256 reserved = 200 % (ECS lets utilization exceed 100)
    assert u.cpu_percent == pytest.approx(200.0)
    # 96 MiB / 128 MiB = 75 %
    assert u.memory_bytes == 96 * 1024 * 1024
    assert u.memory_percent == pytest.approx(75.0)


def test_utilization_without_reservation_has_no_percent() -> None:
    earlier = ResourceSample(cpu_ns=0, memory_bytes=0, at=0.0)
    later = ResourceSample(cpu_ns=1_000_000_000, memory_bytes=1, at=1.0)
    u = utilization(earlier, later, cpu_reserved_units=0)
    assert u.cpu_units == pytest.approx(1024.0)
    assert u.cpu_percent is None
    assert u.memory_percent is None
