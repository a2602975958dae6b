"""CLI verbs for services: create, list, describe, update (with a live rollout view), delete, events."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.cli.client import CliError, Client
from orchestrator.cli.output import Output, console, emit, print_json, short, table, when
from orchestrator.cli.placement_flags import parse_constraints, parse_strategies
from orchestrator.cli.resources import ClusterOpt, OutputOpt

svc_app = typer.Typer(help="Create, update, inspect and delete services.", no_args_is_help=True)


def _service(data: dict[str, Any]) -> dict[str, Any]:
    if "service" in data:
        return dict(data["service"])
    services = data.get("services") or []
    if not services:
        raise CliError("Service not found.")
    return dict(services[0])


def _deployments_table(svc: dict[str, Any]) -> Table:
    t = Table(title=f"Service {svc['serviceName']} ({svc['status']}): desired {svc['desiredCount']}, "
                    f"running {svc['runningCount']}, pending {svc['pendingCount']}",
              title_justify="left", header_style="bold")
    for c in ("deployment", "status", "task definition", "desired", "running", "pending", "failed", "rollout"):
        t.add_column(c)
    for d in svc.get("deployments", []):
        t.add_row(d["id"], d["status"], d["taskDefinition"].split("/")[-1], str(d["desiredCount"]),
                  str(d["runningCount"]), str(d["pendingCount"]), str(d.get("failedTasks", 0)),
                  f"{d.get('rolloutState', '')} {d.get('rolloutStateReason') or ''}".strip())
    return t


def _events_text(svc: dict[str, Any], n: int) -> Text:
    lines = [f"{when(e['createdAt'])}  {e['message']}" for e in svc.get("events", [])[:n]]
    return Text("\n".join(reversed(lines)) or "(no events yet)")


def _render_service(data: dict[str, Any]) -> None:
    svc = _service(data)
    console.print(_deployments_table(svc))
    config = svc.get("deploymentConfiguration", {})
    breaker = config.get("deploymentCircuitBreaker", {})
    console.print(f"deployment configuration: minimumHealthyPercent {config.get('minimumHealthyPercent')}, "
                  f"maximumPercent {config.get('maximumPercent')}, circuit breaker "
                  f"{'on' if breaker.get('enable') else 'off'}{' with rollback' if breaker.get('rollback') else ''}")
    strategies = ", ".join(f"{s['type']}:{s.get('field', '')}".rstrip(":") for s in svc.get("placementStrategy", []))
    console.print(f"placement strategy: {strategies or 'ECS default (spread over zones, then instances)'}")
    console.print(_events_text(svc, 5))


@svc_app.command("create")
def svc_create(
    name: str,
    taskdef: str = typer.Option(..., "--taskdef", "-t", help="family, family:revision or ARN."),
    desired: int = typer.Option(1, "--desired", "-d"),
    min_healthy: int = typer.Option(None, "--min-healthy"),
    max_percent: int = typer.Option(None, "--max-percent"),
    circuit_breaker: str = typer.Option(None, "--circuit-breaker", help="off, on or rollback."),
    strategy: list[str] = typer.Option([], "--strategy", help="spread:FIELD, binpack:cpu|memory or random; repeat."),
    constraint: list[str] = typer.Option([], "--constraint", help="distinctInstance or 'memberOf:EXPR'; repeat."),
    profile: str = typer.Option(None, "--profile", help="ecs (default) or kubernetes placement."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    body: dict[str, Any] = {"serviceName": name, "taskDefinition": taskdef, "desiredCount": desired}
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    emit(Client().call("POST", f"/v1/clusters/{cluster}/services", json=body), output, _render_service)


def _deployment_flags(min_healthy: int | None, max_percent: int | None, breaker: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if min_healthy is not None:
        config["minimumHealthyPercent"] = min_healthy
    if max_percent is not None:
        config["maximumPercent"] = max_percent
    if breaker is not None:
        if breaker not in ("off", "on", "rollback"):
            raise CliError("--circuit-breaker takes off, on or rollback.")
        config["deploymentCircuitBreaker"] = {"enable": breaker != "off", "rollback": breaker == "rollback"}
    return {"deploymentConfiguration": config} if config else {}


def _placement_flags(body: dict[str, Any], strategy: list[str], constraint: list[str], profile: str | None) -> None:
    strategies = parse_strategies(strategy)
    constraints = parse_constraints(constraint)
    if strategies is not None:
        body["placementStrategy"] = strategies
    if constraints is not None:
        body["placementConstraints"] = constraints
    if profile is not None:
        body["schedulerProfile"] = profile


@svc_app.command("list")
def svc_list(cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    data = Client().call("GET", f"/v1/clusters/{cluster}/services")
    emit(data, output, lambda d: table("Services", ["name", "status", "task definition", "desired", "running",
                                                    "pending", "deployments"], [
        [s["serviceName"], s["status"], s["taskDefinition"].split("/")[-1], s["desiredCount"], s["runningCount"],
         s["pendingCount"], len(s.get("deployments", []))] for s in d["services"]]))


@svc_app.command("describe")
def svc_describe(name: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/clusters/{cluster}/services/{name}"), output, _render_service)


@svc_app.command("delete")
def svc_delete(name: str, force: bool = typer.Option(False, "--force"), cluster: str = ClusterOpt,
               output: Output = OutputOpt) -> None:
    emit(Client().call("DELETE", f"/v1/clusters/{cluster}/services/{name}", params={"force": force}), output,
         _render_service)


@svc_app.command("events")
def svc_events(name: str, follow: bool = typer.Option(False, "--follow", "-f"), cluster: str = ClusterOpt,
               output: Output = OutputOpt) -> None:
    client = Client()
    data = client.call("GET", f"/v1/clusters/{cluster}/services/{name}/events")
    if output == Output.json and not follow:
        print_json(data)
        return
    last = 0
    for e in reversed(data["events"]):
        console.print(f"{when(e['createdAt'])}  {e['message']}", markup=False, highlight=False)
        last = max(last, int(e["id"]))
    while follow:
        time.sleep(1.0)
        data = client.call("GET", f"/v1/clusters/{cluster}/services/{name}/events", params={"after": last})
        for e in reversed(data["events"]):
            console.print(f"{when(e['createdAt'])}  {e['message']}", markup=False, highlight=False)
            last = max(last, int(e["id"]))


@svc_app.command("update")
def svc_update(
    name: str,
    taskdef: str = typer.Option(None, "--taskdef", "-t", help="New family:revision (or family for its latest)."),
    desired: int = typer.Option(None, "--desired", "-d"),
    force_new_deployment: bool = typer.Option(False, "--force-new-deployment"),
    min_healthy: int = typer.Option(None, "--min-healthy"),
    max_percent: int = typer.Option(None, "--max-percent"),
    circuit_breaker: str = typer.Option(None, "--circuit-breaker", help="off, on or rollback."),
    strategy: list[str] = typer.Option([], "--strategy"),
    constraint: list[str] = typer.Option([], "--constraint"),
    profile: str = typer.Option(None, "--profile"),
    wait: bool = typer.Option(False, "--wait", help="Show the rollout live; exit 0 when it completes, 1 if it fails."),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up waiting after this many seconds."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    body: dict[str, Any] = {}
    if taskdef:
        body["taskDefinition"] = taskdef
    if desired is not None:
        body["desiredCount"] = desired
    if force_new_deployment:
        body["forceNewDeployment"] = True
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    client = Client()
    data = client.call("PATCH", f"/v1/clusters/{cluster}/services/{name}", json=body)
    if not wait:
        emit(data, output, _render_service)
        return
    deployment = _service(data)["deployments"][0]["id"]
    ok, final = _watch(client, cluster, name, deployment, timeout, output == Output.table)
    if output == Output.json:
        print_json(final)
    else:
        _render_service(final)
        console.print("[green]deployment completed[/green]" if ok else "[red]deployment did not complete[/red]")
    raise typer.Exit(0 if ok else 1)


def _watch(client: Client, cluster: str, name: str, deployment: str, timeout: float,
           live: bool) -> tuple[bool, dict[str, Any]]:
    """Follow a deployment until it completes (True) or fails and the service settles (False)."""
    deadline = time.monotonic() + timeout
    failed = False
    data: dict[str, Any] = {}
    with Live(console=console, refresh_per_second=4, transient=False) if live else _NoLive() as view:
        while time.monotonic() < deadline:
            data = client.call("GET", f"/v1/clusters/{cluster}/services/{name}")
            svc = _service(data)
            view.update(Group(_deployments_table(svc), _events_text(svc, 6)))
            mine = next((d for d in svc["deployments"] if d["id"] == deployment), None)
            primary = svc["deployments"][0] if svc["deployments"] else None
            if mine is not None and mine.get("rolloutState") == "FAILED":
                failed = True
            settled = (primary is not None and len(svc["deployments"]) == 1
                       and primary.get("rolloutState") == "COMPLETED"
                       and svc["runningCount"] == svc["desiredCount"])
            if mine is not None and mine is primary and settled and not failed:
                return True, data
            if failed and (settled or primary is None or primary.get("rolloutState") == "FAILED"):
                return False, data
            if mine is None and settled:
                # Our deployment left the list without completing: it was rolled back.
                return False, data
            time.sleep(1.0)
    raise CliError(f"Timed out after {timeout:.0f} s waiting for deployment {deployment}; "
                   f"see `orchestrator svc describe {name}`.")


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, _: object) -> None:
        return None


def service_short(arn: str) -> str:
    return short(arn)


@svc_app.command("plan")
def svc_plan(
    name: str,
    desired: int = typer.Option(None, "--desired", "-d"),
    taskdef: str = typer.Option(None, "--taskdef", "-t"),
    strategy: list[str] = typer.Option([], "--strategy"),
    constraint: list[str] = typer.Option([], "--constraint"),
    profile: str = typer.Option(None, "--profile", help="ecs or kubernetes: compare how each would place."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Show where the tasks of a change would go and why, without changing anything."""
    from orchestrator.cli.resources import render_plan

    body: dict[str, Any] = {}
    if desired is not None:
        body["desiredCount"] = desired
    if taskdef:
        body["taskDefinition"] = taskdef
    _placement_flags(body, strategy, constraint, profile)
    emit(Client().call("POST", f"/v1/clusters/{cluster}/services/{name}/plan", json=body), output, render_plan)
