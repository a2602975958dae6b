"""Admin routes under `/v1/tokens`: issue join tokens with an expiry, list them, revoke them.

The token itself is in exactly one response, the one that creates it; listing shows ids,
descriptions, expiry and state only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.core.errors import InvalidParameterException
from orchestrator.operations import Operations
from orchestrator.security import join_tokens
from orchestrator.security.auth import require_admin
from orchestrator.security.tls import pinned_join_token

DEFAULT_TTL_S = 24 * 3600


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


router = APIRouter(prefix="/v1/tokens", tags=["tokens"], dependencies=[Depends(_admin)])


@router.post("")
def create(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    unknown = sorted(set(body) - {"description", "ttlSeconds"})
    if unknown:
        raise InvalidParameterException(f"Unknown field(s) {', '.join(unknown)}; only description and ttlSeconds.")
    ttl = body.get("ttlSeconds", DEFAULT_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidParameterException(f"ttlSeconds must be a number of seconds, got {ttl!r}.")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise InvalidParameterException("description must be a string.")
    ctx = _ops(request).ctx
    issued = join_tokens.create(ctx.store, ctx.clock.now(), float(ttl), description)
    # With our own CA, the token carries its fingerprint: an agent joins with it alone.
    return {**join_tokens.public(issued.record), "joinToken": pinned_join_token(issued.token, request.app.state.tls)}


@router.get("")
def list_tokens(request: Request) -> dict[str, Any]:
    ctx = _ops(request).ctx
    return {"joinTokens": join_tokens.listed(ctx.store, ctx.clock.now())}


@router.delete("/{token_id}")
def revoke(request: Request, token_id: str) -> dict[str, Any]:
    ctx = _ops(request).ctx
    return {"joinToken": join_tokens.revoke(ctx.store, token_id, ctx.clock.now())}
