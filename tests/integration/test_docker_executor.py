"""DockerExecutor against a real engine: what it creates, reports, stops, watches and measures."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.executor.base import (
    ContainerSpec,
    ContainerState,
    HealthCheckSpec,
    ImageNotFound,
    PortMapping,
)
from agent.executor.docker import DockerExecutor

pytestmark = pytest.mark.docker

BUSYBOX = "orch/busybox:latest"
WEB = "orch/web:latest"


def make_spec(labels: dict[str, str], suffix: str, **kw: Any) -> ContainerSpec:
    name = f"orch-test-{labels['orch.test']}-{suffix}"
    kw.setdefault("image", BUSYBOX)
    kw.setdefault("command", ("sleep", "300"))
    return ContainerSpec(name=name, labels=labels, **kw)


def wait_for(
    executor: DockerExecutor,
    container_id: str,
    check: Callable[[ContainerState], bool],
    timeout_s: float = 15.0,
) -> ContainerState:
    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline:
        state = executor.inspect(container_id)
        if state is not None and check(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"container {container_id} never reached the expected state; last: {state}")


def docker_inspect(container_id: str) -> dict[str, Any]:
    """The engine's own view, through the CLI, to check what the executor asked for."""
    out = subprocess.run(["docker", "inspect", container_id], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)[0]
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(port: int, path: str = "/", timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                body: str = resp.read().decode()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_ping(docker_executor: DockerExecutor) -> None:
    docker_executor.ping()  # raises if the engine does not answer
    assert docker_executor.list({"orch.test": "no-such-test-label"}) == []


def test_run_and_idempotent_run_by_name(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    spec = make_spec(test_labels, "idem")
    first = docker_executor.run(spec)
    assert first.status == "running" and first.running
    assert first.name == spec.name
    assert first.started_at is not None and abs(first.started_at - time.time()) < 60
    again = docker_executor.run(spec)
    assert again.id == first.id
    listed = docker_executor.list(test_labels)
    assert [s.id for s in listed] == [first.id]


def test_concurrent_runs_of_one_name_make_one_container(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    spec = make_spec(test_labels, "race")
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(lambda _: docker_executor.run(spec).id, range(8)))
    assert len(ids) == 1
    assert len(docker_executor.list(test_labels)) == 1


def test_labels_env_and_command(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    labels = {**test_labels, "orch.task": "t-123", "orch.container": "app"}
    spec = make_spec(
        labels,
        "env",
        command=("sh", "-c", 'test "$GREETING" = "hello world" && exit 7; exit 1'),
        environment={"GREETING": "hello world"},
        working_directory="/tmp",
        user="nobody",
    )
    state = docker_executor.run(spec)
    assert state.labels["orch.task"] == "t-123"
    assert state.labels["orch.container"] == "app"
    # exit 7 only if the variable arrived intact through the command
    done = wait_for(docker_executor, state.id, lambda s: s.status == "exited")
    assert done.exit_code == 7
    raw = docker_inspect(state.id)
    assert raw["Config"]["WorkingDir"] == "/tmp"
    assert raw["Config"]["User"] == "nobody"
    assert [s.id for s in docker_executor.list({**test_labels, "orch.task": "t-123"})] == [state.id]
    assert docker_executor.list({**test_labels, "orch.task": "other"}) == []


def test_entrypoint(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    spec = make_spec(test_labels, "entry", entrypoint=("sh", "-c"), command=("exit 5",))
    state = docker_executor.run(spec)
    assert wait_for(docker_executor, state.id, lambda s: s.status == "exited").exit_code == 5


def test_cpu_shares_and_memory_limits(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    spec = make_spec(test_labels, "res", cpu_shares=256, memory_mib=64, memory_reservation_mib=32, stop_timeout_s=7)
    state = docker_executor.run(spec)
    host = docker_inspect(state.id)["HostConfig"]
    assert host["CpuShares"] == 256
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["MemoryReservation"] == 32 * 1024 * 1024
    assert docker_inspect(state.id)["Config"]["StopTimeout"] == 7


def test_cpu_shares_zero_and_one(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    default = docker_executor.run(make_spec(test_labels, "cpu0", cpu_shares=0))
    tiny = docker_executor.run(make_spec(test_labels, "cpu1", cpu_shares=1))
    assert docker_inspect(default.id)["HostConfig"]["CpuShares"] == 0  # Docker's default (1024)
    assert docker_inspect(tiny.id)["HostConfig"]["CpuShares"] == 2  # Docker's minimum
    assert docker_inspect(tiny.id)["HostConfig"]["Memory"] == 0  # no limit asked, none set


def test_dynamic_and_static_ports_are_reported_and_served(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    dynamic = docker_executor.run(
        make_spec(test_labels, "dyn", image=WEB, command=None, port_mappings=(PortMapping(80),))
    )
    assert len(dynamic.host_ports) == 1
    mapping = dynamic.host_ports[0]
    assert mapping.container_port == 80 and mapping.protocol == "tcp"
    assert mapping.host_port > 0
    assert "Hello from orch/web" in http_get(mapping.host_port)

    port = free_port()
    static = docker_executor.run(
        make_spec(test_labels, "static", image=WEB, command=None, port_mappings=(PortMapping(80, port),))
    )
    assert static.host_ports == (PortMapping(80, port),)
    assert "Hello from orch/web" in http_get(port)
    listed = {s.id: s for s in docker_executor.list(test_labels)}
    assert listed[static.id].host_ports == (PortMapping(80, port),)

    # A second container on the same static port cannot start: the engine's reason is reported.
    clash = docker_executor.run(
        make_spec(test_labels, "clash", image=WEB, command=None, port_mappings=(PortMapping(80, port),))
    )
    assert not clash.running
    assert clash.status == "created"
    assert "allocated" in clash.error or "in use" in clash.error
    assert (
        docker_executor.run(
            make_spec(test_labels, "clash", image=WEB, command=None, port_mappings=(PortMapping(80, port),))
        ).id
        == clash.id
    )


def test_cpu_web_burn_cgi(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    state = docker_executor.run(
        make_spec(test_labels, "burn", image="orch/cpu-web:latest", command=None, port_mappings=(PortMapping(80),))
    )
    port = state.host_ports[0].host_port
    assert "orch/cpu-web" in http_get(port)
    started = time.monotonic()
    body = http_get(port, "/cgi-bin/burn?ms=300")
    assert "burned" in body
    assert time.monotonic() - started >= 0.25


def test_exit_code(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    state = docker_executor.run(make_spec(test_labels, "exit3", command=("sh", "-c", "exit 3")))
    done = wait_for(docker_executor, state.id, lambda s: s.status == "exited")
    assert done.exit_code == 3
    assert not done.oom_killed
    assert done.started_at is not None and done.finished_at is not None
    # Docker takes the two times from different clocks: a container that exits at once can show
    # a finish a fraction of a millisecond before its start.
    assert done.finished_at >= done.started_at - 0.01
    assert done.host_ports == ()


def test_stop_lets_a_term_handler_finish(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    # sh as PID 1 only reacts to TERM because of the trap; exit 42 proves the handler ran.
    script = 'trap "exit 42" TERM; while true; do sleep 0.1; done'
    state = docker_executor.run(make_spec(test_labels, "term", command=("sh", "-c", script)))
    time.sleep(0.3)  # let the shell install its trap
    started = time.monotonic()
    docker_executor.stop(state.id, timeout_s=10)
    elapsed = time.monotonic() - started
    after = docker_executor.inspect(state.id)
    assert after is not None and after.status == "exited"
    assert after.exit_code == 42
    assert elapsed < 5  # handled at once, not after the 10 s timeout


def test_stop_kills_after_the_timeout(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    script = 'trap "" TERM; while true; do sleep 0.1; done'  # ignores TERM
    state = docker_executor.run(make_spec(test_labels, "kill", command=("sh", "-c", script)))
    time.sleep(0.3)
    started = time.monotonic()
    docker_executor.stop(state.id, timeout_s=1)
    elapsed = time.monotonic() - started
    after = docker_executor.inspect(state.id)
    assert after is not None and after.status == "exited"
    assert after.exit_code == 137  # 128 + SIGKILL
    assert elapsed >= 0.9  # waited the timeout before killing


def test_stop_and_remove_tolerate_gone(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    state = docker_executor.run(make_spec(test_labels, "gone"))
    docker_executor.remove(state.id)
    assert docker_executor.inspect(state.id) is None
    docker_executor.stop(state.id, 1)
    docker_executor.remove(state.id)
    assert docker_executor.list(test_labels) == []


def test_health_check_healthy_and_unhealthy(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    good = docker_executor.run(
        make_spec(
            test_labels,
            "healthy",
            image=WEB,
            command=None,
            health_check=HealthCheckSpec(
                ("CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/"), interval_s=1, timeout_s=2, retries=2
            ),
        )
    )
    bad = docker_executor.run(
        make_spec(
            test_labels,
            "unhealthy",
            health_check=HealthCheckSpec(("CMD", "false"), interval_s=1, timeout_s=2, retries=2),
        )
    )
    assert good.health == "starting"
    assert wait_for(docker_executor, good.id, lambda s: s.health == "healthy").running
    # two failed probes one second apart
    assert wait_for(docker_executor, bad.id, lambda s: s.health == "unhealthy").running
    test = docker_inspect(good.id)["Config"]["Healthcheck"]
    assert test["Test"] == ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/"]
    assert test["Interval"] == 1_000_000_000


def test_subscribe_sees_the_death_of_a_killed_container(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    died = threading.Event()
    seen: list[str] = []

    def on_change(container_id: str) -> None:
        seen.append(container_id)
        state = docker_executor.inspect(container_id)
        if state is not None and state.status == "exited":
            died.set()

    # A container of another test must not be reported.
    other = docker_executor.run(make_spec({"orch.test": test_labels["orch.test"] + "x"}, "other"))
    try:
        sub = docker_executor.subscribe(on_change, test_labels)
        try:
            state = docker_executor.run(make_spec(test_labels, "watched"))
            subprocess.run(["docker", "kill", state.id], capture_output=True, check=True)
            docker_executor.stop(other.id, 0)
            assert died.wait(10), "no die event arrived"
            assert set(seen) == {state.id}
        finally:
            started = time.monotonic()
            sub.close()
            assert time.monotonic() - started < 3  # the stream is cut, not left to time out
    finally:
        docker_executor.remove(other.id)


def test_sample_reads_cpu_and_memory(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    busy = docker_executor.run(make_spec(test_labels, "busy", command=("sh", "-c", "while :; do :; done")))
    idle = docker_executor.run(make_spec(test_labels, "idle"))
    ids = [busy.id, idle.id]
    first = docker_executor.sample(ids)
    time.sleep(0.5)
    second = docker_executor.sample(ids)
    assert set(first) == set(second) == set(ids)
    assert second[busy.id].cpu_ns > first[busy.id].cpu_ns > 0
    assert second[busy.id].at > first[busy.id].at
    for cid in ids:
        assert second[cid].memory_bytes > 0
    # Exited and unknown containers are left out rather than reported as zero.
    docker_executor.stop(idle.id, 0)
    assert set(docker_executor.sample([*ids, "0" * 64])) == {busy.id}


def test_sample_falls_back_to_the_stats_api(
    docker_executor: DockerExecutor, test_labels: dict[str, str], tmp_path: Path
) -> None:
    # No cgroup files under tmp_path: every container goes through the engine's stats API.
    fallback = DockerExecutor(cgroup_root=tmp_path)
    busy = docker_executor.run(make_spec(test_labels, "busyapi", command=("sh", "-c", "while :; do :; done")))
    first = fallback.sample([busy.id])
    time.sleep(0.3)
    second = fallback.sample([busy.id])
    assert second[busy.id].cpu_ns > first[busy.id].cpu_ns > 0
    assert second[busy.id].memory_bytes > 0
    fallback.close()


def test_missing_image(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    spec = make_spec(test_labels, "noimage", image="orch/does-not-exist:1.0")
    with pytest.raises(ImageNotFound) as info:
        docker_executor.run(spec)
    assert "orch/does-not-exist:1.0" in str(info.value)
    assert "make images" in str(info.value)
    assert docker_executor.list(test_labels) == []


def test_existing_container_is_returned_even_when_its_image_is_gone(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    tag = f"orch/test-{test_labels['orch.test']}:1"
    subprocess.run(["docker", "tag", BUSYBOX, tag], capture_output=True, check=True)
    try:
        spec = make_spec(test_labels, "adopt", image=tag)
        first = docker_executor.run(spec)
    finally:
        # Only the tag goes: the layers stay with orch/busybox and the running container.
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=True)
    assert docker_executor.run(spec).id == first.id
