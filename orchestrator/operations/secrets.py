"""A task's `secrets` and `repositoryCredentials`: checked at registration, resolved when the task starts.

`valueFrom` is, as in ECS, an SSM parameter name (this region), an SSM parameter ARN, or a Secrets
Manager secret ARN (full, or without the random suffix) optionally followed by
`:json-key:version-stage:version-id`, any part left empty for its default (the whole SecretString,
AWSCURRENT). `parse_value_from` is that grammar, pure. `resolve_task_secrets` is what a task's own
agent calls, over its own credential, as it starts the task: the values, per container, go back
in that one response and nowhere else (not into the task, its events or any log). A reference
that does not resolve stops the task with ECS's reason, `ResourceInitializationError: unable to
pull secrets or registry auth: ...`, naming the reference, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.core.errors import AccessDeniedException, ApiError, ClientException
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import arn_id
from orchestrator.operations.common import Context
from orchestrator.operations.parameters import ParameterStoreOps, ValidationException, check_name
from orchestrator.operations.secrets_manager import SecretsManagerOps

log = structlog.get_logger("orchestrator.operations.secrets")

SSM, ASM = "ssm", "secretsmanager"
REASON_PREFIX = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed"
)
MAX_SECRETS = 100


class ResourceInitializationError(ApiError):
    """What the agent hears when a task's secrets cannot be resolved; the task is stopped already."""

    code = "ResourceInitializationError"
    rest_status = 409


@dataclass(frozen=True)
class SecretRef:
    source: str  # SSM or ASM
    ref: str  # the parameter name or ARN; the secret's ARN without the json-key suffix
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None


def parse_value_from(value_from: Any) -> SecretRef:
    """ECS's `valueFrom` grammar; raises ValueError with what is wrong."""
    if not isinstance(value_from, str) or not value_from:
        raise ValueError("valueFrom is required: a parameter name, a parameter ARN or a Secrets Manager secret ARN")
    if not value_from.startswith("arn:"):
        try:
            check_name(value_from, "valueFrom")
        except ValidationException as err:
            raise ValueError(err.message.rstrip(".")) from None
        return SecretRef(SSM, value_from)
    parts = value_from.split(":")
    if len(parts) < 6 or not parts[1] or not parts[2]:
        raise ValueError(f"valueFrom {value_from!r} is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)")
    service = parts[2]
    if service == SSM:
        resource = ":".join(parts[5:])
        if not resource.startswith("parameter/") or len(resource) == len("parameter/"):
            raise ValueError(f"valueFrom {value_from!r}: an SSM ARN must name a parameter (...:parameter/NAME)")
        return SecretRef(SSM, value_from)
    if service == ASM:
        if parts[5] != "secret" or len(parts) < 7 or not parts[6]:
            raise ValueError(f"valueFrom {value_from!r}: a Secrets Manager ARN must name a secret (...:secret:NAME)")
        if len(parts) > 10:
            raise ValueError(
                f"valueFrom {value_from!r} has too many parts: after the secret come at most "
                ":json-key:version-stage:version-id"
            )
        extra = [p or None for p in parts[7:]] + [None] * (10 - len(parts))
        json_key, stage, version_id = extra
        if stage and version_id:
            raise ValueError(f"valueFrom {value_from!r}: give a version-stage or a version-id, not both")
        return SecretRef(ASM, ":".join(parts[:7]), json_key, stage, version_id)
    raise ValueError(f"valueFrom {value_from!r}: only ssm and secretsmanager ARNs can hold a secret")


def check_secret_members(containers: list[Any]) -> None:
    """Registration's checks of each container's `secrets` and `repositoryCredentials` (shapes and references)."""
    for i, c in enumerate(containers):
        where = f"containerDefinitions[{i}]"
        secrets = c.get("secrets")
        if secrets is not None:
            if not isinstance(secrets, list) or len(secrets) > MAX_SECRETS:
                raise ClientException(f"{where}.secrets must be a list of at most {MAX_SECRETS} {{name, valueFrom}}.")
            env = {e.get("name") for e in c.get("environment") or [] if isinstance(e, dict)}
            seen: set[str] = set()
            for j, s in enumerate(secrets):
                at = f"{where}.secrets[{j}]"
                if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
                    raise ClientException(f"{at}.name is required: the environment variable the value is put in.")
                if s["name"] in seen:
                    raise ClientException(f"{at}.name {s['name']} is given twice in secrets.")
                if s["name"] in env:
                    raise ClientException(
                        f"{at}.name {s['name']} is also in environment; a variable comes from one or the other."
                    )
                seen.add(s["name"])
                try:
                    parse_value_from(s.get("valueFrom"))
                except ValueError as err:
                    raise ClientException(f"{at}.{err}.") from None
        creds = c.get("repositoryCredentials")
        if creds is not None:
            param = creds.get("credentialsParameter") if isinstance(creds, dict) else None
            if not isinstance(param, str) or not param:
                raise ClientException(
                    f"{where}.repositoryCredentials.credentialsParameter is required: the ARN or name of a Secrets "
                    'Manager secret holding {"username", "password"}.'
                )
            if param.startswith("arn:") and parse_value_from(param).source != ASM:
                raise ClientException(
                    f"{where}.repositoryCredentials.credentialsParameter must be a Secrets Manager secret."
                )


