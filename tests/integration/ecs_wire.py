"""Shared by the boto3 and aws CLI tests: a cluster module fixture's pieces and a record of the wire.

`WireLog` wraps the endpoint's `handle` on the server side, so every response either client
received is kept exactly as it went out, and `problems()` checks each one against the botocore
model with `tests.botocore_shapes.check_output`, which shares no code with the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.api.aws.awsjson import TARGET_PREFIXES
from orchestrator.api.aws.ecs import EcsEndpoint, WireResponse
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.botocore_shapes import check_output


@dataclass(frozen=True)
class Exchange:
    service: str
    operation: str
    status: int
    body: dict[str, Any]


@dataclass
class WireLog:
    exchanges: list[Exchange] = field(default_factory=list)

    @contextmanager
    def recording(self) -> Iterator[WireLog]:
        original = EcsEndpoint.handle
        log = self

        def handle(
            endpoint: EcsEndpoint, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
        ) -> WireResponse:
            response = original(endpoint, method, path, query, headers, body)
            target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
            prefix, _, operation = target.rpartition(".")
            log.exchanges.append(
                Exchange(TARGET_PREFIXES.get(prefix, "?"), operation, response.status, json.loads(response.body))
            )
            return response

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(EcsEndpoint, "handle", handle)
            yield self

    def operations(self, status: int = 200) -> set[str]:
        return {e.operation for e in self.exchanges if e.status == status}

    def problems(self) -> list[str]:
        """Every way a recorded response breaks the model; an error needs a name and a message."""
        found: list[str] = []
        for e in self.exchanges:
            if e.status == 200:
                found += [f"{e.operation}: {p}" for p in check_output(e.service, e.operation, e.body)]
            elif not e.body.get("__type") or not (e.body.get("message") or e.body.get("Message")):
                found.append(f"{e.operation}: error body without a name or message: {e.body}")
        return found


# Autoscaling on a one-second metric period, and a low alarm of 3 datapoints instead of 15, so an
# idle service scales in within seconds; everything else as the harness sets it.
SETTINGS = Settings(health_grace_s=1.0, heartbeat_interval_s=1.0, metric_period_s=1.0, autoscaling_low_datapoints=3)


@contextmanager
def real_cluster(data_dir: Path) -> Iterator[LocalCluster]:
    """Three real-Docker agents in three zones; their containers are removed at the end."""
    cluster = LocalCluster(data_dir, executor_factory=DockerExecutor, settings=SETTINGS)
    try:
        cluster.start_agents(3)
        yield cluster
    finally:
        cluster.close()


TASK_DEFINITION: dict[str, Any] = {
    "family": "sleeper",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "orch/busybox:latest",
            "essential": True,
            "memory": 32,
            "cpu": 64,
            "command": ["sleep", "3600"],
        }
    ],
}
