"""Task actions: RunTask, StartTask, ListTasks, DescribeTasks, StopTask, and a placement explanation.

RunTask keeps its tags (with `propagateTags` and ECS's managed tags), `enableExecuteCommand`, the
command and environment `overrides` the agent applies, and `clientToken` (a repeated token returns
the tasks it started); what needs machinery we do not have is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.core import fargate, tags
from orchestrator.core.errors import (
    NO_CONTAINER_INSTANCES,
    SERVICE_NOT_FOUND,
    InvalidParameterException,
    ServiceNotFoundException,
)
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import Task, TaskDefinition, arn_id, instance_arn, task_arn
from orchestrator.core.placement_input import checked, constraints_from, strategies_from
from orchestrator.core.placing import place_tasks, placement_request, snapshot
from orchestrator.core.store import Store
from orchestrator.operations import launch_types
from orchestrator.operations import service_members as members
from orchestrator.operations.common import (
    Context,
    id_list,
    instance_ref_matches,
    opt_int,
    opt_str,
    paginate,
    read_page,
    req_str,
    require_cluster,
)
from orchestrator.operations.tags import wants_tags, with_tags
from orchestrator.operations.taskdefs import launchable_task_definition
from scheduler import DEFAULT_RUN_TASK_STRATEGIES, describe_failure

MAX_RUN_COUNT = 10
MAX_DESCRIBE = 100
CLIENT_TOKEN_DOC = "run-task-client-token"
CONTAINER_OVERRIDES_KEPT = ("name", "command", "environment")


def checked_overrides(raw: Any, container_names: set[str]) -> dict[str, Any] | None:
    """RunTask's overrides if the agent can honour them all (command, environment), else refused by name."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParameterException("overrides must be an object.")
    for key, value in raw.items():
        if key != "containerOverrides" and value not in (None, [], {}, ""):
            raise InvalidParameterException(
                f"overrides.{key} is not supported by this endpoint; only containerOverrides command and environment."
            )
    out = []
    for i, o in enumerate(raw.get("containerOverrides") or []):
        where = f"overrides.containerOverrides[{i}]"
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise InvalidParameterException(f"{where}.name is required.")
        if o["name"] not in container_names:
            raise InvalidParameterException(f"{where}.name: the container {o['name']} is not in the task definition.")
        for key, value in o.items():
            if key not in CONTAINER_OVERRIDES_KEPT and value not in (None, [], {}):
                raise InvalidParameterException(
                    f"{where}.{key} is not supported by this endpoint; only command and environment."
                )
        command = o.get("command")
        if command is not None and (not isinstance(command, list) or not all(isinstance(c, str) for c in command)):
            raise InvalidParameterException(f"{where}.command must be a list of strings.")
        env = o.get("environment") or []
        if not isinstance(env, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in env):
            raise InvalidParameterException(f"{where}.environment must be a list of {{name, value}} objects.")
        kept: dict[str, Any] = {"name": o["name"]}
        if command:
            kept["command"] = list(command)
        if env:
            kept["environment"] = [{"name": e["name"], "value": str(e.get("value", ""))} for e in env]
        out.append(kept)
    return {"containerOverrides": out, "inferenceAcceleratorOverrides": []}


def _failures_for(result_failure: Any, unplaced: int) -> list[dict[str, Any]]:
    if unplaced <= 0 or result_failure is None:
        return []
    arn = result_failure.closest_instance_arn or ""
    return [
        {"arn": arn, "reason": result_failure.reason, "detail": describe_failure(result_failure)}
        for _ in range(unplaced)
    ]


NO_FARGATE_POOL = (
    "launchType FARGATE: no Fargate capacity is registered with this control plane. `orchestrator dev` runs "
    "a managed pool (--fargate N agents); elsewhere start agents with `orchestrator agent --fargate`."
)


def _fargate_failures(cluster_arn: str, failure: Any, unplaced: int) -> list[dict[str, Any]]:
    """Failures of a FARGATE launch: ECS's words, and no pool instance named (the pool is not listed)."""
    if unplaced <= 0 or failure is None:
        return []
    detail = f"the managed Fargate pool has no room for the task: {failure.closest_reason} on every one of its hosts"
    return [{"arn": cluster_arn, "reason": fargate.NO_CAPACITY, "detail": detail} for _ in range(unplaced)]


@dataclass
class _TaskExtras:
    """RunTask's and StartTask's members beyond placement: tags, managed tags, exec, overrides, network."""

    propagate: str
    managed: bool
    execute: bool
    given_tags: list[dict[str, str]]
    overrides: dict[str, Any] | None = None
    network: dict[str, Any] | None = None

    @classmethod
    def read(cls, req: dict[str, Any]) -> _TaskExtras:
        members.refuse_unsupported(req, members.NOT_SUPPORTED)
        propagate = opt_str(req, "propagateTags", "NONE") or "NONE"
        if propagate not in ("TASK_DEFINITION", "NONE"):
            raise InvalidParameterException(
                f"propagateTags {propagate!r} is not valid for a standalone task: use TASK_DEFINITION or NONE."
            )
        return cls(
            propagate=propagate,
            managed=members.managed_tags(req),
            execute=members.execute_command(req),
            given_tags=tags.check_tags(req.get("tags")),
        )

    def check(self, req: dict[str, Any], td: TaskDefinition) -> None:
        """The members that depend on the task definition."""
        self.overrides = checked_overrides(req.get("overrides"), {c.name for c in td.containerDefinitions})
        self.network = members.network_configuration(req, td.network_mode)

    def apply(self, store: Store, td: TaskDefinition, tasks: list[Task]) -> None:
        for task in tasks:
            task.enableExecuteCommand = self.execute
            task.overrides = self.overrides
            if self.network is not None:
                # Kept (REST shows it); ECS's wire shows a task's network only as its attachments.
                task.networkConfiguration = self.network
            store.update_task(task)
            task_tags = tags.tags_for_new_task(
                store,
                task,
                given=self.given_tags,
                propagate=self.propagate,
                managed=self.managed,
                service_name=None,
            )
            tags.set_tags(store, task.taskArn, task_tags)


