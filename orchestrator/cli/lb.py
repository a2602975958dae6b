"""`orchestrator lb`: load balancers for people: one address for a service, its targets and their health.

`lb create NAME --port P --service web` makes the three ELBv2 objects a service needs (a load
balancer, a target group, a listener on port P forwarding to it) and puts the service behind
them (its `loadBalancers`); the running tasks are registered as targets at once. Everything goes
through the same ELBv2 operations `aws elbv2` and boto3 reach.
"""

from __future__ import annotations

import contextlib
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError
from orchestrator.cli.output import Output, console, emit, print_json, short, table
from orchestrator.cli.resources import ClusterOpt, OutputOpt

lb_app = typer.Typer(help="Load balancers (ELBv2 on HAProxy): one address in front of a service.", no_args_is_help=True)


def _elb(client: Client, action: str, body: dict[str, Any]) -> dict[str, Any]:
    return client.call("POST", f"/v1/elbv2/{action}", json=body)


def _find(client: Client, name: str) -> dict[str, Any]:
    lbs = _elb(client, "DescribeLoadBalancers", {"Names": [name]})["LoadBalancers"]
    return dict(lbs[0])


def _groups(client: Client, lb_arn: str) -> list[dict[str, Any]]:
    return list(_elb(client, "DescribeTargetGroups", {"LoadBalancerArn": lb_arn})["TargetGroups"])


def _service_target(client: Client, cluster: str, spec: str) -> tuple[dict[str, Any], str, int]:
    """(service, container name, container port) for `web` or `web:CONTAINER:PORT`."""
    parts = spec.split(":")
    if len(parts) not in (1, 3) or not parts[0]:
        raise CliError(f"--service must be NAME or NAME:CONTAINER:PORT, got {spec!r}.")
    services = client.call("GET", f"/v1/clusters/{cluster}/services/{parts[0]}").get("services") or []
    if not services:
        raise CliError(f"Service not found: {parts[0]} in cluster {cluster}.")
    svc = services[0]
    td = client.call("GET", f"/v1/task-definitions/{svc['taskDefinition'].split('/')[-1]}")["taskDefinition"]
    if len(parts) == 3:
        if not parts[2].isdigit():
            raise CliError(f"--service {spec}: the container port must be a number.")
        return svc, parts[1], int(parts[2])
    for c in td["containerDefinitions"]:
        for pm in c.get("portMappings", []):
            return svc, c["name"], int(pm["containerPort"])
    raise CliError(f"Task definition {td['family']}:{td['revision']} has no container port to balance.")


@lb_app.command("create")
def lb_create(
    name: str,
    port: int = typer.Option(..., "--port", "-p", min=1, max=65535, help="Port the load balancer listens on."),
    service: str = typer.Option(None, "--service", "-s", help="Put this service behind it: NAME[:CONTAINER:PORT]."),
    lb_type: str = typer.Option("application", "--type", help="application (HTTP) or network (TCP)."),
    health_path: str = typer.Option("/", "--health-path", help="HTTP health check path (application only)."),
    health_interval: int = typer.Option(30, "--health-interval", min=5, max=300, help="Seconds between checks."),
    healthy_threshold: int = typer.Option(5, "--healthy-threshold", min=2, max=10, help="Passes to be healthy."),
    deregistration_delay: int = typer.Option(
        300, "--deregistration-delay", min=0, max=3600, help="Seconds a leaving target drains before its task stops."
    ),
    cluster: str = ClusterOpt,
    output: Output = OutputOpt,
) -> None:
    """A load balancer, a target group and a listener in one step (and the service's loadBalancers)."""
    client = Client()
    target = _service_target(client, cluster, service) if service else None
    protocol = "HTTP" if lb_type == "application" else "TCP"
    created: list[tuple[str, dict[str, Any]]] = []
    try:
        lb = _elb(client, "CreateLoadBalancer", {"Name": name, "Type": lb_type})["LoadBalancers"][0]
        created.append(("DeleteLoadBalancer", {"LoadBalancerArn": lb["LoadBalancerArn"]}))
        group_req: dict[str, Any] = {
            "Name": name,
            "Protocol": protocol,
            "Port": target[2] if target else port,
            "TargetType": "instance",
            "HealthCheckIntervalSeconds": health_interval,
            "HealthyThresholdCount": healthy_threshold,
        }
        if health_interval <= 5:
            group_req["HealthCheckTimeoutSeconds"] = 2  # ELB wants the timeout below the interval
        if protocol == "HTTP":
            group_req["HealthCheckPath"] = health_path
        group = _elb(client, "CreateTargetGroup", group_req)["TargetGroups"][0]
        created.insert(0, ("DeleteTargetGroup", {"TargetGroupArn": group["TargetGroupArn"]}))
        _elb(
            client,
            "ModifyTargetGroupAttributes",
            {
                "TargetGroupArn": group["TargetGroupArn"],
                "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}],
            },
        )
        listener = _elb(
            client,
            "CreateListener",
            {
                "LoadBalancerArn": lb["LoadBalancerArn"],
                "Protocol": protocol,
                "Port": port,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
            },
        )["Listeners"][0]
        created.insert(0, ("DeleteListener", {"ListenerArn": listener["ListenerArn"]}))
        if target:
            svc, container, container_port = target
            lbs = [*svc.get("loadBalancers", [])]
            lbs.append(
                {"targetGroupArn": group["TargetGroupArn"], "containerName": container, "containerPort": container_port}
            )
            client.call("PATCH", f"/v1/clusters/{cluster}/services/{svc['serviceName']}", json={"loadBalancers": lbs})
    except CliError:
        for action, body in created:  # leave nothing half made
            with contextlib.suppress(CliError):
                _elb(client, action, body)
        raise
    result = {"LoadBalancer": lb, "TargetGroup": group, "Listener": listener}
    if output == Output.json:
        print_json(result)
        return
    url = f"{'http' if protocol == 'HTTP' else 'tcp'}://{lb['DNSName']}:{port}/"
    console.print(f"load balancer {name}: {url}", highlight=False)
    if target:
        console.print(f"  service {target[0]['serviceName']} ({target[1]}:{target[2]}) behind it", highlight=False)
    console.print(f"  targets and health: orchestrator lb targets {name}", style="dim")


