"""`orchestrator task exec` as a person runs it: a real CLI process, a real control plane, a real agent
running real containers; the exec is relayed through the control plane to the agent's long-poll."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
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
    # The CLI reads its size from LINES/COLUMNS when not on a terminal and the agent sizes the TTY to it
    # right after the start (an engine before API 1.42 cannot do it in the start call, so the command
    # may start a moment before: it asks until the size is there, and prints the size it ends with).
    wait = (
        'i=0; while [ "$(stty size </dev/tty 2>/dev/null)" != "33 101" ] && [ $i -lt 100 ]; '
        "do sleep 0.05; i=$((i+1)); done"
    )
    command = ["sh", "-c", f"test -t 1 && {wait}; stty size </dev/tty"]
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


def test_an_interactive_tty_shell_follows_resizes_and_returns_its_exit_code(cluster: LocalCluster, task: str) -> None:
    """`-it` under a real pseudo-terminal, as a person at a terminal runs it."""
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir)}
    env["XDG_CONFIG_HOME"] = str(cluster.data_dir / "config")
    env.pop("ORCH_TOKEN", None)
    env.pop("LINES", None)
    env.pop("COLUMNS", None)
    primary, secondary = pty.openpty()
    _set_size(secondary, 24, 80)
    proc = subprocess.Popen(
        [ORCH, "task", "exec", "-it", task, "--", "sh"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
    )
    os.close(secondary)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while marker not in seen:
            assert time.monotonic() < deadline, f"no {marker!r} in {seen[-300:]!r}"
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(primary, 4096)
                except OSError:
                    break
                answer_cursor_queries()

    def answer_cursor_queries() -> None:
        # busybox's line editor asks the terminal where the cursor is (ESC [6n); a terminal answers.
        nonlocal seen
        if b"\x1b[6n" in seen:
            seen = seen.replace(b"\x1b[6n", b"")
            os.write(primary, b"\x1b[1;5R")

    def at_prompt() -> None:
        """Wait for the shell's prompt and answer the cursor query it sends after it."""
        nonlocal seen
        read_until(b"# ")
        while select.select([primary], [], [], 0.5)[0]:
            seen += os.read(primary, 4096)
            answer_cursor_queries()
        seen = b""

    def run(line: str, marker: str) -> bytes:
        at_prompt()
        os.write(primary, line.encode() + b"\r")
        read_until(marker.encode())
        return seen

    try:
        assert b"24 80" in run("stty size; echo first-$((6*7))", "first-42")
        _set_size(primary, 40, 132)  # the terminal resizes: the CLI gets SIGWINCH and sends it on
        proc.send_signal(signal.SIGWINCH)
        # The resize travels CLI -> control plane -> agent -> engine; ask until the shell sees it.
        for i in range(20):
            out = run(f"stty size; echo size-$((40+{i}))", f"size-{40 + i}")
            if b"40 132" in out:
                break
        assert b"40 132" in out, out
        at_prompt()
        os.write(primary, b"exit 7\r")
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            # Keep reading, as a terminal does: restoring the terminal's mode waits for its output to drain.
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    seen += os.read(primary, 4096)
                except OSError:
                    break
                answer_cursor_queries()
        # EIO on the terminal: the CLI closed it as it exited; reap it.
        assert proc.wait(timeout=10) == 7, seen[-400:]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
