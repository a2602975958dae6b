"""Service reconcile passes the background loop spends, idle and during a burst.

Run from the repository root with `python benchmarks/reconcile_passes.py`. A local cluster of 3
agents (fake executor, so no Docker) runs 4 services of 2 tasks each until they are steady, then
the script counts `ServiceController.reconcile` calls for 20 s of idleness, and then while a fifth
service of 30 tasks starts (how many of those passes went to the 4 services nobody touched). The
loop should spend passes only on what changed plus its timers and its slow sweep.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.executor.fake import FakeExecutor  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from orchestrator.reconcile.services import ServiceController  # noqa: E402
from tests.harness import wait_for  # noqa: E402

IDLE_S = 20.0
STEADY_SERVICES = 4
BURST_TASKS = 30
CONTAINER = {"name": "app", "image": "orch/busybox:latest", "cpu": 16, "memory": 8, "command": ["sleep", "3600"]}


class Counting:
    """Counts reconcile passes per service name by wrapping the controller's entry point."""

    def __init__(self) -> None:
        self.passes: Counter[str] = Counter()
        self._lock = threading.Lock()
        original = ServiceController.reconcile

        def counted(ctrl: ServiceController, cluster: str, name: str) -> None:
            with self._lock:
                self.passes[name] += 1
            original(ctrl, cluster, name)

        ServiceController.reconcile = counted  # type: ignore[method-assign,assignment]

    def take(self) -> Counter[str]:
        with self._lock:
            out, self.passes = self.passes, Counter()
        return out


def steady(cluster: LocalCluster, name: str) -> bool:
    events: list[dict[str, Any]] = cluster.service(name).get("events", [])
    return any("steady state" in e["message"] for e in events)


def main() -> None:
    counting = Counting()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), executor_factory=FakeExecutor)
        try:
            cluster.start_agents(3)
            td = cluster.api("POST", "/v1/task-definitions", {"family": "idle", "containerDefinitions": [CONTAINER]})
            ref = f"idle:{td['taskDefinition']['revision']}"
            names = [f"steady-{i}" for i in range(STEADY_SERVICES)]
            for name in names:
                body = {"serviceName": name, "taskDefinition": ref, "desiredCount": 2}
                cluster.api("POST", "/v1/clusters/default/services", body)
            wait_for(lambda: all(steady(cluster, n) for n in names), 60, what="steady services")
            time.sleep(3)  # let the passes that reached steady state finish
            counting.take()
            time.sleep(IDLE_S)
            idle = sum(counting.take().values())
            print(f"idle: {idle} service reconcile passes in {IDLE_S:.0f} s (3 agents, {STEADY_SERVICES} services)")
            started = time.monotonic()
            body = {"serviceName": "burst", "taskDefinition": ref, "desiredCount": BURST_TASKS}
            cluster.api("POST", "/v1/clusters/default/services", body)
            wait_for(lambda: cluster.service("burst")["runningCount"] == BURST_TASKS, 120, interval=0.05, what="burst")
            took = time.monotonic() - started
            passes = counting.take()
            others = sum(v for k, v in passes.items() if k != "burst")
            print(
                f"burst: {BURST_TASKS} tasks RUNNING in {took:.1f} s; passes of the new service {passes['burst']}, "
                f"of the {STEADY_SERVICES} untouched services {others}"
            )
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
