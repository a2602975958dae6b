"""A task definition's `taskRoleArn` checked at registration, and the task role sessions agents fetch.

`taskRoleArn` (a role name or an IAM role ARN) gives the task's containers the container
credentials endpoint AWS SDKs look for: the agent sets `AWS_CONTAINER_CREDENTIALS_FULL_URI`
(`http://127.0.0.1:51679/v2/credentials/<task id>`, served by the agent inside the task's own
network namespace) and `AWS_CONTAINER_AUTHORIZATION_TOKEN`, and serves there the short-lived key
pair `issue_task_credentials` hands it (`orchestrator.security.task_credentials`; what the pair
may call: `orchestrator.security.task_roles`). So the task definition may not set those variables
itself, nor listen on port 51679, and it cannot use the host's network namespace, where the
endpoint's port would be the host's, shared by every host-mode task and process.

`executionRoleArn` (a role name or an IAM role ARN too, any network mode: the agent acts as it,
not the containers) is what the task's agent acts as when it reads the task's secrets and
registry credentials from this control plane's SSM and Secrets Manager endpoints, and the key its
log streams carry (`orchestrator.operations.logs`). `issue_execution_credentials` hands the agent
a session of it, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/TASK_ID`, whose grant is the references
the task definition makes (`orchestrator.security.execution_roles`), with those references
parsed, so the agent need not know ECS's `valueFrom` grammar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from orchestrator.core.context import Context
from orchestrator.core.errors import AccessDeniedException, ClientException, InvalidParameterException
from orchestrator.core.models import Task, TaskDefinition, arn_id, region
from orchestrator.operations.secrets import ASM, parse_value_from
from orchestrator.security.task_credentials import EXECUTION_ROLE, ExecutionGrant, TaskCredentials

log = structlog.get_logger("orchestrator.operations.taskdef_roles")

ENDPOINT_PORT = 51679  # the ECS agent's credentials port, inside the task's network namespace here
SDK_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",  # botocore prefers it to FULL_URI: it would shadow ours
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",  # and this one to the token
)
_ROLE_NAME = re.compile(r"[\w+=,.@/-]{1,512}")
_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def _check_role(member: str, role: Any) -> None:
    if not isinstance(role, str) or not (_ROLE_ARN.fullmatch(role) or (_ROLE_NAME.fullmatch(role) and ":" not in role)):
        raise ClientException(
            f"{member} {role!r} is not a role name or an IAM role ARN (arn:aws:iam::123456789012:role/NAME)."
        )


def check_roles(req: Mapping[str, Any]) -> None:
    execution = req.get("executionRoleArn")
    if execution not in (None, ""):
        _check_role("executionRoleArn", execution)
    role = req.get("taskRoleArn")
    if role in (None, ""):
        return
    _check_role("taskRoleArn", role)
    if req.get("networkMode") == "host":
        raise ClientException(
            "taskRoleArn with networkMode host is not supported: the credentials endpoint listens on "
            f"127.0.0.1:{ENDPOINT_PORT} in the task's own network namespace, and a host-mode task has none; use "
            "bridge (the default) or give the task its credentials another way."
        )
    for i, c in enumerate(req.get("containerDefinitions") or []):
        where = f"containerDefinitions[{i}]"
        names = [str((e or {}).get("name")) for e in c.get("environment") or []]
        names += [str((s or {}).get("name")) for s in c.get("secrets") or []]
        for name in names:
            if name in SDK_VARIABLES:
                raise ClientException(
                    f"{where}: {name} is set by the agent for a task with taskRoleArn (the task role's "
                    "credentials endpoint); remove it from environment and secrets."
                )
        for j, pm in enumerate(c.get("portMappings") or []):
            if (pm or {}).get("containerPort") == ENDPOINT_PORT:
                raise ClientException(
                    f"{where}.portMappings[{j}].containerPort {ENDPOINT_PORT} is where a task with taskRoleArn "
                    "finds its credentials endpoint (as on ECS, port 51679 is reserved); listen on another port."
                )


class TaskRoleOps:
    ctx: Context

    def _role_task(self, instance_arn: str, task_arn: str, member: str) -> tuple[Task, dict[str, Any], str]:
        """The task, its definition and its `member` role, for the agent it is placed on, while it has not stopped."""
        with self.ctx.store.read() as s:
            task = s.get_task(task_arn)
            td: TaskDefinition | None = s.get_task_definition_by_arn(task.taskDefinitionArn) if task else None
        if task is None or task.containerInstanceArn != instance_arn:
            raise AccessDeniedException("An agent may only fetch the credentials of tasks placed on its own instance.")
        if task.lastStatus == "STOPPED" or td is None:
            raise AccessDeniedException(f"Task {arn_id(task_arn)} has stopped; its role's credentials are revoked.")
        wire = td.wire()
        role = wire.get(member)
        if not role:
            raise InvalidParameterException(f"Task {arn_id(task_arn)} has no {member} in its task definition.")
        if self.ctx.master_key_path is None:
            raise AccessDeniedException("This control plane has no master key, so it issues no task credentials.")
        return task, wire, str(role)

    def issue_task_credentials(self, instance_arn: str, task_arn: str) -> dict[str, Any]:
        """A fresh task role session for a task placed on the calling agent's instance, while it has not stopped."""
        task, _, role = self._role_task(instance_arn, task_arn, "taskRoleArn")
        assert self.ctx.master_key_path is not None
        issued = TaskCredentials(self.ctx.store, self.ctx.master_key_path, self.ctx.clock).issue(
            task_arn, arn_id(task.clusterArn), role
        )
        return issued.wire()

    def issue_execution_credentials(self, instance_arn: str, task_arn: str) -> dict[str, Any]:
        """A fresh execution role session for a task placed on the calling agent's instance, while it has not
        stopped, with the task's secret references parsed (per container) and the region to sign for."""
        task, wire, role = self._role_task(instance_arn, task_arn, "executionRoleArn")
        assert self.ctx.master_key_path is not None
        containers, parameters, secrets = execution_references(wire)
        issued = TaskCredentials(self.ctx.store, self.ctx.master_key_path, self.ctx.clock).issue(
            task_arn, arn_id(task.clusterArn), role, EXECUTION_ROLE, ExecutionGrant(parameters, secrets)
        )
        return {**issued.wire(), "region": region(), "containers": containers}


def execution_references(td: Mapping[str, Any]) -> tuple[list[dict[str, Any]], tuple[str, ...], tuple[str, ...]]:
    """Each container's secret references, parsed as ECS parses `valueFrom`, and the parameters and
    secrets they name (the execution role's grant). Registration has checked every reference."""
    containers: list[dict[str, Any]] = []
    parameters: dict[str, None] = {}
    secrets: dict[str, None] = {}
    for cdef in td.get("containerDefinitions") or []:
        refs = []
        for s in cdef.get("secrets") or []:
            ref = parse_value_from(s.get("valueFrom"))
            (secrets if ref.source == ASM else parameters)[ref.ref] = None
            refs.append(
                {
                    "name": s["name"],
                    "valueFrom": s["valueFrom"],
                    "source": ref.source,
                    "ref": ref.ref,
                    "jsonKey": ref.json_key,
                    "versionStage": ref.version_stage,
                    "versionId": ref.version_id,
                }
            )
        entry: dict[str, Any] = {"name": cdef["name"], "secrets": refs}
        creds = (cdef.get("repositoryCredentials") or {}).get("credentialsParameter")
        if creds:
            secrets[str(creds)] = None
            entry["repositoryCredentials"] = {"ref": str(creds)}
        containers.append(entry)
    return containers, tuple(parameters), tuple(secrets)
