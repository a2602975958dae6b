"""`orchestrator token`: join tokens with an expiry, for registering agents; list and revoke them."""

from __future__ import annotations

import time
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.output import Column, Output, OutputOpt, emit, say, table, warn

token_app = typer.Typer(help="Join tokens that let agents register, with an expiry.", no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """`90s`, `30m`, `12h`, `7d` or a number of seconds."""
    text = text.strip().lower()
    factor = _UNITS.get(text[-1:], 0)
    digits = text[:-1] if factor else text
    if not digits.isdigit() or not 0 < len(digits) <= 9 or int(digits) == 0:
        raise CliError(f"--ttl must be like 30m, 12h or 7d (or seconds), got {text!r}")
    return int(digits) * (factor or 1)


def _at(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(epoch))) if epoch else "never"


def _created(data: dict[str, Any]) -> None:
    say(data["joinToken"])
    expires = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data["expiresAt"])))
    warn(f"join token {data['id']}, valid until {expires}; it is shown only now.")


def _listed(data: dict[str, Any]) -> None:
    table(
        [
            Column("ID", lambda t: t["id"]),
            Column("STATE", lambda t: t.get("state", "")),
            Column("EXPIRES", lambda t: _at(t.get("expiresAt"))),
            Column("DESCRIPTION", lambda t: t.get("description", "")),
        ],
        data["joinTokens"],
        empty="No join tokens.",
    )


@token_app.command("create")
def token_create(
    ttl: str = typer.Option("24h", "--ttl", help="How long it may register agents: 30m, 12h, 7d."),
    description: str = typer.Option("", "--description", "-d", help="Who or what it is for."),
    output: Output = OutputOpt,
) -> None:
    """Issue a join token; it is printed once, on stdout."""
    body: dict[str, Any] = {"ttlSeconds": parse_ttl(ttl)}
    if description:
        body["description"] = description
    emit(Client().call("POST", "/v1/tokens", json=body), output, _created)


@token_app.command("list")
def token_list(output: Output = OutputOpt) -> None:
    """Join tokens, their expiry and state; tokens themselves are never shown again."""
    emit(Client().call("GET", "/v1/tokens"), output, _listed)


@token_app.command("revoke")
def token_revoke(token_id: str, output: Output = OutputOpt) -> None:
    """Revoke a join token (`bootstrap` is the data dir's join.token): it registers nothing from now on."""
    emit(
        Client().call("DELETE", f"/v1/tokens/{segment(token_id)}"),
        output,
        lambda d: say(f"revoked {d['joinToken']['id']}"),
    )
