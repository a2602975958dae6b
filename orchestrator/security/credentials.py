"""Access key pairs for the ECS-compatible endpoint: create, list, revoke, and the secret lookup SigV4 needs.

A pair lives as one store document (kind `access-key`, key = access key id) whose secret is sealed
with `orchestrator.security.secrets.seal` under the master key in `<data dir>/master.key`, bound to its own
access key id so a sealed secret copied onto another row does not unseal. The plaintext secret is
handed out exactly once, by `create`; `list` never returns it, and nothing here logs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from orchestrator.core.clock import Clock
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.store import Store
from orchestrator.security.secrets import KeyPair, SealError, load_or_create_master_key, new_key_pair, seal, unseal

log = structlog.get_logger("orchestrator.security.credentials")

MASTER_KEY_FILE = "master.key"
DOC_KIND = "access-key"
MAX_DESCRIPTION = 256


@dataclass(frozen=True)
class AccessKey:
    """What may be shown about a pair: everything but its secret."""

    access_key_id: str
    created_at: float
    description: str = ""

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"accessKeyId": self.access_key_id, "createdAt": self.created_at}
        if self.description:
            out["description"] = self.description
        return out


class AccessKeys:
    """The endpoint's key pairs, kept in `store`; the master key is read (or made) on first use."""

    def __init__(self, store: Store, master_key_path: Path, clock: Clock) -> None:
        self._store = store
        self._master_key_path = master_key_path
        self._clock = clock

    @functools.cached_property
    def _master_key(self) -> bytes:
        # Lazily, so a control plane that never issues a pair never writes a key file.
        return load_or_create_master_key(self._master_key_path)

    def create(self, description: str = "") -> tuple[KeyPair, AccessKey]:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidParameterException(f"description must be a string of at most {MAX_DESCRIPTION} characters.")
        pair = new_key_pair()
        key = AccessKey(access_key_id=pair.access_key_id, created_at=self._clock.now(), description=description)
        body = {
            **key.wire(),
            "sealedSecret": seal(self._master_key, pair.secret_access_key, context=pair.access_key_id),
        }
        with self._store.write() as s:
            s.put_doc(DOC_KIND, pair.access_key_id, body)
        log.info("access key created", access_key_id=pair.access_key_id)
        return pair, key

    def list(self) -> list[AccessKey]:
        with self._store.read() as s:
            docs = s.list_docs(DOC_KIND)
        keys = [
            AccessKey(access_key_id=k, created_at=float(d.get("createdAt", 0.0)), description=d.get("description", ""))
            for k, d in docs
        ]
        return sorted(keys, key=lambda k: (k.created_at, k.access_key_id))

    def revoke(self, access_key_id: str) -> AccessKey:
        """Forget a pair at once: the next request signed with it is refused as an unknown key."""
        with self._store.write() as s:
            doc = s.get_doc(DOC_KIND, access_key_id)
            if doc is None:
                raise InvalidParameterException(
                    f"No access key {access_key_id!r}; `orchestrator credentials list` shows the existing ones."
                )
            s.delete_doc(DOC_KIND, access_key_id)
        log.info("access key revoked", access_key_id=access_key_id)
        return AccessKey(access_key_id, float(doc.get("createdAt", 0.0)), doc.get("description", ""))

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret SigV4 needs to check a signature, or None for a key we do not know."""
        with self._store.read() as s:
            doc = s.get_doc(DOC_KIND, access_key_id)
        if doc is None:
            return None
        try:
            return unseal(self._master_key, str(doc.get("sealedSecret", "")), context=access_key_id)
        except SealError as err:
            # A row that does not unseal (another master key, tampering) is treated as unknown,
            # never as a crash; the operator gets told why.
            log.warning("access key does not unseal", access_key_id=access_key_id, problem=str(err))
            return None
