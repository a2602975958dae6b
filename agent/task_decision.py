"""The agent's per-task decision: what the control plane wants plus what the engine shows -> actions.

Pure: no I/O, no threads, no clock of its own (`now` comes in). `Worker` gathers the inputs of each
assigned task, calls `decide_task`, and carries out the actions it returns; `decide_orphans` does
the same for containers no assigned task claims. Every action carries the reason it was chosen, so
a test (or a log line) can say why.

The rules, in the order they are checked, as the ECS agent applies them:
1. An essential container that failed to start fails the task (TaskFailedToStart). A non-essential
   one that fails is reported STOPPED with its reason and the task carries on.
2. An essential container that exited stops the task (EssentialContainerExited). A non-essential
   one that exits changes nothing else.
3. `dependsOn`: a container starts only when every dependency's condition holds (START: it has
   started; COMPLETE: it has exited; SUCCESS: it exited 0; HEALTHY: its health check passed). A
   condition that can no longer hold, or that does not hold within the dependent's
   `startTimeout`, stops the task (TaskFailedToStart, DependencyNotResolved).
4. Stopping runs in reverse dependency order, each container with its own `stopTimeout`.
5. awsvpc: the task's sandbox (its network namespace, made by the worker before the first
   container) is removed after the task's containers, when the task is finished; a sandbox that
   stops while the task's containers run stops the task (they have lost their network). The
   report carries the sandbox's address as the task's `networkInterface`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.container_spec import links_of, network_mode_of
from agent.executor.base import ContainerState

# The ECS agent's default for how long a container waits for its dependencies (ECS_CONTAINER_START_TIMEOUT).
DEFAULT_START_TIMEOUT_S = 180
DEFAULT_STOP_TIMEOUT_S = 30
# Start errors that already carry ECS's error class, reported as they are (not as CannotStartContainerError).
ERROR_CLASSES = ("ResourceInitializationError:",)
HEALTH = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY", "starting": "UNKNOWN"}
# lastStatus values of a task that has run here before (so missing containers mean it ended).
_HAS_RUN = ("RUNNING", "DEACTIVATING", "STOPPING")
_EXITED = ("exited", "dead")
# ECS's task lifecycle, in order: a task's lastStatus only ever moves down this list. The agent
# imports nothing of the control plane (the wire is their contract), so this is the wire's
# vocabulary as `api/agent_wire.Status` accepts it and `core/models.TASK_STATUS_ORDER` ranks it.
_LIFECYCLE = (
    "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
)  # fmt: skip


def with_reported(task: Mapping[str, Any], reported: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The assignment's task, with the lastStatus this agent last reported when that is further on.

    The control plane does not wake an agent for its own report, so the assignment in hand may
    predate it (or an answer read before the report may arrive after it)."""
    if reported is None:
        return task
    mine, theirs = reported.get("lastStatus"), task.get("lastStatus")
    if mine in _LIFECYCLE and (theirs not in _LIFECYCLE or _LIFECYCLE.index(mine) > _LIFECYCLE.index(theirs)):
        return {**task, "lastStatus": mine}
    return task


# -- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInputs:
    """Everything the decision about one task may look at."""

    task: Mapping[str, Any]  # the assignment's entry: taskArn, desiredStatus, lastStatus, ...
    definition: Mapping[str, Any] | None  # its task definition (wire form), None until known
    containers: Mapping[str, ContainerState] = field(default_factory=dict)  # observed, by container name
    busy: bool = False  # a start or stop of this task is in flight
    finished: bool = False  # reported STOPPED and cleaned up already
    start_errors: Mapping[str, str] = field(default_factory=dict)  # container name -> why `run` raised
    seen_at: float | None = None  # when this agent first saw the task (start timeouts count from it)
    sandbox: ContainerState | None = None  # awsvpc: the container holding the task's network namespace


# -- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartContainers:
    """Create and start these containers of the task, in this order (`Executor.run` does both)."""

    task_arn: str
    containers: tuple[str, ...]  # container definition names
    reason: str


@dataclass(frozen=True)
class StopContainers:
    """Stop these running containers, one after the other, each with its own timeout."""

    task_arn: str
    containers: tuple[tuple[str, int], ...]  # (container id, stop timeout in seconds)
    reason: str


@dataclass(frozen=True)
class RemoveContainers:
    """Stop (if running, with the timeout) and remove containers that no assigned task claims."""

    key: str
    containers: tuple[tuple[str, int | None], ...]  # (container id, stop timeout, None: not running)
    reason: str


