"""Shell completion from the running cluster: service names, task ids and instance names.

`orchestrator --install-completion` installs it for bash, zsh or fish. Each completer asks the
control plane with a short timeout and completes nothing (never an error) when it cannot reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

TIMEOUT_S = 2.0


def _cluster(ctx: typer.Context) -> str:
    from orchestrator.cli.config import default_cluster

    value = ctx.params.get("cluster")
    return value if isinstance(value, str) and value else default_cluster()


def _safely(fetch: Callable[[Any, str], list[str]], ctx: typer.Context, incomplete: str) -> list[str]:
    from orchestrator.cli.client import Client, CliError

    try:
        client = Client(timeout=TIMEOUT_S)
        return sorted(v for v in fetch(client, _cluster(ctx)) if v.startswith(incomplete))
    except (CliError, KeyError, OSError):
        return []


def _services(client: Any, cluster: str) -> list[str]:
    from orchestrator.cli.client import segment

    return [s["serviceName"] for s in client.call("GET", f"/v1/clusters/{segment(cluster)}/services")["services"]]


def _tasks(client: Any, cluster: str) -> list[str]:
    from orchestrator.cli.resolve import task_ids

    return task_ids(client, cluster)


def _instances(client: Any, cluster: str) -> list[str]:
    from orchestrator.cli.resolve import instance_name, instances, last

    return [instance_name(i) or last(i["containerInstanceArn"]) for i in instances(client, cluster)]


def services(ctx: typer.Context, incomplete: str) -> list[str]:
    return _safely(_services, ctx, incomplete)


def tasks(ctx: typer.Context, incomplete: str) -> list[str]:
    return _safely(_tasks, ctx, incomplete)


def instances(ctx: typer.Context, incomplete: str) -> list[str]:
    return _safely(_instances, ctx, incomplete)


TaskArg = typer.Argument(..., help="Task id, unique id prefix or ARN.", autocompletion=tasks)
InstanceArg = typer.Argument(
    ..., help="Instance name (agent-1), id, unique id prefix or ARN.", autocompletion=instances
)
ServiceArg = typer.Argument(..., help="Service name or ARN.", autocompletion=services)
