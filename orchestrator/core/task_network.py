"""A task's own network (networkMode awsvpc): the local subnet, its ENI attachment, and what the agent reports.

On ECS an awsvpc task gets an elastic network interface in one of the subnets named by the
request's networkConfiguration. Here the agent gives each awsvpc task its own network namespace
(a sandbox container on the agent's Docker bridge network `orch-awsvpc`) and the task's IP is the
sandbox's address on that network. There is one local subnet, `subnet-local`: the Docker network
every agent attaches its awsvpc tasks to. A task's attachment is made when it is placed (status
PRECREATED, with the subnet) and filled in from the agent's report once the sandbox runs
(ATTACHED, with privateIPv4Address, macAddress and networkInterfaceId = Docker's endpoint id);
it is DELETED once the task has stopped (the sandbox is removed after the task's containers).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

LOCAL_SUBNET = "subnet-local"
# The Docker network (bridge driver) each agent keeps for the awsvpc tasks it runs.
AWSVPC_NETWORK = "orch-awsvpc"
ENI = "ElasticNetworkInterface"
NETWORK_MODES = ("bridge", "host", "awsvpc", "none")


def new_attachment(task_id: str, subnet: str = LOCAL_SUBNET) -> dict[str, Any]:
    """The ENI attachment of a task just placed, before its agent has made the namespace; its id
    derives from the task id, so a decision that names its new tasks stays reproducible."""
    return {
        "id": str(uuid.UUID(hashlib.sha256(f"{task_id}/eni".encode()).hexdigest()[:32])),
        "type": ENI,
        "status": "PRECREATED",
        "details": [{"name": "subnetId", "value": subnet}],
    }


def subnet_of(network_configuration: dict[str, Any] | None) -> str:
    subnets = ((network_configuration or {}).get("awsvpcConfiguration") or {}).get("subnets") or [LOCAL_SUBNET]
    return str(subnets[0])


def eni(attachments: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((a for a in attachments if a.get("type") == ENI), None)


def attach(attachment: dict[str, Any], reported: dict[str, Any]) -> None:
    """Fill the attachment in from the agent's `networkInterface` report (IP, MAC, endpoint id)."""
    values = {d["name"]: d["value"] for d in attachment.get("details") or []}
    for key in ("networkInterfaceId", "macAddress", "privateIPv4Address"):
        if reported.get(key):
            values[key] = str(reported[key])
    order = ("subnetId", "networkInterfaceId", "macAddress", "privateIPv4Address")
    attachment["details"] = [{"name": k, "value": values[k]} for k in order if k in values]
    if attachment.get("status") in ("PRECREATED", "ATTACHING"):
        attachment["status"] = "ATTACHED"


def private_ip(attachments: list[dict[str, Any]]) -> str | None:
    """The task's own IP, once its agent has reported it."""
    found = eni(attachments)
    for d in (found or {}).get("details") or []:
        if d.get("name") == "privateIPv4Address":
            return str(d["value"])
    return None