@dataclass(frozen=True)
class Report:
    """What the control plane should know about the task now (sent only if it changed)."""

    report: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class FinishTask:
    """Once the task's STOPPED report has gone out: forget the task and remove its containers."""

    task_arn: str
    containers: tuple[tuple[str, int | None], ...]  # (container id, 0 if still running else None)
    reason: str


Action = StartContainers | StopContainers | RemoveContainers | Report | FinishTask


# -- the decision --------------------------------------------------------------------------------


def decide_task(inputs: TaskInputs, now: float, default_stop_timeout: int = DEFAULT_STOP_TIMEOUT_S) -> list[Action]:
    task, td = inputs.task, inputs.definition
    arn = str(task["taskArn"])
    if inputs.finished:
        return []
    if td is None:
        return []  # nothing can be started or reported before the definition arrives
    cdefs: list[Mapping[str, Any]] = list(td["containerDefinitions"])
    existing = inputs.containers
    sandbox = inputs.sandbox
    view = _Report(task, cdefs, existing, inputs.start_errors, network_mode_of(td), sandbox)
    if inputs.busy:
        return [Report(view.build(None), "a start or stop is in flight: report what is there")]
    stop = _stop_steps(cdefs, existing, default_stop_timeout)

    def stopped(code: str | None, reason: str | None, why: str) -> list[Action]:
        actions: list[Action] = []
        if stop:
            actions.append(StopContainers(arn, stop, why))
        actions.append(Report(view.build("STOPPED", code, reason), why))
        actions.append(FinishTask(arn, _leftovers(existing, sandbox), "the task is over on this instance"))
        return actions

    if task["desiredStatus"] == "STOPPED":
        if stop:
            return [
                StopContainers(arn, stop, "the control plane wants the task stopped"),
                Report(view.build(None), "stopping"),
            ]
        return [
            Report(view.build("STOPPED"), "desired STOPPED and nothing runs"),
            FinishTask(arn, _leftovers(existing, sandbox), "the task is over on this instance"),
        ]
    essential = {str(c["name"]): bool(c.get("essential", True)) for c in cdefs}
    for c in cdefs:
        name = str(c["name"])
        error = inputs.start_errors.get(name) or (existing[name].error if name in existing else "")
        if error and essential[name]:
            return stopped(
                "TaskFailedToStart",
                # A reason that names ECS's error already (the task's secrets, roles) is ECS's reason as it is.
                error if error.startswith(ERROR_CLASSES) else f"CannotStartContainerError: {error}",
                f"essential container {name} failed to start",
            )
    for c in cdefs:
        name = str(c["name"])
        if essential[name] and name in existing and existing[name].status in _EXITED:
            return stopped(
                "EssentialContainerExited",
                "Essential container in task exited",
                f"essential container {name} exited",
            )
    if sandbox is not None and not sandbox.running and any(c.running for c in existing.values()):
        return stopped(
            "EssentialContainerExited",
            "Task network namespace exited (its sandbox container stopped)",
            "the awsvpc sandbox stopped under running containers",
        )
    # Created and never started, with no start in flight and no refusal: the agent died between
    # `docker create` and the start. It is started now, in that container (`Executor.run` starts an
    # existing container of the name that was never started), rather than left there unknown.
    unstarted = {n for n, s in existing.items() if s.status == "created" and not s.error}
    missing = [
        c
        for c in cdefs
        if (str(c["name"]) not in existing or str(c["name"]) in unstarted) and str(c["name"]) not in inputs.start_errors
    ]
    if missing and not existing and task.get("lastStatus") in _HAS_RUN:
        return stopped(
            "EssentialContainerExited",
            "Essential container in task exited (container removed)",
            "the task ran here and its containers are gone",
        )
    ready: list[str] = []
    for c in missing:
        name = str(c["name"])
        verdict = _dependencies(c, existing, inputs.start_errors)
        if verdict.never:
            return stopped(
                "TaskFailedToStart",
                f"DependencyNotResolved: container {name} cannot start: {verdict.never}",
                f"a dependency of {name} can never be met",
            )
        if verdict.waiting:
            timeout = int(c.get("startTimeout") or DEFAULT_START_TIMEOUT_S)
            if inputs.seen_at is not None and now - inputs.seen_at >= timeout:
                return stopped(
                    "TaskFailedToStart",
                    f"DependencyNotResolved: container {name} timed out after {timeout} s waiting for "
                    f"{verdict.waiting}",
                    f"{name} waited longer than its startTimeout",
                )
            continue
        ready.append(name)
    actions: list[Action] = []
    if ready:
        actions.append(StartContainers(arn, tuple(ready), "their dependencies are met (or they have none)"))
    if missing:
        actions.append(Report(view.build("PENDING"), "containers still to start"))
        return actions
    all_up = all(existing[n].running for n, ess in essential.items() if ess and n in existing)
    actions.append(
        Report(
            view.build("RUNNING" if all_up else "PENDING"),
            "every essential container runs" if all_up else "an essential container is not running yet",
        )
    )
    return actions


