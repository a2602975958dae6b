"""Autoscaling on real containers: CPU load on orch/cpu-web scales a service out to its maximum,
and taking the load away scales it back in, with both recorded as scaling activities.

Short timings so it runs in well under two minutes: a 1 s metric period, a high alarm of 2 of 2
datapoints and a low alarm of 3 of 3 (Settings), cooldowns of a few seconds. The load comes from
threads of this process requesting /cgi-bin/burn on the tasks' dynamic host ports on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.harness import wait_for

SERVICE = "cpu-web"
BASE = f"/v1/clusters/default/services/{SERVICE}"
LOAD_THREADS = 3
BURN_MS = 200


def host_ports(tasks: list[dict[str, Any]]) -> list[int]:
    return [
        b["hostPort"]
        for t in tasks
        for c in t.get("containers", [])
        for b in c.get("networkBindings", [])
        if b.get("containerPort") == 80
    ]


class Load:
    """Threads requesting CPU burns round-robin over the service's RUNNING tasks until stopped."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.ports: list[int] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._refresh, daemon=True)]
        self._threads += [threading.Thread(target=self._burn, args=(i,), daemon=True) for i in range(LOAD_THREADS)]

    def __enter__(self) -> Load:
        self.ports = host_ports(self.cluster.running(SERVICE))
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _refresh(self) -> None:
        # New tasks get their share of the load, as behind a load balancer.
        while not self.stop.wait(1.0):
            self.ports = host_ports(self.cluster.running(SERVICE))

    def _burn(self, index: int) -> None:
        n = index
        with httpx.Client(timeout=10.0) as client:
            while not self.stop.is_set():
                ports = self.ports
                if not ports:
                    self.stop.wait(0.2)
                    continue
                port = ports[n % len(ports)]
                n += 1
                try:
                    client.get(f"http://127.0.0.1:{port}/cgi-bin/burn?ms={BURN_MS}")
                    with self._lock:
                        self.sent += 1
                except httpx.HTTPError:
                    self.stop.wait(0.1)  # a task going away mid-request


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    settings = Settings(
        health_grace_s=1.0,
        heartbeat_interval_s=1.0,
        metric_period_s=1.0,
        autoscaling_high_datapoints=2,
        autoscaling_low_datapoints=3,
    )
    c = LocalCluster(tmp_path / "data", executor_factory=DockerExecutor, settings=settings)
    yield c
    c.close()


def test_cpu_load_scales_out_to_max_and_back_in(cluster: LocalCluster) -> None:
    c = cluster
    c.start_agent("agent-1", "us-east-1a")
    td = c.register(
        SERVICE, image="orch/cpu-web:latest", command=None, cpu=256, memory=64, portMappings=[{"containerPort": 80}]
    )
    c.api("POST", "/v1/clusters/default/services", {"serviceName": SERVICE, "taskDefinition": td, "desiredCount": 1})
    wait_for(lambda: len(c.running(SERVICE)) == 1, 60, what="1 RUNNING task")
    c.api("PUT", f"{BASE}/scalable-target", {"MinCapacity": 1, "MaxCapacity": 3})
    c.api(
        "PUT",
        f"{BASE}/scaling-policies/cpu50",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleOutCooldown": 2,
                "ScaleInCooldown": 3,
            },
        },
    )

    with Load(c) as load:
        # Each burning request keeps up to a core busy, 1024 units against 256 reserved: far above 50 %.
        wait_for(lambda: c.service(SERVICE)["desiredCount"] == 3, 60, what="scale-out to the maximum of 3")
        wait_for(lambda: len(c.running(SERVICE)) == 3, 60, what="3 RUNNING tasks")
        assert load.sent > 0
    peak = max((p["CPUUtilization"] or 0) for p in c.api("GET", f"{BASE}/metrics")["datapoints"])
    assert peak > 50

    # Idle tasks use next to no CPU: 3 of 3 datapoints below 45 % scale in. ceil(3 x ~0 / 50) = 0,
    # half the surplus of 3, rounded up, is 2: 3 - 2 = 1, the minimum.
    wait_for(lambda: c.service(SERVICE)["desiredCount"] == 1, 60, what="scale-in to the minimum of 1")
    wait_for(lambda: len(c.running(SERVICE)) == 1, 60, what="1 RUNNING task")

    activities = c.api("GET", f"{BASE}/scaling-activities", includeNotScaled=False)["ScalingActivities"]
    newest_first = [(a["Description"], a["StatusCode"]) for a in activities]
    assert newest_first[0] == ("Setting desired count to 1.", "Successful")
    assert "-AlarmLow-" in activities[0]["Cause"]
    outs = [a for a in activities[1:] if "-AlarmHigh-" in a["Cause"]]
    assert outs and all(a["StatusCode"] == "Successful" for a in outs)
    assert outs[0]["Description"] == "Setting desired count to 3."
    events = [e["message"] for e in c.service(SERVICE)["events"]]
    assert any("Application Auto Scaling: Setting desired count to 3." in m for m in events)
    assert any("Application Auto Scaling: Setting desired count to 1." in m for m in events)