class TaskOps:
    ctx: Context

    def run_task(self, req: dict[str, Any]) -> dict[str, Any]:
        count = opt_int(req, "count", 1, lo=1, hi=MAX_RUN_COUNT) or 1
        strategies = strategies_from(req.get("placementStrategy"))
        constraints = constraints_from(req.get("placementConstraints"))
        ss, cs = checked(strategies, constraints)
        started_by = opt_str(req, "startedBy")
        launch = launch_types.launch_type(req)
        platform = launch_types.platform_version(req, launch)
        launch_types.refuse_placement(req, launch)
        extras = _TaskExtras.read(req)
        token = opt_str(req, "clientToken")
        if token is not None and not 1 <= len(token) <= 64:
            raise InvalidParameterException("clientToken must be 1 to 64 characters.")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            if token:
                earlier = s.get_doc(CLIENT_TOKEN_DOC, f"{cluster.clusterName}/{token}")
                if earlier is not None:
                    # The same request again (a client retry): the tasks it started, not new ones.
                    again = [t for t in (s.get_task(arn) for arn in earlier["taskArns"]) if t is not None]
                    tasks_again = [with_tags(s, t.taskArn, t.wire()) for t in again]
                    return {"tasks": tasks_again, "failures": earlier.get("failures", [])}
            td = launchable_task_definition(self.ctx, req_str(req, "taskDefinition"))
            launch_types.check_task_definition(td, launch)
            extras.check(req, td)
            pool = fargate.pool_snapshot(s) if launch == launch_types.FARGATE else None
            if pool is not None and not pool:
                raise InvalidParameterException(NO_FARGATE_POOL)
            if pool is None and not s.list_instances(cluster.clusterName):
                # ECS refuses the call (EC2 launch type) rather than answering with failures.
                raise InvalidParameterException(NO_CONTAINER_INSTANCES)
            group = opt_str(req, "group") or f"family:{td.family}"
            request = placement_request(td, count, group, ss or DEFAULT_RUN_TASK_STRATEGIES, cs)
            placed = place_tasks(
                s,
                cluster.clusterName,
                td,
                request,
                started_by,
                self.ctx.clock.now(),
                self.ctx.settings.placement_seed,
                instances=pool,
            )
            if platform is not None:
                for task in placed.tasks:
                    fargate.mark_fargate(task, platform)
            extras.apply(s, td, placed.tasks)
            if pool is not None:
                failures = _fargate_failures(cluster.clusterArn, placed.result.failure, placed.result.unplaced)
            else:
                failures = _failures_for(placed.result.failure, placed.result.unplaced)
            if token:
                s.put_doc(
                    CLIENT_TOKEN_DOC,
                    f"{cluster.clusterName}/{token}",
                    {"taskArns": [t.taskArn for t in placed.tasks], "failures": failures},
                )
            # RunTask answers with each task's tags, as ECS does.
            started = [with_tags(s, t.taskArn, t.wire()) for t in placed.tasks]
        return {"tasks": started, "failures": failures}

    def start_task(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "containerInstances", MAX_RUN_COUNT, "container instances")
        started_by = opt_str(req, "startedBy")
        extras = _TaskExtras.read(req)
        tasks, failures = [], []
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            td = launchable_task_definition(self.ctx, req_str(req, "taskDefinition"))
            extras.check(req, td)
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
                extras.apply(s, td, placed.tasks)
                tasks.extend(placed.tasks)
                failures.extend(_failures_for(placed.result.failure, placed.result.unplaced))
            started = [with_tags(s, t.taskArn, t.wire()) for t in tasks]
        return {"tasks": started, "failures": failures}

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
                raise ServiceNotFoundException(SERVICE_NOT_FOUND)
            if not (instance_ref or family or opt_str(req, "startedBy")):
                # Filters the indexed columns answer: SQLite reads the page from an index alone.
                name, status = cluster.clusterName, "RUNNING" if desired == "PENDING" else desired
                return read_page(
                    req,
                    "taskArns",
                    lambda offset, limit: s.task_arns(
                        name, status, group, desired == "PENDING", offset=offset, limit=limit
                    ),
                )
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
        include_tags = wants_tags(req)
        found, failures = [], []
        with self.ctx.store.read():
            cluster = require_cluster(self.ctx, req.get("cluster"))
            for ref in refs:
                task = self._find(cluster.clusterName, str(ref))
                if task is None:
                    arn = ref if ref.startswith("arn:") else task_arn(cluster.clusterName, arn_id(str(ref)))
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    wire = task.wire()
                    found.append(with_tags(self.ctx.store, task.taskArn, wire) if include_tags else wire)
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
