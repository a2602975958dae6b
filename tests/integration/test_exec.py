"""`orchestrator task exec` as a person runs it: a real CLI process, a real control plane, a real agent
running real containers; the exec is relayed through the control plane to the agent's long-poll."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import SETTINGS

ORCH = str(Path(sys.executable).parent / "orchestrator")


@pytest.fixture(scope="module")
def cluster(docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("exec")) / "data", executor_factory=DockerExecutor, settings=SETTINGS)
    try:
        c.start_agents(1)
        yield c
    finally:
        c.close()


def running_task(cluster: LocalCluster, service: str, execute: bool) -> str:
    taskdef = cluster.register(f"exec-{service}")
    cluster.api(
        "POST",
        "/v1/clusters/default/services",
        {"serviceName": service, "taskDefinition": taskdef, "desiredCount": 1, "enableExecuteCommand": execute},
    )
    tasks = wait_for(lambda: cluster.running(service), 60, what=f"{service} running")
    return str(tasks[0]["taskArn"]).rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def task(cluster: LocalCluster) -> str:
    return running_task(cluster, "shell", True)


def orch(cluster: LocalCluster, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir), **env}
    full["XDG_CONFIG_HOME"] = str(cluster.data_dir / "config")
    full.pop("ORCH_TOKEN", None)
    return subprocess.run(
        [ORCH, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def test_echo_returns_its_output_and_exit_code(cluster: LocalCluster, task: str) -> None:
    proc = orch(cluster, "task", "exec", task, "--", "echo", "hi")
    assert (proc.returncode, proc.stdout) == (0, "hi\n"), proc.stderr


def test_a_failing_command_returns_its_exit_code_and_stderr_apart(cluster: LocalCluster, task: str) -> None:
    proc = orch(cluster, "task", "exec", task, "--container", "app", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert proc.returncode == 3
    assert proc.stdout == "out\n"
    assert proc.stderr == "err\n"


def test_interactive_stdin_reaches_the_command(cluster: LocalCluster, task: str) -> None:
    proc = orch(cluster, "task", "exec", "-i", task, "--", "sh", "-c", "read x; echo got-$x; cat", stdin="abc\nrest\n")
    assert (proc.returncode, proc.stdout) == (0, "got-abc\nrest\n"), proc.stderr


def test_a_tty_has_the_terminal_size(cluster: LocalCluster, task: str) -> None:
    # The CLI reads its size from LINES/COLUMNS when not on a terminal, and opens the TTY at that size.
    command = ["sh", "-c", "test -t 1 && stty size </dev/tty"]
    proc = orch(cluster, "task", "exec", "-t", task, "--", *command, LINES="33", COLUMNS="101")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.replace("\r", "") == "33 101\n"


def test_exec_is_refused_without_enable_execute_command(cluster: LocalCluster) -> None:
    closed = running_task(cluster, "closed", False)
    proc = orch(cluster, "task", "exec", closed, "--", "echo", "hi")
    assert proc.returncode == 1
    assert "InvalidParameterException" in proc.stderr and "execute command was not enabled" in proc.stderr
    assert "hi" not in proc.stdout


def test_exec_needs_the_admin_token_and_is_audited(cluster: LocalCluster, task: str) -> None:
    url = f"{cluster.url}/v1/clusters/default/tasks/{task}/exec"
    body = {"command": ["echo", "x"]}
    assert httpx.post(url, json=body).status_code == 401
    join = (cluster.data_dir / "join.token").read_text().strip()
    assert httpx.post(url, json=body, headers={"authorization": f"Bearer {join}"}).status_code == 401
    orch(cluster, "task", "exec", task, "--", "echo", "audited")
    events = cluster.api("GET", "/v1/clusters/default/services/shell/events")["events"]
    assert any("ran execute command in container app: echo audited" in e["message"] for e in events)
