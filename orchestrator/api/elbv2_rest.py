"""`POST /v1/elbv2/{Action}`: the ELBv2 operations for the CLI, with JSON bodies shaped as ELB's (PascalCase).

The same `Operations` methods serve the AWS Query endpoint; only the encoding differs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.api.aws.elbv2 import supported_operations
from orchestrator.api.aws.query import InvalidAction
from orchestrator.operations import Operations
from orchestrator.security.auth import require_admin


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


def _snake(action: str) -> str:
    from orchestrator.api.aws.ecs import snake_case

    return snake_case(action)


router = APIRouter(prefix="/v1/elbv2", tags=["load balancers"], dependencies=[Depends(_admin)])


@router.post("/{action}")
def elbv2_action(action: str, request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    if action not in supported_operations():
        raise InvalidAction(f"{action} is not an ELBv2 action here; supported: {', '.join(supported_operations())}.")
    ops: Operations = request.app.state.ops
    result: dict[str, Any] = getattr(ops, _snake(action))(body)
    return result
