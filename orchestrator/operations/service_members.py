"""The CreateService / UpdateService / RunTask members beyond counts and placement: checked, kept, or refused.

Everything a request carries is either kept (and returned) or refused with an error naming the
member: `loadBalancers`, `serviceRegistries`, `role`, `networkConfiguration`, `propagateTags`,
`enableECSManagedTags`, `enableExecuteCommand` and `deploymentController: ECS` are kept as ECS
validates them (launchType and platformVersion: `launch_types`); what needs machinery we do not
have (capacity providers, Service Connect, task sets for EXTERNAL / CODE_DEPLOY controllers, DAEMON scheduling)
is refused by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import ACCOUNT
from orchestrator.core.task_network import LOCAL_SUBNET
from orchestrator.operations.common import opt_bool, opt_list, opt_str

# Members whose presence we cannot honour, with what to do instead.
NOT_SUPPORTED: dict[str, str] = {
    "capacityProviderStrategy": "capacity providers do not exist here; use launchType EC2 (or omit it)",
    "serviceConnectConfiguration": "Service Connect is not available here",
    "volumeConfigurations": "managed EBS volumes are not available here",
    "vpcLatticeConfigurations": "VPC Lattice is not available here",
    "gatewayConnectors": "gateway connectors are not available here",
    "monitoring": "service monitoring configurations are not available here",
    "referenceId": "referenceId is not available here",
    "resourceManagementType": "resourceManagementType is not available here",
}

DEPLOYMENT_CONFIGURATION_KEPT = ("deploymentCircuitBreaker", "maximumPercent", "minimumHealthyPercent", "strategy")


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def refuse_unsupported(req: dict[str, Any], members: Iterable[str]) -> None:
    """InvalidParameterException naming the first of `members` that `req` carries and we cannot honour."""
    for name in members:
        if _present(req.get(name)) and name in NOT_SUPPORTED:
            raise InvalidParameterException(f"{name} is not supported by this endpoint: {NOT_SUPPORTED[name]}.")


def check_deployment_configuration_members(raw: Any) -> None:
    if not isinstance(raw, dict):
        return
    for key, value in raw.items():
        if key not in DEPLOYMENT_CONFIGURATION_KEPT and _present(value):
            raise InvalidParameterException(
                f"deploymentConfiguration.{key} is not supported by this endpoint; "
                f"supported: {', '.join(DEPLOYMENT_CONFIGURATION_KEPT)}."
            )
    strategy = raw.get("strategy")
    if strategy is not None and strategy != "ROLLING":
        raise InvalidParameterException(
            f"deploymentConfiguration.strategy {strategy!r} is not supported by this endpoint; only ROLLING."
        )


def scheduling_strategy(req: dict[str, Any]) -> str:
    value = opt_str(req, "schedulingStrategy", "REPLICA") or "REPLICA"
    if value not in ("REPLICA", "DAEMON"):
        raise InvalidParameterException(f"schedulingStrategy must be REPLICA or DAEMON, got {value!r}.")
    return value


def check_daemon(req: dict[str, Any]) -> None:
    """What ECS refuses for a DAEMON service: a desired count (it is one per instance) and placement strategies."""
    if req.get("desiredCount") is not None:
        raise InvalidParameterException(
            "desiredCount is not supported with the DAEMON scheduling strategy: it runs one task per instance."
        )
    if req.get("placementStrategy"):
        raise InvalidParameterException("placementStrategy is not supported with the DAEMON scheduling strategy.")


def deployment_controller(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"type": "ECS"}
    if not isinstance(raw, dict):
        raise InvalidParameterException("deploymentController must be an object with a type.")
    kind = raw.get("type")
    if kind in ("EXTERNAL", "CODE_DEPLOY"):
        raise InvalidParameterException(
            f"deploymentController type {kind} is not supported by this endpoint (it needs task sets); use ECS."
        )
    if kind != "ECS":
        raise InvalidParameterException(
            f"deploymentController.type must be ECS, EXTERNAL or CODE_DEPLOY, got {kind!r}."
        )
    return {"type": "ECS"}


def propagate_tags(req: dict[str, Any], allowed: tuple[str, ...], default: str = "NONE") -> str:
    value = opt_str(req, "propagateTags", default) or default
    if value not in allowed:
        raise InvalidParameterException(f"propagateTags must be one of {', '.join(allowed)}, got {value!r}.")
    return value


def service_registries(req: dict[str, Any]) -> list[dict[str, Any]]:
    raw = opt_list(req, "serviceRegistries")
    if len(raw) > 1:
        raise InvalidParameterException("serviceRegistries: at most one service registry is allowed.")
    out = []
    for i, reg in enumerate(raw):
        where = f"serviceRegistries[{i}]"
        if not isinstance(reg, dict) or not isinstance(reg.get("registryArn"), str) or not reg["registryArn"]:
            raise InvalidParameterException(f"{where}.registryArn is required.")
        unknown = sorted(set(reg) - {"registryArn", "port", "containerName", "containerPort"})
        if unknown:
            raise InvalidParameterException(f"{where}.{unknown[0]} is not supported by this endpoint.")
        out.append(dict(reg))
    return out


# Set (True) by the ECS endpoint on the requests it hands over: there ECS's own rules hold to the
# letter (an awsvpc task needs a networkConfiguration); the REST API and the CLI fill in the one
# local subnet instead. Only ever makes a request stricter, so a REST caller sending it is harmless.
ECS_WIRE = "__ecsWire"
NETWORK_REQUIRED = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
NETWORK_NOT_VALID = "Network Configuration is not valid for the given networkMode of this task definition."


def local_network_configuration() -> dict[str, Any]:
    return {"awsvpcConfiguration": {"subnets": [LOCAL_SUBNET], "securityGroups": [], "assignPublicIp": "DISABLED"}}


def network_configuration(req: dict[str, Any], network_mode: str) -> dict[str, Any] | None:
    """The request's networkConfiguration as kept, for a task definition of `network_mode`.

    There is one subnet here, `subnet-local` (the agents' Docker network for awsvpc tasks, see
    core/task_network), and no security groups: a task's ports are open to whoever reaches its IP,
    so naming a group is refused rather than kept and not enforced.
    """
    raw = req.get("networkConfiguration")
    if raw is None:
        if network_mode != "awsvpc":
            return None
        if req.get(ECS_WIRE):
            raise InvalidParameterException(NETWORK_REQUIRED)
        return local_network_configuration()
    if not isinstance(raw, dict) or not isinstance(raw.get("awsvpcConfiguration"), dict):
        raise InvalidParameterException("networkConfiguration must hold an awsvpcConfiguration object.")
    if network_mode != "awsvpc":
        raise InvalidParameterException(NETWORK_NOT_VALID)
    vpc = raw["awsvpcConfiguration"]
    where = "networkConfiguration.awsvpcConfiguration"
    subnets = vpc.get("subnets")
    if not isinstance(subnets, list) or not subnets or len(subnets) > 16:
        raise InvalidParameterException(f"{where}.subnets must name 1 to 16 subnets.")
    for subnet in subnets:
        if subnet != LOCAL_SUBNET:
            raise InvalidParameterException(
                f"{where}.subnets: {subnet!r} is not a subnet here. The one subnet is {LOCAL_SUBNET} (the agents' "
                f"Docker network for awsvpc tasks); use subnets [{LOCAL_SUBNET!r}]."
            )
    groups = vpc.get("securityGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise InvalidParameterException(f"{where}.securityGroups: at most 5.")
    if groups:
        raise InvalidParameterException(
            f"{where}.securityGroups: {', '.join(map(str, groups))}: there are no security groups here, so none "
            "could be enforced (a task's ports are open to whoever reaches its IP); leave securityGroups out."
        )
    public = vpc.get("assignPublicIp", "DISABLED")
    if public == "ENABLED":
        raise InvalidParameterException(f"{where}.assignPublicIp ENABLED is only supported with FARGATE.")
    if public != "DISABLED":
        raise InvalidParameterException(f"{where}.assignPublicIp must be DISABLED.")
    unknown = sorted(set(vpc) - {"subnets", "securityGroups", "assignPublicIp"})
    if unknown:
        raise InvalidParameterException(f"{where}.{unknown[0]} is not a member of awsvpcConfiguration.")
    return {"awsvpcConfiguration": {"subnets": list(subnets), "securityGroups": [], "assignPublicIp": public}}


def role_arn(req: dict[str, Any], load_balanced: bool, network_mode: str) -> str | None:
    role = opt_str(req, "role")
    if not role:
        return None
    if not load_balanced:
        raise InvalidParameterException("role can only be specified for a service that uses a load balancer.")
    if network_mode == "awsvpc":
        raise InvalidParameterException(
            "role cannot be specified for a task definition that uses the awsvpc network mode."
        )
    if role.startswith("arn:"):
        return role
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def execute_command(req: dict[str, Any], default: bool = False) -> bool:
    return opt_bool(req, "enableExecuteCommand", default)


def managed_tags(req: dict[str, Any], default: bool = False) -> bool:
    return opt_bool(req, "enableECSManagedTags", default)


def availability_zone_rebalancing(req: dict[str, Any]) -> None:
    value = req.get("availabilityZoneRebalancing")
    if value not in (None, "DISABLED"):
        raise InvalidParameterException(
            f"availabilityZoneRebalancing {value!r} is not supported by this endpoint; only DISABLED."
        )
