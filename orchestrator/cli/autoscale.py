"""CLI verbs for service autoscaling (`orchestrator autoscale ...`) and `orchestrator svc metrics`.

Every verb calls the REST routes in `orchestrator/api/autoscaling_rest.py`; `-o json` prints the
Application Auto Scaling shapes those return. `svc metrics` draws the stored utilization history
as one sparkline row per series (CPU %, memory %, desired and running counts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.complete import ServiceArg
from orchestrator.cli.output import Column, Output, OutputOpt, emit, format_table, say, show, table, when
from orchestrator.cli.resolve import ClusterOpt, service_name

autoscale_app = typer.Typer(
    help="Scale services with Application Auto Scaling: scalable targets, target-tracking and step policies.",
    no_args_is_help=True,
)

METRIC_TYPES = {
    "cpu": "ECSServiceAverageCPUUtilization",
    "memory": "ECSServiceAverageMemoryUtilization",
    "requests": "ALBRequestCountPerTarget",
}
LEVELS = "▁▂▃▄▅▆▇█"
MISSING = "·"
# Columns the table around a sparkline takes, so the chart fits the terminal.
CHART_MARGIN = 44


def _base(cluster: str, service: str) -> str:
    return f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(service))}"


# -- pure helpers (tested) -------------------------------------------------------------------


def parse_target_tracking(spec: str) -> tuple[str, float]:
    """`cpu=50`, `memory=70.5` or `requests=100` -> (PredefinedMetricType, TargetValue)."""
    metric, sep, raw = spec.partition("=")
    metric = metric.strip().lower()
    if not sep or metric not in METRIC_TYPES:
        raise CliError(
            f"--target-tracking {spec!r}: use cpu=PERCENT, memory=PERCENT or requests=PER-TARGET-PER-MINUTE, "
            "e.g. cpu=50.",
            code=2,
        )
    try:
        value = float(raw)
    except ValueError:
        raise CliError(f"--target-tracking {spec!r}: {raw!r} is not a number.", code=2) from None
    if not value > 0:
        raise CliError(f"--target-tracking {spec!r}: the target must be above 0.", code=2)
    return METRIC_TYPES[metric], value


def sparkline(values: Sequence[float | None], high: float) -> str:
    """One character per value: 8 block heights from 0 to `high`, `·` for no data."""
    out = []
    for v in values:
        if v is None:
            out.append(MISSING)
            continue
        level = 0 if high <= 0 else int(max(0.0, v) / high * len(LEVELS))
        out.append(LEVELS[min(len(LEVELS) - 1, level)])
    return "".join(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"


def chart_rows(points: Sequence[dict[str, Any]], max_capacity: int | None = None) -> list[list[str]]:
    """[series, sparkline, min, max, last] for CPU %, memory %, requests per target per minute (one
    row per target group, when the service is behind a load balancer), desired and running counts."""
    rows = []
    labels = sorted({label for p in points for label in p.get("RequestCountPerTarget") or {}})
    series: list[tuple[str, Any, bool]] = [
        ("CPU %", "CPUUtilization", True),
        ("memory %", "MemoryUtilization", True),
        *((f"requests/target/min {label.split('/')[4]}", label, True) for label in labels),
        ("desired", "DesiredCount", False),
        ("running", "RunningCount", False),
    ]
    for label, key, percent in series:
        if key in labels:
            values: list[float | None] = [(p.get("RequestCountPerTarget") or {}).get(key) for p in points]
        else:
            values = [p.get(key) for p in points]
        present = [v for v in values if v is not None]
        # Percentages share a 0-100 scale unless they go beyond it, so 5 % never looks like a full bar.
        floor = 100.0 if percent else float(max_capacity or 1)
        high = max([floor, *present])
        rows.append(
            [
                label,
                sparkline(values, high),
                _fmt(min(present) if present else None),
                _fmt(max(present) if present else None),
                _fmt(values[-1] if values else None),
            ]
        )
    return rows


# -- rendering ---------------------------------------------------------------------------------


def _metrics_view(data: dict[str, Any], width: int) -> str:
    points = data.get("datapoints", [])
    target = data.get("scalableTarget")
    shown = points[-max(10, width - CHART_MARGIN) :]
    period = data.get("metricPeriodSeconds")
    span = f"{when(shown[0]['Timestamp'])} - {when(shown[-1]['Timestamp'])}" if shown else "no datapoints yet"
    title = f"Service {data.get('serviceName')}: {len(shown)} datapoints, one per {period:g} s, {span}"
    if target:
        title += f"; scales between {target['MinCapacity']} and {target['MaxCapacity']}"
    rows = chart_rows(shown, target["MaxCapacity"] if target else None)
    note = f"{MISSING} = no sample in that period. CPU and memory: used / reserved by RUNNING tasks (may exceed 100)."
    return "\n".join([title, format_table(["SERIES", "OVER TIME (OLDEST LEFT)", "MIN", "MAX", "LAST"], rows), note])


def _suspended(target: dict[str, Any]) -> str:
    return ", ".join(
        k.replace("Suspended", "").replace("Dynamic", "dynamic ").lower()
        for k, v in target.get("SuspendedState", {}).items()
        if v
    )


def _target_table(data: dict[str, Any]) -> None:
    targets = data.get("ScalableTargets", [])
    if not targets:
        say("no scalable target registered (orchestrator autoscale register SERVICE --min N --max M)")
        return
    table(
        [
            Column("RESOURCE", lambda t: t["ResourceId"]),
            Column("MIN", lambda t: t["MinCapacity"]),
            Column("MAX", lambda t: t["MaxCapacity"]),
            Column("SUSPENDED", _suspended),
            Column("CREATED", lambda t: when(t.get("CreationTime"))),
        ],
        targets,
    )


def _policy_summary(p: dict[str, Any]) -> str:
    tt = p.get("TargetTrackingScalingPolicyConfiguration")
    if tt is not None:
        metric = tt.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType", "")
        short = "CPU" if "CPU" in metric else "memory"
        text = (
            f"{short} at {tt['TargetValue']:g} %; cooldowns out {tt.get('ScaleOutCooldown')} s, "
            f"in {tt.get('ScaleInCooldown')} s"
        )
        return text + ("; scale-in disabled" if tt.get("DisableScaleIn") else "")
    step = p.get("StepScalingPolicyConfiguration", {})
    steps = ", ".join(
        f"[{s.get('MetricIntervalLowerBound', '-inf')}, {s.get('MetricIntervalUpperBound', '+inf')}) "
        f"{s['ScalingAdjustment']:+d}"
        for s in step.get("StepAdjustments", [])
    )
    alarm = p.get("StepScalingAlarm")
    on = (
        f"when {alarm['MetricName']} {alarm['ComparisonOperator']} {alarm['Threshold']:g} "
        f"({alarm.get('DatapointsToAlarm', 1)} of {alarm.get('EvaluationPeriods', 1)})"
        if alarm
        else "no alarm: inert"
    )
    return f"{step.get('AdjustmentType')} {steps}; cooldown {step.get('Cooldown')} s; {on}"


def _policies_table(data: dict[str, Any]) -> None:
    table(
        [
            Column("POLICY", lambda p: p["PolicyName"]),
            Column("TYPE", lambda p: p["PolicyType"]),
            Column("CREATED", lambda p: when(p.get("CreationTime"))),
            Column("ALARMS", lambda p: ",".join(a["AlarmName"] for a in p.get("Alarms", []))),
            Column("CONFIGURATION", _policy_summary),
        ],
        data.get("ScalingPolicies", []),
        empty="No scaling policies.",
    )


def _activity_message(a: dict[str, Any]) -> str:
    reasons = ", ".join(r["Code"] for r in a.get("NotScaledReasons", []))
    return " ".join(x for x in (a.get("StatusMessage"), f"(not scaled: {reasons})" if reasons else None) if x)


def _activities_table(data: dict[str, Any]) -> None:
    activities = data.get("ScalingActivities", [])
    say(f"Scaling activities ({len(activities)}, newest first)")
    table(
        [
            Column("STARTED", lambda a: when(a.get("StartTime"))),
            Column("STATUS", lambda a: a["StatusCode"]),
            Column("DESCRIPTION", lambda a: a["Description"]),
            Column("CAUSE", lambda a: a["Cause"]),
            Column("MESSAGE", _activity_message),
        ],
        activities,
    )


# -- commands ----------------------------------------------------------------------------------


@autoscale_app.command("register")
def register(
    service: str = ServiceArg,
    min_capacity: int = typer.Option(None, "--min", help="Fewest tasks (0 allowed)."),
    max_capacity: int = typer.Option(None, "--max", help="Most tasks."),
    suspend: str = typer.Option(None, "--suspend", help="Suspend dynamic scaling: in, out, both or none."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Register (or update) SERVICE as a scalable target between --min and --max tasks."""
    body: dict[str, Any] = {}
    if min_capacity is not None:
        body["MinCapacity"] = min_capacity
    if max_capacity is not None:
        body["MaxCapacity"] = max_capacity
    if suspend is not None:
        if suspend not in ("in", "out", "both", "none"):
            raise CliError("--suspend takes in, out, both or none.", code=2)
        body["SuspendedState"] = {
            "DynamicScalingInSuspended": suspend in ("in", "both"),
            "DynamicScalingOutSuspended": suspend in ("out", "both"),
        }
    client = Client()
    data = client.call("PUT", f"{_base(cluster, service)}/scalable-target", json=body)
    if output in (Output.json, Output.yaml):
        emit(data, output, lambda _: None)
        return
    _target_table(client.call("GET", f"{_base(cluster, service)}/scalable-target"))


