"""Container instance actions: List, Describe, Deregister, UpdateContainerInstancesState, PutAttributes."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.core.errors import ClientException, InvalidParameterException
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import Attribute, ContainerInstance, arn_id, instance_arn
from orchestrator.core.placing import snapshot, with_usage
from orchestrator.operations.common import (
    Context,
    id_list,
    instance_ref_matches,
    opt_bool,
    opt_list,
    opt_str,
    paginate,
    req_str,
    require_cluster,
)
from orchestrator.operations.tags import wants_tags, with_tags
from scheduler.constraints import parse
from scheduler.types import PlacementError

ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_./-]{1,128}$")
ATTRIBUTE_VALUE_RE = re.compile(r"^[A-Za-z0-9_.@:/ -]{1,128}$")


def check_attribute(name: Any, value: Any, where: str) -> None:
    if not isinstance(name, str) or not ATTRIBUTE_NAME_RE.match(name):
        raise InvalidParameterException(
            f"{where}.name must be 1-128 letters, numbers, hyphens, underscores, periods or slashes."
        )
    if value is not None and (not isinstance(value, str) or not ATTRIBUTE_VALUE_RE.match(value)):
        raise InvalidParameterException(
            f"{where}.value must be 1-128 letters, numbers, hyphens, underscores, periods, at signs, "
            "colons, slashes or spaces."
        )


def _health(inst: dict[str, Any], last_heartbeat: float | None) -> dict[str, Any]:
    """ECS's container runtime health check of an instance: the agent's heartbeats are our check."""
    status = "OK" if inst.get("agentConnected") and inst.get("status") != "INACTIVE" else "IMPAIRED"
    if last_heartbeat is None:
        status = "INSUFFICIENT_DATA"
    detail: dict[str, Any] = {"type": "CONTAINER_RUNTIME", "status": status}
    if last_heartbeat is not None:
        detail["lastUpdated"] = last_heartbeat
    return {"overallStatus": status, "details": [detail]}


# Never the hash of any token (a hash is 64 hex digits), so no credential matches it.
REVOKED = "revoked"


class InstanceOps:
    ctx: Context

    def _resolve(self, cluster: str, ref: str) -> ContainerInstance | None:
        if ref.startswith("arn:"):
            # An ARN names its row: no need to read (and parse) every instance of the cluster.
            inst = self.ctx.store.get_instance(ref)
            return inst if inst is not None and instance_ref_matches(inst, ref) and f"/{cluster}/" in ref else None
        return next(
            (i for i in self.ctx.store.list_instances(cluster, include_inactive=True) if instance_ref_matches(i, ref)),
            None,
        )

    def list_container_instances(self, req: dict[str, Any]) -> dict[str, Any]:
        expression = opt_str(req, "filter")
        status = opt_str(req, "status")
        if status and status not in ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"):
            raise InvalidParameterException("status must be ACTIVE, DRAINING, REGISTERING or DEREGISTERING.")
        expr = None
        if expression:
            try:
                expr = parse(expression)
            except PlacementError as err:
                where = (
                    f" (at position {err.position})" if err.position is not None and "position" not in str(err) else ""
                )
                raise InvalidParameterException(f"filter: {err}{where}") from None
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            views = snapshot(s, cluster.clusterName)
        arns = [v.arn for v in views if (status is None or v.status == status) and (expr is None or expr.evaluate(v))]
        page, nxt = paginate(arns, req)
        out: dict[str, Any] = {"containerInstanceArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def describe_container_instances(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "containerInstances", 100, "container instances")
        include_tags = wants_tags(req, ("TAGS", "CONTAINER_INSTANCE_HEALTH"))
        include_health = "CONTAINER_INSTANCE_HEALTH" in opt_list(req, "include")
        found: list[ContainerInstance] = []
        failures = []
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            for ref in refs:
                inst = self._resolve(cluster.clusterName, str(ref))
                if inst is None:
                    failures.append({"arn": instance_arn(cluster.clusterName, arn_id(str(ref))), "reason": "MISSING"})
                else:
                    found.append(inst)
            described = [i.wire() for i in with_usage(s, found)]
            if include_tags:
                described = [with_tags(s, d["containerInstanceArn"], d) for d in described]
            if include_health:
                beats = s.last_heartbeats()
                described = [{**d, "healthStatus": _health(d, beats.get(d["containerInstanceArn"]))} for d in described]
        return {"containerInstances": described, "failures": failures}

    def update_container_instances_state(self, req: dict[str, Any]) -> dict[str, Any]:
        status = req_str(req, "status")
        if status not in ("ACTIVE", "DRAINING"):
            raise InvalidParameterException("status must be ACTIVE or DRAINING.")
        refs = id_list(req, "containerInstances", 10, "container instances")
        found: list[ContainerInstance] = []
        failures = []
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            for ref in refs:
                inst = self._resolve(cluster.clusterName, str(ref))
                if inst is None or inst.status == "INACTIVE":
                    failures.append({"arn": instance_arn(cluster.clusterName, arn_id(str(ref))), "reason": "MISSING"})
                    continue
                if inst.status != status:
                    inst.status = "DRAINING" if status == "DRAINING" else "ACTIVE"
                    s.update_instance(inst)
                    if status == "DRAINING":
                        self._stop_pending_service_tasks(inst)
                found.append(inst)
            described = [i.wire() for i in with_usage(s, found)]
        return {"containerInstances": described, "failures": failures}

    def _stop_pending_service_tasks(self, inst: ContainerInstance) -> None:
        # Draining stops service tasks that are not running yet at once; running ones are
        # replaced by the service controller within the deployment bounds; standalone tasks stay.
        now = self.ctx.clock.now()
        for task in self.ctx.store.list_tasks(instance_arn=inst.containerInstanceArn, not_stopped=True):
            if (
                task.group.startswith("service:")
                and task.lastStatus != "RUNNING"
                and stop_task_row(task, now, "ServiceSchedulerInitiated", "Container instance is draining")
            ):
                self.ctx.store.update_task(task)

    def deregister_container_instance(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req_str(req, "containerInstance")
        force = opt_bool(req, "force")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            inst = self._resolve(cluster.clusterName, ref)
            if inst is None or inst.status == "INACTIVE":
                raise InvalidParameterException(
                    f"Container instance {ref} was not found in cluster {cluster.clusterName}."
                )
            tasks = s.list_tasks(instance_arn=inst.containerInstanceArn, not_stopped=True)
            if tasks and not force:
                raise ClientException(
                    f"Container instance {arn_id(inst.containerInstanceArn)} still has {len(tasks)} tasks; "
                    "drain it first or pass force."
                )
            now = self.ctx.clock.now()
            for task in tasks:
                if stop_task_row(task, now, "ServiceSchedulerInitiated", "Container instance deregistered"):
                    s.update_task(task)
            inst.status = "INACTIVE"
            inst.agentConnected = False
            s.update_instance(inst)
            # Its agent's credential dies with it: nothing can speak for this instance any more.
            s.replace_credential(inst.containerInstanceArn, REVOKED)
            described = with_usage(s, [inst])[0].wire()
        return {"containerInstance": described}

    def put_attributes(self, req: dict[str, Any]) -> dict[str, Any]:
        attrs = opt_list(req, "attributes")
        if not attrs or len(attrs) > 10:
            raise InvalidParameterException("attributes must hold 1 to 10 attributes.")
        for i, a in enumerate(attrs):
            if not isinstance(a, dict):
                raise InvalidParameterException(f"attributes[{i}] must be an object.")
            check_attribute(a.get("name"), a.get("value"), f"attributes[{i}]")
            if a.get("targetType", "container-instance") != "container-instance":
                raise InvalidParameterException(f"attributes[{i}].targetType must be container-instance.")
            if not a.get("targetId"):
                raise InvalidParameterException(f"attributes[{i}].targetId is required (a container instance).")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            resolved = []
            for i, a in enumerate(attrs):
                inst = self._resolve(cluster.clusterName, a["targetId"])
                if inst is None:
                    raise InvalidParameterException(f"attributes[{i}].targetId {a['targetId']} was not found.")
                resolved.append((inst, a))
            for inst, a in resolved:
                current = self.ctx.store.get_instance(inst.containerInstanceArn) or inst
                kept = [x for x in current.attributes if x.name != a["name"]]
                kept.append(Attribute(name=a["name"], value=a.get("value")))
                current.attributes = kept
                s.update_instance(current)
        return {"attributes": attrs}
