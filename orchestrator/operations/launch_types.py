"""launchType and platformVersion on RunTask, CreateService and UpdateService: EC2 (the cluster's
container instances) or FARGATE (the managed pool, orchestrator/core/fargate.py), with ECS's rules.

platformVersion means something only for FARGATE (LATEST or 1.4.0, the one platform here; others
are refused by name) and must be absent for EC2, as ECS says. Fargate chooses where its tasks run,
so placementStrategy and placementConstraints are refused with FARGATE, and the task definition
must report FARGATE among its compatibilities.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import fargate
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import TaskDefinition
from orchestrator.operations.common import opt_str

FARGATE = fargate.LAUNCH_TYPE
EC2 = "EC2"


def launch_type(req: dict[str, Any], default: str = EC2) -> str:
    value = opt_str(req, "launchType", default) or default
    if value == "EXTERNAL":
        raise InvalidParameterException(
            "launchType EXTERNAL is not supported here: there are no external instances; use EC2 or FARGATE."
        )
    if value not in (EC2, FARGATE):
        raise InvalidParameterException(f"launchType must be EC2, FARGATE or EXTERNAL, got {value!r}.")
    return value


def platform_version(req: dict[str, Any], launch: str) -> str | None:
    """The platform version a FARGATE launch asked for (LATEST by default); None for EC2."""
    value = opt_str(req, "platformVersion")
    if launch != FARGATE:
        if value:
            raise InvalidParameterException(
                "The platform version must be null when specifying an EC2 launch type (platformVersion is for "
                "launchType FARGATE)."
            )
        return None
    if not value:
        return "LATEST"
    if value not in fargate.PLATFORM_VERSIONS:
        raise InvalidParameterException(
            f"platformVersion {value} is not supported here: Fargate tasks run on platform version "
            f"{fargate.PLATFORM_VERSION}; use LATEST or {fargate.PLATFORM_VERSION}."
        )
    return value


def refuse_placement(req: dict[str, Any], launch: str) -> None:
    if launch != FARGATE:
        return
    for member in ("placementStrategy", "placementConstraints"):
        if req.get(member):
            raise InvalidParameterException(
                f"{member} is not supported with launch type FARGATE: Fargate chooses where its tasks run; remove it."
            )


def check_task_definition(td: TaskDefinition, launch: str) -> None:
    """Before the network configuration's own checks (an awsvpc task's, service_members): a
    definition Fargate cannot run is the first thing to say."""
    if launch == FARGATE and FARGATE not in td.compatibilities:
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")


def launch_fields(launch: str, platform: str | None) -> dict[str, Any]:
    """A service's and a deployment's launch members, as ECS shows them."""
    if launch != FARGATE:
        return {"launchType": launch}
    return {"launchType": launch, "platformVersion": platform or "LATEST", "platformFamily": fargate.PLATFORM_FAMILY}
