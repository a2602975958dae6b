"""Short-lived key pairs for a task's roles (`taskRoleArn`, `executionRoleArn`): issue, look up for SigV4, revoke.

A task credential is what STS would hand on ECS: an access key id (`ASIA...`), a secret access
key and a session token, valid for `LIFETIME_S` (1 h), tied to one task, the role its definition
names and a purpose: `TASK_ROLE` (the task's containers act as it) or `EXECUTION_ROLE` (the
task's agent acts as it to read the task's secrets and ship its logs; what it may read, the
`ExecutionGrant`, is fixed at issue from the task definition). It lives as one store document
(kind `task-credential`, key = access key id): the secret sealed under the master key bound to
the access key id, the session token as its SHA-256 only (it is compared, never shown again). A
request signed with it is accepted only with its session token (`X-Amz-Security-Token`) and
before it expires. A task role session also dies with its task: the task's stop revokes every
task role credential of the task at the next use (and the documents are deleted then). An
execution role session outlives its task's stop until it expires, as an STS session does (ECS's
agent ships a stopped task's last log lines with it); its grant refuses secret reads once the
task is stopping (`Principal.stopping`). The plaintext secret and token are returned once, to the
task's agent, and never logged.

`SigningKeys` is what the AWS endpoints check signatures against: the permanent pairs of
`orchestrator.security.credentials` and these, each resolved to a `Principal`.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from orchestrator.core.clock import Clock
from orchestrator.core.errors import ApiError, UnrecognizedClientException
from orchestrator.core.models import ACCOUNT, arn_id
from orchestrator.core.store import Store
from orchestrator.security.credentials import AccessKeys
from orchestrator.security.secrets import (
    ACCESS_KEY_ALPHABET,
    SealError,
    check_token,
    hash_token,
    load_or_create_master_key,
    new_secret_access_key,
    seal,
    unseal,
)

log = structlog.get_logger("orchestrator.security.task_credentials")

DOC_KIND = "task-credential"
TASK_ROLE, EXECUTION_ROLE = "task-role", "execution-role"  # a credential's purpose
LIFETIME_S = 3600.0
TEMPORARY_KEY_PREFIX = "ASIA"  # AWS's prefix for temporary (STS) access key ids
INVALID_TOKEN = "The security token included in the request is invalid."


class ExpiredTokenException(ApiError):
    code = "ExpiredTokenException"
    status = 400


def role_arn(role: str) -> str:
    """A role name or ARN as ECS takes `taskRoleArn` -> the role's ARN."""
    return role if role.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:role/{role}"


def role_name(role: str) -> str:
    return arn_id(role)


@dataclass(frozen=True)
class ExecutionGrant:
    """What an execution role session may read: the references its task definition makes, as written
    (SSM parameter names or ARNs; Secrets Manager secret names or ARNs, without a json-key suffix)."""

    parameters: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()

    def wire(self) -> dict[str, list[str]]:
        return {"parameters": list(self.parameters), "secrets": list(self.secrets)}

    @staticmethod
    def of(doc: Any) -> ExecutionGrant:
        doc = doc if isinstance(doc, dict) else {}
        return ExecutionGrant(
            tuple(str(p) for p in doc.get("parameters") or []), tuple(str(s) for s in doc.get("secrets") or [])
        )


@dataclass(frozen=True)
class Principal:
    """Who signed a request: a permanent key (the admin's rights) or a task's role session (task or execution role)."""

    access_key_id: str
    task_arn: str | None = None
    cluster: str | None = None
    role_arn: str | None = None
    purpose: str = TASK_ROLE  # for a role session: TASK_ROLE or EXECUTION_ROLE
    grant: ExecutionGrant | None = None  # an execution role session's
    stopping: bool = False  # an execution role session's task is stopping or stopped

    @property
    def is_task_role(self) -> bool:
        return self.task_arn is not None and self.purpose == TASK_ROLE

    @property
    def is_execution_role(self) -> bool:
        return self.task_arn is not None and self.purpose == EXECUTION_ROLE

    @property
    def is_role_session(self) -> bool:
        return self.task_arn is not None

    @property
    def arn(self) -> str:
        """AWS's name for the caller, as error messages show it."""
        if self.role_arn is None or self.task_arn is None:
            return f"arn:aws:iam::{ACCOUNT}:user/{self.access_key_id}"
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name(self.role_arn)}/{arn_id(self.task_arn)}"


