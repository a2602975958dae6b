"""Join tokens beyond the first: issued with an expiry, listed, revoked.

The data dir's `join.token` is the bootstrap token (no expiry, so a fresh cluster can be joined
with what its first start wrote). Others are `ojt_<id>.<secret>` tokens the admin issues with
`orchestrator token create --ttl 1h`; the store keeps only the hash, the description and the
expiry, under the document kind `join-token`. A revoked or expired token registers nothing.
The bootstrap token can be revoked too (its record has the id `bootstrap`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import InvalidParameterException, ResourceNotFoundException
from orchestrator.core.store import Store
from orchestrator.security.secrets import check_token, hash_token

KIND = "join-token"
BOOTSTRAP = "bootstrap"
PREFIX = "ojt_"
MAX_TTL_S = 366 * 24 * 3600


@dataclass(frozen=True)
class Issued:
    token: str
    record: dict[str, Any]


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A token's record without its hash: what listing shows."""
    return {k: v for k, v in record.items() if k != "hash"}


def create(store: Store, now: float, ttl_s: float, description: str = "") -> Issued:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise InvalidParameterException(f"ttlSeconds must be from 1 to {MAX_TTL_S} (a year), got {ttl_s:g}.")
    if len(description) > 255:
        raise InvalidParameterException("description may be at most 255 characters.")
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}.{secrets.token_urlsafe(32)}"
    record = {
        "id": token_id,
        "description": description,
        "createdAt": now,
        "expiresAt": now + ttl_s,
        "revoked": False,
        "hash": hash_token(token),
    }
    with store.write():
        store.put_doc(KIND, token_id, record)
    return Issued(token, record)


def listed(store: Store, now: float) -> list[dict[str, Any]]:
    out = []
    bootstrap = store.get_doc(KIND, BOOTSTRAP) or {"id": BOOTSTRAP, "revoked": False}
    rows = [(BOOTSTRAP, bootstrap)] + [(k, r) for k, r in store.list_docs(KIND) if k != BOOTSTRAP]
    for _, record in rows:
        shown = public(record)
        if record["id"] == BOOTSTRAP:
            shown["description"] = "join.token in the data dir"
        expires = record.get("expiresAt")
        shown["state"] = (
            "revoked" if record.get("revoked") else "expired" if expires is not None and expires <= now else "valid"
        )
        out.append(shown)
    return out


def revoke(store: Store, token_id: str, now: float) -> dict[str, Any]:
    with store.write():
        record = store.get_doc(KIND, token_id)
        if record is None and token_id == BOOTSTRAP:
            record = {"id": BOOTSTRAP, "createdAt": now, "revoked": False}
        if record is None:
            raise ResourceNotFoundException(f"No join token has the id {token_id!r}; `orchestrator token list`.")
        record = {**record, "revoked": True, "revokedAt": now}
        store.put_doc(KIND, token_id, record)
    return public(record)


def valid(store: Store, token: str, bootstrap_hash: str, now: float) -> bool:
    """Whether `token` may register an instance now."""
    if check_token(token, bootstrap_hash):
        record = store.get_doc(KIND, BOOTSTRAP)
        return not (record and record.get("revoked"))
    if not token.startswith(PREFIX) or "." not in token:
        return False
    token_id = token[len(PREFIX) :].split(".", 1)[0]
    record = store.get_doc(KIND, token_id) if len(token_id) <= 64 else None
    if record is None or record.get("revoked") or not check_token(token, str(record.get("hash", ""))):
        return False
    return float(record.get("expiresAt", 0)) > now
