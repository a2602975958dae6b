"""`svc plan` (our addition, like `nomad job plan`): the whole of a service change, step by step.

It takes the service row and state an UpdateService would write (built by the operations layer's
`proposed_update`, with the same validation), loads the same snapshot the service controller
would (with the instances to drain, if any, DRAINING in it), and calls the controller's own
`decide` on it, pass after pass, on an in-memory copy: between passes it assumes what the agents
would do (new tasks start and become healthy, tasks asked to stop stop) and lets time pass. So
the tasks the plan starts on each instance and the tasks it stops are the ones the update then
starts and stops, as long as the cluster does not change in between and the tasks do become
healthy. Nothing is written.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from orchestrator.core.context import Context
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import ContainerInstance, Service, Task, arn_id
from orchestrator.core.service_state import ServiceState
from orchestrator.reconcile.service_decide import Actions, Rules, ServiceSnapshot, decide, tasks_after
from orchestrator.reconcile.services import TaskDefinitions, load_snapshot
from scheduler import describe_failure, explain_text
from scheduler.types import PlacementError

MAX_STEPS = 2000


def preview(
    ctx: Context,
    cluster: str,
    svc: Service,
    state: ServiceState,
    new_deployment: bool,
    draining: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The plan of a change that leaves service `svc` and its `state` as given (and the instances
    `draining` DRAINING), as a JSON-able dict: one entry per pass that starts or stops tasks or
    says something, and the service as it would be at the end."""
    rules = Rules.of(ctx.settings)
    with ctx.store.read() as s:
        snap = load_snapshot(s, cluster, svc.serviceName, TaskDefinitions(), ctx.clock.now())
        if snap is None:
            raise InvalidParameterException(f"Service {svc.serviceName} is not an active service in {cluster}.")
        tds = dict(snap.task_definitions)
        for d in svc.deployments:
            if d.taskDefinition not in tds:
                tds[d.taskDefinition] = s.get_task_definition_by_arn(d.taskDefinition)
        usage = snap.other_usage()
    instances = [
        i.model_copy(update={"status": "DRAINING"}) if i.containerInstanceArn in draining else i for i in snap.instances
    ]
    snap = replace(snap, service=svc, state=state, task_definitions=tds, instances=instances, other_usage=lambda: usage)
    names = {i.containerInstanceArn: i for i in snap.instances}
    counter = itertools.count(1)

    def planned_id() -> str:
        return f"planned-{next(counter)}"

    live = sum(1 for t in snap.tasks if t.lastStatus != "STOPPED")
    limit = min(MAX_STEPS, 2 * (live + svc.desiredCount) + 6)
    steps: list[dict[str, Any]] = []
    last = Actions()
    quiet = 0
    converged = False
    for _ in range(limit):
        try:
            actions = decide(snap, rules, planned_id)
        except PlacementError as err:
            raise InvalidParameterException(str(err)) from None
        last = actions
        if actions.changes_tasks or actions.events:
            steps.append(_step(len(steps) + 1, actions, names))
        quiet = 0 if actions.changes_tasks else quiet + 1
        snap = _settle(snap, actions, rules)
        if quiet >= 2:
            converged = True
            break
    final = snap.service
    return {
        "service": final.serviceName,
        "taskDefinition": svc.taskDefinition,
        "schedulerProfile": state.profile,
        "newDeployment": new_deployment,
        "drainInstances": sorted(draining),
        "desiredCount": svc.desiredCount,
        "deploymentConfiguration": {
            "minimumHealthyPercent": svc.deploymentConfiguration.minimumHealthyPercent,
            "maximumPercent": svc.deploymentConfiguration.maximumPercent,
        },
        "steps": steps,
        # What is still unplaced once the plan has run its course (0 when everything fits).
        "unplaced": last.unplaced,
        "failure": describe_failure(last.failure) if last.failure else None,
        # True once a pass would change nothing more; False if the plan stopped at its step limit.
        "converged": converged,
        "final": {
            "runningCount": final.runningCount,
            "pendingCount": final.pendingCount,
            "deployments": [
                {
                    "id": d.id,
                    "taskDefinition": d.taskDefinition,
                    "status": d.status,
                    "rolloutState": d.rolloutState,
                    "desiredCount": d.desiredCount,
                    "runningCount": d.runningCount,
                }
                for d in final.deployments
            ],
        },
    }


def _name(instances: dict[str, ContainerInstance], arn: str | None) -> str:
    inst = instances.get(arn or "")
    if inst is None:
        return ""
    return inst.attribute_map().get("orch.name", "") or arn_id(inst.containerInstanceArn)


def _step(number: int, actions: Actions, instances: dict[str, ContainerInstance]) -> dict[str, Any]:
    return {
        "step": number,
        "starts": [
            {
                "taskArn": s.task.taskArn,
                "containerInstanceArn": s.task.containerInstanceArn,
                "name": _name(instances, s.task.containerInstanceArn),
                "availabilityZone": s.task.availabilityZone,
                "taskDefinition": s.task.taskDefinitionArn,
                "reason": explain_text(s.explanation),
                "explanation": dict(s.explanation),
            }
            for s in actions.starts
        ],
        "stops": [
            {
                "taskArn": s.task.taskArn,
                "containerInstanceArn": s.task.containerInstanceArn,
                "name": _name(instances, s.task.containerInstanceArn),
                "availabilityZone": s.task.availabilityZone,
                "taskDefinition": s.task.taskDefinitionArn,
                "reason": s.reason,
            }
            for s in actions.stops
        ],
        "events": list(actions.events),
        "unplaced": actions.unplaced,
    }


def _settle(snap: ServiceSnapshot, actions: Actions, rules: Rules) -> ServiceSnapshot:
    """The snapshot of the next pass, had the agents done what they were asked: tasks asked to
    stop have stopped, started ones run and are healthy (the grace time has passed)."""
    svc = actions.service or snap.service
    state: ServiceState = actions.state or snap.state
    grace = svc.healthCheckGracePeriodSeconds
    grace_s = rules.health_grace_s if grace is None else float(grace)
    now = max(snap.now + max(1.0, grace_s), state.retry_after)
    tasks: list[Task] = []
    for t in tasks_after(snap, actions):
        t = t.model_copy(deep=True)
        if t.lastStatus != "STOPPED" and t.desiredStatus == "STOPPED":
            t.lastStatus, t.stoppedAt = "STOPPED", snap.now
            for c in t.containers:
                c.lastStatus = "STOPPED"
        elif t.lastStatus != "STOPPED":
            if t.lastStatus != "RUNNING":
                t.lastStatus, t.startedAt = "RUNNING", snap.now
            for c in t.containers:
                c.lastStatus = "RUNNING"
                if c.healthStatus == "UNKNOWN":
                    c.healthStatus = "HEALTHY"
        tasks.append(t)
    return replace(snap, service=svc, state=state, tasks=tasks, now=now)
