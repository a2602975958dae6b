"""Registration's rules for `networkMode` and what it allows in each container, as ECS states them.

- bridge (the default): Docker's bridge; hostPort 0 or absent is a dynamic port; links work.
- host: the host's network stack; a hostPort must equal its containerPort (absent: taken to be
  it), so every port is a static host port; workload policy rule host-network.
- awsvpc: each task its own network namespace and IP (the agent's sandbox container, see
  core/task_network); hostPort absent or equal to containerPort; no links, hostname, extraHosts,
  dnsServers or dnsSearchDomains (ECS refuses them, and Docker cannot give them to a container
  that joins another's namespace); disableNetworking is refused too (use networkMode none).
- none: no network but loopback; no portMappings, no links.

For host and awsvpc the stored definition shows each hostPort equal to its containerPort, as
DescribeTaskDefinition does on ECS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import ClientException
from orchestrator.core.models import ContainerDefinition
from orchestrator.core.task_network import NETWORK_MODES

# Container members ECS refuses with awsvpc, and why Docker could not honour them either.
_NOT_WITH_AWSVPC = {
    "links": "containers of an awsvpc task reach each other on 127.0.0.1 (links exist only in bridge mode)",
    "hostname": "the task's containers share one network namespace, whose name the agent's sandbox holds",
    "extraHosts": "the task's containers share the sandbox's /etc/hosts",
    "dnsServers": "the task's containers share the sandbox's resolver configuration",
    "dnsSearchDomains": "the task's containers share the sandbox's resolver configuration",
    "disableNetworking": "a container of an awsvpc task shares the task's network namespace; "
    "use networkMode none for a task without a network",
}


def network_mode(req: Mapping[str, Any]) -> str:
    mode = req.get("networkMode")
    if mode is None or mode == "":
        return "bridge"
    if mode not in NETWORK_MODES:
        raise ClientException(
            f"networkMode: {mode!r} is not a network mode; use one of {', '.join(NETWORK_MODES)} (default bridge)."
        )
    return str(mode)


def check_network(req: Mapping[str, Any], containers: list[ContainerDefinition]) -> str:
    """Refuse what the network mode does not allow; make host and awsvpc hostPorts their containerPorts.
    Returns the mode."""
    mode = network_mode(req)
    raw = req.get("containerDefinitions") or []
    for i, (c, given) in enumerate(zip(containers, raw, strict=True)):
        where = f"containerDefinitions[{i}]"
        if mode != "bridge" and given.get("links"):
            raise ClientException(
                f"{where}.links: links are not supported when networkMode={mode}; they work only in bridge mode"
                + (" (containers of an awsvpc task reach each other on 127.0.0.1)." if mode == "awsvpc" else ".")
            )
        if mode == "awsvpc":
            for member, why in _NOT_WITH_AWSVPC.items():
                if given.get(member):
                    raise ClientException(f"{where}.{member} is not supported when networkMode=awsvpc: {why}.")
        if mode == "none" and c.portMappings:
            raise ClientException(
                f"{where}.portMappings: a task with networkMode none has no network to publish ports on; "
                "remove portMappings or choose another network mode."
            )
        for j, pm in enumerate(c.portMappings):
            if mode not in ("host", "awsvpc"):
                continue
            if pm.hostPort not in (None, 0, pm.containerPort):
                raise ClientException(
                    f"{where}.portMappings[{j}]: When networkMode={mode}, the host ports and container ports in port "
                    f"mappings must match: hostPort is {pm.hostPort}, containerPort {pm.containerPort}; leave hostPort "
                    f"out or make it {pm.containerPort}."
                )
            pm.hostPort = pm.containerPort
    return mode
