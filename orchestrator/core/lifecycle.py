"""The task lifecycle: the one place that moves a task's desired and last status.

Task state only moves forward (PROVISIONING ... RUNNING ... STOPPED). The API, the controllers and
the agents' reports all change it through these functions, so the rules (what "stopped at once"
means for a task no agent holds, which stop code and reason win) are written once.
"""

from __future__ import annotations

from orchestrator.core.models import Task
from orchestrator.core.store import Store


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
        task.lastStatus = "STOPPED"
        task.stoppedAt = now
        for c in task.containers:
            c.lastStatus = "STOPPED"
    task.version += 1
    return True


def stop_tasks_on(store: Store, instance_arn: str, now: float, stop_code: str, reason: str) -> int:
    """Mark every task of an instance STOPPED at once, for when no agent is left to report it."""
    tasks = store.list_tasks(instance_arn=instance_arn, not_stopped=True)
    for task in tasks:
        task.desiredStatus = "STOPPED"
        task.lastStatus = "STOPPED"
        task.stopCode = task.stopCode or stop_code
        task.stoppedReason = task.stoppedReason or reason
        task.stoppingAt = task.stoppingAt or now
        task.stoppedAt = now
        for c in task.containers:
            c.lastStatus = "STOPPED"
        task.version += 1
        store.put_task(task)
    return len(tasks)
