"""`orchestrator credentials`: issue, list and revoke access key pairs for the ECS-compatible endpoint."""

from __future__ import annotations

from typing import Any

import typer

from orchestrator.cli.client import Client
from orchestrator.cli.output import Output, console, emit, table, when
from orchestrator.cli.resources import OutputOpt

credentials_app = typer.Typer(
    help="Access key pairs for the ECS-compatible endpoint (aws CLI, boto3).", no_args_is_help=True
)


def _created(data: dict[str, Any]) -> None:
    console.print(f"access key id:     {data['accessKeyId']}", highlight=False)
    console.print(f"secret access key: {data['secretAccessKey']}", highlight=False)
    console.print("The secret is shown only now; store it (e.g. `aws configure --profile local`).", style="dim")


def _listed(data: dict[str, Any]) -> None:
    table(
        "Access keys",
        ["access key id", "created", "description"],
        [[k["accessKeyId"], when(k.get("createdAt")), k.get("description", "")] for k in data["credentials"]],
    )


def _revoked(data: dict[str, Any]) -> None:
    console.print(f"revoked {data['credential']['accessKeyId']}", highlight=False)


@credentials_app.command("create")
def credentials_create(
    description: str = typer.Option("", "--description", "-d", help="A note on who or what uses the pair."),
    output: Output = OutputOpt,
) -> None:
    """Issue a new pair; `-o json` prints accessKeyId and secretAccessKey."""
    body = {"description": description} if description else {}
    emit(Client().call("POST", "/v1/credentials", json=body), output, _created)


@credentials_app.command("list")
def credentials_list(output: Output = OutputOpt) -> None:
    """Access key ids and when they were created; secrets are never shown again."""
    emit(Client().call("GET", "/v1/credentials"), output, _listed)


@credentials_app.command("revoke")
def credentials_revoke(access_key_id: str, output: Output = OutputOpt) -> None:
    """Revoke a pair: requests signed with it are refused from now on."""
    emit(Client().call("DELETE", f"/v1/credentials/{access_key_id}"), output, _revoked)
