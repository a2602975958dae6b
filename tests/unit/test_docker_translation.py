"""The Docker executor's pure translations (no engine needed), and its answer when none runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.executor.base import ExecutorError, HealthCheckSpec, PortMapping
from agent.executor.docker import (
    DockerExecutor,
    _healthcheck,
    parse_docker_time,
    sample_from_stats,
    state_from_inspect,
)

NS = 1_000_000_000


def test_healthcheck_ecs_forms_to_docker_nanoseconds() -> None:
    hc = HealthCheckSpec(("CMD-SHELL", "curl -f http://localhost/ || exit 1"), interval_s=5, timeout_s=2,
                         retries=4, start_period_s=10)  # fmt: skip
    assert _healthcheck(hc) == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        "Interval": 5 * NS,
        "Timeout": 2 * NS,
        "Retries": 4,
        "StartPeriod": 10 * NS,
    }
    exec_form = _healthcheck(HealthCheckSpec(("CMD", "true")))
    assert exec_form["Test"] == ["CMD", "true"]
    assert "StartPeriod" not in exec_form  # 0 means off: leave Docker's default
    # no prefix (ECS would reject it): run as exec form rather than guess a shell
    assert _healthcheck(HealthCheckSpec(("true",)))["Test"] == ["CMD", "true"]


def test_parse_docker_time() -> None:
    expected = datetime(2024, 5, 1, 12, 0, 30, 123456, tzinfo=UTC).timestamp()
    # nanosecond precision is cut to microseconds
    assert parse_docker_time("2024-05-01T12:00:30.123456789Z") == pytest.approx(expected)
    assert parse_docker_time("2024-05-01T14:00:30.123456789+02:00") == pytest.approx(expected)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None  # Docker's "never"
    assert parse_docker_time("") is None
    assert parse_docker_time(None) is None
    assert parse_docker_time("garbage") is None


def inspect_json(**state: object) -> dict[str, object]:
    base_state = {
        "Status": "running",
        "ExitCode": 0,
        "Error": "",
        "OOMKilled": False,
        "StartedAt": "2024-05-01T12:00:00.5Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    }
    base_state.update(state)
    return {
        "Id": "f" * 64,
        "Name": "/task-abc-web",
        "Config": {"Labels": {"orch.task": "abc"}},
        "State": base_state,
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32770"}, {"HostIp": "::", "HostPort": "32770"}],
                "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                "9000/tcp": None,  # exposed, not published
            }
        },
    }


def test_state_from_inspect_running() -> None:
    state = state_from_inspect(inspect_json(Health={"Status": "healthy", "Log": []}))
    assert state.id == "f" * 64
    assert state.name == "task-abc-web"  # Docker's leading slash dropped
    assert state.labels == {"orch.task": "abc"}
    assert state.running
    assert state.exit_code is None  # Docker says 0 for a running container; that is no exit
    assert state.health == "healthy"
    assert state.started_at == pytest.approx(datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC).timestamp())
    assert state.finished_at is None
    # IPv4 and IPv6 bindings of one port are one mapping; unpublished ports are left out
    assert state.host_ports == (PortMapping(53, 5353, "udp"), PortMapping(80, 32770, "tcp"))


def test_the_ipv4_binding_wins_when_docker_picks_another_port_for_ipv6() -> None:
    data = inspect_json()
    # Seen on a busy engine: one random port per address family. Only the IPv4 one answers 127.0.0.1.
    data["NetworkSettings"]["Ports"] = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "33165"}, {"HostIp": "::", "HostPort": "33157"}]
    }
    assert state_from_inspect(data).host_ports == (PortMapping(80, 33165, "tcp"),)


def test_state_from_inspect_exited_and_failed_start() -> None:
    exited = state_from_inspect(
        inspect_json(Status="exited", ExitCode=137, OOMKilled=True, FinishedAt="2024-05-01T12:01:00Z")
    )
    assert exited.exit_code == 137 and exited.oom_killed and not exited.running
    assert exited.finished_at == pytest.approx(datetime(2024, 5, 1, 12, 1, tzinfo=UTC).timestamp())
    assert exited.health is None

    failed = state_from_inspect(inspect_json(Status="created", ExitCode=128, Error="port is already allocated"))
    assert failed.exit_code == 128 and failed.error == "port is already allocated"
    assert state_from_inspect(inspect_json(Status="created")).exit_code is None


def test_sample_from_stats_v1_and_v2_keys() -> None:
    v1 = {
        "cpu_stats": {"cpu_usage": {"total_usage": 123}},
        "memory_stats": {"usage": 10_000, "stats": {"total_inactive_file": 4_000, "inactive_file": 1}},
    }
    sample = sample_from_stats(v1, at=5.0)
    # 10000 - 4000 (v1 uses the hierarchical total) = 6000
    assert sample is not None and (sample.cpu_ns, sample.memory_bytes, sample.at) == (123, 6_000, 5.0)
    v2 = {
        "cpu_stats": {"cpu_usage": {"total_usage": 9}},
        "memory_stats": {"usage": 500, "stats": {"inactive_file": 200}},
    }
    sample = sample_from_stats(v2, at=1.0)
    assert sample is not None and sample.memory_bytes == 300  # 500 - 200
    # a stopped container: empty memory stats
    assert sample_from_stats({"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}, at=0.0) is None


def test_ping_without_an_engine_says_what_to_do(tmp_path: Path) -> None:
    executor = DockerExecutor(base_url=f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ExecutorError, match="make setup"):
        executor.ping()
    with pytest.raises(ExecutorError, match="make setup"):
        executor.list({})


def test_every_container_definition_member_reaches_docker() -> None:
    from agent.container_spec import container_spec
    from agent.executor.docker import create_arguments

    # the task's own cpu/memory are what placement reserved (sums of the containers), not limits
    task = {"taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/abc", "cpu": "64", "memory": "64"}
    cdef = {
        "name": "app",
        "image": "orch/busybox",
        "memory": 64,
        "dockerLabels": {"team": "core", "orch.managed": "false"},
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "linuxParameters": {
            "initProcessEnabled": True,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]},
            "sharedMemorySize": 128,
            "tmpfs": [{"containerPath": "/scratch", "size": 64, "mountOptions": ["noexec"]}],
            "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]}],
            "maxSwap": 32,
            "swappiness": 10,
        },
        "hostname": "app1",
        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
        "dnsServers": ["10.0.0.2"],
        "dnsSearchDomains": ["corp"],
        "readonlyRootFilesystem": True,
        "privileged": True,
        "user": "1000:1000",
        "workingDirectory": "/srv",
        "disableNetworking": True,
        "interactive": True,
        "pseudoTerminal": True,
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
        "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
        "stopTimeout": 7,
    }
    td = {"pidMode": "host", "ipcMode": "none", "cpu": "512", "memory": "256"}
    spec = container_spec(task, cdef, "default", "i-1", 30, td)
    assert container_spec(task, cdef, "default", "i-1", 30, {}).task_limits is None  # no task-level values
    _, host, create = create_arguments(spec)
    assert host["ulimits"] == [{"name": "nofile", "soft": 1024, "hard": 2048}]
    assert host["init"] is True
    assert (host["cap_add"], host["cap_drop"]) == (["NET_ADMIN"], ["NET_RAW"])
    assert host["shm_size"] == 128 * 1024 * 1024
    assert host["tmpfs"] == {"/scratch": "noexec,size=64m"}
    assert host["devices"] == ["/dev/fuse:/dev/fuse:rw"]  # containerPath defaults to hostPath
    assert host["memswap_limit"] == (64 + 32) * 1024 * 1024  # Docker counts memory + swap
    assert host["mem_swappiness"] == 10
    assert host["extra_hosts"] == {"db": "10.0.0.5"}
    assert (host["dns"], host["dns_search"]) == (["10.0.0.2"], ["corp"])
    assert host["read_only"] is True and host["privileged"] is True
    assert host["sysctls"] == {"net.core.somaxconn": "1024"}
    assert (host["pid_mode"], host["ipc_mode"]) == ("host", "none")
    assert host["log_config"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["cgroup_parent"] == "/orch-task-abc"  # task-level cpu/memory: the task's cgroup
    assert create["labels"]["team"] == "core" and create["labels"]["orch.managed"] == "true"  # ours win
    assert (create["hostname"], create["user"], create["working_dir"]) == ("app1", "1000:1000", "/srv")
    assert create["network_disabled"] and create["stdin_open"] and create["tty"]
    assert create["stop_timeout"] == 7
    assert spec.task_limits is not None and (spec.task_limits.cpu_units, spec.task_limits.memory_mib) == (512, 256)


def test_defaults_add_nothing_to_docker() -> None:
    from agent.executor.base import ContainerSpec
    from agent.executor.docker import create_arguments

    _, host, create = create_arguments(ContainerSpec(name="x", image="orch/busybox", labels={}))
    assert host == {"port_bindings": None, "cpu_shares": None, "mem_limit": None, "mem_reservation": None}
    assert not create["tty"] and not create["network_disabled"] and create["hostname"] is None


def test_task_cgroup_limits_on_v1_and_v2(tmp_path: Path) -> None:
    from agent.executor import task_cgroup
    from agent.executor.base import TaskLimits

    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "cpu").mkdir()
    task_cgroup.ensure(v1, TaskLimits("orch-task-t", cpu_units=512, memory_mib=256))
    assert (v1 / "memory/orch-task-t/memory.limit_in_bytes").read_text() == str(256 * 1024 * 1024)
    # 512 units = half a CPU: 50 000 us of every 100 000 us
    assert (v1 / "cpu/orch-task-t/cpu.cfs_quota_us").read_text() == "50000"
    task_cgroup.remove(v1, "orch-task-t")  # a plain directory with files cannot go: left, no error
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory")
    task_cgroup.ensure(v2, TaskLimits("orch-task-t", cpu_units=2048))
    assert (v2 / "orch-task-t/cpu.max").read_text() == "200000 100000"
    assert not (v2 / "orch-task-t/memory.max").exists()
    with pytest.raises(task_cgroup.CgroupError, match="Run the agent as root"):
        task_cgroup.ensure(tmp_path / "missing", TaskLimits("orch-task-t", memory_mib=1))


def test_ports_are_published_on_the_instances_own_address_and_read_back_with_it() -> None:
    from agent.executor.base import ContainerSpec
    from agent.executor.docker import create_arguments

    spec = ContainerSpec(
        name="t-web",
        image="orch/web:latest",
        labels={},
        port_mappings=(PortMapping(80, 8080, "tcp", "127.0.1.2"), PortMapping(53, 0, "udp", "127.0.1.2")),
    )
    exposed, host, _ = create_arguments(spec)
    assert exposed == [80, (53, "udp")]
    # Static port on the address; a dynamic one lets Docker pick the port on that address only.
    assert host["port_bindings"] == {"80/tcp": ("127.0.1.2", 8080), "53/udp": ("127.0.1.2",)}
    data = inspect_json()
    data["NetworkSettings"]["Ports"] = {"80/tcp": [{"HostIp": "127.0.1.2", "HostPort": "8080"}]}
    assert state_from_inspect(data).host_ports == (PortMapping(80, 8080, "tcp", "127.0.1.2"),)
