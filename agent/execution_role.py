"""The agent acting as a task's execution role: its secrets and registry credentials, and its logs' key id.

For a task whose definition has an `executionRoleArn` the agent does what ECS's agent does with
that role: it fetches a session of it from the control plane (`/v1/agent/execution-credentials`,
1 h, `assumed-role/ROLE/TASK_ID`), then reads each secret reference by calling the control plane's
own AWS endpoints, SigV4-signed with the session: SSM `GetParameters` for a parameter, Secrets
Manager `GetSecretValue` for a secret (json-key picked here, registry credentials parsed into
`{username, password}` here). The references come parsed in the session's answer, so the agent
does not know ECS's `valueFrom` grammar. What `resolve` returns is what `/v1/agent/task-secrets`
returns for a task without the role, so the rest of the start path is the same. A reference that
does not resolve raises `ExecutionRoleError` with ECS's reason (`ResourceInitializationError:
unable to pull secrets or registry auth: ...`), naming the reference and, for a denial, AWS's
error text with the assumed-role principal; never a value.

The log shipper asks `key_id(task id)` for each stream it ships: the access key id of the task's
current session (refreshed before it expires; after the task's stop the last one serves until it
expires, as an STS session would). Nothing here logs a secret, a session token or a value.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from agent.session import AgentRequestError

log = structlog.get_logger("agent.execution_role")

REASON_PREFIX = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed"
)
SSM_TARGET, ASM_TARGET = "AmazonSSM.GetParameters", "secretsmanager.GetSecretValue"
# A session is fetched anew this long before it expires, so a long task's logs keep a live key.
REFRESH_BEFORE_S = 600.0
# After a failed fetch (the task stopped, the control plane away) the shipper's lookups wait this long.
RETRY_S = 30.0

# (AWS service signing name, X-Amz-Target, body, session, region) -> (HTTP status, JSON body)
AwsCall = Callable[[str, str, dict[str, Any], Mapping[str, Any], str], tuple[int, dict[str, Any]]]


class ExecutionRoleError(Exception):
    """Why a task's secrets could not be had as its execution role: ECS's reason, naming no value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wants_execution_role(td: Mapping[str, Any]) -> bool:
    return bool(td.get("executionRoleArn"))


@dataclass
class _Held:
    session: dict[str, Any] | None = None  # the control plane's answer: key pair, region, references
    failed_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _error(status: int, body: Mapping[str, Any]) -> tuple[str, str]:
    """(code, message) of an AWS JSON error body."""
    code = str(body.get("__type") or status).rpartition("#")[2]
    return code, str(body.get("message") or body.get("Message") or "").rstrip(".")


