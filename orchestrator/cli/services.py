"""CLI verbs for services: create, list, describe, update (with a live rollout view), delete, events.

`svc update --wait` follows the deployment it opened until the service settles and exits with
what happened: 0 completed, 1 failed or rolled back (or superseded), 2 still going at the timeout.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.complete import ServiceArg
from orchestrator.cli.output import (
    Column,
    Output,
    OutputOpt,
    WatchOpt,
    age,
    emit,
    fields,
    format_table,
    say,
    show,
    table,
    taskdef_ref,
    when,
)
from orchestrator.cli.placement_flags import parse_constraints, parse_strategies
from orchestrator.cli.resolve import ClusterOpt, service_name, taskdef

svc_app = typer.Typer(help="Create, update, inspect and delete services.", no_args_is_help=True)


def _service(data: dict[str, Any]) -> dict[str, Any]:
    if "service" in data:
        return dict(data["service"])
    services = data.get("services") or []
    if not services:
        raise CliError("Service not found.")
    return dict(services[0])


DEPLOYMENT_COLUMNS = [
    Column("DEPLOYMENT", lambda d: d["id"]),
    Column("STATUS", lambda d: d["status"]),
    Column("TASK DEFINITION", lambda d: taskdef_ref(d["taskDefinition"])),
    Column("DESIRED", lambda d: d["desiredCount"]),
    Column("RUNNING", lambda d: d["runningCount"]),
    # healthyCount is the controller's own count; a server that does not send it shows "-".
    Column("HEALTHY", lambda d: d.get("healthyCount")),
    Column("PENDING", lambda d: d["pendingCount"]),
    Column("FAILED", lambda d: d.get("failedTasks", 0)),
    Column("ROLLOUT", lambda d: d.get("rolloutState")),
]


def deployments_text(svc: dict[str, Any]) -> str:
    """The deployments table, then each rollout reason on its own line (free text goes last)."""
    deployments = svc.get("deployments", [])
    lines = [
        format_table(
            [c.header for c in DEPLOYMENT_COLUMNS], [[c.value(d) for c in DEPLOYMENT_COLUMNS] for d in deployments]
        )
    ]
    lines += [f"{d['id']}: {d['rolloutStateReason']}" for d in deployments if d.get("rolloutStateReason")]
    return "\n".join(lines)


def _summary(svc: dict[str, Any]) -> str:
    return (
        f"Service {svc['serviceName']} ({svc['status']}): desired {svc['desiredCount']}, "
        f"running {svc['runningCount']}, pending {svc['pendingCount']}"
    )


def events_text(svc: dict[str, Any], n: int) -> str:
    lines = [f"{when(e['createdAt'])}  {e['message']}" for e in svc.get("events", [])[:n]]
    return "\n".join(reversed(lines)) or "(no events yet)"


def _render_service(data: dict[str, Any]) -> None:
    svc = _service(data)
    config = svc.get("deploymentConfiguration", {})
    breaker = config.get("deploymentCircuitBreaker", {})
    strategies = ", ".join(f"{s['type']}:{s.get('field', '')}".rstrip(":") for s in svc.get("placementStrategy", []))
    constraints = ", ".join(
        f"{c['type']}:{c['expression']}" if c.get("expression") else c["type"]
        for c in svc.get("placementConstraints", [])
    )
    fields(
        [
            ("Service", svc["serviceName"]),
            ("Status", svc["status"]),
            ("Task definition", taskdef_ref(svc.get("taskDefinition"))),
            ("Tasks", f"desired {svc['desiredCount']}, running {svc['runningCount']}, pending {svc['pendingCount']}"),
            (
                "Deployment config",
                f"minimumHealthyPercent {config.get('minimumHealthyPercent')}, maximumPercent "
                f"{config.get('maximumPercent')}, circuit breaker {'on' if breaker.get('enable') else 'off'}"
                f"{' with rollback' if breaker.get('rollback') else ''}",
            ),
            ("Placement", strategies or "ECS default (spread over zones, then instances)"),
            ("Constraints", constraints or "none"),
            ("Created", when(svc.get("createdAt"))),
            ("ARN", svc.get("serviceArn")),
        ]
    )
    say()
    say(deployments_text(svc))
    say()
    say("Events (oldest first):")
    say(events_text(svc, 10))


@svc_app.command("create")
def svc_create(
    name: str,
    taskdef_ref_: str = typer.Option(..., "--taskdef", "-t", help="family, family:revision or ARN."),
    desired: int = typer.Option(1, "--desired", "-d"),
    min_healthy: int = typer.Option(None, "--min-healthy"),
    max_percent: int = typer.Option(None, "--max-percent"),
    circuit_breaker: str = typer.Option(None, "--circuit-breaker", help="off, on or rollback."),
    strategy: list[str] = typer.Option([], "--strategy", help="spread:FIELD, binpack:cpu|memory or random; repeat."),
    constraint: list[str] = typer.Option([], "--constraint", help="distinctInstance or 'memberOf:EXPR'; repeat."),
    profile: str = typer.Option(None, "--profile", help="ecs (default) or kubernetes placement."),
    launch_type: str = typer.Option(
        None, "--launch-type", help="EC2 (the cluster's instances, the default) or FARGATE (the managed pool)."
    ),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    body: dict[str, Any] = {"serviceName": name, "taskDefinition": taskdef(taskdef_ref_), "desiredCount": desired}
    if launch_type:
        body["launchType"] = launch_type
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    emit(Client().call("POST", f"/v1/clusters/{segment(cluster)}/services", json=body), output, _render_service)


def _deployment_flags(min_healthy: int | None, max_percent: int | None, breaker: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if min_healthy is not None:
        config["minimumHealthyPercent"] = min_healthy
    if max_percent is not None:
        config["maximumPercent"] = max_percent
    if breaker is not None:
        if breaker not in ("off", "on", "rollback"):
            raise CliError("--circuit-breaker takes off, on or rollback.", code=2)
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


def _primary(s: dict[str, Any]) -> dict[str, Any]:
    deployments = s.get("deployments") or [{}]
    return dict(deployments[0])


SERVICE_COLUMNS = [
    Column("NAME", lambda s: s["serviceName"]),
    Column("STATUS", lambda s: s["status"]),
    Column("TASK DEFINITION", lambda s: taskdef_ref(s["taskDefinition"])),
    Column("DESIRED", lambda s: s["desiredCount"]),
    Column("RUNNING", lambda s: s["runningCount"]),
    Column("PENDING", lambda s: s["pendingCount"]),
    Column("ROLLOUT", lambda s: _primary(s).get("rolloutState")),
    Column("AGE", lambda s: age(s.get("createdAt"))),
    Column("DEPLOYMENTS", lambda s: len(s.get("deployments", [])), wide=True),
    Column("PRIMARY DEPLOYMENT", lambda s: _primary(s).get("id"), wide=True),
    Column("ARN", lambda s: s.get("serviceArn"), wide=True),
]


def services_table(data: dict[str, Any]) -> None:
    table(SERVICE_COLUMNS, data["services"], empty="No services.")


@svc_app.command("list")
def svc_list(cluster: str = ClusterOpt, output: Output = OutputOpt, watching: bool = WatchOpt) -> None:
    """Services with desired, running and pending counts and the state of their primary rollout."""
    client = Client()

    def fetch() -> dict[str, Any]:
        return client.call("GET", f"/v1/clusters/{segment(cluster)}/services")

    show(fetch, output, services_table, watching)


@svc_app.command("describe")
def svc_describe(
    name: str = ServiceArg, cluster: str = ClusterOpt, output: Output = OutputOpt, watching: bool = WatchOpt
) -> None:
    """A service: its configuration, deployments (whole ids) and last events."""
    client = Client()

    def fetch() -> dict[str, Any]:
        return client.call("GET", f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(name))}")

    show(fetch, output, _render_service, watching)


@svc_app.command("delete")
def svc_delete(
    name: str = ServiceArg,
    force: bool = typer.Option(False, "--force"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    emit(
        Client().call(
            "DELETE", f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(name))}", params={"force": force}
        ),
        output,
        _render_service,
    )


@svc_app.command("events")
def svc_events(
    name: str = ServiceArg,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events; Ctrl-C stops."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """A service's events, oldest first; with --follow, new ones as they come (JSON lines with -o json)."""
    client = Client()
    path = f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(name))}/events"
    data = client.call("GET", path)
    if not follow and output != Output.table:
        emit(data, output, lambda d: None)
        return

    def show(events: list[dict[str, Any]]) -> int:
        last = 0
        for e in reversed(events):  # the API answers newest first
            if output == Output.json:
                say(json.dumps(e))
            else:
                say(f"{when(e['createdAt'])}  {e['message']}")
            last = max(last, int(e["id"]))
        sys.stdout.flush()
        return last

    last = show(data["events"])
    try:
        while follow:
            time.sleep(1.0)
            try:
                data = client.call("GET", path, params={"after": last})
            except CliError:
                continue  # a restarting control plane: keep following
            last = max(last, show(data["events"]))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