@autoscale_app.command("describe")
def describe(service: str = ServiceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """Show SERVICE's scalable target and its policies."""
    client = Client()
    target = client.call("GET", f"{_base(cluster, service)}/scalable-target")
    policies = client.call("GET", f"{_base(cluster, service)}/scaling-policies")

    def render(_: dict[str, Any]) -> None:
        _target_table(target)
        say()
        _policies_table(policies)

    emit({**target, **policies}, output, render)


@autoscale_app.command("deregister")
def deregister(service: str = ServiceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """Stop scaling SERVICE: remove its scalable target and policies (activities are kept)."""
    data = Client().call("DELETE", f"{_base(cluster, service)}/scalable-target")
    emit(data, output, lambda _: say(f"deregistered the scalable target of {service}"))


def _step_body(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except OSError as err:
        raise CliError(f"Cannot read {path}: {err.strerror}", code=2) from None
    except json.JSONDecodeError as err:
        raise CliError(f"{path} is not valid JSON: {err}", code=2) from None
    if not isinstance(body, dict):
        raise CliError(f"{path} must hold a JSON object: a PutScalingPolicy request.", code=2)
    return body


def _only_resource_label(cluster: str, service: str) -> str:
    """The ResourceLabel of SERVICE's one target group behind an application load balancer."""
    labels = sorted(Client().call("GET", f"{_base(cluster, service)}/metrics", params={"limit": 1})["resourceLabels"])
    if len(labels) == 1:
        return labels[0]
    if not labels:
        raise CliError(
            f"Service {service} is behind no application load balancer, so it has no request count to track: "
            f"put it behind one first (orchestrator lb create NAME --port PORT --service {service}).",
            code=2,
        )
    raise CliError(f"Service {service} has several target groups; pick one with --resource-label: {', '.join(labels)}")


@autoscale_app.command("put-policy")
def put_policy(
    service: str = ServiceArg,
    name: str = typer.Option(None, "--name", "-n", help="Policy name (or PolicyName from --step-file)."),
    target_tracking: str = typer.Option(
        None,
        "--target-tracking",
        help="cpu=PERCENT, memory=PERCENT, or requests=N (ALBRequestCountPerTarget: requests per target per minute).",
    ),
    resource_label: str = typer.Option(
        None,
        "--resource-label",
        help="requests=N only: app/LB/ID/targetgroup/GROUP/ID (default: the service's one target group).",
    ),
    step_file: Path = typer.Option(
        None,
        "--step-file",
        help="A PutScalingPolicy request as JSON (PolicyType, StepScalingPolicyConfiguration, StepScalingAlarm, ...).",
    ),
    scale_out_cooldown: int = typer.Option(None, "--scale-out-cooldown", help="Seconds (default 300)."),
    scale_in_cooldown: int = typer.Option(None, "--scale-in-cooldown", help="Seconds (default 300)."),
    disable_scale_in: bool = typer.Option(False, "--disable-scale-in"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a target-tracking (--target-tracking) or step (--step-file) policy of SERVICE."""
    if (target_tracking is None) == (step_file is None):
        raise CliError("Give exactly one of --target-tracking cpu=50 and --step-file policy.json.", code=2)
    if target_tracking is not None:
        metric_type, value = parse_target_tracking(target_tracking)
        spec: dict[str, Any] = {"PredefinedMetricType": metric_type}
        if metric_type == METRIC_TYPES["requests"]:
            spec["ResourceLabel"] = resource_label or _only_resource_label(cluster, service)
        elif resource_label is not None:
            raise CliError("--resource-label goes with --target-tracking requests=N only.", code=2)
        config: dict[str, Any] = {"TargetValue": value, "PredefinedMetricSpecification": spec}
        if scale_out_cooldown is not None:
            config["ScaleOutCooldown"] = scale_out_cooldown
        if scale_in_cooldown is not None:
            config["ScaleInCooldown"] = scale_in_cooldown
        if disable_scale_in:
            config["DisableScaleIn"] = True
        body: dict[str, Any] = {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": config,
        }
    else:
        if scale_out_cooldown is not None or scale_in_cooldown is not None or disable_scale_in:
            raise CliError(
                "--scale-out-cooldown, --scale-in-cooldown and --disable-scale-in go with "
                "--target-tracking; a step policy sets Cooldown in its file.",
                code=2,
            )
        body = _step_body(step_file)
    chosen = name or body.get("PolicyName")
    if not isinstance(chosen, str) or not chosen:
        raise CliError("Name the policy with --name (or PolicyName in the step file).", code=2)
    name = chosen
    body = {
        k: v for k, v in body.items() if k not in ("PolicyName", "ServiceNamespace", "ResourceId", "ScalableDimension")
    }
    data = Client().call("PUT", f"{_base(cluster, service)}/scaling-policies/{segment(name)}", json=body)

    def render(d: dict[str, Any]) -> None:
        say(f"policy {name}: {d['PolicyARN']}")
        for alarm in d.get("Alarms", []):
            say(f"  alarm {alarm['AlarmName']}")

    emit(data, output, render)


@autoscale_app.command("policies")
def policies(service: str = ServiceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """List SERVICE's scaling policies."""
    emit(Client().call("GET", f"{_base(cluster, service)}/scaling-policies"), output, _policies_table)


@autoscale_app.command("delete-policy")
def delete_policy(
    service: str = ServiceArg,
    name: str = typer.Option(..., "--name", "-n"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """Delete one of SERVICE's scaling policies."""
    data = Client().call("DELETE", f"{_base(cluster, service)}/scaling-policies/{segment(name)}")
    emit(data, output, lambda _: say(f"deleted policy {name}"))


@autoscale_app.command("activities")
def activities(
    service: str = ServiceArg,
    scaled_only: bool = typer.Option(False, "--scaled-only", help="Hide not-scaled activities (at max/min ...)."),
    limit: int = typer.Option(50, "--limit", min=1, max=50),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """SERVICE's scaling activities, newest first."""
    data = Client().call(
        "GET",
        f"{_base(cluster, service)}/scaling-activities",
        params={"includeNotScaled": not scaled_only, "maxResults": limit},
    )
    emit(data, output, _activities_table)


def svc_metrics(
    name: str = ServiceArg,
    limit: int = typer.Option(60, "--limit", min=1, max=1000, help="Datapoints to show (newest)."),
    watching: bool = typer.Option(False, "--watch", "-w", help="Print again when new datapoints come; Ctrl-C stops."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """CPU and memory utilization and desired/running counts of a service over time."""
    import shutil

    client = Client()
    path = f"{_base(cluster, name)}/metrics"

    def fetch() -> dict[str, Any]:
        return client.call("GET", path, params={"limit": limit})

    def render(d: dict[str, Any]) -> None:
        say(_metrics_view(d, shutil.get_terminal_size().columns))

    show(fetch, output, render, watching)
