"""A task definition's `taskRoleArn` checked at registration, and the task role sessions agents fetch.

`taskRoleArn` (a role name or an IAM role ARN) gives the task's containers the container
credentials endpoint AWS SDKs look for: the agent sets `AWS_CONTAINER_CREDENTIALS_FULL_URI`
(`http://127.0.0.1:51679/v2/credentials/<task id>`, served by the agent inside the task's own
network namespace) and `AWS_CONTAINER_AUTHORIZATION_TOKEN`, and serves there the short-lived key
pair `issue_task_credentials` hands it (`orchestrator.security.task_credentials`; what the pair
may call: `orchestrator.security.task_roles`). So the task definition may not set those variables
itself, nor listen on port 51679, and it cannot use the host's network namespace, where the
endpoint's port would be the host's, shared by every host-mode task and process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from orchestrator.core.context import Context
from orchestrator.core.errors import AccessDeniedException, ClientException, InvalidParameterException
from orchestrator.core.models import arn_id
from orchestrator.security.task_credentials import TaskCredentials

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


def check_roles(req: Mapping[str, Any]) -> None:
    role = req.get("taskRoleArn")
    if role in (None, ""):
        return
    if not isinstance(role, str) or not (_ROLE_ARN.fullmatch(role) or (_ROLE_NAME.fullmatch(role) and ":" not in role)):
        raise ClientException(
            f"taskRoleArn {role!r} is not a role name or an IAM role ARN (arn:aws:iam::123456789012:role/NAME)."
        )
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

    def issue_task_credentials(self, instance_arn: str, task_arn: str) -> dict[str, Any]:
        """A fresh task role session for a task placed on the calling agent's instance, while it has not stopped."""
        with self.ctx.store.read() as s:
            task = s.get_task(task_arn)
            td = s.get_task_definition_by_arn(task.taskDefinitionArn) if task is not None else None
        if task is None or task.containerInstanceArn != instance_arn:
            raise AccessDeniedException("An agent may only fetch the credentials of tasks placed on its own instance.")
        if task.lastStatus == "STOPPED" or td is None:
            raise AccessDeniedException(f"Task {arn_id(task_arn)} has stopped; its role's credentials are revoked.")
        role = td.wire().get("taskRoleArn")
        if not role:
            raise InvalidParameterException(f"Task {arn_id(task_arn)} has no taskRoleArn in its task definition.")
        if self.ctx.master_key_path is None:
            raise AccessDeniedException("This control plane has no master key, so it issues no task credentials.")
        issued = TaskCredentials(self.ctx.store, self.ctx.master_key_path, self.ctx.clock).issue(
            task_arn, arn_id(task.clusterArn), str(role)
        )
        return issued.wire()