EXIT_COMPLETED, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 2
POLL_S = 0.5
# How long the watch rides out a control plane it cannot reach (a restart) before giving up.
UNREACHABLE_GRACE_S = 60.0


@svc_app.command("update")
def svc_update(
    name: str = ServiceArg,
    taskdef_ref_: str = typer.Option(None, "--taskdef", "-t", help="New family:revision (or family for its latest)."),
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
    if taskdef_ref_:
        body["taskDefinition"] = taskdef(taskdef_ref_)
    if desired is not None:
        body["desiredCount"] = desired
    if force_new_deployment:
        body["forceNewDeployment"] = True
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    client = Client()
    name = service_name(name)
    data = client.call("PATCH", f"/v1/clusters/{segment(cluster)}/services/{segment(name)}", json=body)
    if not wait:
        emit(data, output, _render_service)
        return
    deployment = _service(data)["deployments"][0]
    live = output in (Output.table, Output.wide) and sys.stdout.isatty()
    outcome, final = _watch(client, cluster, name, deployment, timeout, live)
    if not final:
        raise CliError(outcome.message, code=outcome.code or EXIT_FAILED)
    emit(final, output, _render_service)
    if output in (Output.table, Output.wide, Output.text):
        say(outcome.message)
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
    view: Any = _NoLive()
    if live:
        # Only a person watching a terminal pays for rich's import.
        from rich.console import Console
        from rich.live import Live

        view = Live(console=Console(), refresh_per_second=4, transient=True)
    with view:
        while time.monotonic() < deadline:
            try:
                data = client.call("GET", f"/v1/clusters/{segment(cluster)}/services/{segment(name)}")
            except CliError as err:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > UNREACHABLE_GRACE_S:
                    raise
                view.update(_text(f"waiting for the control plane: {err}"))
                time.sleep(POLL_S)
                continue
            unreachable_since = None
            svc = _service(data)
            elapsed = f"{time.monotonic() - started:.0f} s since the update; following {ident}"
            view.update(_text("\n\n".join([elapsed, _summary(svc), deployments_text(svc), events_text(svc, 6)])))
            outcome = outcome_of(svc, ident, created_at)
            if outcome is not None:
                return outcome, data
            time.sleep(POLL_S)
    return Outcome(
        EXIT_TIMEOUT,
        f"deployment {ident} still in progress after {timeout:.0f} s; see `orchestrator svc describe {name}`",
    ), data


def _text(value: str) -> Any:
    from rich.text import Text

    return Text(value)


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, _: object) -> None:
        return None


