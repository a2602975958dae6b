"""Real `orchestrator server` and `orchestrator agent` processes for the chaos tests: start them,
kill them with real signals, start them again on the same data and state directories, and read
what the control plane and the Docker engine say about their tasks.

Each test prints its figures as lines starting `chaos:`, which scripts/reliability-report.sh
collects for the README's table.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agent.executor.base import LABEL_INSTANCE, LABEL_MANAGED, LABEL_TASK, ContainerState
from agent.executor.docker import DockerExecutor
from tests.harness import wait_for

ORCH = str(Path(sys.executable).with_name("orchestrator"))
CLUSTER = "/v1/clusters/default"
# Short enough that a kill, a stop or a replacement takes a second or two, not 30.
STOP_TIMEOUT_S = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def figure(line: str) -> None:
    """One measured figure, printed for `pytest -s` and for scripts/reliability-report.sh, with the
    machine's load beside it: seconds measured on a busy machine say so."""
    print(f"chaos: {line} [load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]", flush=True)


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Server:
    """`orchestrator server` as a subprocess on `host` (loopback unless a test gives a veth address)."""

    root: Path
    args: Sequence[str] = ()
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port(self.host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def join_token(self) -> str:
        return (self.data / "join.token").read_text().strip()

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        extra = [] if self.host.startswith("127.") else ["--allow-plain-http"]
        with open(self.root / "server.log", "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(ORCH, "server", "--data-dir", str(self.data), "--listen", f"{self.host}:{self.port}"),
                    *("--log-level", "warning", *extra, *self.args),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "the control plane exited"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 180, what="the control plane to listen")  # a busy machine starts it slowly

    def stop(self) -> None:
        _stop(self.proc)

    # -- API -----------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        token = (self.data / "admin.token").read_text().strip()
        resp = httpx.request(
            method,
            self.url + path,
            json=body,
            params=params or None,
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert resp.status_code == 200, f"{method} {path} -> {resp.status_code}: {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    def register(self, family: str, command: list[str], **cdef: Any) -> str:
        container = {
            "name": "app",
            "image": "orch/busybox:latest",
            "memory": 16,
            "cpu": 16,
            "command": command,
            "stopTimeout": STOP_TIMEOUT_S,
            **cdef,
        }
        td = self.api("POST", "/v1/task-definitions", {"family": family, "containerDefinitions": [container]})
        return f"{family}:{td['taskDefinition']['revision']}"

    def create_service(self, name: str, td: str, desired: int, **req: Any) -> dict[str, Any]:
        body = {"serviceName": name, "taskDefinition": td, "desiredCount": desired, **req}
        svc: dict[str, Any] = self.api("POST", f"{CLUSTER}/services", body)["service"]
        return svc

    def service(self, name: str) -> dict[str, Any]:
        svc: dict[str, Any] = self.api("GET", f"{CLUSTER}/services/{name}")["services"][0]
        return svc

    def tasks(self, desired: str = "RUNNING", **params: Any) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.api("GET", f"{CLUSTER}/tasks", desiredStatus=desired, **params)["tasks"]
        return tasks

    def task(self, arn: str) -> dict[str, Any]:
        task: dict[str, Any] = self.api("GET", f"{CLUSTER}/tasks/{arn.rsplit('/', 1)[-1]}")["tasks"][0]
        return task

    def running(self, service: str) -> list[dict[str, Any]]:
        """The service's tasks that are wanted and RUNNING."""
        return [t for t in self.tasks(serviceName=service) if t["lastStatus"] == "RUNNING"]

    def instance(self, instance_id: str) -> dict[str, Any]:
        inst: dict[str, Any] = self.api("GET", f"{CLUSTER}/container-instances/{instance_id}")["containerInstances"][0]
        return inst


@dataclass
class AgentProc:
    """`orchestrator agent` as a subprocess; `prefix` runs it inside something (`ip netns exec NS`)."""

    root: Path
    name: str
    server_url: str
    join_token: str
    zone: str = "us-east-1a"
    env: dict[str, str] = field(default_factory=dict)
    prefix: Sequence[str] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def state_file(self) -> Path:
        return self.root / f"agent-{self.name}" / f"{self.name}.json"

    @property
    def instance_id(self) -> str:
        state = json.loads(self.state_file.read_text())
        return str(state["containerInstanceArn"]).rsplit("/", 1)[-1]

    def start(self, env: dict[str, str] | None = None, *, wait: bool = True) -> None:
        args = [
            *self.prefix,
            ORCH,
            *("agent", "--server", self.server_url, "--join-token", self.join_token, "--zone", self.zone),
            *("--name", self.name, "--state-dir", str(self.state_file.parent), "--cpu", "1024", "--memory", "1024"),
            *("--stop-timeout", str(STOP_TIMEOUT_S), "--log-level", "info"),
        ]
        with open(self.root / f"agent-{self.name}.log", "ab") as out:
            self.proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, **(env or {})},
                start_new_session=True,
            )
        self.starts += 1
        if wait:
            wait_for(self.state_file.exists, 180, what=f"agent {self.name} to register")

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"agent {self.name} already exited"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        _stop(self.proc)


def containers(docker: DockerExecutor, instance_id: str) -> list[ContainerState]:
    """The task containers an agent's instance owns on the engine, running or not."""
    return docker.list({LABEL_INSTANCE: instance_id, LABEL_MANAGED: "true"})


def running_by_task(docker: DockerExecutor, instance_ids: Sequence[str]) -> Counter[str]:
    """Running task containers per task id across these instances (a count above 1 is a duplicate)."""
    counts: Counter[str] = Counter()
    for iid in instance_ids:
        for c in containers(docker, iid):
            if c.running:
                counts[c.labels.get(LABEL_TASK, "")] += 1
    return counts


def remove_containers(docker: DockerExecutor, instance_ids: Sequence[str]) -> None:
    for iid in instance_ids:
        for c in containers(docker, iid):
            with contextlib.suppress(Exception):  # best effort: a container may already be gone
                docker.remove(c.id)


def tid(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def timed(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> float:
    """Seconds until `check` holds (failing after `timeout`)."""
    t0 = time.monotonic()
    wait_for(check, timeout, interval=interval, what=what)
    return time.monotonic() - t0


def stays(check: Callable[[], bool], seconds: float, what: str, interval: float = 0.2) -> None:
    """Poll `check` for `seconds`; fail at the first poll where it does not hold."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), f"no longer true: {what}"
        time.sleep(interval)
