"""What a task role session may call on this control plane's AWS endpoints: a fixed, read-only grant.

There is no IAM here, so a `taskRoleArn` cannot carry a policy of its own. Every task role gets
the same grant instead, the calls an application commonly makes about its own deployment, and
only for its own cluster:

  ecs: DescribeClusters, DescribeServices, ListServices, DescribeTasks, ListTasks,
       DescribeContainerInstances, ListContainerInstances

`cluster` (or, for DescribeClusters, every entry of `clusters`) must name the task's own cluster,
by name or ARN; omitted means `default`, as in ECS, so a task of another cluster must name its
own. Anything else (every write, task definitions, Application Auto Scaling, CloudWatch Logs, SSM,
Secrets Manager, Elastic Load Balancing) is refused with AccessDeniedException, worded as AWS
words it. A permanent key from `orchestrator credentials create` keeps the admin's rights; an
execution role session gets its own grant (`orchestrator.security.execution_roles`), never those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.context import cluster_name
from orchestrator.core.errors import AccessDeniedException
from orchestrator.core.models import cluster_arn
from orchestrator.security.execution_roles import Resources, authorize_execution
from orchestrator.security.task_credentials import Principal

GRANTED: Mapping[str, frozenset[str]] = {
    "ecs": frozenset(
        {
            "DescribeClusters",
            "DescribeServices",
            "ListServices",
            "DescribeTasks",
            "ListTasks",
            "DescribeContainerInstances",
            "ListContainerInstances",
        }
    ),
}


def _denied(principal: Principal, action: str, resource: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} "
        "(a task role may only describe and list its own cluster's clusters, services, tasks and container "
        "instances here)"
    )


def authorize(
    principal: Principal,
    service: str,
    operation: str,
    body: Mapping[str, Any],
    resources: Resources | None = None,
) -> None:
    """Raise AccessDeniedException unless `principal` may call `operation` of `service` with `body`.
    `resources`: the SSM and Secrets Manager lookups an execution role's grant compares references by
    (without them, references are compared as written)."""
    if principal.is_execution_role:
        authorize_execution(principal, service, operation, body, resources)
        return
    if not principal.is_task_role:
        # Only a permanent key is left: a role session of any other purpose is refused outright.
        if principal.is_role_session:
            raise _denied(principal, f"{service}:{operation}", "*")
        return
    own = str(principal.cluster)
    action = f"{service}:{operation}"
    if operation not in GRANTED.get(service, frozenset()):
        raise _denied(principal, action, cluster_arn(own) if service == "ecs" else "*")
    if operation == "DescribeClusters":
        named = body.get("clusters") or [None]
        clusters = [cluster_name(c) for c in named] if isinstance(named, list) else [cluster_name(named)]
    else:
        clusters = [cluster_name(body.get("cluster"))]
    for cluster in clusters:
        if cluster != own:
            raise _denied(principal, action, cluster_arn(cluster))
