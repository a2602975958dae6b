"""CLI verbs for services: create, list, describe, update (with a live rollout view), delete, events.

`svc update --wait` follows the deployment it opened until the service settles and exits with
what happened: 0 completed, 1 failed or rolled back (or superseded), 2 still going at the timeout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.cli.client import Client, CliError
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
    t = Table(
        title=f"Service {svc['serviceName']} ({svc['status']}): desired {svc['desiredCount']}, "
        f"running {svc['runningCount']}, pending {svc['pendingCount']}",
        title_justify="left",
        header_style="bold",
    )
    for c in (
        "deployment",
        "status",
        "task definition",
        "desired",
        "running",
        "healthy",
        "pending",
        "failed",
        "rollout",
    ):
        t.add_column(c)
    for d in svc.get("deployments", []):
        # healthyCount is the controller's own count (healthy as the deployment bounds mean it);
        # a server that does not send it shows "-".
        t.add_row(
            d["id"],
            d["status"],
            d["taskDefinition"].split("/")[-1],
            str(d["desiredCount"]),
            str(d["runningCount"]),
            str(d.get("healthyCount", "-")),
            str(d["pendingCount"]),
            str(d.get("failedTasks", 0)),
            f"{d.get('rolloutState', '')} {d.get('rolloutStateReason') or ''}".strip(),
        )
    return t


def _events_text(svc: dict[str, Any], n: int) -> Text:
    lines = [f"{when(e['createdAt'])}  {e['message']}" for e in svc.get("events", [])[:n]]
    return Text("\n".join(reversed(lines)) or "(no events yet)")


def _render_service(data: dict[str, Any]) -> None:
    svc = _service(data)
    console.print(_deployments_table(svc))
    config = svc.get("deploymentConfiguration", {})
    breaker = config.get("deploymentCircuitBreaker", {})
    console.print(
        f"deployment configuration: minimumHealthyPercent {config.get('minimumHealthyPercent')}, "
        f"maximumPercent {config.get('maximumPercent')}, circuit breaker "
        f"{'on' if breaker.get('enable') else 'off'}{' with rollback' if breaker.get('rollback') else ''}"
    )
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
    emit(
        data,
        output,
        lambda d: table(
            "Services",
            ["name", "status", "task definition", "desired", "running", "pending", "deployments"],
            [
                [
                    s["serviceName"],
                    s["status"],
                    s["taskDefinition"].split("/")[-1],
                    s["desiredCount"],
                    s["runningCount"],
                    s["pendingCount"],
                    len(s.get("deployments", [])),
                ]
                for s in d["services"]
            ],
        ),
    )


@svc_app.command("describe")
def svc_describe(name: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/clusters/{cluster}/services/{name}"), output, _render_service)


@svc_app.command("delete")
def svc_delete(
    name: str, force: bool = typer.Option(False, "--force"), cluster: str = ClusterOpt, output: Output = OutputOpt
) -> None:
    emit(
        Client().call("DELETE", f"/v1/clusters/{cluster}/services/{name}", params={"force": force}),
        output,
        _render_service,
    )


@svc_app.command("events")
def svc_events(
    name: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """A service's events, oldest first; with --follow, new ones as they come (JSON lines with -o json)."""
    client = Client()
    path = f"/v1/clusters/{cluster}/services/{name}/events"
    data = client.call("GET", path)
    if output == Output.json and not follow:
        print_json(data)
        return

    def show(events: list[dict[str, Any]]) -> int:
        last = 0
        for e in reversed(events):  # the API answers newest first
            if output == Output.json:
                print(json.dumps(e), flush=True)
            else:
                console.print(f"{when(e['createdAt'])}  {e['message']}", markup=False, highlight=False)
            last = max(last, int(e["id"]))
        return last

    last = show(data["events"])
    while follow:
        time.sleep(1.0)
        try:
            data = client.call("GET", path, params={"after": last})
        except CliError:
            continue  # a restarting control plane: keep following
        last = max(last, show(data["events"]))


