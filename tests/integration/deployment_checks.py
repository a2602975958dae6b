"""Shared by the real-container deployment tests: a thread that samples a service's tasks through the
REST API every ~0.2 s and checks each sample against the deployment bounds, and small readers of
service state.

Healthy is defined as the service controller defines it: RUNNING, still wanted (desiredStatus
RUNNING), and every container with a health check HEALTHY, or with no health check, RUNNING for
the health grace time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


def is_healthy(task: dict[str, Any], now: float, grace_s: float) -> bool:
    if task.get("lastStatus") != "RUNNING" or task.get("desiredStatus") != "RUNNING":
        return False
    checked = [c for c in task.get("containers", []) if c.get("healthStatus") is not None]
    if checked:
        return all(c["healthStatus"] == "HEALTHY" for c in checked)
    started = task.get("startedAt")
    return started is not None and now - float(started) >= grace_s


@dataclass(frozen=True)
class Sample:
    at: float
    live: int  # tasks holding a container: not STOPPED, wanted or being stopped
    healthy: int


@dataclass
class BoundsSampler:
    """Samples `service` until stopped. Each sample lists the wanted tasks, then the ones being
    stopped, so a task that moves from one list to the other between the calls is seen in its
    later state and counted once; health by grace time is judged at the end of the sample."""

    url: str
    token: str
    service: str
    grace_s: float
    cluster: str = "default"
    interval_s: float = 0.2
    samples: list[Sample] = field(default_factory=list)
    unreachable: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._http = httpx.Client(base_url=self.url, timeout=10.0, headers={"authorization": f"Bearer {self.token}"})
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.service}", daemon=True)

    def __enter__(self) -> BoundsSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._http.close()

    def _tasks(self, desired: str) -> dict[str, dict[str, Any]]:
        resp = self._http.get(
            f"/v1/clusters/{self.cluster}/tasks", params={"serviceName": self.service, "desiredStatus": desired}
        )
        resp.raise_for_status()
        return {t["taskArn"]: t for t in resp.json()["tasks"]}

    def take(self) -> Sample:
        wanted = self._tasks("RUNNING")
        leaving = self._tasks("STOPPED")
        now = time.time()
        latest = {**wanted, **leaving}
        live = sum(1 for t in latest.values() if t["lastStatus"] != "STOPPED")
        healthy = sum(1 for t in latest.values() if is_healthy(t, now, self.grace_s))
        return Sample(now, live, healthy)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.take())
            except httpx.HTTPError:
                self.unreachable += 1  # a control plane being restarted: nothing to sample
            self._stop.wait(self.interval_s)

    def check(self, max_tasks: int, min_healthy: int) -> tuple[int, int]:
        """Assert every sample kept the bounds; (most live, fewest healthy) seen."""
        assert len(self.samples) >= 5, f"only {len(self.samples)} samples"
        over = [s for s in self.samples if s.live > max_tasks]
        under = [s for s in self.samples if s.healthy < min_healthy]
        assert not over, f"RUNNING + PENDING above the maximum {max_tasks}: {over[:5]}"
        assert not under, f"healthy below the minimum {min_healthy}: {under[:5]}"
        return max(s.live for s in self.samples), min(s.healthy for s in self.samples)


def settled_on(svc: dict[str, Any], deployment: str) -> bool:
    """The service has one deployment, `deployment`, COMPLETED, with every task running."""
    deployments = svc.get("deployments") or []
    return (
        len(deployments) == 1
        and deployments[0]["id"] == deployment
        and deployments[0]["rolloutState"] == "COMPLETED"
        and svc["runningCount"] == svc["desiredCount"]
    )


def revision(task_or_arn: dict[str, Any] | str) -> str:
    """`family:revision` of a task (or a task definition ARN)."""
    arn = task_or_arn if isinstance(task_or_arn, str) else task_or_arn["taskDefinitionArn"]
    return arn.rsplit("/", 1)[-1]
