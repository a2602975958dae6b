"""Resource tags as ECS keeps them: one list per resource ARN, with ECS's limits, and propagation to tasks.

Tags live in the store's documents (kind `tags`, key the resource ARN), so clusters, services,
task definitions, tasks and container instances are all tagged the same way and TagResource needs
no per-kind code. A new task gets its tags here, in the transaction that creates it: what
RunTask gave, the service's or the task definition's tags when `propagateTags` asks for them, and
ECS's managed tags (`aws:ecs:clusterName`, `aws:ecs:serviceName`) when `enableECSManagedTags` is on.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import Task, arn_id, service_arn
from orchestrator.core.store import TAG_DOC_KIND, Store

DOC_KIND = TAG_DOC_KIND
MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
RESERVED_PREFIX = "aws:"
# Letters, numbers, spaces and _ . : / = + - @ (the model's \p{L}\p{Z}\p{N} classes, approximated by \w).
TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)


def check_tags(raw: Any, member: str = "tags", *, managed: bool = False) -> list[dict[str, str]]:
    """`raw` as a list of {key, value}, or InvalidParameterException naming what breaks ECS's rules."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidParameterException(f"{member} must be a list of {{key, value}} objects.")
    if len(raw) > MAX_TAGS:
        raise InvalidParameterException(f"{member}: a resource can have at most {MAX_TAGS} tags, got {len(raw)}.")
    out: dict[str, str] = {}
    for i, tag in enumerate(raw):
        where = f"{member}[{i}]"
        if not isinstance(tag, dict):
            raise InvalidParameterException(f"{where} must be an object with key and value.")
        key, value = tag.get("key"), tag.get("value", "")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY or not TAG_RE.match(key):
            raise InvalidParameterException(
                f"{where}.key must be 1 to {MAX_KEY} letters, numbers, spaces or _ . : / = + - @."
            )
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > MAX_VALUE or not TAG_RE.match(value):
            raise InvalidParameterException(
                f"{where}.value must be at most {MAX_VALUE} letters, numbers, spaces or _ . : / = + - @."
            )
        if key.lower().startswith(RESERVED_PREFIX) and not managed:
            raise InvalidParameterException(f"{where}.key: tag keys beginning with 'aws:' are reserved for AWS use.")
        out[key] = value
    return [{"key": k, "value": v} for k, v in out.items()]


def get_tags(store: Store, arn: str) -> list[dict[str, str]]:
    doc = store.get_doc(DOC_KIND, arn)
    return list(doc["tags"]) if doc else []


def set_tags(store: Store, arn: str, tags: list[dict[str, str]]) -> None:
    if tags:
        store.put_doc(DOC_KIND, arn, {"tags": tags})
    elif store.get_doc(DOC_KIND, arn) is not None:
        store.delete_doc(DOC_KIND, arn)


def merge_tags(store: Store, arn: str, new: list[dict[str, str]]) -> list[dict[str, str]]:
    """Add or overwrite `new` on `arn`; ECS's 50-tag limit counts the result."""
    merged = {t["key"]: t["value"] for t in get_tags(store, arn)}
    merged.update({t["key"]: t["value"] for t in new})
    user_keys = [k for k in merged if not k.lower().startswith(RESERVED_PREFIX)]
    if len(user_keys) > MAX_TAGS:
        raise InvalidParameterException(
            f"tags: a resource can have at most {MAX_TAGS} tags; this would make {len(user_keys)}."
        )
    tags = [{"key": k, "value": v} for k, v in merged.items()]
    set_tags(store, arn, tags)
    return tags


def remove_tags(store: Store, arn: str, keys: list[str]) -> None:
    set_tags(store, arn, [t for t in get_tags(store, arn) if t["key"] not in set(keys)])


def tags_for_new_task(
    store: Store,
    task: Task,
    *,
    given: list[dict[str, str]],
    propagate: str,
    managed: bool,
    service_name: str | None,
) -> list[dict[str, str]]:
    """The tags a new task starts with; later sources win on the same key, as ECS merges them."""
    merged: dict[str, str] = {}
    if propagate == "TASK_DEFINITION":
        merged.update({t["key"]: t["value"] for t in get_tags(store, task.taskDefinitionArn)})
    elif propagate == "SERVICE" and service_name is not None:
        cluster = arn_id(task.clusterArn)
        merged.update({t["key"]: t["value"] for t in get_tags(store, service_arn(cluster, service_name))})
    merged.update({t["key"]: t["value"] for t in given})
    if managed:
        merged["aws:ecs:clusterName"] = arn_id(task.clusterArn)
        if service_name is not None:
            merged["aws:ecs:serviceName"] = service_name
    return [{"key": k, "value": v} for k, v in merged.items()]


def tag_service_task(store: Store, task: Task) -> None:
    """Tags for a task a service just started, from the service's propagateTags and managed-tag settings."""
    if not task.group.startswith("service:"):
        return
    name = task.group[len("service:") :]
    svc = store.get_service(arn_id(task.clusterArn), name)
    if svc is None:
        return
    tags = tags_for_new_task(
        store,
        task,
        given=[],
        propagate=svc.propagateTags,
        managed=svc.enableECSManagedTags,
        service_name=name,
    )
    set_tags(store, task.taskArn, tags)
