"""Who may call what: the admin token, the join token, and per-instance agent credentials.

The admin and join tokens are generated at first start into the data dir (mode 0600) so the
person who runs the server can read them and nobody else can. An agent trades the join token for
a credential that names its own container instance; the server keeps only its hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.errors import AccessDeniedException, UnauthorizedError
from orchestrator.core.store import Store
from orchestrator.security import join_tokens
from orchestrator.security.secrets import check_token, hash_token, new_token

ADMIN_TOKEN_FILE = "admin.token"
JOIN_TOKEN_FILE = "join.token"
INSTANCE_CREDENTIAL_PREFIX = "oic_"


def _load_or_create_token(path: Path, prefix: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token(prefix)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


@dataclass
class Tokens:
    admin_hash: str
    join_hash: str

    @staticmethod
    def load_or_create(data_dir: Path) -> Tokens:
        admin = _load_or_create_token(data_dir / ADMIN_TOKEN_FILE, "oat_")
        join = _load_or_create_token(data_dir / JOIN_TOKEN_FILE, "ojt_")
        return Tokens(hash_token(admin), hash_token(join))


def bearer(header: str | None) -> str:
    if not header or not header.lower().startswith("bearer "):
        raise UnauthorizedError(
            "Missing bearer token: pass the admin token (orchestrator reads it from the data dir or ORCH_TOKEN)."
        )
    return header[7:].strip()


def require_admin(tokens: Tokens, header: str | None) -> None:
    if not check_token(bearer(header), tokens.admin_hash):
        raise UnauthorizedError("The bearer token is not the admin token of this control plane.")


def require_join(tokens: Tokens, token: str, store: Store, now: float) -> None:
    if not join_tokens.valid(store, token, tokens.join_hash, now):
        raise UnauthorizedError(
            "The join token is wrong, expired or revoked; copy join.token from the server's data dir "
            "or issue one with `orchestrator token create`."
        )


def new_instance_credential(instance_id: str) -> str:
    return new_token(f"{INSTANCE_CREDENTIAL_PREFIX}{instance_id}.")


def instance_id_of(credential: str) -> str:
    if not credential.startswith(INSTANCE_CREDENTIAL_PREFIX) or "." not in credential:
        raise UnauthorizedError("Not an instance credential; register the agent again with the join token.")
    return credential[len(INSTANCE_CREDENTIAL_PREFIX) :].split(".", 1)[0]


def authenticate_instance(store: Store, header: str | None) -> str:
    """The container instance ARN the credential belongs to, or UnauthorizedError."""
    credential = bearer(header)
    known = store.instance_credential(instance_id_of(credential))
    if known is None or not (known[1] and check_token(credential, known[1])):
        raise UnauthorizedError("Unknown instance credential; register the agent again with the join token.")
    arn, _, status = known
    if status == "INACTIVE":
        raise AccessDeniedException("This container instance was deregistered; register it again.")
    return arn


def credential_matches(store: Store, arn: str, credential: object) -> bool:
    """Whether `credential` is the one issued to the container instance `arn`."""
    stored = store.credential_hash(arn)
    return bool(isinstance(credential, str) and stored and check_token(credential, stored))
