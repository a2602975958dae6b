"""CLI verbs for clusters, task definitions, tasks and container instances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError
from orchestrator.cli.output import Output, console, emit, print_json, short, table, when
from orchestrator.cli.placement_flags import parse_constraints, parse_strategies

ClusterOpt = typer.Option("default", "--cluster", "-c", envvar="ORCH_CLUSTER", help="Cluster name.")
OutputOpt = typer.Option(Output.table, "--output", "-o", help="table or json (ECS-shaped).")

cluster_app = typer.Typer(help="Create, list, describe and delete clusters.", no_args_is_help=True)
taskdef_app = typer.Typer(help="Register and inspect ECS task definitions.", no_args_is_help=True)
task_app = typer.Typer(help="Run, list, describe, explain and stop tasks.", no_args_is_help=True)
instance_app = typer.Typer(
    help="List, describe, drain, activate and deregister container instances.", no_args_is_help=True
)


def _zone(inst: dict[str, Any]) -> str:
    return next((a.get("value", "") for a in inst.get("attributes", []) if a["name"] == "ecs.availability-zone"), "")


def _attr(inst: dict[str, Any], name: str) -> str:
    return next((a.get("value", "") for a in inst.get("attributes", []) if a["name"] == name), "")


def _res(inst: dict[str, Any], which: str, name: str) -> Any:
    return next((r.get("integerValue") for r in inst.get(which, []) if r["name"] == name), None)


# -- clusters ------------------------------------------------------------------------------


def _clusters_table(data: dict[str, Any]) -> None:
    items = data.get("clusters") or ([data["cluster"]] if "cluster" in data else [])
    table(
        "Clusters",
        ["name", "status", "instances", "services", "running", "pending"],
        [
            [
                c["clusterName"],
                c["status"],
                c.get("registeredContainerInstancesCount"),
                c.get("activeServicesCount"),
                c.get("runningTasksCount"),
                c.get("pendingTasksCount"),
            ]
            for c in items
        ],
    )


@cluster_app.command("create")
def cluster_create(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("POST", "/v1/clusters", json={"clusterName": name}), output, _clusters_table)


@cluster_app.command("list")
def cluster_list(output: Output = OutputOpt) -> None:
    emit(Client().call("GET", "/v1/clusters"), output, _clusters_table)


@cluster_app.command("describe")
def cluster_describe(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/clusters/{name}"), output, _clusters_table)


@cluster_app.command("delete")
def cluster_delete(name: str, output: Output = OutputOpt) -> None:
    emit(Client().call("DELETE", f"/v1/clusters/{name}"), output, _clusters_table)


# -- task definitions ----------------------------------------------------------------------


def _taskdef_table(data: dict[str, Any]) -> None:
    td = data["taskDefinition"]
    table(
        f"Task definition {td['family']}:{td['revision']} ({td['status']})",
        ["container", "image", "cpu", "memory", "reservation", "essential", "ports"],
        [
            [
                c["name"],
                c["image"],
                c.get("cpu", 0),
                c.get("memory"),
                c.get("memoryReservation"),
                c.get("essential", True),
                ", ".join(
                    f"{p.get('hostPort') or 'dyn'}->{p['containerPort']}/{p.get('protocol', 'tcp')}"
                    for p in c.get("portMappings", [])
                ),
            ]
            for c in td["containerDefinitions"]
        ],
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
        raise CliError(f"Cannot read {file}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise CliError(f"{file} is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise CliError(f"{file} must hold a JSON object (a task definition).")
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
            "Task definitions",
            ["task definition"],
            [[a.split("task-definition/")[-1]] for a in d["taskDefinitionArns"]],
        ),
    )


@taskdef_app.command("describe")
def taskdef_describe(ref: str, output: Output = OutputOpt) -> None:
    emit(Client().call("GET", f"/v1/task-definitions/{ref}"), output, _taskdef_table)


@taskdef_app.command("deregister")
def taskdef_deregister(ref: str, output: Output = OutputOpt) -> None:
    emit(Client().call("DELETE", f"/v1/task-definitions/{ref}"), output, _taskdef_table)


# -- tasks ---------------------------------------------------------------------------------


def _tasks_table(data: dict[str, Any]) -> None:
    tasks = data.get("tasks", [])
    table(
        f"Tasks ({len(tasks)})",
        [
            "task",
            "task definition",
            "group",
            "instance",
            "zone",
            "last",
            "desired",
            "health",
            "started",
            "stopped reason",
        ],
        [
            [
                short(t["taskArn"]),
                t["taskDefinitionArn"].split("/")[-1],
                t.get("group"),
                short(t.get("containerInstanceArn")),
                t.get("availabilityZone"),
                t["lastStatus"],
                t["desiredStatus"],
                t.get("healthStatus"),
                when(t.get("startedAt")),
                t.get("stoppedReason"),
            ]
            for t in tasks
        ],
    )
    for f in data.get("failures", []):
        console.print(f"[red]failure[/red] {f.get('reason')}: {f.get('detail') or short(f.get('arn'))}")


@task_app.command("run")
def task_run(
    taskdef: str = typer.Option(..., "--taskdef", "-t", help="family, family:revision or ARN."),
    count: int = typer.Option(1, "--count"),
    strategy: list[str] = typer.Option([], "--strategy", help="spread:FIELD, binpack:cpu|memory or random; repeat."),
    constraint: list[str] = typer.Option([], "--constraint", help="distinctInstance or 'memberOf:EXPR'; repeat."),
    group: str = typer.Option(None, "--group"),
    started_by: str = typer.Option(None, "--started-by"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    body: dict[str, Any] = {
        "taskDefinition": taskdef,
        "count": count,
        "group": group,
        "startedBy": started_by,
        "placementStrategy": parse_strategies(strategy),
        "placementConstraints": parse_constraints(constraint),
    }
    emit(
        Client().call("POST", f"/v1/clusters/{cluster}/tasks", json={k: v for k, v in body.items() if v is not None}),
        output,
        _tasks_table,
    )


@task_app.command("start")
def task_start(
    instances: list[str] = typer.Argument(..., help="Container instance ids or ARNs."),
    taskdef: str = typer.Option(..., "--taskdef", "-t"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    emit(
        Client().call(
            "POST",
            f"/v1/clusters/{cluster}/tasks/start",
            json={"taskDefinition": taskdef, "containerInstances": instances},
        ),
        output,
        _tasks_table,
    )


@task_app.command("list")
def task_list(
    service: str = typer.Option(None, "--service", "-s"),
    desired_status: str = typer.Option("RUNNING", "--desired-status"),
    instance: str = typer.Option(None, "--instance"),
    family: str = typer.Option(None, "--family"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    data = Client().call(
        "GET",
        f"/v1/clusters/{cluster}/tasks",
        params={
            "serviceName": service,
            "desiredStatus": desired_status,
            "containerInstance": instance,
            "family": family,
        },
    )
    emit(data, output, _tasks_table)


@task_app.command("describe")
def task_describe(task: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    data = Client().call("GET", f"/v1/clusters/{cluster}/tasks/{task}")
    if output == Output.json:
        print_json(data)
        return
    _tasks_table(data)
    for t in data.get("tasks", []):
        table(
            "Containers",
            ["name", "image", "last", "exit", "health", "ports", "reason"],
            [
                [
                    c["name"],
                    c["image"],
                    c.get("lastStatus"),
                    c.get("exitCode"),
                    c.get("healthStatus"),
                    ", ".join(f"{b['hostPort']}->{b['containerPort']}" for b in c.get("networkBindings", [])),
                    c.get("reason"),
                ]
                for c in t.get("containers", [])
            ],
        )


@task_app.command("stop")
def task_stop(
    task: str, reason: str = typer.Option(None, "--reason"), cluster: str = ClusterOpt, output: Output = OutputOpt
) -> None:
    data = Client().call("POST", f"/v1/clusters/{cluster}/tasks/{task}/stop", json={"reason": reason} if reason else {})
    emit(data, output, lambda d: _tasks_table({"tasks": [d["task"]]}))


@task_app.command("explain")
def task_explain(task: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    """Why the scheduler put a task where it is: filters, strategy rankings, the winner."""
    from scheduler import explain_text

    data = Client().call("GET", f"/v1/clusters/{cluster}/tasks/{task}/explanation")
    if output == Output.json:
        print_json(data)
        return
    if not data.get("explanation"):
        raise CliError("No placement explanation was recorded for this task.")
    console.print(f"Task {short(data['taskArn'])} on container instance {short(data.get('containerInstanceArn'))}:")
    console.print(explain_text(data["explanation"]), markup=False, highlight=False)


# -- container instances -------------------------------------------------------------------


def _instances_table(data: dict[str, Any]) -> None:
    items = data.get("containerInstances") or ([data["containerInstance"]] if "containerInstance" in data else [])
    table(
        f"Container instances ({len(items)})",
        ["id", "name", "zone", "type", "status", "agent", "cpu free/total", "mem free/total", "running", "pending"],
        [
            [
                short(i["containerInstanceArn"]),
                _attr(i, "orch.name"),
                _zone(i),
                _attr(i, "ecs.instance-type"),
                i["status"],
                "connected" if i.get("agentConnected") else "DISCONNECTED",
                f"{_res(i, 'remainingResources', 'CPU')}/{_res(i, 'registeredResources', 'CPU')}",
                f"{_res(i, 'remainingResources', 'MEMORY')}/{_res(i, 'registeredResources', 'MEMORY')}",
                i.get("runningTasksCount"),
                i.get("pendingTasksCount"),
            ]
            for i in items
        ],
    )


@instance_app.command("list")
def instance_list(
    filter: str = typer.Option(
        None, "--filter", help="Cluster query language, e.g. 'attribute:ecs.availability-zone == us-east-1a'."
    ),
    status: str = typer.Option(None, "--status"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    data = Client().call(
        "GET", f"/v1/clusters/{cluster}/container-instances", params={"filter": filter, "status": status}
    )
    emit(data, output, _instances_table)


@instance_app.command("describe")
def instance_describe(instance: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    data = Client().call("GET", f"/v1/clusters/{cluster}/container-instances/{instance}")
    if output == Output.json:
        print_json(data)
        return
    _instances_table(data)
    for i in data.get("containerInstances", []):
        table("Attributes", ["name", "value"], [[a["name"], a.get("value")] for a in i.get("attributes", [])])


@instance_app.command("drain")
def instance_drain(instance: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    emit(
        Client().call("POST", f"/v1/clusters/{cluster}/container-instances/{instance}/drain"), output, _instances_table
    )


@instance_app.command("activate")
def instance_activate(instance: str, cluster: str = ClusterOpt, output: Output = OutputOpt) -> None:
    emit(
        Client().call("POST", f"/v1/clusters/{cluster}/container-instances/{instance}/activate"),
        output,
        _instances_table,
    )


@instance_app.command("deregister")
def instance_deregister(
    instance: str, force: bool = typer.Option(False, "--force"), cluster: str = ClusterOpt, output: Output = OutputOpt
) -> None:
    emit(
        Client().call("DELETE", f"/v1/clusters/{cluster}/container-instances/{instance}", params={"force": force}),
        output,
        _instances_table,
    )


@instance_app.command("set-attribute")
def instance_set_attribute(
    instance: str,
    attribute: str = typer.Argument(..., help="NAME=VALUE"),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    name, _, value = attribute.partition("=")
    body = {
        "attributes": [{"name": name, "value": value or None, "targetId": instance, "targetType": "container-instance"}]
    }
    emit(
        Client().call("PUT", f"/v1/clusters/{cluster}/attributes", json=body),
        output,
        lambda d: table(
            "Attributes",
            ["name", "value", "target"],
            [[a["name"], a.get("value"), a["targetId"]] for a in d["attributes"]],
        ),
    )


def render_plan(data: dict[str, Any]) -> None:
    """`svc plan` output: each step of the change, the tasks it starts (where, and why) and stops."""
    what = "a new deployment" if data["newDeployment"] else "a scale change"
    if data.get("drainInstances"):
        what += ", draining " + " ".join(short(a) for a in data["drainInstances"])
    console.print(
        f"Plan for service {data['service']} ({what}, {data['taskDefinition'].split('/')[-1]}, "
        f"desired {data['desiredCount']}, profile {data['schedulerProfile']}): nothing is changed."
    )
    steps = data.get("steps", [])
    if not any(s["starts"] or s["stops"] for s in steps):
        console.print("No task would start or stop.")
    for step in steps:
        rows = [
            ["+ start", short(x["taskArn"]), x.get("name"), x.get("availabilityZone"), x["reason"]]
            for x in step["starts"]
        ]
        rows += [
            ["- stop", short(x["taskArn"]), x.get("name"), x.get("availabilityZone"), x["reason"]]
            for x in step["stops"]
        ]
        if not rows:
            console.print(f"Step {step['step']}:")
        else:
            table(
                f"Step {step['step']}: start {len(step['starts'])}, stop {len(step['stops'])}",
                ["", "task", "instance", "zone", "why"],
                rows,
            )
        for event in step.get("events", []):
            console.print(f"  {event}", markup=False, highlight=False)
    if data.get("unplaced"):
        console.print(
            f"[red]{data['unplaced']} tasks could not be placed:[/red] {data.get('failure')}", highlight=False
        )
    if not data.get("converged", True):
        console.print("[yellow]The plan stops here: the change has not finished after its last step.[/yellow]")