def decide_orphans(
    known_task_ids: set[str],
    by_task: Mapping[str, Mapping[str, ContainerState]],
    stop_timeout: int,
    sandboxes: Mapping[str, ContainerState] | None = None,
    live_task_ids: set[str] | None = None,
) -> list[Action]:
    """Containers labelled for this instance whose task is not assigned here: stop and remove them.

    A sandbox goes once its task is neither assigned nor live (`live_task_ids`, default the known
    ones: a finished task's sandbox left behind goes too) and none of its task's containers is
    left, so a namespace is never pulled from under a container that still uses it."""
    actions: list[Action] = []
    live = known_task_ids if live_task_ids is None else live_task_ids
    for tid, sb in (sandboxes or {}).items():
        if tid in live or by_task.get(tid):
            continue
        actions.append(
            RemoveContainers(
                f"orphan:{sb.id}",
                ((sb.id, 0 if sb.running else None),),
                f"the sandbox of task id {tid!r}, which is not assigned here or is over, and has no container left",
            )
        )
    for tid, containers in by_task.items():
        if tid in known_task_ids:
            continue
        for c in containers.values():
            actions.append(
                RemoveContainers(
                    f"orphan:{c.id}",
                    ((c.id, stop_timeout if c.running else None),),
                    f"no task assigned here claims task id {tid!r}",
                )
            )
    return actions


# -- dependencies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    waiting: str = ""  # what is not met yet (empty: all met)
    never: str = ""  # what can never be met (empty: still possible)


def _dependencies(
    cdef: Mapping[str, Any], existing: Mapping[str, ContainerState], start_errors: Mapping[str, str]
) -> _Verdict:
    waiting: list[str] = []
    for dep in _needs(cdef):
        name, condition = str(dep["containerName"]), str(dep["condition"])
        state = existing.get(name)
        error = start_errors.get(name) or (state.error if state is not None else "")
        what = f"{name} to be {condition}"
        if error:
            return _Verdict(never=f"{name} failed to start ({error}), so it can never be {condition}")
        if state is None or state.status == "created":
            waiting.append(what)
            continue
        exited = state.status in _EXITED
        if condition == "START":
            continue  # it has started; exiting since does not undo that
        if condition == "COMPLETE":
            if not exited:
                waiting.append(what)
        elif condition == "SUCCESS":
            if exited and state.exit_code not in (0, None):
                return _Verdict(never=f"{name} exited with code {state.exit_code}, so it can never be SUCCESS")
            if not exited:
                waiting.append(what)
        elif condition == "HEALTHY":
            if exited:
                return _Verdict(never=f"{name} exited before its health check passed, so it can never be HEALTHY")
            if state.health != "healthy":
                waiting.append(what)
        else:  # registration refuses other conditions; a stored one we do not know cannot be met
            return _Verdict(never=f"unknown dependsOn condition {condition!r}")
    return _Verdict(waiting=", ".join(waiting))


