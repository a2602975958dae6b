"""Task actions: RunTask, StartTask, ListTasks, DescribeTasks, StopTask, and a placement explanation."""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import ClientException, InvalidParameterException, ServiceNotFoundException
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import Task, arn_id, instance_arn, task_arn
from orchestrator.core.placement_input import checked, constraints_from, strategies_from
from orchestrator.core.placing import place_tasks, placement_request, snapshot
from orchestrator.operations.common import (
    Context,
    id_list,
    instance_ref_matches,
    opt_int,
    opt_str,
    paginate,
    req_str,
    require_cluster,
)
from orchestrator.operations.taskdefs import resolve_task_definition
from scheduler import DEFAULT_RUN_TASK_STRATEGIES, describe_failure

MAX_RUN_COUNT = 10
MAX_DESCRIBE = 100


def _failures_for(result_failure: Any, unplaced: int) -> list[dict[str, Any]]:
    if unplaced <= 0 or result_failure is None:
        return []
    arn = result_failure.closest_instance_arn or ""
    return [
        {"arn": arn, "reason": result_failure.reason, "detail": describe_failure(result_failure)}
        for _ in range(unplaced)
    ]


class TaskOps:
    ctx: Context

    def run_task(self, req: dict[str, Any]) -> dict[str, Any]:
        count = opt_int(req, "count", 1, lo=1, hi=MAX_RUN_COUNT) or 1
        strategies = strategies_from(req.get("placementStrategy"))
        constraints = constraints_from(req.get("placementConstraints"))
        ss, cs = checked(strategies, constraints)
        started_by = opt_str(req, "startedBy")
        launch_type = opt_str(req, "launchType", "EC2")
        if launch_type != "EC2":
            raise InvalidParameterException(f"launchType {launch_type} is not supported here; use EC2.")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            td = resolve_task_definition(self.ctx, req_str(req, "taskDefinition"))
            if td.status != "ACTIVE":
                raise ClientException(f"TaskDefinition {td.family_revision()} is inactive.")
            group = opt_str(req, "group") or f"family:{td.family}"
            request = placement_request(td, count, group, ss or DEFAULT_RUN_TASK_STRATEGIES, cs)
            placed = place_tasks(
                s, cluster.clusterName, td, request, started_by, self.ctx.clock.now(), self.ctx.settings.placement_seed
            )
        return {
            "tasks": [t.wire() for t in placed.tasks],
            "failures": _failures_for(placed.result.failure, placed.result.unplaced),
        }

    def start_task(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "containerInstances", MAX_RUN_COUNT, "container instances")
        started_by = opt_str(req, "startedBy")
        tasks, failures = [], []
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            td = resolve_task_definition(self.ctx, req_str(req, "taskDefinition"))
            group = opt_str(req, "group") or f"family:{td.family}"
            for ref in refs:
                views = snapshot(s, cluster.clusterName)
                view = next((v for v in views if ref in (v.arn, v.instance_id, v.ec2_instance_id)), None)
                if view is None:
                    failures.append({"arn": instance_arn(cluster.clusterName, arn_id(str(ref))), "reason": "MISSING"})
                    continue
                # The named instance is the only candidate: the scheduler's filters decide if it fits.
                request = placement_request(td, 1, group, (), ())
                placed = place_tasks(
                    s, cluster.clusterName, td, request, started_by, self.ctx.clock.now(), 0, instances=[view]
                )
                tasks.extend(placed.tasks)
                failures.extend(_failures_for(placed.result.failure, placed.result.unplaced))
        return {"tasks": [t.wire() for t in tasks], "failures": failures}

    def list_tasks(self, req: dict[str, Any]) -> dict[str, Any]:
        desired = opt_str(req, "desiredStatus", "RUNNING") or "RUNNING"
        if desired not in ("RUNNING", "PENDING", "STOPPED"):
            raise InvalidParameterException("desiredStatus must be RUNNING, PENDING or STOPPED.")
        service = opt_str(req, "serviceName")
        family = opt_str(req, "family")
        instance_ref = opt_str(req, "containerInstance")
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            group = f"service:{arn_id(service)}" if service else None
            if service and s.get_service(cluster.clusterName, arn_id(service)) is None:
                # As ECS answers: a service that never existed is an error, not an empty list.
                name = arn_id(service)
                raise ServiceNotFoundException(f"Service not found: {name} in cluster {cluster.clusterName}.")
            tasks = s.list_tasks(cluster.clusterName, group=group, started_by=opt_str(req, "startedBy"))
            if instance_ref:
                inst = next(
                    (i for i in s.list_instances(cluster.clusterName, True) if instance_ref_matches(i, instance_ref)),
                    None,
                )
                tasks = [t for t in tasks if inst is not None and t.containerInstanceArn == inst.containerInstanceArn]
        # PENDING lists tasks whose desired status is RUNNING but that do not run yet, as in ECS.
        if desired == "PENDING":
            tasks = [t for t in tasks if t.desiredStatus == "RUNNING" and t.lastStatus != "RUNNING"]
        else:
            tasks = [t for t in tasks if t.desiredStatus == desired]
        if family:
            tasks = [t for t in tasks if t.taskDefinitionArn.split("task-definition/")[-1].split(":")[0] == family]
        page, nxt = paginate([t.taskArn for t in tasks], req)
        out: dict[str, Any] = {"taskArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def _find(self, cluster: str, ref: str) -> Task | None:
        if ref.startswith("arn:"):
            task = self.ctx.store.get_task(ref)
            return task if task and arn_id(task.clusterArn) == cluster else None
        return self.ctx.store.find_task(cluster, ref)

    def describe_tasks(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "tasks", MAX_DESCRIBE, "tasks")
        found, failures = [], []
        with self.ctx.store.read():
            cluster = require_cluster(self.ctx, req.get("cluster"))
            for ref in refs:
                task = self._find(cluster.clusterName, str(ref))
                if task is None:
                    failures.append({"arn": task_arn(cluster.clusterName, arn_id(str(ref))), "reason": "MISSING"})
                else:
                    found.append(task.wire())
        return {"tasks": found, "failures": failures}

    def stop_task(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req_str(req, "task")
        reason = opt_str(req, "reason") or "Task stopped by user"
        if len(reason) > 255:
            raise InvalidParameterException("reason may be at most 255 characters.")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            task = self._find(cluster.clusterName, ref)
            if task is None:
                raise InvalidParameterException(f"The referenced task was not found: {ref}.")
            if stop_task_row(task, self.ctx.clock.now(), "UserInitiated", reason):
                s.update_task(task)
        return {"task": task.wire()}

    def explain_task(self, req: dict[str, Any]) -> dict[str, Any]:
        """Our addition: the scheduler's recorded reasons for where a task went."""
        ref = req_str(req, "task")
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            task = self._find(cluster.clusterName, ref)
            if task is None:
                raise InvalidParameterException(f"The referenced task was not found: {ref}.")
            explanation = s.get_explanation(task.taskArn)
        return {"taskArn": task.taskArn, "containerInstanceArn": task.containerInstanceArn, "explanation": explanation}