EXIT_COMPLETED, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 2
POLL_S = 0.5
# How long the watch rides out a control plane it cannot reach (a restart) before giving up.
UNREACHABLE_GRACE_S = 60.0


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
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Show the rollout live; exit 0 when it completes, 1 if it "
        "fails or is rolled back, 2 if it is still going at --timeout.",
    ),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up waiting after this many seconds."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Change a service; a new task definition, placement or --force-new-deployment rolls it out."""
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
    deployment = _service(data)["deployments"][0]
    outcome, final = _watch(client, cluster, name, deployment, timeout, output == Output.table)
    if not final:
        raise CliError(outcome.message)
    if output == Output.json:
        print_json(final)
    else:
        _render_service(final)
        color = "green" if outcome.code == EXIT_COMPLETED else "red"
        console.print(f"[{color}]{outcome.message}[/{color}]", highlight=False)
    raise typer.Exit(outcome.code)


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str


def outcome_of(svc: dict[str, Any], deployment: str, created_at: float) -> Outcome | None:
    """What became of `deployment` (created at `created_at`) in this DescribeServices view of the
    service, or None while it is still going. Settled: one deployment, COMPLETED, all running."""
    deployments = svc.get("deployments") or []
    primary = deployments[0] if deployments else None
    if primary is None:
        return None
    settled = (
        len(deployments) == 1
        and primary.get("rolloutState") == "COMPLETED"
        and svc["runningCount"] == svc["desiredCount"]
    )
    if primary["id"] == deployment:
        if primary.get("rolloutState") == "FAILED":
            reason = primary.get("rolloutStateReason") or "failed"
            return Outcome(EXIT_FAILED, f"deployment {deployment} failed: {reason}")
        return Outcome(EXIT_COMPLETED, f"deployment {deployment} completed") if settled else None
    # Ours is no longer PRIMARY: the circuit breaker revived an older deployment, or a newer
    # update replaced it. Wait for the service to settle, so the final state printed is stable.
    if not settled:
        return None
    if float(primary.get("createdAt", 0)) < created_at:
        return Outcome(EXIT_FAILED, f"deployment {deployment} failed; the service rolled back to {primary['id']}")
    return Outcome(EXIT_FAILED, f"deployment {deployment} was superseded by {primary['id']}")


def _watch(
    client: Client, cluster: str, name: str, deployment: dict[str, Any], timeout: float, live: bool
) -> tuple[Outcome, dict[str, Any]]:
    """Follow a deployment until outcome_of says what became of it, or the timeout."""
    ident, created_at = deployment["id"], float(deployment["createdAt"])
    started = time.monotonic()
    deadline = started + timeout
    data: dict[str, Any] = {}
    unreachable_since: float | None = None
    with Live(console=console, refresh_per_second=4, transient=True) if live else _NoLive() as view:
        while time.monotonic() < deadline:
            try:
                data = client.call("GET", f"/v1/clusters/{cluster}/services/{name}")
            except CliError as err:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > UNREACHABLE_GRACE_S:
                    raise
                view.update(Text(f"waiting for the control plane: {err}"))
                time.sleep(POLL_S)
                continue
            unreachable_since = None
            svc = _service(data)
            elapsed = Text(f"{time.monotonic() - started:.0f} s since the update; following {ident}")
            view.update(Group(elapsed, _deployments_table(svc), _events_text(svc, 6)))
            outcome = outcome_of(svc, ident, created_at)
            if outcome is not None:
                return outcome, data
            time.sleep(POLL_S)
    return Outcome(
        EXIT_TIMEOUT,
        f"deployment {ident} still in progress after {timeout:.0f} s; see `orchestrator svc describe {name}`",
    ), data


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
    force_new_deployment: bool = typer.Option(False, "--force-new-deployment"),
    min_healthy: int = typer.Option(None, "--min-healthy"),
    max_percent: int = typer.Option(None, "--max-percent"),
    circuit_breaker: str = typer.Option(None, "--circuit-breaker", help="off, on or rollback."),
    strategy: list[str] = typer.Option([], "--strategy"),
    constraint: list[str] = typer.Option([], "--constraint"),
    profile: str = typer.Option(None, "--profile", help="ecs or kubernetes: compare how each would place."),
    drain: list[str] = typer.Option([], "--drain", help="Also preview draining this instance (name, id or ARN)."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Show, step by step, what `svc update` with the same options would start and stop; nothing is changed."""
    from orchestrator.cli.resources import render_plan

    body: dict[str, Any] = {}
    if desired is not None:
        body["desiredCount"] = desired
    if taskdef:
        body["taskDefinition"] = taskdef
    if force_new_deployment:
        body["forceNewDeployment"] = True
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    if drain:
        body["drainInstances"] = drain
    emit(Client().call("POST", f"/v1/clusters/{cluster}/services/{name}/plan", json=body), output, render_plan)
