"""The workload policy: what tasks may do to the host they run on, decided by the server.

By default a task definition that would reach past its container into the host is refused at
registration, naming the rule and the server flag that allows it (`orchestrator server --allow
RULE,...`, the same on `orchestrator dev`). The rules:
  privileged     containerDefinitions[].privileged
  host-pid       pidMode host
  host-ipc       ipcMode host
  host-network   networkMode host (the task's containers use the host's network stack)
  capabilities   linuxParameters.capabilities.add beyond Docker's default set
  devices        linuxParameters.devices
  host-bind-mounts
                 volumes with host.sourcePath (any host path: there is no allowlist of paths yet)
  docker-socket  a host.sourcePath that is the Docker socket (rule host-bind-mounts is not enough)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core.errors import ClientException
from orchestrator.operations.taskdef_volumes import DOCKER_SOCKETS, host_paths

RULES: dict[str, str] = {
    "privileged": "a privileged container has every capability and every device of the host",
    "host-pid": "pidMode host shows the container every process of the host",
    "host-ipc": "ipcMode host shares the host's IPC namespace with the container",
    "host-network": "networkMode host gives the containers the host's network stack: every interface and port "
    "of the host",
    "capabilities": "capabilities beyond Docker's default set widen what the container may do to the host",
    "devices": "a device gives the container direct access to the host's hardware",
    "host-bind-mounts": "a host bind mount gives the container the host's files",
    "docker-socket": "the Docker socket gives the container control of the host",
}
# The capabilities Docker grants every container unless told otherwise.
DOCKER_DEFAULT_CAPABILITIES = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)


def parse_allow(values: Iterable[str]) -> frozenset[str]:
    """`--allow privileged,devices` (repeatable) -> the rule names; an unknown name is an error."""
    rules = {v.strip() for value in values for v in value.split(",") if v.strip()}
    unknown = sorted(rules - set(RULES))
    if unknown:
        raise ValueError(f"--allow: unknown rule {', '.join(unknown)}; the rules are {', '.join(RULES)}.")
    return frozenset(rules)


def check(req: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Refuse the first thing the policy forbids, naming the rule and how to allow it."""

    def refuse(rule: str, where: str) -> None:
        if rule not in allowed:
            raise ClientException(
                f"{where} is refused by the workload policy (rule {rule}: {RULES[rule]}). A server started with "
                f"`orchestrator server --allow {rule}` (or `orchestrator dev --allow {rule}`) accepts it."
            )

    if req.get("pidMode") == "host":
        refuse("host-pid", "pidMode: host")
    if req.get("ipcMode") == "host":
        refuse("host-ipc", "ipcMode: host")
    if req.get("networkMode") == "host":
        refuse("host-network", "networkMode: host")
    for i, c in enumerate(req.get("containerDefinitions") or []):
        where = f"containerDefinitions[{i}]"
        if c.get("privileged"):
            refuse("privileged", f"{where}.privileged: true")
        lp = c.get("linuxParameters") or {}
        extra = sorted(
            {str(cap).upper().removeprefix("CAP_") for cap in (lp.get("capabilities") or {}).get("add") or []}
            - DOCKER_DEFAULT_CAPABILITIES
        )
        if extra:
            refuse("capabilities", f"{where}.linuxParameters.capabilities.add {', '.join(extra)}")
        if lp.get("devices"):
            refuse("devices", f"{where}.linuxParameters.devices")
    for where, path in host_paths(req):
        if path.rstrip("/") in DOCKER_SOCKETS:
            refuse("docker-socket", where)
        refuse("host-bind-mounts", where)