@lb_app.command("list")
def lb_list(output: Output = OutputOpt) -> None:
    """Every load balancer with its address, listeners and healthy targets."""
    client = Client()
    rows = []
    data = _elb(client, "DescribeLoadBalancers", {})
    for lb in data["LoadBalancers"]:
        listeners = _elb(client, "DescribeListeners", {"LoadBalancerArn": lb["LoadBalancerArn"]})["Listeners"]
        healthy = total = 0
        for g in _groups(client, lb["LoadBalancerArn"]):
            states = [
                d["TargetHealth"]["State"]
                for d in _elb(client, "DescribeTargetHealth", {"TargetGroupArn": g["TargetGroupArn"]})[
                    "TargetHealthDescriptions"
                ]
            ]
            healthy += states.count("healthy")
            total += len(states)
        ports = ",".join(str(lst["Port"]) for lst in listeners) or "-"
        rows.append([lb["LoadBalancerName"], lb["Type"], f"{lb['DNSName']}:{ports}", f"{healthy}/{total}"])
    if output == Output.json:
        print_json(data)
        return
    table("Load balancers", ["name", "type", "address", "healthy targets"], rows)


@lb_app.command("describe")
def lb_describe(name: str, output: Output = OutputOpt) -> None:
    """The load balancer, its listeners and its target groups."""
    client = Client()
    lb = _find(client, name)
    listeners = _elb(client, "DescribeListeners", {"LoadBalancerArn": lb["LoadBalancerArn"]})["Listeners"]
    groups = _groups(client, lb["LoadBalancerArn"])
    data = {"LoadBalancer": lb, "Listeners": listeners, "TargetGroups": groups}

    def render(_: dict[str, Any]) -> None:
        console.print(
            f"[bold]{lb['LoadBalancerName']}[/bold] ({lb['Type']}, {lb['Scheme']}) at {lb['DNSName']}", highlight=False
        )
        table(
            "Listeners",
            ["port", "protocol", "forwards to"],
            [
                [
                    lst["Port"],
                    lst["Protocol"],
                    ", ".join(
                        f"{short(g['TargetGroupArn'].rsplit('/', 1)[0])} ({g.get('Weight', 1)})"
                        for a in lst["DefaultActions"]
                        for g in a.get("ForwardConfig", {}).get("TargetGroups", [])
                    ),
                ]
                for lst in listeners
            ],
        )
        table(
            "Target groups",
            ["name", "protocol", "port", "health check", "every", "healthy after", "unhealthy after"],
            [
                [
                    g["TargetGroupName"],
                    g["Protocol"],
                    g["Port"],
                    f"{g.get('HealthCheckProtocol')} {g.get('HealthCheckPath', '')}".strip(),
                    f"{g.get('HealthCheckIntervalSeconds')} s",
                    g.get("HealthyThresholdCount"),
                    g.get("UnhealthyThresholdCount"),
                ]
                for g in groups
            ],
        )

    emit(data, output, render)


@lb_app.command("targets")
def lb_targets(name: str, output: Output = OutputOpt) -> None:
    """The targets of the load balancer's target groups, with ELB's health state and reason."""
    client = Client()
    lb = _find(client, name)
    rows: list[dict[str, Any]] = []
    for g in _groups(client, lb["LoadBalancerArn"]):
        health = _elb(client, "DescribeTargetHealth", {"TargetGroupArn": g["TargetGroupArn"]})
        rows += [{**d, "TargetGroupArn": g["TargetGroupArn"]} for d in health["TargetHealthDescriptions"]]
    data = {"TargetHealthDescriptions": rows}

    def render(_: dict[str, Any]) -> None:
        table(
            f"Targets of {name}",
            ["target group", "target", "port", "state", "reason", "description"],
            [
                [
                    r["TargetGroupArn"].rsplit("/", 2)[-2],
                    r["Target"]["Id"],
                    r["Target"]["Port"],
                    r["TargetHealth"].get("State"),
                    r["TargetHealth"].get("Reason"),
                    r["TargetHealth"].get("Description"),
                ]
                for r in rows
            ],
        )

    emit(data, output, render)


@lb_app.command("delete")
def lb_delete(name: str, cluster: str = ClusterOpt) -> None:
    """Delete the load balancer, its listeners and target groups; services behind it leave it first."""
    client = Client()
    lb = _find(client, name)
    groups = {g["TargetGroupArn"] for g in _groups(client, lb["LoadBalancerArn"])}
    for svc in client.call("GET", f"/v1/clusters/{cluster}/services").get("services", []):
        kept = [x for x in svc.get("loadBalancers", []) if x.get("targetGroupArn") not in groups]
        if len(kept) != len(svc.get("loadBalancers", [])):
            client.call("PATCH", f"/v1/clusters/{cluster}/services/{svc['serviceName']}", json={"loadBalancers": kept})
    _elb(client, "DeleteLoadBalancer", {"LoadBalancerArn": lb["LoadBalancerArn"]})
    for g in sorted(groups):
        _elb(client, "DeleteTargetGroup", {"TargetGroupArn": g})
    console.print(f"deleted load balancer {name} and {len(groups)} target group(s)", highlight=False)
