"""Makes the container runtime match the tasks assigned to this instance, and reports back.

A pass gathers the inputs of each assigned task (its assignment, its definition, its labelled
containers, what is in flight), asks `agent.task_decision` what to do, and carries the actions
out: starts and stops in thread pools, reports in one batch, cleanup once a STOPPED report is out.
The decision is pure and tested by tables; this module only executes it. Container names are
derived from the task id and `run` is idempotent by name, so one task never gets two containers,
and a restarted agent adopts what it finds instead of starting it again.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from agent.container_spec import (
    awsvpc_network,
    container_name,
    container_spec,
    network_mode_of,
    sandbox_spec,
    task_id,
    task_volumes,
)
from agent.execution_role import ExecutionRoleError, ExecutionRoles, wants_execution_role
from agent.executor.base import (
    LABEL_CONTAINER,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_SANDBOX,
    LABEL_TASK,
    LABEL_VOLUME_SCOPE,
    ContainerState,
    Executor,
    ExecutorError,
)
from agent.secrets import needs_secrets, with_secrets
from agent.session import AgentRequestError
from agent.task_credentials import CredentialsEndpoint, EndpointError, wants_role
from agent.task_decision import (
    DEFAULT_STOP_TIMEOUT_S,
    Action,
    FinishTask,
    RemoveContainers,
    Report,
    StartContainers,
    StopContainers,
    TaskInputs,
    container_report,
    decide_orphans,
    decide_task,
    start_order,
    with_reported,
)

__all__ = ["Worker", "container_name", "container_report", "container_spec", "task_id"]

log = structlog.get_logger("agent.worker")


class _Inline(concurrent.futures.Executor):
    """A pool that runs each job at once on the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


Executor_ = concurrent.futures.Executor


