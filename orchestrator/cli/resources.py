"""CLI verbs for clusters, task definitions, tasks and container instances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.complete import InstanceArg, TaskArg
from orchestrator.cli.output import (
    Column,
    Output,
    OutputOpt,
    WatchOpt,
    age,
    emit,
    fields,
    natural,
    say,
    short,
    show,
    table,
    taskdef_ref,
    when,
)
from orchestrator.cli.placement_flags import parse_constraints, parse_strategies
from orchestrator.cli.resolve import ClusterOpt, instance_id, instance_name, task_id, taskdef

__all__ = ["ClusterOpt", "OutputOpt", "cluster_app", "instance_app", "task_app", "taskdef_app"]

cluster_app = typer.Typer(help="Create, list, describe and delete clusters.", no_args_is_help=True)
taskdef_app = typer.Typer(help="Register and inspect ECS task definitions.", no_args_is_help=True)
task_app = typer.Typer(help="Run, list, describe, explain and stop tasks.", no_args_is_help=True)
instance_app = typer.Typer(
    help="List, describe, drain, activate and deregister container instances.", no_args_is_help=True
)


def attr(inst: dict[str, Any], name: str) -> str:
    return next((a.get("value") or "" for a in inst.get("attributes", []) if a["name"] == name), "")


def zone(inst: dict[str, Any]) -> str:
    return attr(inst, "ecs.availability-zone")


def res(inst: dict[str, Any], which: str, name: str) -> Any:
    return next((r.get("integerValue") for r in inst.get(which, []) if r["name"] == name), None)


def c_path(cluster: str) -> str:
    return f"/v1/clusters/{segment(cluster)}"


# -- clusters ------------------------------------------------------------------------------

CLUSTER_COLUMNS = [
    Column("NAME", lambda c: c["clusterName"]),
    Column("STATUS", lambda c: c["status"]),
    Column("INSTANCES", lambda c: c.get("registeredContainerInstancesCount")),
    Column("SERVICES", lambda c: c.get("activeServicesCount")),
    Column("RUNNING", lambda c: c.get("runningTasksCount")),
    Column("PENDING", lambda c: c.get("pendingTasksCount")),
    Column("ARN", lambda c: c.get("clusterArn"), wide=True),
]


def _clusters_table(data: dict[str, Any]) -> None:
    items = data.get("clusters") or ([data["cluster"]] if "cluster" in data else [])
    table(CLUSTER_COLUMNS, items, empty="No clusters.")


@cluster_app.command("create")
def cluster_create(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("POST", "/v1/clusters", json={"clusterName": name}), output, _clusters_table)


@cluster_app.command("list")
def cluster_list(output: Output = OutputOpt) -> None:
    emit(Client().call("GET", "/v1/clusters"), output, _clusters_table)


@cluster_app.command("describe")
def cluster_describe(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/clusters/{segment(name)}"), output, _clusters_table)


@cluster_app.command("delete")
def cluster_delete(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("DELETE", f"/v1/clusters/{segment(name)}"), output, _clusters_table)


# -- task definitions ----------------------------------------------------------------------


def _ports(c: dict[str, Any]) -> str:
    return ",".join(
        f"{p.get('hostPort') or 'dyn'}->{p['containerPort']}/{p.get('protocol', 'tcp')}"
        for p in c.get("portMappings", [])
    )


def _taskdef_table(data: dict[str, Any]) -> None:
    td = data["taskDefinition"]
    fields(
        [
            ("Task definition", f"{td['family']}:{td['revision']}"),
            ("Status", td["status"]),
            ("ARN", td.get("taskDefinitionArn")),
        ]
    )
    say()
    table(
        [
            Column("CONTAINER", lambda c: c["name"]),
            Column("IMAGE", lambda c: c["image"]),
            Column("CPU", lambda c: c.get("cpu", 0)),
            Column("MEMORY", lambda c: c.get("memory")),
            Column("RESERVATION", lambda c: c.get("memoryReservation")),
            Column("ESSENTIAL", lambda c: c.get("essential", True)),
            Column("PORTS", _ports),
        ],
        td["containerDefinitions"],
    )


@taskdef_app.command("register")
def taskdef_register(
    file: Path = typer.Option(
        ...,
        "--file",
        "-f",
        help="Task definition JSON, as `aws ecs register-task-definition --cli-input-json` takes it.",
    ),
    output: Output = OutputOpt,
) -> None:
    try:
        body = json.loads(file.read_text())
    except OSError as err:
        raise CliError(f"Cannot read {file}: {err.strerror}", code=2) from None
    except json.JSONDecodeError as err:
        raise CliError(f"{file} is not valid JSON: {err}", code=2) from None
    if not isinstance(body, dict):
        raise CliError(f"{file} must hold a JSON object (a task definition).", code=2)
    emit(Client().call("POST", "/v1/task-definitions", json=body), output, _taskdef_table)


@taskdef_app.command("list")
def taskdef_list(
    family: str = typer.Option(None, "--family"), status: str = "ACTIVE", output: Output = OutputOpt
) -> None:
    data = Client().call("GET", "/v1/task-definitions", params={"familyPrefix": family, "status": status})
    emit(
        data,
        output,
        lambda d: table(
            [Column("TASK DEFINITION", taskdef_ref), Column("ARN", lambda a: a, wide=True)],
            d["taskDefinitionArns"],
            empty="No task definitions.",
        ),
    )


@taskdef_app.command("describe")
def taskdef_describe(ref: str, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/task-definitions/{segment(taskdef(ref))}"), output, _taskdef_table)


@taskdef_app.command("deregister")
def taskdef_deregister(ref: str, output: Output = OutputOpt) -> None:
    emit(Client().call("DELETE", f"/v1/task-definitions/{segment(taskdef(ref))}"), output, _taskdef_table)


# -- tasks ---------------------------------------------------------------------------------


def instance_names(client: Client, cluster: str) -> dict[str, str]:
    """Container instance ARN -> what a table shows for it: its name, or its id when it has none."""
    try:
        found = client.call("GET", f"{c_path(cluster)}/container-instances")["containerInstances"]
    except CliError:
        return {}
    return {i["containerInstanceArn"]: instance_name(i) or short(i["containerInstanceArn"]) for i in found}


def _task_status(t: dict[str, Any]) -> str:
    last, desired = t.get("lastStatus"), t.get("desiredStatus")
    return str(last) if desired in (None, last) or desired == "RUNNING" else f"{last}>{desired}"


def task_columns(names: dict[str, str]) -> list[Column]:
    def where(t: dict[str, Any]) -> str:
        arn = t.get("containerInstanceArn")
        return names.get(arn, short(arn)) if arn else "-"

    return [
        Column("TASK", lambda t: short(t["taskArn"])),
        Column("DEFINITION", lambda t: taskdef_ref(t["taskDefinitionArn"])),
        Column("INSTANCE", where),
        Column("ZONE", lambda t: t.get("availabilityZone")),
        Column("STATUS", _task_status),
        Column("HEALTH", lambda t: t.get("healthStatus")),
        Column("AGE", lambda t: age(t.get("createdAt"))),
        Column("GROUP", lambda t: t.get("group"), wide=True),
        Column("INSTANCE ID", lambda t: short(t.get("containerInstanceArn")), wide=True),
        Column("STARTED", lambda t: when(t.get("startedAt")), wide=True),
        Column("STOPPED REASON", lambda t: t.get("stoppedReason"), wide=True),
    ]


def tasks_renderer(client: Client, cluster: str) -> Any:
    names = instance_names(client, cluster)

    def render(data: dict[str, Any]) -> None:
        tasks = data.get("tasks") or ([data["task"]] if "task" in data else [])
        table(task_columns(names), tasks, empty="No tasks.")
        for f in data.get("failures", []):
            say(f"failure {f.get('reason')}: {f.get('detail') or short(f.get('arn'))}")

    return render


@task_app.command("run")
def task_run(
    taskdef_ref_: str = typer.Option(..., "--taskdef", "-t", help="family, family:revision or ARN."),
    count: int = typer.Option(1, "--count"),
    strategy: list[str] = typer.Option([], "--strategy", help="spread:FIELD, binpack:cpu|memory or random; repeat."),
    constraint: list[str] = typer.Option([], "--constraint", help="distinctInstance or 'memberOf:EXPR'; repeat."),
    group: str = typer.Option(None, "--group"),
    started_by: str = typer.Option(None, "--started-by"),
    launch_type: str = typer.Option(
        None, "--launch-type", help="EC2 (the cluster's instances, the default) or FARGATE (the managed pool)."
    ),
    platform_version: str = typer.Option(None, "--platform-version", help="FARGATE only: LATEST or 1.4.0."),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    body: dict[str, Any] = {
        "taskDefinition": taskdef(taskdef_ref_),
        "count": count,
        "group": group,
        "startedBy": started_by,
        "launchType": launch_type,
        "platformVersion": platform_version,
        "placementStrategy": parse_strategies(strategy),
        "placementConstraints": parse_constraints(constraint),
    }
    client = Client()
    data = client.call("POST", f"{c_path(cluster)}/tasks", json={k: v for k, v in body.items() if v is not None})
    emit(data, output, tasks_renderer(client, cluster))


@task_app.command("start")
def task_start(
    instances: list[str] = typer.Argument(..., help="Instance names, ids, unique id prefixes or ARNs."),
    taskdef_ref_: str = typer.Option(..., "--taskdef", "-t"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    client = Client()
    ids = [instance_id(client, cluster, i) for i in instances]
    data = client.call(
        "POST",
        f"{c_path(cluster)}/tasks/start",
        json={"taskDefinition": taskdef(taskdef_ref_), "containerInstances": ids},
    )
    emit(data, output, tasks_renderer(client, cluster))


@task_app.command("list")
def task_list(
    service: str = typer.Option(None, "--service", "-s", help="Service name or ARN."),
    desired_status: str = typer.Option("RUNNING", "--desired-status", help="RUNNING, PENDING or STOPPED."),
    instance: str = typer.Option(None, "--instance", help="Instance name, id, unique id prefix or ARN."),
    family: str = typer.Option(None, "--family"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
    watching: bool = WatchOpt,
) -> None:
    """Tasks with their whole ids, instance names and zones; -o wide adds group, instance id, reasons."""
    from orchestrator.cli.resolve import service_name

    client = Client()
    params = {
        "serviceName": service_name(service) if service else None,
        "desiredStatus": desired_status,
        "containerInstance": instance_id(client, cluster, instance) if instance else None,
        "family": family,
    }

    def fetch() -> dict[str, Any]:
        return client.call("GET", f"{c_path(cluster)}/tasks", params=params)

    show(fetch, output, lambda d: tasks_renderer(client, cluster)(d), watching)


def _task_ip(t: dict[str, Any]) -> str | None:
    """An awsvpc task's own address and its attachment's state, e.g. `172.18.0.5 (ATTACHED, subnet-local)`."""
    for a in t.get("attachments") or []:
        details = {d.get("name"): d.get("value") for d in a.get("details") or []}
        where = ", ".join(x for x in (a.get("status"), details.get("subnetId")) if x)
        return f"{details.get('privateIPv4Address') or '(none yet)'} ({where})"
    return None


def _containers(t: dict[str, Any]) -> None:
    table(
        [
            Column("CONTAINER", lambda c: c["name"]),
            Column("IMAGE", lambda c: c["image"]),
            Column("STATUS", lambda c: c.get("lastStatus")),
            Column("EXIT", lambda c: c.get("exitCode")),
            Column("HEALTH", lambda c: c.get("healthStatus")),
            Column(
                "PORTS",
                lambda c: ",".join(f"{b['hostPort']}->{b['containerPort']}" for b in c.get("networkBindings", [])),
            ),
            Column("REASON", lambda c: c.get("reason")),
        ],
        t.get("containers", []),
    )


@task_app.command("describe")
def task_describe(task: str = TaskArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """A task: where it runs, its status and times, and its containers."""
    client = Client()
    data = client.call("GET", f"{c_path(cluster)}/tasks/{task_id(client, cluster, task)}")

    def render(d: dict[str, Any]) -> None:
        names = instance_names(client, cluster) if d.get("tasks") else {}
        for k, t in enumerate(d.get("tasks", [])):
            if k:
                say()
            arn = t.get("containerInstanceArn")
            fields(
                [
                    pair
                    for pair in [
                        ("Task", short(t["taskArn"])),
                        ("Task definition", taskdef_ref(t["taskDefinitionArn"])),
                        ("Group", t.get("group")),
                        ("Instance", f"{names.get(arn, short(arn))} ({short(arn)})" if arn else None),
                        ("Zone", t.get("availabilityZone")),
                        ("Status", f"{t['lastStatus']} (desired {t['desiredStatus']})"),
                        ("Health", t.get("healthStatus")),
                        ("Task IP", _task_ip(t)),
                        ("Created", when(t.get("createdAt"))),
                        ("Started", when(t.get("startedAt"))),
                        ("Stopped", when(t.get("stoppedAt"))),
                        ("Stopped reason", t.get("stoppedReason")),
                        ("ARN", t["taskArn"]),
                    ]
                    if pair[0] != "Task IP" or pair[1] is not None  # only awsvpc tasks have one
                ]
            )
            say()
            _containers(t)
        for f in d.get("failures", []):
            say(f"failure {f.get('reason')}: {f.get('detail') or short(f.get('arn'))}")

    emit(data, output, render)


@task_app.command("stop")
def task_stop(
    task: str = TaskArg,
    reason: str = typer.Option(None, "--reason"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    client = Client()
    ident = task_id(client, cluster, task)
    data = client.call("POST", f"{c_path(cluster)}/tasks/{ident}/stop", json={"reason": reason} if reason else {})
    emit(data, output, tasks_renderer(client, cluster))


@task_app.command("explain")
def task_explain(task: str = TaskArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """Why the scheduler put a task where it is: one row per instance, one column per filter and
    strategy step, the winner marked and ties named. `-o text` prints the paragraph form."""
    from orchestrator.cli.explain import render_explanation

    client = Client()
    data = client.call("GET", f"{c_path(cluster)}/tasks/{task_id(client, cluster, task)}/explanation")
    if output in (Output.table, Output.wide, Output.text) and not data.get("explanation"):
        raise CliError("No placement explanation was recorded for this task (it was started on a named instance).")

    def render(d: dict[str, Any]) -> None:
        if output == Output.text:
            from scheduler import explain_text

            say(f"Task {short(d['taskArn'])} on container instance {short(d.get('containerInstanceArn'))}:")
            say(explain_text(d["explanation"]))
            return
        found = client.call("GET", f"{c_path(cluster)}/container-instances")["containerInstances"]
        say(f"Task {short(d['taskArn'])}:")
        render_explanation(d["explanation"], found)

    emit(data, output, render)


# -- container instances -------------------------------------------------------------------


def _cpu(i: dict[str, Any]) -> str:
    return f"{res(i, 'remainingResources', 'CPU')}/{res(i, 'registeredResources', 'CPU')}"


def _mem(i: dict[str, Any]) -> str:
    return f"{res(i, 'remainingResources', 'MEMORY')}/{res(i, 'registeredResources', 'MEMORY')}"


INSTANCE_COLUMNS = [
    Column("NAME", lambda i: instance_name(i) or short(i["containerInstanceArn"])),
    Column("ID", lambda i: short(i["containerInstanceArn"])),
    Column("ZONE", zone),
    Column("STATUS", lambda i: i["status"]),
    Column("AGENT", lambda i: "ok" if i.get("agentConnected") else "LOST"),
    Column("CPU FREE", _cpu),
    Column("MEM FREE", _mem),
    Column("TASKS", lambda i: i.get("runningTasksCount")),
    Column("TYPE", lambda i: attr(i, "ecs.instance-type"), wide=True),
    Column("PENDING", lambda i: i.get("pendingTasksCount"), wide=True),
    Column("REGISTERED", lambda i: when(i.get("registeredAt")), wide=True),
    Column("STATUS REASON", lambda i: i.get("statusReason"), wide=True),
]


def _instances_table(data: dict[str, Any]) -> None:
    items = data.get("containerInstances") or ([data["containerInstance"]] if "containerInstance" in data else [])
    items = sorted(items, key=lambda i: natural(instance_name(i) or short(i["containerInstanceArn"])))
    table(INSTANCE_COLUMNS, items, empty="No container instances.")
    for f in data.get("failures", []):
        say(f"failure {f.get('reason')}: {f.get('detail') or short(f.get('arn'))}")


@instance_app.command("list")
def instance_list(
    filter: str = typer.Option(
        None, "--filter", help="Cluster query language, e.g. 'attribute:ecs.availability-zone == us-east-1a'."
    ),
    status: str = typer.Option(None, "--status"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
    watching: bool = WatchOpt,
) -> None:
    """Instances by name with zone, status, free CPU and memory; -o wide adds type and more."""
    client = Client()

    def fetch() -> dict[str, Any]:
        return client.call("GET", f"{c_path(cluster)}/container-instances", params={"filter": filter, "status": status})

    show(fetch, output, _instances_table, watching)


@instance_app.command("describe")
def instance_describe(instance: str = InstanceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    client = Client()
    ident = instance_id(client, cluster, instance)
    data = client.call("GET", f"{c_path(cluster)}/container-instances/{ident}")

    def render(d: dict[str, Any]) -> None:
        _instances_table(d)
        for i in d.get("containerInstances", []):
            say()
            table(
                [Column("ATTRIBUTE", lambda a: a["name"]), Column("VALUE", lambda a: a.get("value"))],
                i.get("attributes", []),
            )

    emit(data, output, render)


def _state_change(cluster: str, instance: str, verb: str, output: Output) -> None:
    client = Client()
    ident = instance_id(client, cluster, instance)
    emit(client.call("POST", f"{c_path(cluster)}/container-instances/{ident}/{verb}"), output, _instances_table)


@instance_app.command("drain")
def instance_drain(instance: str = InstanceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    _state_change(cluster, instance, "drain", output)


@instance_app.command("activate")
def instance_activate(instance: str = InstanceArg, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    _state_change(cluster, instance, "activate", output)


@instance_app.command("deregister")
def instance_deregister(
    instance: str = InstanceArg,
    force: bool = typer.Option(False, "--force"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    client = Client()
    ident = instance_id(client, cluster, instance)
    emit(
        client.call("DELETE", f"{c_path(cluster)}/container-instances/{ident}", params={"force": force}),
        output,
        _instances_table,
    )


@instance_app.command("set-attribute")
def instance_set_attribute(
    instance: str = InstanceArg,
    attribute: str = typer.Argument(..., help="NAME=VALUE"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    client = Client()
    ident = instance_id(client, cluster, instance)
    name, _, value = attribute.partition("=")
    body = {
        "attributes": [{"name": name, "value": value or None, "targetId": ident, "targetType": "container-instance"}]
    }
    emit(
        client.call("PUT", f"{c_path(cluster)}/attributes", json=body),
        output,
        lambda d: table(
            [
                Column("ATTRIBUTE", lambda a: a["name"]),
                Column("VALUE", lambda a: a.get("value")),
                Column("TARGET", lambda a: a["targetId"]),
            ],
            d["attributes"],
        ),
    )
