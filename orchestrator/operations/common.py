"""What every operation needs: the context it runs in, and reading and checking request fields.

Requests are ECS-shaped dicts (camelCase), as the AWS JSON 1.1 endpoint receives them; the REST
API builds the same dicts. Every check raises an ApiError naming the field, before anything is
written, so bad input changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from orchestrator.core.bounds import INT64_MAX, INT64_MIN
from orchestrator.core.context import Context, cluster_name
from orchestrator.core.errors import (
    CLUSTER_NOT_FOUND,
    ClusterNotFoundException,
    InvalidParameterException,
)
from orchestrator.core.models import Cluster, ContainerInstance, arn_id

log = structlog.get_logger("orchestrator.operations")


def require_cluster(ctx: Context, ref: Any) -> Cluster:
    name = cluster_name(ref)
    cluster = ctx.store.get_cluster(name)
    if cluster is None or cluster.status != "ACTIVE":
        # ECS's exact words: scripts match on them.
        raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
    return cluster


def opt_str(req: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = req.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidParameterException(f"{name} must be a string, got {type(value).__name__}.")
    return value


def req_str(req: dict[str, Any], name: str) -> str:
    value = opt_str(req, name)
    if not value:
        raise InvalidParameterException(f"{name} is required.")
    return value


def opt_int(
    req: dict[str, Any], name: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
) -> int | None:
    value = req.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and len(value) <= 20 and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise InvalidParameterException(f"{name} must be an integer, got {value!r}.")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidParameterException(f"{name} is outside the 64-bit integer range.")
    if lo is not None and value < lo:
        raise InvalidParameterException(f"{name} must be at least {lo}, got {value}.")
    if hi is not None and value > hi:
        raise InvalidParameterException(f"{name} must be at most {hi}, got {value}.")
    return value


def opt_bool(req: dict[str, Any], name: str, default: bool = False) -> bool:
    value = req.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidParameterException(f"{name} must be true or false, got {value!r}.")
    return value


def opt_list(req: dict[str, Any], name: str) -> list[Any]:
    value = req.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameterException(f"{name} must be a list.")
    return value


def id_list(req: dict[str, Any], name: str, most: int, what: str) -> list[str]:
    """A required list of 1 to `most` ids or ARNs, as ECS's Describe* and batch actions take them."""
    refs = opt_list(req, name)
    if not refs:
        # ECS's words for an empty list ("Tasks cannot be empty.").
        raise InvalidParameterException(f"{name[:1].upper()}{name[1:]} cannot be empty.")
    if len(refs) > most:
        raise InvalidParameterException(f"{name} must name 1 to {most} {what}.")
    if not all(isinstance(r, str) and r for r in refs):
        raise InvalidParameterException(f"{name} must hold {what} as strings (ids or ARNs).")
    return [str(r) for r in refs]


def instance_ref_matches(inst: ContainerInstance, ref: str) -> bool:
    return ref in (inst.containerInstanceArn, arn_id(inst.containerInstanceArn), inst.ec2InstanceId) or (
        inst.attribute_map().get("orch.name") == ref
    )


def page_bounds(req: dict[str, Any], default_max: int = 100, hi: int = 100) -> tuple[int, int]:
    """(offset, size) of the page a List* request asks for: nextToken is an opaque offset."""
    max_results = opt_int(req, "maxResults", default_max, lo=1, hi=hi) or default_max
    token = opt_str(req, "nextToken")
    start = 0
    if token:
        try:
            start = int(token)
        except ValueError:
            raise InvalidParameterException(
                "nextToken is not valid; pass the nextToken of the previous page."
            ) from None
        if not 0 <= start <= INT64_MAX:
            raise InvalidParameterException("nextToken is not valid; pass the nextToken of the previous page.")
    return start, max_results


def read_page(
    req: dict[str, Any], key: str, read: Callable[[int, int], list[Any]], default_max: int = 100, hi: int = 100
) -> dict[str, Any]:
    """A List* answer whose page the store reads itself: `read(offset, limit)` is asked for one
    item more than the page, which tells whether another page follows (nothing else is read)."""
    start, size = page_bounds(req, default_max, hi)
    items = read(start, size + 1)
    out: dict[str, Any] = {key: items[:size]}
    if len(items) > size:
        out["nextToken"] = str(start + size)
    return out


def paginate(
    items: list[Any], req: dict[str, Any], default_max: int = 100, hi: int = 100
) -> tuple[list[Any], str | None]:
    """ECS-style pagination: nextToken is an opaque offset, maxResults at most `hi`."""
    start, max_results = page_bounds(req, default_max, hi)
    page = items[start : start + max_results]
    nxt = str(start + max_results) if start + max_results < len(items) else None
    return page, nxt
