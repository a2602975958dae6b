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
