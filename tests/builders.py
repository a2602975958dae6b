"""Builders for control-plane tests: a store-backed Operations with a fake clock, instances
registered the way an agent registers them, task definitions, services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.core.clock import FakeClock
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations


def control_plane(tmp_path: Path, settings: Settings | None = None) -> Operations:
    store = Store(tmp_path / "test.db")
    store.ensure_cluster("default")
    return Operations(Context(store=store, clock=FakeClock(), settings=settings or Settings()))


def instance(ops: Operations, name: str, zone: str, cpu: int = 1024, memory: int = 1024, **attributes: str) -> str:
    """Register a container instance as an agent would; returns its ARN."""
    arn: str = ops.register_instance(
        {"name": name, "zone": zone, "cpu": cpu, "memory": memory, "attributes": attributes}
    )["containerInstanceArn"]
    return arn


def container(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "image": "orch/busybox:latest",
        "essential": True,
        "cpu": 128,
        "memory": 64,
        "command": ["sleep", "3600"],
        **overrides,
    }


def task_definition(ops: Operations, family: str = "web", **overrides: Any) -> str:
    td = ops.register_task_definition({"family": family, "containerDefinitions": [container(**overrides)]})
    return f"{family}:{td['taskDefinition']['revision']}"


def service(
    ops: Operations, name: str = "web", desired: int = 2, taskdef: str = "web:1", **extra: Any
) -> dict[str, Any]:
    result: dict[str, Any] = ops.create_service(
        {"serviceName": name, "taskDefinition": taskdef, "desiredCount": desired, **extra}
    )
    return result


def report_running(ops: Operations, task: dict[str, Any]) -> None:
    """What an agent reports once a task's containers run."""
    ops.report_task_states(
        task["containerInstanceArn"],
        [
            {
                "taskArn": task["taskArn"],
                "lastStatus": "RUNNING",
                "containers": [
                    {"name": c["name"], "lastStatus": "RUNNING", "runtimeId": "c-" + task["taskArn"][-8:]}
                    for c in task["containers"]
                ],
            }
        ],
    )