# How often at most a pass looks for task volumes left behind.
VOLUME_SWEEP_S = 5.0


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
        host_ip: str = "0.0.0.0",
        clock: Callable[[], float] = time.time,
        inline: bool = False,
        before_remove: Callable[[str], object] | None = None,
        secrets: Callable[[str], dict[str, Any]] | None = None,
        credentials: CredentialsEndpoint | None = None,
        execution: ExecutionRoles | None = None,
    ) -> None:
        """inline: do starts and stops on the calling thread, so a test sees each pass complete.
        before_remove(container id): called before a container is removed (the log shipper drains it)."""
        self.executor = executor
        self._report = report
        self._secrets = secrets
        self._credentials = credentials
        self._execution = execution
        self.cluster = cluster
        self.instance_id = instance_id
        self.default_stop_timeout = default_stop_timeout
        self.host_ip = host_ip
        self._swept_at = float("-inf")
        self._clock = clock
        self._before_remove = before_remove
        self._lock = threading.Lock()
        self._tasks: dict[str, dict[str, Any]] | None = None  # None until the first assignment
        self._tds: dict[str, dict[str, Any]] = {}
        self._busy: set[str] = set()  # tasks (and orphan/cleanup keys) with a start or stop in flight
        self._start_errors: dict[str, dict[str, str]] = {}  # task -> container name -> why run raised
        self._seen_at: dict[str, float] = {}  # task -> when this agent first saw it
        self._sent: dict[str, Any] = {}  # last report sent per task
        self._finished: set[str] = set()  # tasks reported STOPPED and cleaned up
        self._starts: Executor_ = (
            _Inline()
            if inline
            else ThreadPoolExecutor(start_concurrency, thread_name_prefix=f"start-{instance_id[:6]}")
        )
        self._stops: Executor_ = (
            _Inline() if inline else ThreadPoolExecutor(16, thread_name_prefix=f"stop-{instance_id[:6]}")
        )
        self.wake = threading.Event()
        self.log = log.bind(instance=instance_id, cluster=cluster)

    def close(self) -> None:
        self._starts.shutdown(wait=False, cancel_futures=True)
        self._stops.shutdown(wait=False, cancel_futures=True)

    # -- inputs ------------------------------------------------------------------------------

    def assign(self, assignment: dict[str, Any]) -> bool:
        """Take an answer as what the control plane wants. With `taskArns`, `tasks` carries only
        the tasks that changed since the last answer and the others are those this worker holds;
        False (nothing taken) if it does not hold one of them: ask for every task again."""
        with self._lock:
            changed = {t["taskArn"]: t for t in assignment.get("tasks", [])}
            arns = assignment.get("taskArns")
            if arns is not None:
                held = self._tasks or {}
                if any(a not in changed and a not in held for a in arns):
                    return False
                changed = {a: changed.get(a) or held[a] for a in arns}
            self._tasks = changed
            self._tds.update(assignment.get("taskDefinitions", {}))
            self._finished &= set(self._tasks)
            now = self._clock()
            for arn in self._tasks:
                self._seen_at.setdefault(arn, now)
            for arn in set(self._seen_at) - set(self._tasks):
                del self._seen_at[arn]
        self.wake.set()
        return True

    def inputs(
        self, task: dict[str, Any], existing: dict[str, ContainerState], sandbox: ContainerState | None = None
    ) -> TaskInputs:
        arn = task["taskArn"]
        return TaskInputs(
            sandbox=sandbox,
            task=with_reported(task, self._sent.get(arn)),
            definition=self._tds.get(task["taskDefinitionArn"]),
            containers=existing,
            busy=arn in self._busy,
            finished=arn in self._finished,
            start_errors=dict(self._start_errors.get(arn, {})),
            seen_at=self._seen_at.get(arn),
        )

    # -- one pass ----------------------------------------------------------------------------

    def reconcile(self) -> None:
        with self._lock:
            if self._tasks is None:
                return  # never act before knowing what the control plane wants
            tasks = dict(self._tasks)
        containers = self.executor.list({LABEL_INSTANCE: self.instance_id, LABEL_MANAGED: "true"})
        by_task: dict[str, dict[str, ContainerState]] = defaultdict(dict)
        sandboxes: dict[str, ContainerState] = {}
        for c in containers:
            if c.labels.get(LABEL_SANDBOX):
                sandboxes[c.labels.get(LABEL_TASK, "")] = c
            else:
                by_task[c.labels.get(LABEL_TASK, "")][c.labels.get(LABEL_CONTAINER, "")] = c
        now = self._clock()
        actions: list[Action] = []
        for arn, task in tasks.items():
            tid = task_id(arn)
            actions += decide_task(
                self.inputs(task, by_task.get(tid, {}), sandboxes.get(tid)), now, self.default_stop_timeout
            )
        # The agent's own --stop-timeout: an orphan has no definition to give one of its own.
        actions += decide_orphans(
            {task_id(a) for a in tasks},
            by_task,
            self.default_stop_timeout,
            sandboxes,
            {task_id(a) for a in tasks if a not in self._finished},
        )
        if self._execution is not None:
            # Tasks adopted after a restart too: their log streams carry their execution role's key id.
            for arn, task in tasks.items():
                td = self._tds.get(task["taskDefinitionArn"])
                if td is not None and wants_execution_role(td) and arn not in self._finished:
                    self._execution.track(arn)
        self.apply(actions, tasks)
        self._sync_credentials(tasks, by_task)
        self._sweep_volumes({task_id(a) for a in tasks if a not in self._finished}, set(by_task), now)

    def _sync_credentials(
        self, tasks: dict[str, dict[str, Any]], by_task: dict[str, dict[str, ContainerState]]
    ) -> None:
        """Serve the credentials endpoint to every running container of a task with a role (the ones
        adopted after a restart too), and close the listeners of containers that are gone."""
        if self._credentials is None:
            return
        running: dict[str, str] = {}
        for arn, task in tasks.items():
            td = self._tds.get(task["taskDefinitionArn"])
            if td is None or not wants_role(td) or arn in self._finished:
                continue
            for c in by_task.get(task_id(arn), {}).values():
                if c.running:
                    running[c.id] = arn
        for cid, arn in running.items():
            if arn not in self._busy and not self._credentials.serving(cid):
                problem = self._serve_credentials(arn, cid)
                if problem:
                    self.log.warning("task credentials endpoint not served", task=task_id(arn), error=problem)
        # A container started after this pass listed the engine is not in `running`: ask the engine
        # about those before closing their listeners.
        for cid, arn in self._credentials.served().items():
            if cid not in running and arn in tasks and arn not in self._finished:
                state = self.executor.inspect(cid)
                if state is not None and state.running:
                    running[cid] = arn
        self._credentials.sync(running, set(self._busy))

    def _serve_credentials(self, arn: str, container_id: str) -> str:
        """Open the endpoint in the container's network namespace; what went wrong, or ''."""
        assert self._credentials is not None
        netns_of = getattr(self.executor, "network_namespace", None)
        try:
            self._credentials.serve(arn, container_id, netns_of(container_id) if netns_of else None)
        except (EndpointError, ExecutorError, OSError) as err:
            return f"ResourceInitializationError: the task role's credentials endpoint: {err}"
        return ""

    def _task_role(self, arn: str, td: dict[str, Any], names: list[str]) -> dict[str, str] | None:
        """The credentials endpoint's variables for the task's containers ({} without a taskRoleArn),
        with its first key pair fetched; None (and start errors saying why) if it cannot be had."""
        if not wants_role(td):
            return {}
        reason = ""
        if self._credentials is None:
            reason = "ResourceInitializationError: this agent serves no task role credentials"
        else:
            try:
                env = self._credentials.environment(arn)
                self._credentials.prefetch(arn)
                return env
            except AgentRequestError as err:
                reason = f"ResourceInitializationError: unable to get the task role's credentials: {err.message}"
        for name in names:
            self._start_errors.setdefault(arn, {})[name] = reason
        self.log.warning("task role credentials not available", task=task_id(arn), error=reason)
        return None

    def _task_volumes(self, tid: str | None = None) -> dict[str, str]:
        """The labels of the task-scoped volumes this agent made (of one task, when given)."""
        labels = {LABEL_INSTANCE: self.instance_id, LABEL_VOLUME_SCOPE: "task"}
        return labels | {LABEL_TASK: tid} if tid is not None else labels

    def _sweep_volumes(self, live: set[str], with_containers: set[str], now: float) -> None:
        """Task volumes whose task is finished or unknown here and has no container left: removed.
        Catches a cleanup that found a volume still in use, and an agent that died before one."""
        if now - self._swept_at < VOLUME_SWEEP_S:
            return
        self._swept_at = now
        try:
            owners = {
                labels.get(LABEL_TASK, "")
                for labels in self.executor.volume_labels(
                    {LABEL_INSTANCE: self.instance_id, LABEL_VOLUME_SCOPE: "task"}
                )
            }
            for tid in owners - live - with_containers:
                self.executor.remove_volumes(
                    {LABEL_INSTANCE: self.instance_id, LABEL_TASK: tid, LABEL_VOLUME_SCOPE: "task"}
                )
        except ExecutorError as err:
            self.log.warning("volume sweep failed", error=str(err))

    def apply(self, actions: list[Action], tasks: dict[str, dict[str, Any]]) -> None:
        """Carry out one pass's actions: slow ones go to the pools, reports go out in one batch."""
        reports = []
        finishes: list[FinishTask] = []
        for action in actions:
            if isinstance(action, StartContainers):
                self._submit_start(tasks[action.task_arn], action.containers)
            elif isinstance(action, StopContainers):
                self._submit_stop(action.task_arn, [(cid, t) for cid, t in action.containers], remove=False)
            elif isinstance(action, RemoveContainers):
                self._submit_stop(action.key, list(action.containers), remove=True)
            elif isinstance(action, Report):
                if action.report != self._sent.get(action.report["taskArn"]):
                    reports.append(action.report)
            elif isinstance(action, FinishTask):
                finishes.append(action)
        if not reports:
            return
        self._report(reports)
        sent = set()
        for r in reports:
            self._sent[r["taskArn"]] = r
            if r["lastStatus"] == "STOPPED":
                sent.add(r["taskArn"])
        for finish in finishes:
            # Only once the control plane has heard the task stopped: otherwise a crash in between
            # would leave it RUNNING there with nothing left here to show what happened.
            if finish.task_arn in sent:
                if self._credentials is not None:
                    self._credentials.forget(finish.task_arn)
                self._finished.add(finish.task_arn)
                self._start_errors.pop(finish.task_arn, None)
                self._submit_stop(
                    f"cleanup:{finish.task_arn}", list(finish.containers), remove=True, task=finish.task_arn
                )

    # -- slow work in pools ------------------------------------------------------------------

    def _submit_start(self, task: dict[str, Any], names: tuple[str, ...]) -> None:
        arn = task["taskArn"]
        td = self._tds[task["taskDefinitionArn"]]
        by_name = {c["name"]: c for c in td["containerDefinitions"]}
        essential = {n: bool(c.get("essential", True)) for n, c in by_name.items()}
        order = [n for n in start_order(td["containerDefinitions"]) if n in names]
        self._busy.add(arn)

        def start() -> None:
            try:
                try:
                    for volume in task_volumes(task, td, self.instance_id):
                        self.executor.ensure_volume(volume)
                except ExecutorError as err:
                    # No container can start without its volumes: the essential ones fail with why.
                    for name in order:
                        self._start_errors.setdefault(arn, {})[name] = str(err)
                    self.log.warning("task volumes not ready", task=task_id(arn), error=str(err))
                    return
                resolved = self._task_secrets(arn, td, order)
                if resolved is None:
                    return
                if network_mode_of(td) == "awsvpc" and not self._sandbox(task, order):
                    return
                role_env = self._task_role(arn, td, order)
                if role_env is None:
                    return
                for name in order:
                    spec = with_secrets(
                        container_spec(
                            task,
                            by_name[name],
                            self.cluster,
                            self.instance_id,
                            self.default_stop_timeout,
                            td,
                            self.host_ip,
                        ),
                        resolved.get(name),
                    )
                    if role_env:
                        spec = dataclasses.replace(spec, environment={**spec.environment, **role_env})
                    try:
                        state = self.executor.run(spec)
                    except ExecutorError as err:
                        self._start_errors.setdefault(arn, {})[name] = str(err)
                        self.log.warning("container failed to start", task=task_id(arn), container=name, error=str(err))
                        if essential[name]:
                            break
                        continue
                    if state.status == "created" and not state.running and not state.error:
                        # Left unstarted with no words from the engine: not retried as a dead agent's
                        # unstarted container would be (task_decision), but reported as failed to start.
                        self._start_errors.setdefault(arn, {})[name] = "the Docker engine did not start the container"
                    if role_env and state.running and (problem := self._serve_credentials(arn, state.id)):
                        self._start_errors.setdefault(arn, {})[name] = problem
                        self.log.warning("task credentials endpoint not served", task=task_id(arn), error=problem)
                        if essential[name]:
                            break
                    if state.error and essential[name]:
                        break
            finally:
                self._busy.discard(arn)
                self.wake.set()

        self._starts.submit(start)

    def _sandbox(self, task: dict[str, Any], names: list[str]) -> bool:
        """An awsvpc task's network namespace, before its first container: the agent's network, then
        the sandbox on it (adopted if it is there). False (and start errors saying why) if it does not run."""
        arn = task["taskArn"]
        try:
            self.executor.ensure_network(awsvpc_network())
            state = self.executor.run(sandbox_spec(task, self.cluster, self.instance_id))
            if state.error or not state.running:
                raise ExecutorError(
                    f"the task's network namespace (sandbox container {state.name}) is {state.status}"
                    + (f": {state.error}" if state.error else "")
                )
        except ExecutorError as err:
            for name in names:
                self._start_errors.setdefault(arn, {})[name] = f"ResourceInitializationError: {err}"
            self.log.warning("task network namespace not ready", task=task_id(arn), error=str(err))
            return False
        return True

    def _task_secrets(self, arn: str, td: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]] | None:
        """Each container's resolved secrets: read as the task's execution role when its definition has
        one, else fetched over this agent's credential; None (and start errors carrying ECS's reason,
        which names no value) if they did not resolve."""
        if not needs_secrets(td):
            return {}
        if wants_execution_role(td):
            try:
                if self._execution is None:
                    raise ExecutionRoleError(
                        "ResourceInitializationError: this agent cannot act as the task's execution role"
                    )
                return self._execution.resolve(arn)
            except ExecutionRoleError as err:
                for name in names:
                    self._start_errors.setdefault(arn, {})[name] = err.reason
                self.log.warning("task secrets not resolved", task=task_id(arn), error=err.reason)
                return None
        try:
            if self._secrets is None:
                raise ExecutorError(
                    "ResourceInitializationError: this agent has no control plane to fetch secrets from"
                )
            return {c["name"]: c for c in self._secrets(arn).get("containers", [])}
        except (AgentRequestError, ExecutorError) as err:
            reason = getattr(err, "message", str(err))
            for name in names:
                self._start_errors.setdefault(arn, {})[name] = reason
            self.log.warning("task secrets not resolved", task=task_id(arn), error=reason)
            return None

    def _submit_stop(
        self, key: str, containers: list[tuple[str, int | None]], *, remove: bool, task: str | None = None
    ) -> None:
        """Stop each container (timeout None: it is not running) one after the other; then remove;
        then, for a finished `task`, the Docker volumes that lived as long as it."""
        if key in self._busy:
            return
        self._busy.add(key)

        def stop() -> None:
            try:
                for cid, timeout in containers:
                    if timeout is not None:
                        self.executor.stop(cid, timeout)
                    if remove:
                        if self._before_remove is not None:
                            self._before_remove(cid)
                        self.executor.remove(cid)
                if task is not None:
                    self.executor.remove_volumes(self._task_volumes(task_id(task)))
                    if self._execution is not None:
                        # Only now: the drain before each removal shipped the task's last lines with its session.
                        self._execution.forget(task)
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
