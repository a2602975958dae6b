"""Per-service CPU and memory utilization, computed from the container samples agents report.

Owns the ECS service metrics of this control plane (ECS-NOTES, "Service metrics"):
CPUUtilization = 100 x CPU units used by the service's RUNNING tasks / CPU units they reserve,
MemoryUtilization = 100 x MiB they use / MiB they reserve (memoryReservation, else memory, as
`Task.memory` holds it). Both may exceed 100. A task that reserves 0 CPU units counts for memory
only, since its CPU share has no denominator; one that reserves no memory counts for CPU only.

How samples become datapoints:
- `sink` (the operations' `ctx.metrics_sink`) receives one agent's samples: it maps each taskId to
  the task, which must be placed on the reporting instance and belong to a service (group
  `service:<name>`); anything else is dropped. It only accumulates in memory.
- `close_period`, called once per metric period by the autoscaling runner, turns what arrived
  into one datapoint per ACTIVE service and appends it to that service's stored history (the
  datapoints of the newest `HISTORY` periods, one store row each, so they survive a restart; a
  period appends a row per service and rewrites no history). Only tasks that are RUNNING when the
  period closes count; a task's samples are averaged over the period.
- Agents sample on their own clock, so a period may close just before a task's sample arrives.
  Rather than treat that task as missing (a missing datapoint never breaches an alarm and would
  delay a scale-out by a whole alarm window), its previous sample stands in for up to
  `CARRY_PERIODS` periods.
- A period with no usable sample gives a datapoint with no value (None), which alarms treat as
  missing data. Each datapoint also records the desired and running counts, for `svc metrics`.

RequestCountPerTarget (what ALBRequestCountPerTarget tracks) comes from the load balancer itself:
the targets controller hands `observe_requests` HAProxy's cumulative per-server request counters
on every tick; the collector keeps the increase per target group over the period (a counter that
went down means HAProxy restarted, and its new value is the increase). At the close, per target
group of a service behind an application load balancer: the requests of the period divided by
the group's healthy targets, as ELB defines the metric, and scaled to one minute, the period of
the Sum that AWS's target tracking reads, so a TargetValue means the same as on AWS whatever
`metric_period_s` is. No healthy target: no value.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from orchestrator.autoscaling.model import Datapoint, datapoint_from_dict
from orchestrator.core import elb
from orchestrator.core.clock import Clock
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import arn_id
from orchestrator.core.store import Store

log = structlog.get_logger("orchestrator.autoscaling.metrics")

HISTORY = 200
# A task's latest sample stands in for periods in which none arrived, for at most this many.
CARRY_PERIODS = 2.0
# The task facts the collector caches are dropped when not sampled for this many periods.
FORGET_PERIODS = 5.0


@dataclass(frozen=True)
class TaskUsage:
    """One task over one period: what it used (None = no sample) and what it reserved."""

    cpu_units: float | None
    memory_mib: float | None
    cpu_reserved: int
    memory_reserved: int


def utilization(tasks: Iterable[TaskUsage]) -> tuple[float | None, float | None]:
    """(CPUUtilization, MemoryUtilization) in percent over `tasks`; None where nothing counts."""
    cpu_used = cpu_reserved = 0.0
    mem_used = mem_reserved = 0.0
    cpu_any = mem_any = False
    for t in tasks:
        if t.cpu_units is not None and t.cpu_reserved > 0:
            cpu_used += t.cpu_units
            cpu_reserved += t.cpu_reserved
            cpu_any = True
        if t.memory_mib is not None and t.memory_reserved > 0:
            mem_used += t.memory_mib
            mem_reserved += t.memory_reserved
            mem_any = True
    cpu = 100.0 * cpu_used / cpu_reserved if cpu_any else None
    memory = 100.0 * mem_used / mem_reserved if mem_any else None
    return cpu, memory


def _reserved(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass
class _TaskFacts:
    """What never changes about a task, cached so a sample costs no store read."""

    instance_arn: str
    cluster: str
    service: str
    cpu_reserved: int
    memory_reserved: int


@dataclass
class _TaskSamples:
    facts: _TaskFacts
    # Per report this period: (cpu units summed over containers or None, memory MiB summed).
    rounds: list[tuple[float | None, float]] = field(default_factory=list)
    last: tuple[float | None, float] | None = None
    last_at: float = 0.0


def _number(value: Any, name: str, index: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidParameterException(f"samples[{index}].{name} must be a non-negative number, got {value!r}.")
    return float(value)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


class MetricsCollector:
    def __init__(self, store: Store, clock: Clock, period_s: float, history: int = HISTORY) -> None:
        self.store = store
        self.clock = clock
        self.period_s = period_s
        self.history = history
        self._lock = threading.Lock()
        self._tasks: dict[str, _TaskSamples] = {}  # task id -> samples
        # (instance, task id) pairs that are not a service task of that instance.
        self._unknown: set[tuple[str, str]] = set()
        self._request_totals: dict[tuple[str, str], int] = {}  # (target group, server) -> counter
        self._requests: dict[str, int] = {}  # target group -> requests so far this period

    # -- receiving -----------------------------------------------------------------------------

    def sink(self, instance_arn: str, samples: list[dict[str, Any]]) -> None:
        """`ctx.metrics_sink`: validate every sample first (bad input changes nothing), then keep them."""
        per_task: dict[str, tuple[float | None, float, bool]] = {}
        for i, sample in enumerate(samples):
            task_id = sample.get("taskId")
            if not isinstance(task_id, str) or not task_id:
                raise InvalidParameterException(f"samples[{i}].taskId must be a task id.")
            cpu = _number(sample.get("cpuUnits"), "cpuUnits", i)
            memory = _number(sample.get("memoryMiB"), "memoryMiB", i) or 0.0
            # A task's containers add up; its CPU is unknown while any container has no CPU yet
            # (the first sample of a container has nothing to diff against).
            before_cpu, before_mem, cpu_known = per_task.get(task_id, (0.0, 0.0, True))
            cpu_known = cpu_known and cpu is not None
            per_task[task_id] = ((before_cpu or 0.0) + (cpu or 0.0), before_mem + memory, cpu_known)
        now = self.clock.monotonic()
        accepted = 0
        with self._lock:
            for task_id, (cpu_sum, mem_sum, cpu_known) in per_task.items():
                entry = self._entry(instance_arn, task_id)
                if entry is None:
                    continue
                value = (cpu_sum if cpu_known else None, mem_sum)
                entry.rounds.append(value)
                entry.last, entry.last_at = value, now
                accepted += 1
        if accepted < len(per_task):
            log.debug("metric samples dropped", instance=arn_id(instance_arn), dropped=len(per_task) - accepted)

    def _entry(self, instance_arn: str, task_id: str) -> _TaskSamples | None:
        entry = self._tasks.get(task_id)
        if entry is not None:
            return entry if entry.facts.instance_arn == instance_arn else None
        if (instance_arn, task_id) in self._unknown:
            return None
        facts = self._facts(instance_arn, task_id)
        if facts is None:
            # Remembered so a container the control plane does not know costs one lookup, not one
            # per period; bounded because task ids never repeat.
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown.add((instance_arn, task_id))
            return None
        entry = self._tasks[task_id] = _TaskSamples(facts)
        return entry

    def _facts(self, instance_arn: str, task_id: str) -> _TaskFacts | None:
        parts = instance_arn.split("/")
        if len(parts) < 3:
            return None
        cluster = parts[-2]
        with self.store.read() as s:
            task = s.find_task(cluster, task_id)
        if task is None or task.containerInstanceArn != instance_arn or not task.group.startswith("service:"):
            return None
        return _TaskFacts(
            instance_arn=instance_arn,
            cluster=cluster,
            service=task.group[len("service:") :],
            cpu_reserved=_reserved(task.cpu),
            memory_reserved=_reserved(task.memory),
        )

    def observe_requests(self, counters: Mapping[str, Mapping[str, int]]) -> None:
        """`ctx.request_sink`: per target group ARN, each server's cumulative request counter."""
        with self._lock:
            seen: dict[tuple[str, str], int] = {}
            for group, servers in counters.items():
                for server, total in servers.items():
                    before = self._request_totals.get((group, server))
                    if before is not None:
                        self._requests[group] = self._requests.get(group, 0) + (
                            total - before if total >= before else total
                        )
                    seen[(group, server)] = total
            self._request_totals = seen

    def _requests_per_target(self, s: Store, svc: Any, requests: Mapping[str, int]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for label, group in elb.service_resource_labels(s, svc).items():
            healthy = elb.healthy_count(s, group)
            out[label] = requests.get(group, 0) / healthy * 60.0 / self.period_s if healthy else None
        return out

    # -- closing a period ----------------------------------------------------------------------

    def close_period(self) -> dict[tuple[str, str], Datapoint]:
        """One datapoint per ACTIVE service from this period's samples, stored and returned."""
        now_wall = self.clock.now()
        now = self.clock.monotonic()
        with self._lock:
            usable: dict[str, tuple[float | None, float | None]] = {}
            for task_id, entry in list(self._tasks.items()):
                if entry.rounds:
                    cpus = [c for c, _ in entry.rounds if c is not None]
                    usable[task_id] = (_mean(cpus) if cpus else None, _mean([m for _, m in entry.rounds]))
                elif entry.last is not None and now - entry.last_at <= CARRY_PERIODS * self.period_s:
                    usable[task_id] = entry.last
                elif now - entry.last_at > FORGET_PERIODS * self.period_s:
                    del self._tasks[task_id]
                entry.rounds = []
            facts = {task_id: self._tasks[task_id].facts for task_id in usable if task_id in self._tasks}
            requests, self._requests = self._requests, {}
        points: dict[tuple[str, str], Datapoint] = {}
        with self.store.write() as s:
            running = s.running_tasks_by_group()
            period = s.metric_period() + 1
            records: list[tuple[str, str, dict[str, Any]]] = []
            for cluster, name, desired, balanced in s.service_desired_counts():
                placed = running.get((cluster, f"service:{name}"), [])
                usages = [u for u in (self._usage(arn, on, usable, facts) for arn, on in placed) if u is not None]
                cpu, memory = utilization(usages)
                svc = s.get_service(cluster, name) if balanced else None
                per_target = self._requests_per_target(s, svc, requests) if svc is not None else {}
                points[(cluster, name)] = Datapoint(
                    timestamp=now_wall,
                    cpu_utilization=cpu,
                    memory_utilization=memory,
                    request_count_per_target=per_target,
                )
                record: dict[str, Any] = {
                    "Timestamp": now_wall,
                    "CPUUtilization": cpu,
                    "MemoryUtilization": memory,
                    "DesiredCount": desired,
                    "RunningCount": len(placed),
                    "SampledTasks": len(usages),
                }
                if per_target:
                    record["RequestCountPerTarget"] = per_target
                records.append((cluster, name, record))
            s.add_metric_records(period, records)
            # A service recorded last period and not now was deleted: its history goes with it.
            gone = [ref for ref in s.metric_services(period - 1) if ref not in points]
            s.forget_metric_records(through_period=period - self.history, services=gone)
        return points

    @staticmethod
    def _usage(
        task_arn: str,
        instance_arn: str | None,
        usable: Mapping[str, tuple[float | None, float | None]],
        facts: Mapping[str, _TaskFacts],
    ) -> TaskUsage | None:
        task_id = arn_id(task_arn)
        value = usable.get(task_id)
        fact = facts.get(task_id)
        if value is None or fact is None or fact.instance_arn != instance_arn:
            return None
        return TaskUsage(
            cpu_units=value[0],
            memory_mib=value[1],
            cpu_reserved=fact.cpu_reserved,
            memory_reserved=fact.memory_reserved,
        )


# -- reading the history -------------------------------------------------------------------------


def stored_records(store: Store, cluster: str, service: str) -> list[dict[str, Any]]:
    """The stored datapoints of a service, oldest first, with their desired and running counts."""
    with store.read() as s:
        return s.metric_records(cluster, service)


def stored_datapoints(store: Store, cluster: str, service: str, since: float | None = None) -> list[Datapoint]:
    """The engine's view of the stored history (oldest first), optionally only after `since`."""
    points = [datapoint_from_dict(r) for r in stored_records(store, cluster, service)]
    if since is not None:
        points = [p for p in points if p.timestamp >= since]
    return points
