"""The in-process local cluster: a control plane and N agents in one process.

`orchestrator dev`, the tests and the benchmarks all run this one cluster: a real control plane
(HTTP on loopback or any listen address, an SQLite file) and agents in threads, each its own
container instance, with any executor (the Docker one for real containers, the fake one for speed).
`api()` calls the REST API with the admin token.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from agent.executor.base import Executor
from agent.main import Agent, AgentConfig
from agent.session import Registration
from orchestrator.core.clock import Clock, SystemClock
from orchestrator.core.ids import Ids
from orchestrator.core.lifecycle import stop_tasks_on
from orchestrator.core.settings import Settings
from orchestrator.server import ControlPlane

log = structlog.get_logger("orchestrator.local")

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# What one agent of the managed Fargate pool offers: room for several tasks of any Fargate size up
# to 4 vCPU / 16 GiB; the engine's host is what really limits them.
FARGATE_AGENT_CPU = 16384
FARGATE_AGENT_MEMORY = 65536


class ApiCallFailed(AssertionError):
    """A REST call answered with another status than the caller expected."""


@dataclass
class RunningAgent:
    agent: Agent
    thread: threading.Thread
    stop: threading.Event


@dataclass
class LocalCluster:
    data_dir: Path
    executor_factory: Callable[[], Executor]
    settings: Settings = field(default_factory=lambda: Settings(health_grace_s=1.0, heartbeat_interval_s=1.0))
    agent_cpu: int = 2048
    agent_memory: int = 2048
    stop_timeout_s: int = 2
    listen: str = "127.0.0.1:0"
    # Each agent publishes its task ports on its own loopback address (127.0.1.N), as separate
    # hosts would; off: all on every address, so only one can hold a given static port.
    host_addresses: bool = False
    # GPUs per agent (`orchestrator dev --gpus N`): agent k offers the host's GPUs k*N .. k*N+N-1
    # (agent.gpus: detected ones first, then device indices), so agents never share one.
    agent_gpus: int = 0
    # Agent timings (see AgentConfig): a simulated fleet of hundreds polls and passes less often.
    poll_wait_s: float = 5.0
    pass_interval_s: float = 2.0
    # How often agents report metrics on their own (default: the control plane's metric period);
    # the simulator has its agents report once per tick instead, and sets this past its end.
    agent_metric_period_s: float | None = None
    # Whether agents relay exec sessions and ship logs (see AgentConfig). The simulator's do
    # neither; `dev --simulated` ships none: a fake container writes nothing, and a shipper holds a
    # thread per container (3,000 of them in one process starve everything else).
    agent_exec_relay: bool = True
    agent_ship_logs: bool = True
    # The control plane's clock (the simulator's fake one moves only when told).
    clock: Clock = field(default_factory=SystemClock)
    # The control plane's source of new ids (the simulator's are seeded).
    ids: Ids = field(default_factory=Ids)
    agents: dict[str, RunningAgent] = field(default_factory=dict)
    _addresses_given: int = 0
    _gpus_given: int = 0
    _detected_gpus: list[str] | None = None

    def __post_init__(self) -> None:
        self.plane = ControlPlane(self.data_dir, self.settings, self.clock, ids=self.ids)
        self.url = self.plane.start_in_thread(self.listen)
        self.http = httpx.Client(
            base_url=self.url, timeout=30.0, headers={"authorization": f"Bearer {self.plane.admin_token}"}
        )

    # -- agents ------------------------------------------------------------------------------

    def start_agent(
        self,
        name: str,
        zone: str,
        *,
        cpu: int | None = None,
        memory: int | None = None,
        attributes: dict[str, str] | None = None,
        instance_type: str = "t3.small",
        executor: Executor | None = None,
        wait: bool = True,
        gpus: list[str] | None = None,
        fargate: bool = False,
    ) -> Agent:
        stop = threading.Event()
        registration = Registration(
            zone=zone,
            cpu=cpu or self.agent_cpu,
            memory=memory or self.agent_memory,
            name=name,
            instance_type=instance_type,
            attributes=attributes or {},
            host_address=self._next_host_address() if self.host_addresses else None,
            gpus=list(gpus) if gpus is not None else ([] if fargate else self._next_gpus()),
            fargate=fargate,
        )
        config = AgentConfig(
            server=self.url,
            join_token=self.plane.join_token,
            registration=registration,
            state_file=self.data_dir / "agents" / f"{name}.json",
            stop_timeout_s=self.stop_timeout_s,
            metric_period_s=self.agent_metric_period_s or self.settings.metric_period_s,
            poll_wait_s=self.poll_wait_s,
            pass_interval_s=self.pass_interval_s,
            exec_relay=self.agent_exec_relay,
            ship_logs=self.agent_ship_logs,
        )
        agent = Agent(config, executor or self.executor_factory(), stop)
        thread = threading.Thread(target=agent.run, name=name, daemon=True)
        thread.start()
        self.agents[name] = RunningAgent(agent, thread, stop)
        if wait and not agent.registered.wait(timeout=30):
            raise RuntimeError(f"agent {name} did not register within 30 s")
        return agent

    def _next_gpus(self) -> list[str]:
        if not self.agent_gpus:
            return []
        from agent import gpus

        first = self._gpus_given
        self._gpus_given += self.agent_gpus
        if self._detected_gpus is None:
            self._detected_gpus = gpus.detect()
        return gpus.offered(self._gpus_given, self._detected_gpus)[first:]

    def _next_host_address(self) -> str:
        # 127.0.0.0/8 is all loopback on Linux: every address answers without any set-up.
        self._addresses_given += 1
        return str(ipaddress.IPv4Address("127.0.1.0") + self._addresses_given)

    def start_agents(
        self, count: int, zones: tuple[str, ...] = ZONES, instance_type: str = "t3.small", wait: bool = True
    ) -> None:
        for i in range(count):
            self.start_agent(f"agent-{i + 1}", zones[i % len(zones)], instance_type=instance_type, wait=False)
        for running in self.agents.values():
            if wait and not running.agent.registered.wait(timeout=30):
                raise RuntimeError(f"agent {running.agent.config.registration.name} did not register within 30 s")

    def start_fargate_agents(self, count: int, zones: tuple[str, ...] = ZONES, wait: bool = True) -> None:
        """The managed Fargate pool: `count` agents that run FARGATE tasks and are listed as no
        cluster's container instances (orchestrator/core/fargate.py), each the size of a large host."""
        started = [
            self.start_agent(
                f"fargate-{i + 1}",
                zones[i % len(zones)],
                cpu=FARGATE_AGENT_CPU,
                memory=FARGATE_AGENT_MEMORY,
                instance_type="fargate",
                wait=False,
                fargate=True,
            )
            for i in range(count)
        ]
        for agent in started:
            if wait and not agent.registered.wait(timeout=30):
                raise RuntimeError(f"agent {agent.config.registration.name} did not register within 30 s")

    def stop_agent(self, name: str) -> None:
        self.stop_agents([name])

    def stop_agents(self, names: list[str]) -> list[RunningAgent]:
        """Stop these agents all at once (their containers stay, as when agent processes die)."""
        stopped = [self.agents.pop(name) for name in names]
        for running in stopped:
            self._shutdown(running)
        for running in stopped:
            running.thread.join(timeout=15)
        return stopped

    def _shutdown(self, running: RunningAgent) -> None:
        running.agent.shutdown()
        # Its long-poll would otherwise sit out its wait before the thread can end.
        self.plane.store.nudge(f"instance:{running.agent.session.instance_arn}")

    def instance_id(self, name: str) -> str:
        return self.agents[name].agent.session.instance_id

    # -- API ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, expect: int = 200, **params: Any) -> dict[str, Any]:
        resp = self.http.request(method, path, json=body, params=params or None)
        if resp.status_code != expect:
            raise ApiCallFailed(f"{method} {path} -> {resp.status_code}: {resp.text}")
        result: dict[str, Any] = resp.json()
        return result

    def register(self, family: str, **container: Any) -> str:
        cdef = {
            "name": "app",
            "image": "orch/busybox:latest",
            "essential": True,
            "memory": 32,
            "cpu": 64,
            "command": ["sleep", "3600"],
            **container,
        }
        td = self.api("POST", "/v1/task-definitions", {"family": family, "containerDefinitions": [cdef]})
        return f"{family}:{td['taskDefinition']['revision']}"

    def service(self, name: str, cluster: str = "default") -> dict[str, Any]:
        svc: dict[str, Any] = self.api("GET", f"/v1/clusters/{cluster}/services/{name}")["services"][0]
        return svc

    def tasks(
        self, service: str | None = None, desired: str = "RUNNING", cluster: str = "default"
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"desiredStatus": desired}
        if service:
            params["serviceName"] = service
        tasks: list[dict[str, Any]] = self.api("GET", f"/v1/clusters/{cluster}/tasks", **params)["tasks"]
        return tasks

    def running(self, service: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks(service) if t["lastStatus"] == "RUNNING"]

    # -- teardown ----------------------------------------------------------------------------

    def close(self, remove_containers: bool = True, stopped_reason: str | None = None) -> int:
        """Stop every agent and the control plane; returns how many task containers were removed.

        With `stopped_reason`, the removed containers' tasks are also marked STOPPED with it, so a
        later cluster on the same data dir starts its services afresh instead of discovering the
        missing containers one by one.
        """
        # Stop every agent at once: each may sit in a long-poll for a few seconds.
        agents = list(self.agents.values())
        self.agents.clear()
        for running in agents:
            self._shutdown(running)
        for running in agents:
            running.thread.join(timeout=15)
        removed = 0
        if remove_containers:
            for running in agents:
                if running.agent.worker is None:
                    continue
                try:
                    removed += running.agent.worker.remove_all()
                except Exception as err:  # the engine may be gone; say so and go on
                    log.warning("could not remove containers", error=str(err))
            if stopped_reason:
                now = self.plane.clock.now()
                with self.plane.store.write() as store:
                    for running in agents:
                        if running.agent.session.instance_arn:
                            stop_tasks_on(
                                store, running.agent.session.instance_arn, now, "UserInitiated", stopped_reason
                            )
        self.http.close()
        self.plane.stop()
        return removed
