"""A control plane killed with `kill -9` and started again on the same data directory carries on.

The control plane runs as a real subprocess (`orchestrator server ... --health-grace 1`); three
agents run as threads of the test process with the Docker executor, pointed at its URL, and ride
out the outage by retrying. Two cases: a rollout interrupted half way completes with the bounds
kept, and a steady service of 6 keeps the same 6 tasks and containers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.executor.base import LABEL_MANAGED, LABEL_TASK
from agent.executor.docker import DockerExecutor
from agent.main import Agent, AgentConfig
from agent.session import Registration
from orchestrator.local import ZONES
from tests.harness import wait_for
from tests.integration.deployment_checks import BoundsSampler, is_healthy, revision, settled_on

ORCH = str(Path(sys.executable).with_name("orchestrator"))
GRACE_S = 1.0
SVC = "/v1/clusters/default/services"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Plane:
    """`orchestrator server` as a subprocess, and agent threads that talk to it."""

    data_dir: Path
    executor: DockerExecutor
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    agents: list[tuple[Agent, threading.Thread]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.data_dir.parent / "server.log", "ab")  # noqa: SIM115 - the subprocess keeps it
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                ORCH,
                "server",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--health-grace",
                str(GRACE_S),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "the control plane exited"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, what="the control plane to listen")
        self.http = httpx.Client(base_url=self.url, timeout=30.0, headers={"authorization": f"Bearer {self.token}"})

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.http.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    @property
    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def start_agents(self) -> None:
        join = (self.data_dir / "join.token").read_text().strip()
        for i, zone in enumerate(ZONES):
            name = f"agent-{i + 1}"
            config = AgentConfig(
                server=self.url,
                join_token=join,
                registration=Registration(zone=zone, cpu=2048, memory=2048, name=name),
                state_file=self.data_dir.parent / "agents" / f"{name}.json",
                stop_timeout_s=2,
            )
            agent = Agent(config, DockerExecutor())
            thread = threading.Thread(target=agent.run, name=name, daemon=True)
            thread.start()
            assert agent.registered.wait(30), f"{name} did not register"
            self.agents.append((agent, thread))

    def close(self) -> None:
        for agent, _ in self.agents:
            agent.shutdown()  # all at once: each takes a moment to wind down
        for agent, thread in self.agents:
            thread.join(timeout=15)
            if agent.worker is not None:
                agent.worker.remove_all()
        self.stop()

    # -- API -----------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        resp = self.http.request(method, path, json=body, params=params or None)
        assert resp.status_code == 200, f"{method} {path} -> {resp.status_code}: {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    def service(self, name: str) -> dict[str, Any]:
        svc: dict[str, Any] = self.api("GET", f"{SVC}/{name}")["services"][0]
        return svc

    def tasks(self, name: str, desired: str = "RUNNING") -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.api(
            "GET", "/v1/clusters/default/tasks", serviceName=name, desiredStatus=desired
        )["tasks"]
        return tasks

    def healthy(self, name: str) -> list[dict[str, Any]]:
        now = time.time()
        return [t for t in self.tasks(name) if is_healthy(t, now, GRACE_S)]

    def register(self, command: list[str]) -> str:
        cdef = {
            "name": "app",
            "image": "orch/busybox:latest",
            "memory": 32,
            "cpu": 64,
            "command": command,
            "stopTimeout": 1,
        }
        td = self.api("POST", "/v1/task-definitions", {"family": "web", "containerDefinitions": [cdef]})
        return f"web:{td['taskDefinition']['revision']}"

    def steady_service(self, td: str, desired: int, **req: Any) -> str:
        svc = self.api("POST", SVC, {"serviceName": "web", "taskDefinition": td, "desiredCount": desired, **req})
        deployment: str = svc["service"]["deployments"][0]["id"]
        wait_for(
            lambda: settled_on(self.service("web"), deployment) and len(self.healthy("web")) == desired,
            60,
            what=f"{desired} healthy tasks",
        )
        return deployment


@pytest.fixture
def plane(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[Plane]:
    p = Plane(tmp_path / "data", docker_executor)
    p.start()
    try:
        p.start_agents()
        yield p
    finally:
        p.close()


def stays(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `check` for `seconds`; fail at the first poll where it does not hold."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), f"no longer true: {what}"
        time.sleep(0.2)


def test_kill_9_mid_rollout_and_the_restarted_control_plane_completes_it(plane: Plane) -> None:
    p = plane
    v1, v2 = p.register(["sleep", "3600"]), p.register(["sleep", "3600"])
    # 50/100 for 6: at most floor(6 x 1) = 6 tasks, at least ceil(6 x 0.5) = 3 healthy; the
    # rollout goes in two rounds of 3, so there is a middle to kill it in.
    p.steady_service(v1, 6, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100})
    with BoundsSampler(p.url, p.token, "web", grace_s=GRACE_S) as sampler:
        deployment = p.api("PATCH", f"{SVC}/web", {"taskDefinition": v2})["service"]["deployments"][0]["id"]

        def half_way() -> bool:
            tasks = p.tasks("web")
            return any(revision(t) == v2 for t in tasks) and any(revision(t) == v1 for t in tasks)

        wait_for(half_way, 30, interval=0.05, what="the first v2 tasks beside v1 ones")
        assert p.service("web")["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        p.kill9()
        p.start()  # the tokens live in the data directory: the sampler's still works
        wait_for(lambda: settled_on(p.service("web"), deployment), 90, what=f"{deployment} to complete")
        wait_for(lambda: len(p.healthy("web")) == 6, 30, what="6 healthy tasks")
    assert sampler.unreachable > 0  # it did sample across the outage
    sampler.check(6, 3)
    assert {revision(t) for t in p.tasks("web")} == {v2}
    svc = p.service("web")
    assert [(d["id"], d["rolloutState"]) for d in svc["deployments"]] == [(deployment, "COMPLETED")]
    assert f"(service web) (deployment {deployment}) deployment completed." in [e["message"] for e in svc["events"]]


def test_after_kill_9_a_steady_service_keeps_the_same_tasks(plane: Plane, docker_executor: DockerExecutor) -> None:
    p = plane
    td = p.register(["sleep", "3600"])
    p.steady_service(td, 6)

    def task_ids() -> set[str]:
        return {t["taskArn"] for t in p.tasks("web")}

    def containers() -> dict[str, str]:
        return {
            s.labels[LABEL_TASK]: s.id
            for s in docker_executor.list({LABEL_MANAGED: "true"})
            if s.running and s.labels.get("orch.instance") in {a.session.instance_id for a, _ in p.agents}
        }

    before, before_containers = task_ids(), containers()
    assert len(before) == 6 and len(before_containers) == 6
    p.kill9()
    p.start()
    # A standalone task placed and run after the restart shows that agents and controllers are back.
    other = p.api(
        "POST",
        "/v1/task-definitions",
        {
            "family": "probe",
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "orch/busybox:latest",
                    "memory": 16,
                    "command": ["sleep", "3600"],
                    "stopTimeout": 1,
                }
            ],
        },
    )
    probe_td = f"probe:{other['taskDefinition']['revision']}"
    probe = p.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": probe_td})
    probe_path = "/v1/clusters/default/tasks/" + probe["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
    wait_for(lambda: p.api("GET", probe_path)["tasks"][0]["lastStatus"] == "RUNNING", 60, what="a task after restart")

    def unchanged() -> bool:
        svc = p.service("web")
        return (
            task_ids() == before
            and len(p.healthy("web")) == 6
            and svc["runningCount"] == 6
            and not p.tasks("web", desired="STOPPED")
        )

    stays(unchanged, 3.0, "the same 6 healthy tasks, none stopped")
    assert {k: v for k, v in containers().items() if k in {a.rsplit("/", 1)[-1] for a in before}} == before_containers
