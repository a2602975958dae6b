"""A service's `loadBalancers` (CreateService/UpdateService): checked against ELB's target groups.

Each entry names a target group (which must exist and be used by a load balancer's listener), a
container of the task definition and one of its container ports, as ECS requires; an `ip` target
group takes awsvpc tasks (registered at their own IP), an `instance` one bridge and host mode
tasks (at their instance's address and host port). Classic load balancers
(`loadBalancerName`) do not exist here and are refused by name.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import elb
from orchestrator.core.context import Context
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import TaskDefinition

MAX_LOAD_BALANCERS = 5


def validated(ctx: Context, raw: Any, td: TaskDefinition) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidParameterException("loadBalancers must be a list.")
    if len(raw) > MAX_LOAD_BALANCERS:
        raise InvalidParameterException(f"loadBalancers can name at most {MAX_LOAD_BALANCERS} target groups.")
    out = []
    seen = set()
    for i, item in enumerate(raw):
        where = f"loadBalancers[{i}]"
        if not isinstance(item, dict):
            raise InvalidParameterException(f"{where} must be an object.")
        unknown = sorted(set(item) - {"targetGroupArn", "loadBalancerName", "containerName", "containerPort"})
        if unknown:
            raise InvalidParameterException(f"{where}.{unknown[0]} is not supported by this endpoint.")
        if item.get("loadBalancerName"):
            raise InvalidParameterException(
                f"{where}.loadBalancerName names a Classic Load Balancer, which does not exist here; "
                "use targetGroupArn (an ELBv2 target group)."
            )
        arn, name, port = item.get("targetGroupArn"), item.get("containerName"), item.get("containerPort")
        if not isinstance(arn, str) or not arn:
            raise InvalidParameterException(f"{where}.targetGroupArn is required.")
        group = elb.get(ctx.store, elb.TG, arn)
        if group is None:
            raise InvalidParameterException(f"The target group with targetGroupArn {arn} does not exist.")
        if not elb.load_balancers_of_group(ctx.store, arn):
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer."
            )
        if not isinstance(name, str) or not name:
            raise InvalidParameterException(f"{where}.containerName is required.")
        if isinstance(port, bool) or not isinstance(port, int):
            raise InvalidParameterException(f"{where}.containerPort is required (an integer).")
        container = next((c for c in td.containerDefinitions if c.name == name), None)
        if container is None:
            raise InvalidParameterException(
                f"The container {name} does not exist in the task definition {td.family_revision()}."
            )
        if port not in [pm.containerPort for pm in container.portMappings]:
            raise InvalidParameterException(f"The container {name} did not have a container port {port} defined.")
        # ECS registers an awsvpc task by its own IP, a bridge or host one by its instance.
        mode = td.network_mode
        if (group["TargetType"] == "ip") != (mode == "awsvpc"):
            raise InvalidParameterException(
                f"The provided target group {arn} has target type {group['TargetType']}, which is incompatible "
                f"with the {mode} network mode specified in the task definition."
            )
        if (arn, name, port) in seen:
            raise InvalidParameterException(f"{where} repeats target group {arn} with the same container and port.")
        seen.add((arn, name, port))
        out.append({"targetGroupArn": arn, "containerName": name, "containerPort": port})
    return out