class ExecutionRoles:
    def __init__(
        self, fetch: Callable[[str], dict[str, Any]], call: AwsCall, clock: Callable[[], float] = time.time
    ) -> None:
        self._fetch = fetch
        self._call = call
        self._clock = clock
        self._held: dict[str, _Held] = {}  # task id -> its session
        self._arns: dict[str, str] = {}  # task id -> task ARN, for the tasks with an execution role
        self._lock = threading.Lock()

    # -- sessions ----------------------------------------------------------------------------

    def track(self, task_arn: str) -> None:
        """A task of this instance with an execution role: its logs' streams need its key id."""
        tid = task_arn.rsplit("/", 1)[-1]
        if tid not in self._arns:
            with self._lock:
                self._arns[tid] = task_arn

    def forget(self, task_arn: str) -> None:
        tid = task_arn.rsplit("/", 1)[-1]
        with self._lock:
            self._arns.pop(tid, None)
            self._held.pop(tid, None)

    def _holder(self, tid: str) -> _Held:
        with self._lock:
            return self._held.setdefault(tid, _Held())

    def session(self, task_arn: str, *, fresh: bool = False) -> dict[str, Any]:
        """The task's execution role session (fetched anew when `fresh` or near its expiry); raises
        AgentRequestError when the control plane refuses it."""
        tid = task_arn.rsplit("/", 1)[-1]
        self.track(task_arn)
        held = self._holder(tid)
        with held.lock:
            now = self._clock()
            current = held.session
            if fresh or current is None or float(current.get("expiration", 0.0)) - REFRESH_BEFORE_S <= now:
                try:
                    current = self._fetch(task_arn)
                except AgentRequestError:
                    held.failed_at = now
                    raise
                held.session = current
            return current

    def key_id(self, tid: str) -> str | None:
        """The access key id a stream of task `tid` carries, or None for a task without an execution role.
        A dict lookup while the session holds; a fetch only when it nears its expiry."""
        arn = self._arns.get(tid)
        if arn is None:
            return None
        held = self._held.get(tid)
        now = self._clock()
        current = held.session if held is not None else None
        if current is not None and float(current.get("expiration", 0.0)) - REFRESH_BEFORE_S > now:
            return str(current["accessKeyId"])
        if held is not None and now - held.failed_at < RETRY_S:
            # The last session serves until it expires (a stopped task gets no new one).
            return str(current["accessKeyId"]) if current is not None else None
        try:
            return str(self.session(arn)["accessKeyId"])
        except Exception as err:  # the session raises SessionClosed when the agent stops
            log.warning("execution role session not renewed", task=tid, error=str(err))
            return str(current["accessKeyId"]) if current is not None else None

    # -- secrets -----------------------------------------------------------------------------

    def resolve(self, task_arn: str) -> dict[str, dict[str, Any]]:
        """Each container's secret environment and registry credentials, read as the task's execution
        role; raises ExecutionRoleError with ECS's reason if any reference does not resolve."""
        try:
            session = self.session(task_arn, fresh=True)
        except AgentRequestError as err:
            raise ExecutionRoleError(
                f"{REASON_PREFIX}: unable to get the task's execution role credentials: {err.message}"
            ) from None
        out: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for c in session.get("containers") or []:
            env: dict[str, str] = {}
            for ref in c.get("secrets") or []:
                value, problem = self._secret(session, ref)
                if problem:
                    problems.append(problem)
                else:
                    env[str(ref["name"])] = str(value)
            entry: dict[str, Any] = {"name": c["name"], "secrets": env}
            creds = (c.get("repositoryCredentials") or {}).get("ref")
            if creds:
                auth, problem = self._registry_auth(session, str(creds))
                if problem:
                    problems.append(problem)
                else:
                    entry["repositoryCredentials"] = auth
            out[str(c["name"])] = entry
        tid = task_arn.rsplit("/", 1)[-1]
        if problems:
            reason = f"{REASON_PREFIX}: {'; '.join(dict.fromkeys(problems))}"
            log.info("task secrets did not resolve as the execution role", task=tid, reason=reason)
            raise ExecutionRoleError(reason)
        log.info(
            "task secrets resolved as the execution role",
            task=tid,
            access_key_id=session.get("accessKeyId"),
            count=sum(len(e["secrets"]) for e in out.values()),
        )
        return out

    def _aws(self, session: Mapping[str, Any], service: str, target: str, body: dict[str, Any]) -> Any:
        return self._call(service, target, body, session, str(session.get("region") or "us-east-1"))

    def _secret_string(self, session: Mapping[str, Any], body: dict[str, Any]) -> tuple[str | None, str]:
        """(SecretString, '') or (None, 'code: message')."""
        status, got = self._aws(session, "secretsmanager", ASM_TARGET, body)
        if status != 200:
            code, message = _error(status, got)
            return None, f"{code}: {message}"
        if "SecretString" not in got:
            return None, f"InvalidRequestException: secret {got.get('ARN')} holds SecretBinary, not SecretString"
        return str(got["SecretString"]), ""

    def _secret(self, session: Mapping[str, Any], ref: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(value, None) or (None, what ECS's stopped reason says about it)."""
        if ref.get("source") == "ssm":
            status, got = self._aws(session, "ssm", SSM_TARGET, {"Names": [ref["ref"]], "WithDecryption": True})
            if status != 200:
                code, message = _error(status, got)
                return None, f"unable to retrieve secrets from ssm: {code}: {message}"
            found = got.get("Parameters") or []
            if not found:
                return None, f"unable to retrieve secrets from ssm: invalid parameters: {ref.get('valueFrom')}"
            return str(found[0].get("Value", "")), None
        body = {"SecretId": ref["ref"]}
        if ref.get("versionId"):
            body["VersionId"] = ref["versionId"]
        if ref.get("versionStage"):
            body["VersionStage"] = ref["versionStage"]
        text, problem = self._secret_string(session, body)
        if text is None:
            return None, f"unable to retrieve secret from asm: {problem}: secret {ref['ref']}"
        key = ref.get("jsonKey")
        if not key:
            return text, None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or key not in doc:
            return None, f"retrieved secret from Secrets Manager did not contain json key {key}: secret {ref['ref']}"
        picked = doc[key]
        return (picked if isinstance(picked, str) else json.dumps(picked)), None

    def _registry_auth(self, session: Mapping[str, Any], ref: str) -> tuple[dict[str, str] | None, str | None]:
        text, problem = self._secret_string(session, {"SecretId": ref})
        if text is None:
            return None, f"unable to retrieve registry auth from asm: {problem}: {ref}"
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, Mapping) or not all(isinstance(doc.get(k), str) for k in ("username", "password")):
            return None, f"registry auth secret {ref} must be JSON with string username and password"
        return {"username": str(doc["username"]), "password": str(doc["password"])}, None