def _needs(cdef: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`dependsOn`, plus a START dependency on each linked container and volumesFrom source it does
    not already name: Docker links a new container only to one that is running."""
    deps: list[Mapping[str, Any]] = list(cdef.get("dependsOn") or [])
    named = {str(d["containerName"]) for d in deps}
    # Docker takes volumes only from a container that exists.
    sources = [str(v["sourceContainer"]) for v in cdef.get("volumesFrom") or []]
    for name in [n for n, _ in links_of(cdef)] + sources:
        if name not in named:
            deps.append({"containerName": name, "condition": "START"})
            named.add(name)
    return deps


def start_order(cdefs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Container names with every dependency before its dependents, otherwise in definition order."""
    names = [str(c["name"]) for c in cdefs]
    deps = {str(c["name"]): [str(d["containerName"]) for d in _needs(c)] for c in cdefs}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(names):
        progressed = False
        for n in names:
            if n not in placed and all(d in placed or d not in deps for d in deps[n]):
                done.append(n)
                placed.add(n)
                progressed = True
        if not progressed:  # a cycle (registration refuses them): keep the rest in definition order
            done.extend(n for n in names if n not in placed)
            break
    return done


def _leftovers(
    existing: Mapping[str, ContainerState], sandbox: ContainerState | None = None
) -> tuple[tuple[str, int | None], ...]:
    # A container still running at cleanup is killed at once: its graceful stop was already asked.
    # The sandbox last: the containers leave its namespace before it goes.
    last = (sandbox,) if sandbox is not None else ()
    return tuple((c.id, 0 if c.running else None) for c in (*existing.values(), *last))


def _stop_steps(
    cdefs: Sequence[Mapping[str, Any]], existing: Mapping[str, ContainerState], default_stop_timeout: int
) -> tuple[tuple[str, int], ...]:
    """The running containers in reverse dependency order: dependents stop before what they need."""
    by_name = {str(c["name"]): c for c in cdefs}
    steps: list[tuple[str, int]] = []
    order = list(reversed(start_order(cdefs)))
    # Containers of the task that its definition does not name (should not happen) stop last.
    order += [n for n in existing if n not in by_name]
    for name in order:
        state = existing.get(name)
        if state is None or not state.running:
            continue
        cdef = by_name.get(name, {})
        timeout = cdef.get("stopTimeout")
        steps.append((state.id, int(timeout) if timeout is not None else default_stop_timeout))
    return tuple(steps)


# -- reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Report:
    task: Mapping[str, Any]
    cdefs: Sequence[Mapping[str, Any]]
    existing: Mapping[str, ContainerState]
    start_errors: Mapping[str, str]
    network_mode: str = "bridge"
    sandbox: ContainerState | None = None

    def build(self, status: str | None, stop_code: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """status None: keep the task's last status (PENDING while it is still PROVISIONING)."""
        task = self.task
        report: dict[str, Any] = {
            "taskArn": task["taskArn"],
            "lastStatus": status or ("PENDING" if task.get("lastStatus") == "PROVISIONING" else task.get("lastStatus")),
            "containers": [
                container_report(
                    c, self.existing.get(str(c["name"])), self.start_errors.get(str(c["name"])), self.network_mode
                )
                for c in self.cdefs
            ],
        }
        sb = self.sandbox
        if sb is not None and sb.running and sb.ip_address:
            interface = {"privateIPv4Address": sb.ip_address}
            if sb.mac_address:
                interface["macAddress"] = sb.mac_address
            if sb.endpoint_id:
                interface["networkInterfaceId"] = sb.endpoint_id
            report["networkInterface"] = interface
        if status == "STOPPED":
            for c in report["containers"]:
                c["lastStatus"] = "STOPPED"
        if stop_code:
            report["stopCode"] = stop_code
        if reason:
            report["stoppedReason"] = reason
        starts = [c.started_at for c in self.existing.values() if c.started_at]
        if status == "RUNNING" and starts:
            report["startedAt"] = max(starts)
        return report


def container_report(
    cdef: Mapping[str, Any], state: ContainerState | None, start_error: str | None = None, network_mode: str = "bridge"
) -> dict[str, Any]:
    report: dict[str, Any] = {"name": cdef["name"]}
    if state is None:
        if start_error:
            report["lastStatus"] = "STOPPED"
            report["reason"] = f"CannotStartContainerError: {start_error}"
        else:
            report["lastStatus"] = "PENDING"
        return report
    report["runtimeId"] = state.id
    if state.running:
        report["lastStatus"] = "RUNNING"
    elif state.status in _EXITED or state.error:
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
    if network_mode == "host" and state.running and cdef.get("portMappings"):
        # The host's own ports: nothing is published, the container binds them itself (hostPort is
        # containerPort, registration saw to it), as ECS reports host mode.
        report["networkBindings"] = [
            {
                "bindIP": "0.0.0.0",
                "containerPort": int(pm["containerPort"]),
                "hostPort": int(pm.get("hostPort") or pm["containerPort"]),
                "protocol": pm.get("protocol", "tcp"),
            }
            for pm in cdef["portMappings"]
        ]
    elif state.host_ports:
        report["networkBindings"] = [
            {"bindIP": p.host_ip, "containerPort": p.container_port, "hostPort": p.host_port, "protocol": p.protocol}
            for p in state.host_ports
        ]
    return report
