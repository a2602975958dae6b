"""The task lifecycle: the one place that moves a task's desired and last status and its health,
and decides what an agent's silence means for its instance's tasks.

Task state only moves forward (PROVISIONING ... RUNNING ... STOPPED). The API, the controllers and
the agents' reports all change it through these functions, so the rules (what "stopped at once"
means for a task no agent holds, which stop code and reason win, which containers decide a
task's health, when a quiet agent's tasks are given up) are written once. The functions that
take a Task change it in memory and say whether they did; the caller writes it with
`store.update_task`, which bumps its version.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core import task_network
from orchestrator.core.models import TASK_STATUS_RANK, ContainerInstance, NetworkBinding, Task, TaskDefinition
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store

Health = Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"]
HEALTH_STATES: tuple[Health, ...] = ("HEALTHY", "UNHEALTHY", "UNKNOWN")
LOST_REASON = "Task stopped due to container instance lost"

# -- stopping ---------------------------------------------------------------------------------


def stop_task_row(task: Task, now: float, stop_code: str, reason: str) -> bool:
    """Ask for a task to stop; True if that changed anything. The agent does the stopping."""
    if task.desiredStatus == "STOPPED":
        return False
    task.desiredStatus = "STOPPED"
    task.stopCode = task.stopCode or stop_code
    task.stoppedReason = task.stoppedReason or reason
    task.stoppingAt = now
    if task.lastStatus in ("PROVISIONING",) or not task.containerInstanceArn:
        # Never handed to an agent: nothing runs, so it is stopped at once.
        _stopped(task, now)
    return True


def _stopped(task: Task, now: float) -> None:
    task.lastStatus = "STOPPED"
    task.stoppedAt = now
    for c in task.containers:
        c.lastStatus = "STOPPED"
    _apply_network(task, None)  # its attachment goes with it


def stop_tasks_on(store: Store, instance_arn: str, now: float, stop_code: str, reason: str) -> int:
    """Mark every task of an instance STOPPED at once, for when no agent is left to report it."""
    tasks = store.list_tasks(instance_arn=instance_arn, not_stopped=True)
    for task in tasks:
        task.desiredStatus = "STOPPED"
        task.stopCode = task.stopCode or stop_code
        task.stoppedReason = task.stoppedReason or reason
        task.stoppingAt = task.stoppingAt or now
        _stopped(task, now)
        store.update_task(task)
    return len(tasks)


# -- health -----------------------------------------------------------------------------------


def checked_containers(td: TaskDefinition | None) -> frozenset[str] | None:
    """The containers whose health decides a task's: the essential ones with a health check (as
    in ECS; a check of NONE is no check). None when the task definition cannot be read."""
    if td is None:
        return None
    return frozenset(
        c.name
        for c in td.containerDefinitions
        if c.essential and c.healthCheck is not None and c.healthCheck.command[0] != "NONE"
    )


def task_health(task: Task, checked: Collection[str] | None) -> Health | None:
    """UNHEALTHY over UNKNOWN over HEALTHY across the `checked` containers (one not reported yet
    is UNKNOWN); None when there are none, and then only the grace time can make the task healthy
    (ECS shows such a task as UNKNOWN). With `checked` None (no task definition) every container
    that has a health status counts."""
    if checked is None:
        states = [c.healthStatus for c in task.containers if c.healthStatus is not None]
    else:
        states = [c.healthStatus or "UNKNOWN" for c in task.containers if c.name in checked]
    if not states:
        return None
    for worst in ("UNHEALTHY", "UNKNOWN"):
        if worst in states:
            return worst
    return "HEALTHY"


# -- agents' reports --------------------------------------------------------------------------


def _later(status: object, than: str, *, same_too: bool = False) -> bool:
    if not isinstance(status, str) or status not in TASK_STATUS_RANK:
        return False
    rank, current = TASK_STATUS_RANK[status], TASK_STATUS_RANK.get(than, 0)
    return rank > current or (same_too and rank == current)


def apply_report(task: Task, report: dict[str, Any], now: float, checked: Collection[str] | None) -> bool:
    """Merge an agent's report into the task; True if it changed anything.

    Task and container status only move forward (a late report of an earlier state is ignored);
    a task that reaches STOPPED is also desired STOPPED and keeps the first stop code and reason
    it was given. A container's health is taken only for a container that has a health check.
    """
    before = task.model_dump()
    status = report.get("lastStatus")
    if _later(status, task.lastStatus):
        task.lastStatus = str(status)
        if status == "RUNNING" and task.startedAt is None:
            task.startedAt = report.get("startedAt") or now
        if status == "STOPPED":
            task.stoppedAt = now
            task.desiredStatus = "STOPPED"
            task.stopCode = task.stopCode or report.get("stopCode")
            task.stoppedReason = task.stoppedReason or report.get("stoppedReason")
            task.stoppingAt = task.stoppingAt or now
    by_name = {c.name: c for c in task.containers}
    for rc in report.get("containers") or []:
        c = by_name.get(rc.get("name", ""))
        if c is None:
            continue
        if _later(rc.get("lastStatus"), c.lastStatus, same_too=True):
            c.lastStatus = rc["lastStatus"]
        for key in ("runtimeId", "exitCode", "reason"):
            if rc.get(key) is not None:
                setattr(c, key, rc[key])
        if rc.get("healthStatus") in HEALTH_STATES and c.healthStatus is not None:
            c.healthStatus = rc["healthStatus"]
        if rc.get("networkBindings") is not None:
            c.networkBindings = [NetworkBinding(**b) for b in rc["networkBindings"]]
    _apply_network(task, report.get("networkInterface"))
    task.healthStatus = task_health(task, checked) or "UNKNOWN"
    return task.model_dump() != before


def _apply_network(task: Task, reported: dict[str, Any] | None) -> None:
    """An awsvpc task's address, from the agent that made its namespace, on the attachment and on
    each container (they all share it); DELETED once the task has stopped (its sandbox goes with it)."""
    attachment = task_network.eni(task.attachments)
    if attachment is None:
        return
    if reported and task.lastStatus != "STOPPED":
        task_network.attach(attachment, reported)
        ip = task_network.private_ip(task.attachments)
        if ip:
            for c in task.containers:
                c.networkInterfaces = [{"attachmentId": attachment["id"], "privateIpv4Address": ip}]
    if task.lastStatus == "STOPPED":
        attachment["status"] = "DELETED"


# -- instances whose agent went quiet ---------------------------------------------------------


def silence(now: float, last_heartbeat: float | None, since: float) -> float:
    """Seconds an agent has been quiet, not counting time before `since` (when this control plane
    started: a restarted control plane gives every agent a fresh start)."""
    return now - max(now if last_heartbeat is None else last_heartbeat, since)


@dataclass(frozen=True)
class Liveness:
    disconnect: bool  # mark the instance's agent disconnected (no new task is placed there)
    lost: bool  # give up its tasks: STOPPED at once, so services replace them elsewhere


def judge_silence(connected: bool, silent_s: float, settings: Settings) -> Liveness:
    """ECS marks a quiet agent disconnected; we also give its tasks up after `lost_after_s` (ECS
    never does), and the agent stops the superseded containers if it ever comes back."""
    # An instance whose tasks are given up is disconnected too, or replacements would be placed
    # right back on it when lost_after_s is the shorter of the two.
    disconnected_after = min(settings.disconnected_after_s, settings.lost_after_s)
    return Liveness(
        disconnect=connected and silent_s > disconnected_after,
        lost=silent_s > settings.lost_after_s,
    )


def mark_disconnected(store: Store, instance: ContainerInstance) -> None:
    instance.agentConnected = False
    store.update_instance(instance)


def give_up_lost(store: Store, instance_arn: str, now: float) -> int:
    """Stop the tasks of an instance whose agent is lost; how many there were."""
    return stop_tasks_on(store, instance_arn, now, "ServiceSchedulerInitiated", LOST_REASON)


def record_heartbeat(store: Store, arn: str, now: float) -> None:
    """An agent's sign of life; a disconnected instance is connected again (call inside write())."""
    store.heartbeat(arn, now)
    liveness = store.instance_liveness(arn)
    if liveness is None or liveness[1] or liveness[0] == "INACTIVE":
        return  # the usual case, told without parsing the row
    inst = store.get_instance(arn)
    if inst is not None and not inst.agentConnected and inst.status != "INACTIVE":
        inst.agentConnected = True
        store.update_instance(inst)
