"""A node agent's life: register, then long-poll assignments while the worker keeps Docker in step.

Three threads: the long-poll loop (which is also the heartbeat), the worker's pass loop (woken
by assignments and Docker events, and every couple of seconds regardless), and the metrics
loop that samples task containers each period; beside them the log shipper's threads
(agent/log_shipper.py) send the containers' output.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agent.exec_relay import ExecRelay
from agent.execution_role import ExecutionRoles
from agent.executor.base import LABEL_INSTANCE, LABEL_MANAGED, LABEL_SANDBOX, LABEL_TASK, Executor, ResourceSample
from agent.log_shipper import LogShipper
from agent.session import Registration, Session, SessionClosed
from agent.stats import cpu_units_used
from agent.task_credentials import CredentialsEndpoint, load_or_create_key
from agent.worker import Worker

log = structlog.get_logger("agent")


def default_cpu_units() -> int:
    return (os.cpu_count() or 1) * 1024


def default_memory_mib() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 2048


@dataclass
class AgentConfig:
    server: str
    join_token: str
    registration: Registration
    state_file: Path
    start_concurrency: int = 8
    stop_timeout_s: int = 30
    metric_period_s: float = 60.0
    # How long one assignment long-poll waits, and how often the worker looks again with nothing
    # to wake it: simulated fleets of hundreds in one process stretch both to stay cheap idle.
    poll_wait_s: float = 5.0
    pass_interval_s: float = 2.0
    # Exec sessions and log shipping (a long-poll and two threads per agent): a simulator's agents,
    # whose scenarios use neither, leave them out.
    exec_relay: bool = True
    ship_logs: bool = True


class Agent:
    def __init__(self, config: AgentConfig, executor: Executor, stop: threading.Event | None = None) -> None:
        self.config = config
        self.executor = executor
        self.stop_event = stop or threading.Event()
        self.session = Session(
            config.server, config.join_token, config.registration, config.state_file, self.stop_event
        )
        self.worker: Worker | None = None
        self.log_shipper: LogShipper | None = None
        self.credentials: CredentialsEndpoint | None = None
        self.registered = threading.Event()
        self._passing = False
        self.log = log.bind(agent=config.registration.name or "agent", zone=config.registration.zone)

    def shutdown(self) -> None:
        """Stop from another thread: also cuts a long-poll short instead of waiting it out."""
        self.stop_event.set()
        self.session.close()

    def run(self) -> None:
        """Run until the stop event is set."""
        try:
            self.executor.ping()
            self.session.register()
        except SessionClosed:
            return
        self.log = self.log.bind(instance=self.session.instance_id)
        labels = {LABEL_INSTANCE: self.session.instance_id, LABEL_MANAGED: "true"}
        state = self.config.state_file
        execution = ExecutionRoles(self.session.execution_credentials, self.session.aws)
        shipper = LogShipper(
            self.executor,
            self.session.logs,
            state.with_name(f"{state.stem}.logs.json"),
            labels,
            self.stop_event,
            execution_key=execution.key_id,
        )
        self.log_shipper = shipper
        credentials = CredentialsEndpoint(
            self.session.task_credentials, load_or_create_key(state.with_name(f"{state.stem}.task-credentials.key"))
        )
        self.credentials = credentials
        worker = Worker(
            self.executor,
            self.session.report,
            self.config.registration.cluster,
            self.session.instance_id,
            start_concurrency=self.config.start_concurrency,
            default_stop_timeout=self.config.stop_timeout_s,
            host_ip=self.config.registration.host_address or "0.0.0.0",
            before_remove=shipper.drain if self.config.ship_logs else None,
            secrets=self.session.task_secrets,
            credentials=credentials,
            execution=execution,
        )
        self.worker = worker

        def changed(_cid: str) -> None:
            worker.wake.set()
            shipper.wake.set()

        subscription = self.executor.subscribe(changed, labels)
        if self.config.ship_logs:
            shipper.start()
        self.registered.set()
        passes = threading.Thread(target=self._pass_loop, name="agent-passes", daemon=True)
        metrics = threading.Thread(target=self._metrics_loop, name="agent-metrics", daemon=True)
        execs = threading.Thread(
            target=ExecRelay(self.session, self.executor, self.stop_event, self.config.poll_wait_s).run,
            name="agent-exec",
            daemon=True,
        )
        passes.start()
        metrics.start()
        if self.config.exec_relay:
            execs.start()
        try:
            self._poll_loop()
        finally:
            self.stop_event.set()
            worker.wake.set()
            subscription.close()
            passes.join(timeout=5)
            shipper.close()
            credentials.close()
            worker.close()
            self.session.close()

    def _poll_loop(self) -> None:
        since = 0
        while not self.stop_event.is_set():
            try:
                assignment = self.session.assignments(since, self.config.poll_wait_s)
            except SessionClosed:
                return
            except Exception as err:
                self.log.warning("assignment poll failed", error=str(err))
                self.stop_event.wait(1.0)
                continue
            since = int(assignment.get("seq", 0))
            assert self.worker is not None
            # "unchanged": the tasks are those of the last answer. An answer of changes this worker
            # cannot apply (it missed the answer they follow) asks for every task again.
            if not assignment.get("unchanged") and not self.worker.assign(assignment):
                since = 0

    def _pass_loop(self) -> None:
        worker = self.worker
        assert worker is not None
        while not self.stop_event.is_set():
            worker.wake.wait(self.config.pass_interval_s)
            # Busy before the wake is cleared, so `idle` never sees neither.
            self._passing = True
            worker.wake.clear()
            if self.stop_event.is_set():
                return
            try:
                worker.reconcile()
            except SessionClosed:
                return
            except Exception as err:
                self.log.warning("worker pass failed", error=str(err), error_type=type(err).__name__)
                self.stop_event.wait(0.5)
            # Coalesce bursts of Docker events into one pass.
            self.stop_event.wait(0.05)
            self._passing = False

    @property
    def idle(self) -> bool:
        """No worker pass is running or asked for (a simulator's test of a settled agent)."""
        return self.worker is not None and not self._passing and not self.worker.wake.is_set()

    def _metrics_loop(self) -> None:
        """Every metric period, report CPU and memory of this instance's running task containers.

        CPU needs two readings, so a baseline is read at once and the first report, one period
        later, already carries it; a container that appears between reports gets its CPU from the
        second report that sees it. Reports keep to a fixed schedule on the monotonic clock (a
        slow report does not push the later ones back), so the control plane, which closes a
        datapoint every period, sees one report per task in almost every period.
        """
        period = max(0.1, self.config.metric_period_s)
        previous: dict[str, ResourceSample] = {}
        try:
            previous = self._read_samples()[1]
        except Exception as err:
            self.log.warning("metrics baseline failed", error=str(err))
        next_at = time.monotonic() + period
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            next_at += period
            if next_at < time.monotonic():
                # Fell more than a period behind (a stalled engine): skip the missed ticks.
                next_at = time.monotonic() + period
            try:
                out, previous = self.metric_entries(previous)
                if out:
                    self.session.metrics(out)
            except SessionClosed:
                return
            except Exception as err:
                self.log.warning("metrics sample failed", error=str(err))

    def _read_samples(self) -> tuple[list[Any], dict[str, ResourceSample]]:
        labels = {LABEL_INSTANCE: self.session.instance_id, LABEL_MANAGED: "true"}
        # A sandbox (awsvpc) is the agent's, not a container of the task: not sampled.
        containers = [c for c in self.executor.list(labels) if c.running and not c.labels.get(LABEL_SANDBOX)]
        return containers, self.executor.sample([c.id for c in containers])

    def report_metrics(self, previous: dict[str, ResourceSample]) -> dict[str, ResourceSample]:
        """One metrics report now, outside the loop's schedule (the simulator sends one per tick of
        its clock): returns the samples to pass as `previous` next time."""
        out, samples = self.metric_entries(previous)
        if out:
            self.session.metrics(out)
        return samples

    def metric_entries(
        self, previous: dict[str, ResourceSample]
    ) -> tuple[list[dict[str, Any]], dict[str, ResourceSample]]:
        """The report of the running task containers (CPU from the difference to `previous`, the
        samples of the last report) and these samples, for the next one."""
        containers, samples = self._read_samples()
        out = []
        for c in containers:
            now_s, before = samples.get(c.id), previous.get(c.id)
            if now_s is None:
                continue
            entry: dict[str, Any] = {
                "taskId": c.labels.get(LABEL_TASK, ""),
                "container": c.labels.get("orch.container", ""),
                "memoryMiB": now_s.memory_bytes / (1024 * 1024),
                "at": time.time(),
            }
            if before is not None:
                entry["cpuUnits"] = cpu_units_used(before, now_s)
            out.append(entry)
        return out, samples
