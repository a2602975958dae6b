"""Tag actions: TagResource, UntagResource, ListTagsForResource, and `include: [TAGS]` on describes.

A resource ARN is ours only if it names this control plane's region and account and an object
that exists: clusters, services, task definitions, tasks and container instances can be tagged.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import tags
from orchestrator.core.errors import InvalidParameterException, ResourceNotFoundException
from orchestrator.core.models import arn_prefix
from orchestrator.core.store import Store
from orchestrator.operations.common import Context, opt_list, req_str

INCLUDE_VALUES = ("TAGS",)


def resource_exists(store: Store, arn: str) -> bool:
    prefix = arn_prefix() + ":"
    if not arn.startswith(prefix):
        return False
    kind, _, rest = arn[len(prefix) :].partition("/")
    if kind == "cluster":
        cluster = store.get_cluster(rest)
        return cluster is not None and cluster.status == "ACTIVE"
    if kind == "service":
        cluster_part, _, name = rest.partition("/")
        svc = store.get_service(cluster_part, name)
        return svc is not None and svc.status != "INACTIVE"
    if kind == "task":
        return store.get_task(arn) is not None
    if kind == "container-instance":
        inst = store.get_instance(arn)
        return inst is not None and inst.status != "INACTIVE"
    if kind == "task-definition":
        return store.get_task_definition_by_arn(arn) is not None
    return False


def wants_tags(req: dict[str, Any], allowed: tuple[str, ...] = INCLUDE_VALUES) -> bool:
    """Whether `include` asks for TAGS; any value the call does not know is refused by name."""
    include = opt_list(req, "include")
    for value in include:
        if value not in allowed:
            raise InvalidParameterException(f"include may hold {', '.join(allowed)}, got {value!r}.")
    return "TAGS" in include


def with_tags(store: Store, arn: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "tags": tags.get_tags(store, arn)}


class TagOps:
    ctx: Context

    def _resource(self, req: dict[str, Any]) -> str:
        arn = req_str(req, "resourceArn")
        if not resource_exists(self.ctx.store, arn):
            raise ResourceNotFoundException("The specified resource could not be found.")
        return arn

    def tag_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        new = tags.check_tags(req.get("tags"))
        if not new:
            raise InvalidParameterException("tags must hold at least one tag.")
        with self.ctx.store.write() as s:
            tags.merge_tags(s, self._resource(req), new)
        return {}

    def untag_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        keys = opt_list(req, "tagKeys")
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise InvalidParameterException("tagKeys must name at least one tag key.")
        for key in keys:
            if key.lower().startswith(tags.RESERVED_PREFIX):
                raise InvalidParameterException(f"tagKeys: tag keys beginning with 'aws:' are reserved ({key}).")
        with self.ctx.store.write() as s:
            tags.remove_tags(s, self._resource(req), [str(k) for k in keys])
        return {}

    def list_tags_for_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.read() as s:
            return {"tags": tags.get_tags(s, self._resource(req))}
