"""Attribute actions beyond PutAttributes: ListAttributes and DeleteAttributes.

Attributes live on container instances (the only target type ECS has); placement constraints and
`ListContainerInstances --filter` read them. The built-in `ecs.*` attributes an instance
registers with cannot be deleted, as on ECS, since placement depends on them.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import InvalidParameterException, TargetNotFoundException
from orchestrator.core.models import ContainerInstance
from orchestrator.operations.common import (
    Context,
    instance_ref_matches,
    opt_list,
    opt_str,
    paginate,
    require_cluster,
)

TARGET_TYPE = "container-instance"
BUILT_IN_PREFIXES = ("ecs.", "orch.")


def _target_type(value: Any, where: str) -> None:
    if value not in (None, TARGET_TYPE):
        raise InvalidParameterException(f"{where} must be {TARGET_TYPE}, got {value!r}.")


class AttributeOps:
    ctx: Context

    def list_attributes(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("targetType") is None:
            raise InvalidParameterException("targetType is required (container-instance).")
        _target_type(req.get("targetType"), "targetType")
        name = opt_str(req, "attributeName")
        value = opt_str(req, "attributeValue")
        if value is not None and name is None:
            raise InvalidParameterException("attributeValue can only be given together with attributeName.")
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            instances = s.list_instances(cluster.clusterName)
        found = [
            {
                # name, targetId and value, without targetType: as ECS lists them (list-attributes.rst).
                "name": a.name,
                **({"value": a.value} if a.value is not None else {}),
                "targetId": inst.containerInstanceArn,
            }
            for inst in instances
            for a in inst.attributes
            if (name is None or a.name == name) and (value is None or a.value == value)
        ]
        page, nxt = paginate(found, req)
        out: dict[str, Any] = {"attributes": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def delete_attributes(self, req: dict[str, Any]) -> dict[str, Any]:
        attrs = opt_list(req, "attributes")
        if not attrs or len(attrs) > 10:
            raise InvalidParameterException("attributes must hold 1 to 10 attributes.")
        for i, a in enumerate(attrs):
            if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"]:
                raise InvalidParameterException(f"attributes[{i}].name is required.")
            _target_type(a.get("targetType"), f"attributes[{i}].targetType")
            if not a.get("targetId"):
                raise InvalidParameterException(f"attributes[{i}].targetId is required (a container instance).")
            if a["name"].startswith(BUILT_IN_PREFIXES):
                raise InvalidParameterException(
                    f"attributes[{i}].name: the built-in attribute {a['name']} cannot be deleted."
                )
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            instances = s.list_instances(cluster.clusterName)
            targets: list[tuple[ContainerInstance, dict[str, Any]]] = []
            for a in attrs:
                inst = next((x for x in instances if instance_ref_matches(x, str(a["targetId"]))), None)
                if inst is None:
                    raise TargetNotFoundException(f"Could not find {a['targetId']}.")
                targets.append((inst, a))
            deleted = []
            for inst, a in targets:
                current = s.get_instance(inst.containerInstanceArn) or inst
                kept = [x for x in current.attributes if x.name != a["name"]]
                if len(kept) != len(current.attributes):
                    current.attributes = kept
                    s.update_instance(current)
                deleted.append({"name": a["name"], "targetType": TARGET_TYPE, "targetId": current.containerInstanceArn})
        return {"attributes": deleted}
