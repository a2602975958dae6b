"""REST routes for `orchestrator task exec`: open a session, read its output, send stdin and resizes.

Admin-only like every `/v1` route (the admin token is the only caller that may exec). The
relay itself is `orchestrator.operations.exec.ExecHub`; output and stdin travel as base64.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.operations import Operations
from orchestrator.security.auth import require_admin


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


router = APIRouter(prefix="/v1", dependencies=[Depends(_admin)], tags=["exec"])
AnyBody = Body(default_factory=dict)


@router.post("/clusters/{cluster}/tasks/{task}/exec")
def open_exec(
    cluster: str, task: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    return ops.open_exec({**body, "cluster": cluster, "task": task})


@router.get("/exec/{session_id}/output")
def exec_output(session_id: str, since: int = 0, wait: float = 10.0, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.exec_hub.client_output(session_id, since, wait)


@router.post("/exec/{session_id}/input")
def exec_input(session_id: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.exec_hub.client_input(session_id, body)


@router.delete("/exec/{session_id}")
def close_exec(session_id: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.exec_hub.close(session_id)
