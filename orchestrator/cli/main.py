"""The `orchestrator` command: every verb, grouped as ECS groups its objects.

Exit codes: 0 ok, 1 the request failed, 2 bad usage (a wrong flag, an ambiguous prefix) or a
timeout (`svc update --wait`, a control plane that does not answer). Client commands import only
the CLI's own modules, typer and the standard library; `server`, `agent` and `dev` import the
server, the agent and the Docker SDK when they run.
"""

from __future__ import annotations

import sys

import typer

from orchestrator.cli import config
from orchestrator.cli.autoscale import autoscale_app, svc_metrics
from orchestrator.cli.backup import backup, restore
from orchestrator.cli.client import CliError
from orchestrator.cli.contexts import context_app
from orchestrator.cli.credentials import credentials_app
from orchestrator.cli.exec import task_exec
from orchestrator.cli.export import export_app
from orchestrator.cli.lb import lb_app
from orchestrator.cli.logs import svc_logs, task_logs
from orchestrator.cli.output import set_query, warn
from orchestrator.cli.resources import cluster_app, instance_app, task_app, taskdef_app
from orchestrator.cli.run import agent, dev, server
from orchestrator.cli.secrets import secrets_app
from orchestrator.cli.services import svc_app
from orchestrator.cli.simulate import simulate
from orchestrator.cli.status import status
from orchestrator.cli.token import token_app

cli = typer.Typer(
    help="A local ECS: task definitions, services and tasks on real Docker containers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@cli.callback()
def main(
    server_url: str = typer.Option(
        None, "--server", help="Control plane URL (else ORCH_SERVER, the context's, http://127.0.0.1:8420)."
    ),
    context: str = typer.Option(None, "--context", help="Use this context instead of the current one."),
    query: str = typer.Option(
        None, "--query", help="JMESPath over the JSON answer, as in the aws CLI (may follow the command too)."
    ),
) -> None:
    """A local ECS: task definitions, services and tasks on real Docker containers."""
    config.flag_server = server_url
    config.flag_context = context
    set_query(query)


cli.command(help="The cluster on one screen: zones, instances, services, rollouts, last events.")(status)
cli.command(help="Run the control plane.")(server)
cli.command(help="Run a node agent on this host.")(agent)
cli.command(help="Run a control plane and N agents in one process.")(dev)
cli.command(help="Replay a scenario of many instances through the real control plane on a fake clock.")(simulate)
cli.command(help="Copy the cluster's database to a file, also while the control plane runs.")(backup)
cli.command(help="Replace the cluster's database with a backup (the control plane stopped).")(restore)
cli.add_typer(cluster_app, name="cluster")
cli.add_typer(taskdef_app, name="taskdef")
svc_app.command("metrics")(svc_metrics)
svc_app.command("logs")(svc_logs)
task_app.command("logs")(task_logs)
cli.add_typer(svc_app, name="svc")
task_app.command("exec")(task_exec)
cli.add_typer(task_app, name="task")
cli.add_typer(instance_app, name="instance")
cli.add_typer(autoscale_app, name="autoscale")
cli.add_typer(credentials_app, name="credentials")
cli.add_typer(export_app, name="export")
cli.add_typer(context_app, name="context")
cli.add_typer(lb_app, name="lb")
cli.add_typer(secrets_app, name="secrets")
cli.add_typer(token_app, name="token")


def lift_global_options(argv: list[str]) -> list[str]:
    """`--query` is global, as in the aws CLI: wherever it is given, hand it to the root command."""
    lifted: list[str] = []
    rest: list[str] = []
    k = 0
    while k < len(argv):
        arg = argv[k]
        if arg == "--":
            rest += argv[k:]
            break
        if arg == "--query" and k + 1 < len(argv):
            lifted += [arg, argv[k + 1]]
            k += 2
            continue
        if arg.startswith("--query="):
            lifted.append(arg)
        else:
            rest.append(arg)
        k += 1
    return lifted + rest


def app() -> None:
    try:
        cli(args=lift_global_options(sys.argv[1:]), prog_name="orchestrator")
    except CliError as err:
        warn(f"error: {err}")
        raise SystemExit(err.code) from None


if __name__ == "__main__":
    app()
