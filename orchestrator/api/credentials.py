"""Admin routes under `/v1/credentials` that issue, list and revoke the ECS endpoint's access keys.

Protected by the admin token like the rest of `/v1`. The secret access key appears in exactly one
response, the one that creates the pair; listing shows ids and creation times only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.core.errors import InvalidParameterException
from orchestrator.security.auth import require_admin
from orchestrator.security.credentials import AccessKeys


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


def credentials_router(keys: AccessKeys) -> APIRouter:
    router = APIRouter(prefix="/v1/credentials", tags=["credentials"], dependencies=[Depends(_admin)])

    @router.post("")
    def create(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
        unknown = sorted(set(body) - {"description"})
        if unknown:
            raise InvalidParameterException(f"Unknown field(s) {', '.join(unknown)}; only description is accepted.")
        pair, key = keys.create(body.get("description") or "")
        return {**key.wire(), "secretAccessKey": pair.secret_access_key}

    @router.get("")
    def list_keys() -> dict[str, Any]:
        return {"credentials": [k.wire() for k in keys.list()]}

    @router.delete("/{access_key_id}")
    def revoke(access_key_id: str) -> dict[str, Any]:
        return {"credential": keys.revoke(access_key_id).wire()}

    return router