@dataclass(frozen=True)
class IssuedCredential:
    """What the task's agent gets (and serves to the task's containers, as ECS's endpoint does)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float
    role_arn: str

    def wire(self) -> dict[str, Any]:
        return {
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret_access_key,
            "sessionToken": self.session_token,
            "expiration": self.expiration,
            "roleArn": self.role_arn,
        }

    def __repr__(self) -> str:  # never the secret or the token
        return f"IssuedCredential({self.access_key_id}, role={self.role_arn}, expiration={self.expiration})"


def new_temporary_key_id() -> str:
    return TEMPORARY_KEY_PREFIX + "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(16))


class TaskCredentials:
    def __init__(self, store: Store, master_key_path: Path, clock: Clock) -> None:
        self._store = store
        self._master_key_path = master_key_path
        self._clock = clock

    @functools.cached_property
    def _master_key(self) -> bytes:
        return load_or_create_master_key(self._master_key_path)

    def issue(
        self, task_arn: str, cluster: str, role: str, purpose: str = TASK_ROLE, grant: ExecutionGrant | None = None
    ) -> IssuedCredential:
        """A fresh pair for the task; earlier ones stay valid until they expire, as STS's do."""
        now = self._clock.now()
        key_id, secret, token = new_temporary_key_id(), new_secret_access_key(), secrets.token_urlsafe(96)
        issued = IssuedCredential(key_id, secret, token, now + LIFETIME_S, role_arn(role))
        body = {
            "taskArn": task_arn,
            "cluster": cluster,
            "roleArn": issued.role_arn,
            "issuedAt": now,
            "expiration": issued.expiration,
            "sealedSecret": seal(self._master_key, secret, context=key_id),
            "tokenHash": hash_token(token),
            "purpose": purpose,
        }
        if purpose == EXECUTION_ROLE:
            body["grant"] = (grant or ExecutionGrant()).wire()
        with self._store.write() as s:
            for old_key, old in s.list_docs(DOC_KIND):
                if float(old.get("expiration", 0.0)) <= now:
                    s.delete_doc(DOC_KIND, old_key)
            s.put_doc(DOC_KIND, key_id, body)
        log.info(
            "task credential issued",
            task=arn_id(task_arn),
            role=role_name(issued.role_arn),
            purpose=purpose,
            access_key_id=key_id,
        )
        return issued

    def _doc(self, access_key_id: str) -> dict[str, Any] | None:
        if not access_key_id.startswith(TEMPORARY_KEY_PREFIX):
            return None
        with self._store.read() as s:
            return s.get_doc(DOC_KIND, access_key_id)

    def secret_for(self, access_key_id: str) -> str | None:
        doc = self._doc(access_key_id)
        if doc is None:
            return None
        try:
            return unseal(self._master_key, str(doc.get("sealedSecret", "")), context=access_key_id)
        except SealError as err:
            log.warning("task credential does not unseal", access_key_id=access_key_id, problem=str(err))
            return None

    def principal(self, access_key_id: str, session_token: str | None) -> Principal | None:
        """The task role behind a signature that held, or None if the key is not a task credential.
        Raises for a missing or wrong session token, an expired pair, or a task that has stopped."""
        doc = self._doc(access_key_id)
        if doc is None:
            return None
        if not session_token or not check_token(session_token, str(doc.get("tokenHash", ""))):
            raise UnrecognizedClientException(INVALID_TOKEN)
        if float(doc.get("expiration", 0.0)) <= self._clock.now():
            raise ExpiredTokenException("The security token included in the request is expired")
        task_arn = str(doc["taskArn"])
        with self._store.read() as s:
            task = s.get_task(task_arn)
        purpose = str(doc.get("purpose") or TASK_ROLE)
        if purpose == EXECUTION_ROLE:
            if task is None:
                raise UnrecognizedClientException(INVALID_TOKEN)
            # Valid until it expires, as an STS session is; its grant reads no secret of a stopping task.
            stopping = task.desiredStatus == "STOPPED" or task.lastStatus == "STOPPED"
            return Principal(
                access_key_id,
                task_arn,
                str(doc["cluster"]),
                str(doc["roleArn"]),
                EXECUTION_ROLE,
                ExecutionGrant.of(doc.get("grant")),
                stopping,
            )
        if task is None or task.lastStatus == "STOPPED":
            self.revoke_task(task_arn)
            raise UnrecognizedClientException(INVALID_TOKEN)
        return Principal(access_key_id, task_arn, str(doc["cluster"]), str(doc["roleArn"]))

    def revoke_task(self, task_arn: str) -> int:
        """Delete the task's task role credentials (its execution role sessions live until they expire)."""
        with self._store.write() as s:
            keys = [
                k
                for k, d in s.list_docs(DOC_KIND)
                if d.get("taskArn") == task_arn and (d.get("purpose") or TASK_ROLE) == TASK_ROLE
            ]
            for key in keys:
                s.delete_doc(DOC_KIND, key)
        if keys:
            log.info("task credentials revoked", task=arn_id(task_arn), count=len(keys))
        return len(keys)


class SigningKeys:
    """The keys the AWS endpoints accept: permanent pairs (admin rights) and task and execution role sessions."""

    def __init__(self, keys: AccessKeys, tasks: TaskCredentials | None = None) -> None:
        self.keys = keys
        self.tasks = tasks

    @staticmethod
    def of(keys: AccessKeys | SigningKeys) -> SigningKeys:
        return keys if isinstance(keys, SigningKeys) else SigningKeys(keys)

    def secret_for(self, access_key_id: str) -> str | None:
        if access_key_id.startswith(TEMPORARY_KEY_PREFIX):
            return self.tasks.secret_for(access_key_id) if self.tasks is not None else None
        return self.keys.secret_for(access_key_id)

    def principal(self, access_key_id: str, session_token: str | None) -> Principal:
        """Call once the signature holds: who signed, with the session token checked as AWS does."""
        task_role = self.tasks.principal(access_key_id, session_token) if self.tasks is not None else None
        if task_role is not None:
            return task_role
        if session_token:
            # A permanent key has no session: a token beside it is refused, as AWS refuses it.
            raise UnrecognizedClientException(INVALID_TOKEN)
        return Principal(access_key_id)
