"""What an execution role session may call on this control plane's AWS endpoints: its task's own secrets, read only.

On ECS the execution role is what the agent acts as to fetch a task's secrets and registry
credentials. There is no IAM here, so the role carries no policy of its own; its grant is the
task definition itself, fixed when the session is issued (`ExecutionGrant`):

  ssm: GetParameters, GetParameter  for the parameters some container's `secrets` names
  secretsmanager: GetSecretValue    for the secrets some container's `secrets` or
                                    `repositoryCredentials.credentialsParameter` names

A request's reference is compared with the grant's the way the SSM and Secrets Manager
operations look them up (`Resources`, which the operations implement): both sides resolved to the
parameter or secret they name, so a parameter granted by name may be read by ARN and a secret
granted by full ARN may be read by name or by ARN without its suffix. A reference that names
nothing yet is compared as written (leading `/`, version selector and ARN prefix aside), so the
caller learns "not found" only for what it was granted. Once the task is stopping nothing more is
read. Everything else, every write and every other service, is refused with AccessDeniedException
worded as AWS words it. An execution role never gets the admin's rights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from orchestrator.core.errors import AccessDeniedException
from orchestrator.core.models import arn_prefix, cluster_arn
from orchestrator.security.task_credentials import ExecutionGrant, Principal

SSM_READS = frozenset({"GetParameters", "GetParameter"})
ASM_READS = frozenset({"GetSecretValue"})
_WHY = (
    "(an execution role may only read the SSM parameters and Secrets Manager secrets its task definition names, "
    "while the task has not stopped)"
)


class Resources(Protocol):
    """The lookups of the SSM and Secrets Manager operations, for comparing references as they resolve them."""

    def parameter_key(self, ref: str) -> str | None:
        """The stored name a parameter name or ARN (with or without a version) resolves to, or None."""

    def secret_arn(self, secret_id: str) -> str | None:
        """The ARN of the secret a SecretId (name, full ARN or ARN without its suffix) resolves to, or None."""


def denied(principal: Principal, action: str, resource: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {_WHY}"
    )


def _parameter_name(ref: str) -> str:
    """A parameter name or ARN, without its ARN prefix, version selector or leading `/`."""
    name = ref.split(":parameter/", 1)[1] if ref.startswith("arn:") and ":parameter/" in ref else ref
    head, colon, tail = name.rpartition(":")
    if colon and tail.isdigit():
        name = head
    return name.lstrip("/")


def parameter_resource(ref: str) -> str:
    return f"{arn_prefix('ssm')}:parameter/{_parameter_name(ref)}"


def _secret_written(secret_id: str) -> str:
    return secret_id if secret_id.startswith("arn:") else f"{arn_prefix('secretsmanager')}:secret:{secret_id}"


def _names_one_of(
    ref: str, granted: Iterable[str], resolve: Callable[[str], str | None] | None, written: Callable[[str], str]
) -> bool:
    """Whether `ref` names one of `granted`: by what both resolve to where the lookup knows `ref`,
    else as written."""
    if resolve is not None:
        key = resolve(ref)
        if key is not None:
            return key in {resolve(g) for g in granted}
    return written(ref) in {written(g) for g in granted}


def _may_read_parameter(grant: ExecutionGrant, ref: str, resources: Resources | None) -> bool:
    return _names_one_of(ref, grant.parameters, resources.parameter_key if resources else None, _parameter_name)


def _may_read_secret(grant: ExecutionGrant, secret_id: str, resources: Resources | None) -> bool:
    return _names_one_of(secret_id, grant.secrets, resources.secret_arn if resources else None, _secret_written)


def _strings(value: Any) -> Iterable[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def authorize_execution(
    principal: Principal, service: str, operation: str, body: Mapping[str, Any], resources: Resources | None
) -> None:
    """Raise AccessDeniedException unless the execution role session may call `operation` with `body`."""
    grant = principal.grant or ExecutionGrant()
    action = f"{service}:{operation}"
    if service == "ssm" and operation in SSM_READS:
        refs = _strings(body.get("Names") if operation == "GetParameters" else body.get("Name"))
        for ref in refs or []:  # a malformed request reads nothing: the operation refuses it by name
            if principal.stopping or not _may_read_parameter(grant, ref, resources):
                raise denied(principal, action, parameter_resource(ref))
        return
    if service == "secretsmanager" and operation in ASM_READS:
        secret_id = body.get("SecretId")
        if (
            isinstance(secret_id, str)
            and secret_id
            and (principal.stopping or not _may_read_secret(grant, secret_id, resources))
        ):
            resolved = resources.secret_arn(secret_id) if resources is not None else None
            raise denied(principal, action, resolved or _secret_written(secret_id))
        return
    raise denied(principal, action, cluster_arn(str(principal.cluster)) if service == "ecs" else "*")
