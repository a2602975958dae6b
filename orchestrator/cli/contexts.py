"""`orchestrator context add|use|list|remove`: named control planes, like kubectl's contexts.

The file and the order in which flags, ORCH_* variables and the context apply are in
`orchestrator/cli/config.py`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli import config
from orchestrator.cli.client import CliError
from orchestrator.cli.output import Column, Output, OutputOpt, emit, say, table

context_app = typer.Typer(
    help="Named control planes (server URL, token, default cluster); the current one is used by default.",
    no_args_is_help=True,
)


def add_context(
    name: str, server: str, token: str | None, token_file: str | None, cluster: str | None, use: bool
) -> Path:
    """Add or replace a context (and make it current when `use`); returns the config file's path."""
    if not name.strip() or any(c.isspace() for c in name):
        raise CliError(f"Context name {name!r}: use a single word, e.g. dev or prod.", code=2)
    data = config.load()
    entry = config.Ctx(name, server.rstrip("/"), token, token_file, cluster).as_json()
    data["contexts"][name] = entry
    if use or not data.get("current"):
        data["current"] = name
    return config.save(data)


@context_app.command("add")
def context_add(
    name: str,
    server: str = typer.Option(..., "--server", "-s", help="Control plane URL, e.g. http://10.0.0.5:8420."),
    token: str = typer.Option(None, "--token", help="The admin token itself (stored in the file, mode 0600)."),
    token_file: Path = typer.Option(None, "--token-file", help="A file holding it, e.g. DATA_DIR/admin.token."),
    cluster: str = typer.Option(None, "--cluster", "-c", help="Default cluster for commands in this context."),
    use: bool = typer.Option(False, "--use", help="Make it the current context too."),
) -> None:
    """Add (or replace) a context; the first one added becomes current."""
    if token and token_file:
        raise CliError("Give --token or --token-file, not both.", code=2)
    path = add_context(name, server, token, str(token_file.resolve()) if token_file else None, cluster, use)
    current = config.load()["current"]
    say(f"context {name} saved in {path}" + (f"; current context: {current}" if current else ""))


@context_app.command("use")
def context_use(name: str) -> None:
    """Make NAME the current context."""
    data = config.load()
    config.context_named(data, name)
    data["current"] = name
    config.save(data)
    say(f"current context: {name}")


@context_app.command("list")
def context_list(output: Output = OutputOpt) -> None:
    """Every context; `*` marks the current one. Tokens are never printed."""
    data = config.load()
    items = [
        {"name": name, "current": name == data.get("current"), **{k: v for k, v in raw.items() if k != "token"}}
        | ({"token": "(stored)"} if raw.get("token") else {})
        for name, raw in sorted(data["contexts"].items())
    ]
    emit(
        {"current": data.get("current"), "contexts": items},
        output,
        lambda d: table(
            [
                Column("CURRENT", lambda c: "*" if c["current"] else " "),
                Column("NAME", lambda c: c["name"]),
                Column("SERVER", lambda c: c.get("server")),
                Column("CLUSTER", lambda c: c.get("cluster") or config.DEFAULT_CLUSTER),
                Column("TOKEN", lambda c: c.get("tokenFile") or c.get("token")),
            ],
            d["contexts"],
            empty=f"No contexts yet ({config.config_path()}); add one: `orchestrator context add NAME --server URL`.",
        ),
    )


@context_app.command("remove")
def context_remove(name: str) -> None:
    """Forget a context."""
    data = config.load()
    config.context_named(data, name)
    del data["contexts"][name]
    if data.get("current") == name:
        data["current"] = None
    config.save(data)
    say(f"context {name} removed")
