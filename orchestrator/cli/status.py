"""`orchestrator status`: the cluster on one screen, like `nomad status` or `kubectl get all`.

Instances per zone with free CPU and memory, each instance, each service with desired, running
and pending counts and its rollout, and the last events of all services. `-o json` prints the
three API answers it is made of, under `containerInstances`, `services` and `events`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from orchestrator.cli.client import Client, segment
from orchestrator.cli.output import (
    Column,
    Output,
    OutputOpt,
    WatchOpt,
    format_table,
    natural,
    plural,
    say,
    short,
    show,
    when,
)
from orchestrator.cli.resolve import ClusterOpt, instance_name

EVENTS = 8


def _res(inst: dict[str, Any], which: str, name: str) -> int:
    return int(next((r.get("integerValue") or 0 for r in inst.get(which, []) if r["name"] == name), 0))


def _zone(inst: dict[str, Any]) -> str:
    return next((a.get("value") or "" for a in inst.get("attributes", []) if a["name"] == "ecs.availability-zone"), "")


def collect(client: Client, cluster: str) -> dict[str, Any]:
    base = f"/v1/clusters/{segment(cluster)}"
    instances = client.call("GET", f"{base}/container-instances")["containerInstances"]
    services = client.call("GET", f"{base}/services")["services"]
    events = [{"service": s["serviceName"], **e} for s in services for e in s.get("events", [])]
    events.sort(key=lambda e: float(e.get("createdAt") or 0), reverse=True)
    return {"cluster": cluster, "containerInstances": instances, "services": services, "events": events[:EVENTS]}


def _zones_table(instances: list[dict[str, Any]]) -> str:
    zones: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inst in instances:
        zones[_zone(inst) or "-"].append(inst)
    rows = []
    for zone in sorted(zones):
        members = zones[zone]
        active = [i for i in members if i["status"] == "ACTIVE" and i.get("agentConnected")]
        cpu = sum(_res(i, "remainingResources", "CPU") for i in active)
        cpu_total = sum(_res(i, "registeredResources", "CPU") for i in active)
        mem = sum(_res(i, "remainingResources", "MEMORY") for i in active)
        mem_total = sum(_res(i, "registeredResources", "MEMORY") for i in active)
        tasks = sum(int(i.get("runningTasksCount") or 0) for i in members)
        rows.append([zone, f"{len(active)}/{len(members)}", f"{cpu}/{cpu_total}", f"{mem}/{mem_total}", tasks])
    return format_table(["ZONE", "INSTANCES UP", "CPU FREE", "MEM FREE", "TASKS"], rows)


INSTANCE_COLUMNS = [
    Column("INSTANCE", lambda i: instance_name(i) or short(i["containerInstanceArn"])),
    Column("ZONE", _zone),
    Column("STATUS", lambda i: i["status"] if i.get("agentConnected") else f"{i['status']},AGENT-LOST"),
    Column("CPU FREE", lambda i: f"{_res(i, 'remainingResources', 'CPU')}/{_res(i, 'registeredResources', 'CPU')}"),
    Column(
        "MEM FREE", lambda i: f"{_res(i, 'remainingResources', 'MEMORY')}/{_res(i, 'registeredResources', 'MEMORY')}"
    ),
    Column("TASKS", lambda i: i.get("runningTasksCount")),
]


def _deployment_state(s: dict[str, Any]) -> str:
    deployments = s.get("deployments") or []
    if not deployments:
        return "-"
    primary = deployments[0]
    state = str(primary.get("rolloutState") or primary.get("status"))
    return state if len(deployments) == 1 else f"{state} ({len(deployments)} deployments)"


SERVICE_COLUMNS = [
    Column("SERVICE", lambda s: s["serviceName"]),
    Column("DESIRED", lambda s: s["desiredCount"]),
    Column("RUNNING", lambda s: s["runningCount"]),
    Column("PENDING", lambda s: s["pendingCount"]),
    Column("TASK DEFINITION", lambda s: str(s.get("taskDefinition", "")).split("task-definition/")[-1]),
    Column("DEPLOYMENT", _deployment_state),
]


def render(data: dict[str, Any]) -> None:
    instances, services = data["containerInstances"], data["services"]
    running = sum(int(s.get("runningCount") or 0) for s in services)
    say(
        f"Cluster {data['cluster']}: {plural(len(instances), 'instance')}, {plural(len(services), 'service')}, "
        f"{plural(running, 'service task')} running"
    )
    say()
    say(_zones_table(instances) if instances else "No container instances: start agents (`orchestrator agent`).")
    if instances:
        say()
        ordered = sorted(instances, key=lambda i: (_zone(i), natural(instance_name(i))))
        say(
            format_table(
                [c.header for c in INSTANCE_COLUMNS], [[c.value(i) for c in INSTANCE_COLUMNS] for i in ordered]
            )
        )
    say()
    if services:
        say(
            format_table([c.header for c in SERVICE_COLUMNS], [[c.value(s) for c in SERVICE_COLUMNS] for s in services])
        )
    else:
        say("No services.")
    say()
    say("Last events:")
    for e in reversed(data["events"]):
        message = str(e.get("message", ""))
        say(f"  {when(e.get('createdAt'))}  {message}")
    if not data["events"]:
        say("  (none yet)")


def status(cluster: str = ClusterOpt, output: Output = OutputOpt, watching: bool = WatchOpt) -> None:
    """The cluster on one screen: zones, instances, services and their rollouts, the last events."""
    client = Client()
    show(lambda: collect(client, cluster), output, render, watching)