@svc_app.command("plan")
def svc_plan(
    name: str = ServiceArg,
    desired: int = typer.Option(None, "--desired", "-d"),
    taskdef_ref_: str = typer.Option(None, "--taskdef", "-t"),
    force_new_deployment: bool = typer.Option(False, "--force-new-deployment"),
    min_healthy: int = typer.Option(None, "--min-healthy"),
    max_percent: int = typer.Option(None, "--max-percent"),
    circuit_breaker: str = typer.Option(None, "--circuit-breaker", help="off, on or rollback."),
    strategy: list[str] = typer.Option([], "--strategy"),
    constraint: list[str] = typer.Option([], "--constraint"),
    profile: str = typer.Option(None, "--profile", help="ecs or kubernetes: compare how each would place."),
    drain: list[str] = typer.Option(
        [], "--drain", help="Also preview draining this instance (name, id, unique id prefix or ARN); repeat."
    ),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Show, step by step, what `svc update` with the same options would start and stop (an explanation
    table for each task it starts); nothing is changed. `-o text` prints one paragraph per task."""
    from orchestrator.cli.resolve import instance_id

    body: dict[str, Any] = {}
    if desired is not None:
        body["desiredCount"] = desired
    if taskdef_ref_:
        body["taskDefinition"] = taskdef(taskdef_ref_)
    if force_new_deployment:
        body["forceNewDeployment"] = True
    body.update(_deployment_flags(min_healthy, max_percent, circuit_breaker))
    _placement_flags(body, strategy, constraint, profile)
    client = Client()
    if drain:
        body["drainInstances"] = [instance_id(client, cluster, ref) for ref in drain]
    path = f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(name))}/plan"
    data = client.call("POST", path, json=body)

    def render(d: dict[str, Any]) -> None:
        from orchestrator.cli.explain import render_plan, render_plan_text

        if output == Output.text:
            render_plan_text(d)
            return
        found = client.call("GET", f"/v1/clusters/{segment(cluster)}/container-instances")["containerInstances"]
        render_plan(d, found)

    emit(data, output, render)
