"""The context every operation and controller runs in: the store, the clock, the settings, the ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.clock import Clock
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.ids import Ids
from orchestrator.core.log_feed import LogFeed
from orchestrator.core.models import arn_id
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store
from orchestrator.core.task_wires import LastAnswers, TaskWires

DEFAULT_CLUSTER = "default"


@dataclass
class Context:
    store: Store
    clock: Clock
    settings: Settings = field(default_factory=Settings)
    # Receives agents' container CPU/memory samples (the autoscaling metrics collector).
    metrics_sink: Callable[[str, list[dict[str, Any]]], None] | None = None
    # Receives the load balancer's cumulative request counters: target group ARN -> server -> count.
    request_sink: Callable[[dict[str, dict[str, int]]], None] | None = None
    # Wakes log followers when agents' log batches are stored.
    log_feed: LogFeed = field(default_factory=LogFeed)
    # The master key that seals stored parameters and secrets (`<data dir>/master.key`).
    master_key_path: Path | None = None
    # Tasks' wire forms for agents' answers, kept by row text.
    task_wires: TaskWires = field(default_factory=TaskWires)
    # What each agent was last answered, so the next answer carries only what changed.
    last_answers: LastAnswers = field(default_factory=LastAnswers)
    # New ids of tasks, instances and deployments (seeded in the simulator).
    ids: Ids = field(default_factory=Ids)


def cluster_name(ref: Any) -> str:
    """`cluster` may be a name or an ARN; omitted means `default`, as in ECS."""
    if ref is None or ref == "":
        return DEFAULT_CLUSTER
    if not isinstance(ref, str):
        raise InvalidParameterException("cluster must be a string (a cluster name or ARN).")
    return arn_id(ref) if ref.startswith("arn:") else ref
