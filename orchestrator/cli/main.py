"""The `orchestrator` command: every verb, grouped as ECS groups its objects."""

from __future__ import annotations

import typer

from orchestrator.cli.autoscale import autoscale_app, svc_metrics
from orchestrator.cli.client import CliError
from orchestrator.cli.credentials import credentials_app
from orchestrator.cli.export import export_app
from orchestrator.cli.output import err_console
from orchestrator.cli.resources import cluster_app, instance_app, task_app, taskdef_app
from orchestrator.cli.run import agent, dev, server
from orchestrator.cli.services import svc_app

cli = typer.Typer(
    help="A local ECS: task definitions, services and tasks on real Docker containers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.command(help="Run the control plane.")(server)
cli.command(help="Run a node agent on this host.")(agent)
cli.command(help="Run a control plane and N agents in one process.")(dev)
cli.add_typer(cluster_app, name="cluster")
cli.add_typer(taskdef_app, name="taskdef")
svc_app.command("metrics")(svc_metrics)
cli.add_typer(svc_app, name="svc")
cli.add_typer(task_app, name="task")
cli.add_typer(instance_app, name="instance")
cli.add_typer(autoscale_app, name="autoscale")
cli.add_typer(credentials_app, name="credentials")
cli.add_typer(export_app, name="export")


def app() -> None:
    try:
        cli()
    except CliError as err:
        err_console.print(f"[red]error:[/red] {err}", highlight=False)
        raise SystemExit(1) from None


if __name__ == "__main__":
    app()
