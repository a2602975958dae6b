"""`orchestrator credentials`: issue, list and revoke access key pairs for the ECS-compatible endpoint."""

from __future__ import annotations

from typing import Any

import typer

from orchestrator.cli.client import Client, segment
from orchestrator.cli.output import Column, Output, OutputOpt, emit, say, table, when

credentials_app = typer.Typer(
    help="Access key pairs for the ECS-compatible endpoint (aws CLI, boto3).", no_args_is_help=True
)


def _created(data: dict[str, Any]) -> None:
    say(f"access key id:     {data['accessKeyId']}")
    say(f"secret access key: {data['secretAccessKey']}")
    say("The secret is shown only now; store it (e.g. `aws configure --profile local`).")


def _listed(data: dict[str, Any]) -> None:
    table(
        [
            Column("ACCESS KEY ID", lambda k: k["accessKeyId"]),
            Column("CREATED", lambda k: when(k.get("createdAt"))),
            Column("DESCRIPTION", lambda k: k.get("description", "")),
        ],
        data["credentials"],
        empty="No access keys.",
    )


def _revoked(data: dict[str, Any]) -> None:
    say(f"revoked {data['credential']['accessKeyId']}")


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
    emit(Client().call("DELETE", f"/v1/credentials/{segment(access_key_id)}"), output, _revoked)
