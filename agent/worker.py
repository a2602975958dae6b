"""Makes the container runtime match the tasks assigned to this instance, and reports back.

A pass compares the assignment (tasks the control plane wants RUNNING or STOPPED here) with the
labelled containers that exist, and acts: start the containers of new tasks, stop what should
stop, stop a whole task when an essential container exits, remove containers no task claims.
Container names are derived from the task id and `run` is idempotent by name, so one task never
gets two containers, and a restarted agent adopts what it finds instead of starting it again.
Slow work (starts, stops) runs in thread pools; passes are cheap and run on every change.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from agent.executor.base import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_TASK,
    ContainerSpec,
    ContainerState,
    Executor,
    ExecutorError,
    HealthCheckSpec,
    PortMapping,
)
from agent.overrides import with_overrides

log = structlog.get_logger("agent.worker")

DEFAULT_STOP_TIMEOUT_S = 30
HEALTH = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY", "starting": "UNKNOWN"}


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def container_name(task_arn: str, name: str) -> str:
    return f"orch-{task_id(task_arn)}-{name}"


def container_spec(
    task: dict[str, Any], cdef: dict[str, Any], cluster: str, instance_id: str, default_stop_timeout: int
) -> ContainerSpec:
    """The Docker container for one container definition of one task, as ECS maps the fields."""
    cdef = with_overrides(task, cdef)
    hc = cdef.get("healthCheck")
    health = None
    if hc and hc.get("command") and hc["command"][0] != "NONE":
        health = HealthCheckSpec(
            command=tuple(hc["command"]),
            interval_s=int(hc.get("interval", 30)),
            timeout_s=int(hc.get("timeout", 5)),
            retries=int(hc.get("retries", 3)),
            start_period_s=int(hc.get("startPeriod") or 0),
        )
    return ContainerSpec(
        name=container_name(task["taskArn"], cdef["name"]),
        image=cdef["image"],
        labels={
            LABEL_MANAGED: "true",
            LABEL_CLUSTER: cluster,
            LABEL_INSTANCE: instance_id,
            LABEL_TASK: task_id(task["taskArn"]),
            LABEL_CONTAINER: cdef["name"],
        },
        command=tuple(cdef["command"]) if cdef.get("command") else None,
        entrypoint=tuple(cdef["entryPoint"]) if cdef.get("entryPoint") else None,
        environment={e["name"]: e.get("value", "") for e in cdef.get("environment") or []},
        cpu_shares=int(cdef.get("cpu") or 0),
        memory_mib=cdef.get("memory"),
        memory_reservation_mib=cdef.get("memoryReservation"),
        port_mappings=tuple(
            PortMapping(int(pm["containerPort"]), int(pm.get("hostPort") or 0), pm.get("protocol", "tcp"))
            for pm in cdef.get("portMappings") or []
        ),
        health_check=health,
        stop_timeout_s=int(cdef["stopTimeout"]) if cdef.get("stopTimeout") is not None else default_stop_timeout,
        working_directory=cdef.get("workingDirectory"),
        user=cdef.get("user"),
    )


def container_report(cdef: dict[str, Any], state: ContainerState | None) -> dict[str, Any]:
    report: dict[str, Any] = {"name": cdef["name"]}
    if state is None:
        report["lastStatus"] = "PENDING"
        return report
    report["runtimeId"] = state.id
    if state.running:
        report["lastStatus"] = "RUNNING"
    elif state.status in ("exited", "dead") or state.error:
        report["lastStatus"] = "STOPPED"
        if state.exit_code is not None and state.status != "created":
            report["exitCode"] = state.exit_code
        if state.error:
            report["reason"] = f"CannotStartContainerError: {state.error}"
        elif state.oom_killed:
            report["reason"] = "OutOfMemoryError: Container killed due to memory usage"
    else:
        report["lastStatus"] = "PENDING"
    if state.health is not None and cdef.get("healthCheck"):
        report["healthStatus"] = HEALTH.get(state.health, "UNKNOWN")
    if state.host_ports:
        report["networkBindings"] = [
            {"bindIP": "0.0.0.0", "containerPort": p.container_port, "hostPort": p.host_port, "protocol": p.protocol}
            for p in state.host_ports
        ]
    return report


class Worker:
    def __init__(
        self,
        executor: Executor,
        report: Callable[[list[dict[str, Any]]], None],
        cluster: str,
        instance_id: str,
        *,
        start_concurrency: int = 8,
        default_stop_timeout: int = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        self.executor = executor
        self._report = report
        self.cluster = cluster
        self.instance_id = instance_id
        self.default_stop_timeout = default_stop_timeout
        self._lock = threading.Lock()
        self._tasks: dict[str, dict[str, Any]] | None = None  # None until the first assignment
        self._tds: dict[str, dict[str, Any]] = {}
        self._busy: set[str] = set()  # tasks with a start or stop in flight
        self._start_errors: dict[str, str] = {}
        self._sent: dict[str, Any] = {}  # last report sent per task
        self._finished: set[str] = set()  # tasks reported STOPPED and cleaned up
        self._starts = ThreadPoolExecutor(start_concurrency, thread_name_prefix=f"start-{instance_id[:6]}")
        self._stops = ThreadPoolExecutor(16, thread_name_prefix=f"stop-{instance_id[:6]}")
        self.wake = threading.Event()
        self.log = log.bind(instance=instance_id, cluster=cluster)

    def close(self) -> None:
        self._starts.shutdown(wait=False, cancel_futures=True)
        self._stops.shutdown(wait=False, cancel_futures=True)

    # -- inputs ------------------------------------------------------------------------------

    def assign(self, assignment: dict[str, Any]) -> None:
        with self._lock:
            self._tasks = {t["taskArn"]: t for t in assignment.get("tasks", [])}
            self._tds.update(assignment.get("taskDefinitions", {}))
            self._finished &= set(self._tasks)
        self.wake.set()

    # -- one pass ----------------------------------------------------------------------------

    def reconcile(self) -> None:
        with self._lock:
            if self._tasks is None:
                return  # never act before knowing what the control plane wants
            tasks = dict(self._tasks)
        containers = self.executor.list({LABEL_INSTANCE: self.instance_id, LABEL_MANAGED: "true"})
        by_task: dict[str, dict[str, ContainerState]] = defaultdict(dict)
        for c in containers:
            by_task[c.labels.get(LABEL_TASK, "")][c.labels.get(LABEL_CONTAINER, "")] = c
        reports = []
        for arn, task in tasks.items():
            report = self._reconcile_task(task, by_task.get(task_id(arn), {}))
            if report is not None and report != self._sent.get(arn):
                reports.append(report)
        known = {task_id(a) for a in tasks}
        for tid, cs in by_task.items():
            if tid not in known:
                for c in cs.values():
                    self._submit_stop(f"orphan:{c.id}", [c], remove=True)
        if reports:
            self._report(reports)
            for r in reports:
                self._sent[r["taskArn"]] = r
                if r["lastStatus"] == "STOPPED":
                    self._cleanup(r["taskArn"], by_task.get(task_id(r["taskArn"]), {}))

    def _reconcile_task(self, task: dict[str, Any], existing: dict[str, ContainerState]) -> dict[str, Any] | None:
        arn = task["taskArn"]
        if arn in self._finished:
            return None
        td = self._tds.get(task["taskDefinitionArn"])
        if td is None:
            return None
        cdefs = td["containerDefinitions"]
        if arn in self._busy:
            return self._task_report(task, cdefs, existing, None)
        if task["desiredStatus"] == "STOPPED":
            running = [c for c in existing.values() if c.running]
            if running:
                self._submit_stop(arn, running, remove=False, timeout=self._stop_timeout(cdefs))
                return self._task_report(task, cdefs, existing, None)
            return self._task_report(task, cdefs, existing, "STOPPED")
        missing = [c for c in cdefs if c["name"] not in existing]
        error = self._start_errors.get(arn) or next((c.error for c in existing.values() if c.error), "")
        if error:
            self._stop_all(arn, existing, cdefs)
            return self._task_report(
                task, cdefs, existing, "STOPPED", "TaskFailedToStart", f"CannotStartContainerError: {error}"
            )
        essential_exited = [
            c
            for c in cdefs
            if c.get("essential", True) and c["name"] in existing and existing[c["name"]].status in ("exited", "dead")
        ]
        if essential_exited:
            self._stop_all(arn, existing, cdefs)
            return self._task_report(
                task, cdefs, existing, "STOPPED", "EssentialContainerExited", "Essential container in task exited"
            )
        if missing:
            if task.get("lastStatus") in ("RUNNING", "DEACTIVATING", "STOPPING") and not existing:
                # It ran here before and its containers are gone (removed by hand): stopped.
                return self._task_report(
                    task,
                    cdefs,
                    existing,
                    "STOPPED",
                    "EssentialContainerExited",
                    "Essential container in task exited (container removed)",
                )
            self._submit_start(task, missing)
            return self._task_report(task, cdefs, existing, "PENDING")
        all_up = all(existing[c["name"]].running for c in cdefs if c.get("essential", True))
        return self._task_report(task, cdefs, existing, "RUNNING" if all_up else "PENDING")

    def _task_report(
        self,
        task: dict[str, Any],
        cdefs: list[dict[str, Any]],
        existing: dict[str, ContainerState],
        status: str | None,
        stop_code: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        report: dict[str, Any] = {
            "taskArn": task["taskArn"],
            "lastStatus": status or ("PENDING" if task.get("lastStatus") == "PROVISIONING" else task.get("lastStatus")),
            "containers": [container_report(c, existing.get(c["name"])) for c in cdefs],
        }
        if status == "STOPPED":
            for c in report["containers"]:
                c["lastStatus"] = "STOPPED"
        if stop_code:
            report["stopCode"] = stop_code
        if reason:
            report["stoppedReason"] = reason
        starts = [c.started_at for c in existing.values() if c.started_at]
        if status == "RUNNING" and starts:
            report["startedAt"] = max(starts)
        return report

    def _stop_timeout(self, cdefs: list[dict[str, Any]]) -> int:
        return max(
            (int(c["stopTimeout"]) if c.get("stopTimeout") is not None else self.default_stop_timeout) for c in cdefs
        )

    def _stop_all(self, arn: str, existing: dict[str, ContainerState], cdefs: list[dict[str, Any]]) -> None:
        running = [c for c in existing.values() if c.running]
        if running:
            self._submit_stop(arn, running, remove=False, timeout=self._stop_timeout(cdefs))

    def _cleanup(self, arn: str, existing: dict[str, ContainerState]) -> None:
        self._finished.add(arn)
        self._start_errors.pop(arn, None)
        if existing:
            self._submit_stop(f"cleanup:{arn}", list(existing.values()), remove=True, timeout=0)

    # -- slow work in pools ------------------------------------------------------------------

    def _submit_start(self, task: dict[str, Any], cdefs: list[dict[str, Any]]) -> None:
        arn = task["taskArn"]
        self._busy.add(arn)

        def start() -> None:
            try:
                for cdef in cdefs:
                    spec = container_spec(task, cdef, self.cluster, self.instance_id, self.default_stop_timeout)
                    state = self.executor.run(spec)
                    if state.error:
                        break
            except ExecutorError as err:
                self._start_errors[arn] = str(err)
                self.log.warning("task failed to start", task=task_id(arn), error=str(err))
            finally:
                self._busy.discard(arn)
                self.wake.set()

        self._starts.submit(start)

    def _submit_stop(
        self, key: str, containers: list[ContainerState], *, remove: bool, timeout: int = DEFAULT_STOP_TIMEOUT_S
    ) -> None:
        if key in self._busy:
            return
        self._busy.add(key)

        def stop() -> None:
            try:
                for c in containers:
                    if c.running:
                        self.executor.stop(c.id, timeout)
                    if remove:
                        self.executor.remove(c.id)
            except ExecutorError as err:
                self.log.warning("stop failed", key=key, error=str(err))
            finally:
                self._busy.discard(key)
                self.wake.set()

        self._stops.submit(stop)

    def remove_all(self) -> int:
        """Remove every container of this instance (dev mode's clean shutdown)."""
        containers = self.executor.list({LABEL_INSTANCE: self.instance_id, LABEL_MANAGED: "true"})
        for c in containers:
            self.executor.remove(c.id)
        return len(containers)