class TaskSecretOps(ParameterStoreOps, SecretsManagerOps):
    """The parameter store and Secrets Manager, and what a starting task takes from them."""

    ctx: Context

    def resolve_task_secrets(self, instance_arn: str, task_arn: str) -> dict[str, Any]:
        """The secret environment and registry credentials of each container of the task, for its agent only."""
        with self.ctx.store.read() as s:
            task = s.get_task(task_arn)
            if task is None or task.containerInstanceArn != instance_arn:
                raise AccessDeniedException("An agent may only read the secrets of tasks placed on its own instance.")
            td = s.get_task_definition_by_arn(task.taskDefinitionArn)
        if task.desiredStatus == "STOPPED" or td is None:
            raise ResourceInitializationError(f"task {arn_id(task_arn)} is stopping; its secrets are not handed out.")
        out, problems = [], []
        for cdef in td.wire()["containerDefinitions"]:
            env: dict[str, str] = {}
            for s in cdef.get("secrets") or []:
                value, problem = self._tasksec_resolve(s["valueFrom"])
                if problem:
                    problems.append(problem)
                else:
                    env[s["name"]] = str(value)
            entry: dict[str, Any] = {"name": cdef["name"], "secrets": env}
            creds = (cdef.get("repositoryCredentials") or {}).get("credentialsParameter")
            if creds:
                auth, problem = self._tasksec_registry_auth(creds)
                if problem:
                    problems.append(problem)
                else:
                    entry["repositoryCredentials"] = auth
            out.append(entry)
        if problems:
            reason = f"{REASON_PREFIX}: {'; '.join(dict.fromkeys(problems))}"
            with self.ctx.store.write() as w:
                fresh = w.get_task(task_arn)
                if fresh is not None and stop_task_row(fresh, self.ctx.clock.now(), "TaskFailedToStart", reason):
                    w.update_task(fresh)
            log.info("task secrets did not resolve", task=arn_id(task_arn), reason=reason)
            raise ResourceInitializationError(reason)
        log.info("task secrets resolved", task=arn_id(task_arn), count=sum(len(e["secrets"]) for e in out))
        return {"containers": out}

    def _tasksec_resolve(self, value_from: str) -> tuple[str | None, str | None]:
        """(value, None) or (None, what ECS's stopped reason says about it)."""
        try:
            ref = parse_value_from(value_from)
        except ValueError as err:
            return None, str(err)
        if ref.source == SSM:
            value = self.parameter_value(ref.ref)
            if value is None:
                return None, f"unable to retrieve secrets from ssm: invalid parameters: {value_from}"
            return value, None
        try:
            text = self.secret_value(ref.ref, ref.version_id, ref.version_stage)
        except ApiError as err:
            return None, f"unable to retrieve secret from asm: {err.code}: {err.message.rstrip('.')}: secret {ref.ref}"
        if ref.json_key is None:
            return text, None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or ref.json_key not in doc:
            return None, (
                f"retrieved secret from Secrets Manager did not contain json key {ref.json_key}: secret {ref.ref}"
            )
        picked = doc[ref.json_key]
        return (picked if isinstance(picked, str) else json.dumps(picked)), None

    def _tasksec_registry_auth(self, param: str) -> tuple[dict[str, str] | None, str | None]:
        try:
            text = self.secret_value(param, None, None)
        except ApiError as err:
            return None, f"unable to retrieve registry auth from asm: {err.code}: {err.message.rstrip('.')}: {param}"
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, Mapping) or not all(isinstance(doc.get(k), str) for k in ("username", "password")):
            return None, f"registry auth secret {param} must be JSON with string username and password"
        return {"username": str(doc["username"]), "password": str(doc["password"])}, None
