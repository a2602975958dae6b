"""`orchestrator secrets`: put, list and delete the control plane's SecureString parameters.

A value is read from a file (`--from-file`, exactly as it is), from stdin when it is not a
terminal (one trailing newline dropped, so `echo pw | ...` stores `pw`), or from a hidden prompt;
`--value` exists for scripts but lands in shell history, so it is the last resort. Nothing here
prints a value: the stored parameters are the SSM parameter store's, readable through
`aws ssm get-parameter --with-decryption`, and reach tasks through their `secrets`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.client import EXIT_USAGE, Client, CliError, segment
from orchestrator.cli.output import Column, Output, OutputOpt, emit, say, table, when

secrets_app = typer.Typer(
    help="Secrets for tasks: SecureString parameters a task definition's secrets name in valueFrom.",
    no_args_is_help=True,
)


def _read_value(from_file: Path | None, value: str | None) -> str:
    if from_file is not None and value is not None:
        raise CliError("give --from-file or --value, not both", EXIT_USAGE)
    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CliError(f"cannot read {from_file}: {err}", EXIT_USAGE) from None
    if value is not None:
        return value
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return str(typer.prompt("value", hide_input=True, confirmation_prompt=True))


@secrets_app.command("put")
def secrets_put(
    name: str = typer.Argument(..., help="The parameter name, e.g. db-pass or /app/db-pass."),
    from_file: Path = typer.Option(None, "--from-file", "-f", help="Read the value from this file, as it is."),
    value: str = typer.Option(
        None, "--value", help="The value itself (lands in your shell history: prefer --from-file or stdin)."
    ),
    description: str = typer.Option("", "--description", "-d", help="A note on what the secret is for."),
    no_overwrite: bool = typer.Option(False, "--no-overwrite", help="Fail if the secret exists already."),
    output: Output = OutputOpt,
) -> None:
    """Store a secret (a SecureString parameter), a new version if it exists; the value is never printed."""
    text = _read_value(from_file, value)
    if not text:
        raise CliError("the value is empty; a parameter needs a value", EXIT_USAGE)
    body: dict[str, Any] = {"name": name, "value": text, "overwrite": not no_overwrite}
    if description:
        body["description"] = description
    emit(Client().call("POST", "/v1/secrets", json=body), output, lambda d: say(f"{d['name']}: version {d['version']}"))


def _listed(data: dict[str, Any]) -> None:
    table(
        [
            Column("NAME", lambda p: p["Name"]),
            Column("TYPE", lambda p: p["Type"]),
            Column("VERSION", lambda p: p["Version"]),
            Column("MODIFIED", lambda p: when(p.get("LastModifiedDate"))),
            Column("DESCRIPTION", lambda p: p.get("Description", "")),
        ],
        data["Parameters"],
        empty="No secrets.",
    )


@secrets_app.command("list")
def secrets_list(output: Output = OutputOpt) -> None:
    """Every parameter: names, types and versions, never values."""
    emit(Client().call("GET", "/v1/secrets"), output, _listed)


@secrets_app.command("delete")
def secrets_delete(name: str, output: Output = OutputOpt) -> None:
    """Delete a parameter; a task that names it afterwards stops with ResourceInitializationError."""
    emit(Client().call("DELETE", f"/v1/secrets/{segment(name)}"), output, lambda d: say(f"deleted {d['name']}"))
