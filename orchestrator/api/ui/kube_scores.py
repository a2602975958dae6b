"""The kubernetes profile's verdict on a placement ECS already made: the dashboard's second column.

A task's recorded explanation says why ECS put it where it did, but not the cluster it saw. This
module rebuilds that input from the task rows, which the store keeps (stopped ones included) for
as long as the task itself is describable:

- the instances registered by the time the task was created and not deregistered since;
- the tasks that held resources then: created before it (or in the same request, earlier in its
  order) and not stopped by then;
- instances the recorded explanation's `status` or `agent` filter dropped are marked so again
  (their status then is not stored otherwise; every other instance counts as ACTIVE and connected);
- the task's own reservation, group and memberOf/distinctInstance constraints (the service's and
  the task definition's).

Then the pure scheduler places one task on that input twice: with the kubernetes profile (the
scores shown) and with the ECS rule and the service's strategies. The winner of the rule that
really placed the task is compared with the recorded one, so the page can say whether the
rebuilt input is the one the scheduler decided on.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.context import Context
from orchestrator.core.models import ContainerInstance, Task, arn_id
from orchestrator.core.placement_input import to_scheduler
from orchestrator.core.placing import instance_views, placement_request, usage_of
from scheduler import DEFAULT_SERVICE_STRATEGIES, place
from scheduler.types import PlacementConstraint, PlacementStrategy

# Filters whose verdict depends on the instance's state at the time, which only the explanation kept.
_STATE_FILTERS = frozenset({"status", "agent"})


def _held_then(task: Task, other: Task, order: dict[str, int]) -> bool:
    """Whether `other` held resources on its instance when `task` was placed."""
    if other.taskArn == task.taskArn or not other.containerInstanceArn:
        return False
    if other.stoppedAt is not None and other.stoppedAt <= task.createdAt:
        return False
    if other.createdAt < task.createdAt:
        return True
    # The same request: the tasks placed before it in its order.
    same = other.createdAt == task.createdAt and other.group == task.group
    return same and order.get(other.taskArn, 1 << 30) < order.get(task.taskArn, 0)


def _dropped_for_state(explanation: dict[str, Any]) -> dict[str, str]:
    """Instance id -> the state filter that dropped it in the recorded explanation."""
    out: dict[str, str] = {}
    for outcome in explanation.get("filters") or []:
        if outcome.get("filter") in _STATE_FILTERS:
            for example in outcome.get("examples") or []:
                out[str(example.get("instance"))] = str(outcome["filter"])
    return out


def _as_then(inst: ContainerInstance, dropped: dict[str, str]) -> ContainerInstance:
    why = dropped.get(arn_id(inst.containerInstanceArn))
    return inst.model_copy(
        update={
            "status": "DRAINING" if why == "status" else "ACTIVE",
            "agentConnected": why != "agent",
        }
    )


def kubernetes_scores(ctx: Context, cluster: str, task_arn: str) -> dict[str, Any]:
    """The kubernetes profile's filters, topology and scores for the input `task_arn` was placed on."""
    with ctx.store.read() as s:
        task = s.get_task(task_arn)
        recorded = s.get_explanation(task_arn)
        if task is None or recorded is None or not task.containerInstanceArn:
            return {"taskArn": task_arn, "available": False, "reason": "no recorded placement to compare with"}
        td = s.get_task_definition_by_arn(task.taskDefinitionArn)
        if td is None:
            return {"taskArn": task_arn, "available": False, "reason": "its task definition is no longer known"}
        strategies: tuple[PlacementStrategy, ...] = ()
        constraints: tuple[PlacementConstraint, ...] = ()
        if task.group.startswith("service:"):
            svc = s.get_service(cluster, task.group[len("service:") :])
            if svc is not None:
                strategies, constraints = to_scheduler(svc.placementStrategy, svc.placementConstraints)
        same_time = [t for t in s.list_tasks(cluster, group=task.group) if t.createdAt == task.createdAt]
        order = {}
        for t in same_time:
            ex = s.get_explanation(t.taskArn) or {}
            order[t.taskArn] = int(ex.get("task", 0))
        held = [t for t in s.list_tasks(cluster) if _held_then(task, t, order)]
        tds = {arn: s.get_task_definition_by_arn(arn) for arn in {t.taskDefinitionArn for t in held}}
        # Deregistered (INACTIVE) instances are left out: when they left is not kept.
        registered = [i for i in s.list_instances(cluster) if (i.registeredAt or 0) <= task.createdAt]
    dropped = _dropped_for_state(recorded)
    # usage_of skips STOPPED rows; these tasks were not stopped yet at the time.
    then = [t.model_copy(update={"lastStatus": "RUNNING"}) for t in held]
    views = instance_views([_as_then(i, dropped) for i in registered], usage_of(then, tds))
    seed = ctx.settings.placement_seed
    kube = place(placement_request(td, 1, task.group, (), constraints, profile="kubernetes"), views, seed=seed)
    ecs_strategies = strategies or DEFAULT_SERVICE_STRATEGIES
    ecs = place(placement_request(td, 1, task.group, ecs_strategies, constraints, profile="ecs"), views, seed=seed)
    recorded_winner = (recorded.get("winner") or {}).get("arn") or task.containerInstanceArn
    ecs_winner = ecs.placements[0].instance_arn if ecs.placements else None
    kube_winner = kube.placements[0].instance_arn if kube.placements else None
    recorded_profile = recorded.get("profile", "ecs")
    # The rule that placed the task, run again on the rebuilt input, must choose the same instance.
    again = kube_winner if recorded_profile == "kubernetes" else ecs_winner
    out: dict[str, Any] = {
        "taskArn": task.taskArn,
        "available": True,
        "recordedProfile": recorded_profile,
        "placedAt": task.createdAt,
        "placedOnArn": task.containerInstanceArn,
        "instances": [{"arn": v.arn, "id": v.instance_id, "zone": v.zone} for v in views],
        "tasksThen": len(held),
        # True when the rule that placed the task chooses the same instance on the rebuilt input.
        "inputMatches": again == recorded_winner,
        "ecsWinnerArn": ecs_winner,
    }
    if kube.placements:
        out["explanation"] = kube.placements[0].explanation
    else:
        failure = kube.failure
        out["explanation"] = None
        out["unplaceable"] = failure.message if failure else "no node can take the pod"
    return out
