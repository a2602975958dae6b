"""REST routes under `/v1/secrets` for `orchestrator secrets`: the parameter store's SecureStrings.

Thin: each route is one SSM operation (PutParameter with Type SecureString and Overwrite,
DescribeParameters over every page, DeleteParameter); responses carry names, versions and
dates, never a value. Admin-protected like every `/v1` route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.core.errors import InvalidParameterException
from orchestrator.operations import Operations
from orchestrator.security.auth import require_admin


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


router = APIRouter(prefix="/v1/secrets", dependencies=[Depends(_admin)], tags=["secrets"])
_PUT_MEMBERS = {"name", "value", "description", "overwrite"}


@router.post("")
def put_secret(body: dict[str, Any] = Body(default_factory=dict), ops: Operations = Depends(_ops)) -> dict[str, Any]:
    unknown = sorted(set(body) - _PUT_MEMBERS)
    if unknown:
        raise InvalidParameterException(
            f"Unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_PUT_MEMBERS))}."
        )
    req: dict[str, Any] = {
        "Name": body.get("name"),
        "Value": body.get("value"),
        "Type": "SecureString",
        "Overwrite": body.get("overwrite", True),
    }
    if body.get("description"):
        req["Description"] = body["description"]
    out = ops.put_parameter(req)
    return {"name": body.get("name"), "version": out["Version"], "type": "SecureString"}


@router.get("")
def list_secrets(ops: Operations = Depends(_ops)) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    req: dict[str, Any] = {"MaxResults": 50}
    while True:
        page = ops.describe_parameters(req)
        found += page["Parameters"]
        if not page.get("NextToken"):
            return {"Parameters": found}
        req["NextToken"] = page["NextToken"]


@router.delete("/{name:path}")
def delete_secret(name: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    ops.delete_parameter({"Name": name})
    return {"name": name, "deleted": True}
