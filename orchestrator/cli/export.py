"""`orchestrator export kubernetes SERVICE...`: services as Kubernetes objects, printed as YAML or JSON.

Fetches what the translation needs over the REST API (DescribeServices, DescribeTaskDefinition,
the scalable target and the scaling policies) and hands it to `orchestrator.export.kubernetes`,
which is imported only when the command runs: the `kubernetes` package takes most of a second to
import, and every other command must stay quick to start.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.cli.client import Client, CliError
from orchestrator.cli.resolve import ClusterOpt

if TYPE_CHECKING:
    from orchestrator.export.kubernetes import ServiceInput

export_app = typer.Typer(help="Export services to other orchestrators (Kubernetes).", no_args_is_help=True)


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


def _task_definition_ref(arn: str) -> str:
    """family:revision from a task definition ARN (an ARN's '/' cannot go in the URL path)."""
    return arn.split(":task-definition/", 1)[-1]


def fetch(client: Client, cluster: str, name: str) -> ServiceInput:
    """Everything the export reads about one service, as the APIs return it."""
    from orchestrator.export.kubernetes import ServiceInput

    base = f"/v1/clusters/{cluster}/services/{name}"
    described = client.call("GET", base)
    services = described.get("services") or []
    if not services:
        reasons = ", ".join(f.get("reason", "") for f in described.get("failures") or []) or "MISSING"
        raise CliError(f"Service {name} not found in cluster {cluster} ({reasons}).")
    service: dict[str, Any] = services[0]
    if service.get("status") != "ACTIVE":
        raise CliError(f"Service {name} is {service.get('status')}: only ACTIVE services are exported.")
    td = client.call("GET", f"/v1/task-definitions/{_task_definition_ref(service['taskDefinition'])}")
    targets = client.call("GET", f"{base}/scalable-target").get("ScalableTargets") or []
    policies = client.call("GET", f"{base}/scaling-policies").get("ScalingPolicies") or []
    return ServiceInput(
        service=service,
        task_definition=td["taskDefinition"],
        scalable_target=targets[0] if targets else None,
        scaling_policies=tuple(policies),
    )


@export_app.command("kubernetes")
def kubernetes(
    services: list[str] = typer.Argument(..., help="Service names (one or more)."),
    output: Format = typer.Option(Format.yaml, "--output", "-o", help="yaml (multi-document) or json (a v1 List)."),
    cluster: str = ClusterOpt,
) -> None:
    """A Deployment, a Service and a HorizontalPodAutoscaler per service; what does not translate is listed."""
    client = Client()
    inputs = [fetch(client, cluster, name) for name in dict.fromkeys(services)]
    from orchestrator.export import kubernetes as k8s_export

    exports = k8s_export.export_services(inputs)
    text = k8s_export.render_yaml(exports) if output == Format.yaml else k8s_export.render_json(exports)
    print(text, end="")
