"""Logs survive `kill -9` of the agent and of the control plane, with nothing lost or doubled.

Both are real processes (`orchestrator server`, `orchestrator agent`) killed with SIGKILL while a
task prints numbered lines: the restarted agent reads on from the positions in its state file, the
restarted control plane has every batch it acknowledged, and a batch whose answer was lost is
stored once. At the end the task's stored lines are exactly line-0 ... line-(N-1), each once, the
same lines `docker logs` shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.executor.docker import DockerExecutor
from tests.harness import wait_for

ORCH = str(Path(sys.executable).with_name("orchestrator"))
LINES = 600
# 600 numbered lines, one every 20 ms (about 12 s and more of output), then quiet.
COMMAND = ["sh", "-c", f"i=0; while [ $i -lt {LINES} ]; do echo line-$i; i=$((i+1)); sleep 0.02; done; sleep 3600"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Processes:
    root: Path
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    agent: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.root / log, "ab") as out:
            return subprocess.Popen([ORCH, *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def start_server(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.server = self._spawn(
            ["server", "--data-dir", str(self.data), "--listen", f"127.0.0.1:{self.port}", "--log-level", "warning"],
            "server.log",
        )

        def up() -> bool:
            assert self.server is not None and self.server.poll() is None, "the control plane exited"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, what="the control plane to listen")

    def start_agent(self) -> None:
        join = (self.data / "join.token").read_text().strip()
        self.agent = self._spawn(
            [
                *("agent", "--server", self.url, "--join-token", join, "--zone", "us-east-1a", "--name", "a1"),
                *("--state-dir", str(self.root / "agent"), "--stop-timeout", "1", "--log-level", "warning"),
            ],
            "agent.log",
        )

    @staticmethod
    def kill9(proc: subprocess.Popen[bytes] | None) -> None:
        assert proc is not None and proc.poll() is None, "the process to kill already exited"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        token = (self.data / "admin.token").read_text().strip()
        resp = httpx.request(
            method, self.url + path, json=body, params=params or None, headers={"authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200, f"{method} {path} -> {resp.status_code}: {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    def numbers(self, tid: str) -> list[int]:
        events = self.api("GET", f"/v1/clusters/default/tasks/{tid}/logs", limit=10_000)["events"]
        return [int(m.group(1)) for e in events if (m := re.fullmatch(r"line-(\d+)", e["message"]))]

    def instance_id(self) -> str:
        state = json.loads((self.root / "agent" / "a1.json").read_text())
        return str(state["containerInstanceArn"]).rsplit("/", 1)[-1]

    def close(self) -> None:
        for proc in (self.agent, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@pytest.fixture
def procs(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path)
    p.start_server()
    try:
        yield p
    finally:
        instance = p.instance_id() if (tmp_path / "agent" / "a1.json").exists() else None
        p.close()
        if instance:
            for state in docker_executor.list({"orch.instance": instance}):
                docker_executor.remove(state.id)


def test_logs_survive_kill_9_of_the_agent_and_the_control_plane(procs: Processes) -> None:
    p = procs
    p.start_agent()
    wait_for((p.root / "agent" / "a1.json").exists, 30, what="the agent to register")
    awslogs = {"awslogs-group": "/ecs/restart", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    cdef = {
        "name": "app",
        "image": "orch/busybox:latest",
        "memory": 32,
        "cpu": 64,
        "command": COMMAND,
        "logConfiguration": {"logDriver": "awslogs", "options": awslogs},
    }
    p.api("POST", "/v1/task-definitions", {"family": "counter", "containerDefinitions": [cdef]})
    tid = p.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": "counter:1"})["tasks"][0]["taskArn"]
    tid = tid.rsplit("/", 1)[-1]

    wait_for(lambda: len(p.numbers(tid)) >= 50, 60, interval=0.05, what="the first 50 lines shipped")
    p.kill9(p.agent)  # mid-output: the container goes on printing into Docker
    before = len(p.numbers(tid))
    p.start_agent()  # same state dir: same instance, reading on from its saved positions
    wait_for(lambda: len(p.numbers(tid)) > before + 50, 60, interval=0.05, what="the restarted agent shipping")
    assert len(p.numbers(tid)) < LINES, "the output ended before the control plane could be killed mid-way"
    p.kill9(p.server)  # the agent's batches wait (and retry) while it is away
    p.start_server()
    wait_for(lambda: len(p.numbers(tid)) >= LINES, 120, what=f"all {LINES} lines")

    numbers = p.numbers(tid)
    assert numbers == list(range(LINES)), "lost or doubled lines"
    docker = subprocess.run(
        ["docker", "logs", f"orch-{tid}-app"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert docker == [f"line-{n}" for n in numbers]
