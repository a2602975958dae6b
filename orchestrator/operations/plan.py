"""A dry run of a service change (our addition, like `nomad job plan`): where tasks would go and why.

It reads the same snapshot the service controller would and calls the same pure scheduler, but
writes nothing: the answer is the placements and scale-in choices a real change would make now.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import arn_id
from orchestrator.core.placement_input import checked, constraints_from, strategies_from
from orchestrator.core.placing import placement_request, snapshot
from orchestrator.core.service_state import ServiceState
from orchestrator.operations.common import Context, opt_int, opt_str, require_cluster
from orchestrator.operations.taskdefs import resolve_task_definition
from scheduler import DEFAULT_SERVICE_STRATEGIES, describe_failure, explain_text, place, select_for_scale_in
from scheduler.types import PlacementError, TaskView


class PlanOps:
    ctx: Context

    def plan_service(self, req: dict[str, Any]) -> dict[str, Any]:
        desired = opt_int(req, "desiredCount", None, lo=0, hi=10000)
        profile = opt_str(req, "schedulerProfile")
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            name = opt_str(req, "service") or ""
            svc = s.get_service(cluster.clusterName, arn_id(name))
            if svc is None or svc.status != "ACTIVE":
                raise InvalidParameterException(f"Service {name} is not an active service in {cluster.clusterName}.")
            td_ref = opt_str(req, "taskDefinition")
            td = resolve_task_definition(self.ctx, td_ref or svc.taskDefinition)
            strategies = (
                strategies_from(req["placementStrategy"]) if "placementStrategy" in req else svc.placementStrategy
            )
            constraints = (
                constraints_from(req["placementConstraints"])
                if "placementConstraints" in req
                else svc.placementConstraints
            )
            ss, cs = checked(strategies, constraints)
            profile = profile or ServiceState.load(s, cluster.clusterName, svc.serviceName).profile
            if profile not in ("ecs", "kubernetes"):
                raise InvalidParameterException(f"schedulerProfile must be ecs or kubernetes, got {profile!r}.")
            views = snapshot(s, cluster.clusterName)
            tasks = [
                t
                for t in s.list_tasks(cluster.clusterName, group=f"service:{svc.serviceName}", not_stopped=True)
                if t.desiredStatus == "RUNNING"
            ]
        target = svc.desiredCount if desired is None else desired
        new_deployment = (
            td.taskDefinitionArn != svc.taskDefinition or "placementStrategy" in req or ("placementConstraints" in req)
        )
        # A new deployment replaces every task, so all `target` tasks are placed beside the old ones
        # (as with maximumPercent 200); otherwise only the difference is started or stopped.
        to_start = target if new_deployment else max(0, target - len(tasks))
        to_stop = len(tasks) if new_deployment else max(0, len(tasks) - target)
        request = placement_request(
            td,
            to_start,
            f"service:{svc.serviceName}",
            ss or DEFAULT_SERVICE_STRATEGIES,
            cs,
            profile="kubernetes" if profile == "kubernetes" else "ecs",
        )
        try:
            result = place(request, views, seed=self.ctx.settings.placement_seed)
        except PlacementError as err:
            raise InvalidParameterException(str(err)) from None
        by_arn = {v.arn: v for v in views}
        placements = [
            {
                "containerInstanceArn": p.instance_arn,
                "name": by_arn[p.instance_arn].attributes.get("orch.name", ""),
                "availabilityZone": by_arn[p.instance_arn].zone,
                "reason": explain_text(p.explanation),
                "explanation": p.explanation,
            }
            for p in result.placements
        ]
        stops: list[str] = []
        if to_stop and not new_deployment:
            views_t = [TaskView(t.taskArn, t.containerInstanceArn or "", t.group, t.startedAt or 0.0) for t in tasks]
            stops = select_for_scale_in(
                to_stop, views_t, views, ss or DEFAULT_SERVICE_STRATEGIES, seed=self.ctx.settings.placement_seed
            )
        elif new_deployment:
            stops = [t.taskArn for t in tasks]
        return {
            "service": svc.serviceName,
            "taskDefinition": td.taskDefinitionArn,
            "schedulerProfile": profile,
            "newDeployment": new_deployment,
            "desiredCount": target,
            "placements": placements,
            "unplaced": result.unplaced,
            "failure": describe_failure(result.failure) if result.failure else None,
            "stops": stops,
        }
