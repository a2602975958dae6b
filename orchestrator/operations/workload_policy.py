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
                 volumes with host.sourcePath outside the server's allowlist of host paths
                 (`--allow-host-path PREFIX`, repeatable): with the rule, any path
  docker-socket  a host.sourcePath that is the Docker socket or a directory holding it (neither
                 rule host-bind-mounts nor an allowed prefix is enough)

Host paths are compared as normalised absolute paths (`..` and `.` segments and repeated slashes
resolved as text, the way Docker cleans a bind source): `/srv/data/../../etc` is `/etc`, and
`/srv/data2` is not under `/srv/data`. The control plane cannot see the agents' file systems, so
a symlink under an allowed prefix is not followed here: allow only prefixes whose contents you trust.
"""

from __future__ import annotations

import posixpath
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


def normalise_host_path(path: str) -> str:
    """`path` as a clean absolute path: `.`, `..` and repeated slashes resolved as text (`..` above
    the root stays at the root, as the kernel does), no trailing slash."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    # normpath keeps a leading `//` (POSIX leaves its meaning to the system); Linux treats it as `/`.
    return "/" + cleaned.lstrip("/")


def parse_host_paths(values: Iterable[str]) -> tuple[str, ...]:
    """`--allow-host-path /srv/data` (repeatable) -> the normalised prefixes; a relative one is an error."""
    prefixes: list[str] = []
    for value in values:
        if not value.startswith("/"):
            raise ValueError(
                f"--allow-host-path {value!r}: give an absolute path on the agents' hosts, e.g. /srv/data."
            )
        prefixes.append(normalise_host_path(value))
    return tuple(dict.fromkeys(prefixes))


def is_under(path: str, prefix: str) -> bool:
    """Whether normalised `path` is `prefix` or inside it (`/srv/data2` is not inside `/srv/data`)."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def holds_docker_socket(path: str) -> bool:
    """Whether mounting normalised `path` hands over a Docker socket: the socket itself, or a
    directory above it (`/`, `/run`, `/var/run`, `/var`)."""
    return any(is_under(socket, path) for socket in DOCKER_SOCKETS)


def check(req: Mapping[str, Any], allowed: frozenset[str], host_paths_allowed: tuple[str, ...] = ()) -> None:
    """Refuse the first thing the policy forbids, naming the rule and how to allow it.

    host_paths_allowed: the server's `--allow-host-path` prefixes, normalised (`parse_host_paths`)."""

    def refuse(rule: str, where: str) -> None:
        if rule not in allowed:
            raise ClientException(
                f"{where} is refused by the workload policy (rule {rule}: {RULES[rule]}). A server started with "
                f"`orchestrator server --allow {rule}` (or `orchestrator dev --allow {rule}`) accepts it."
            )

    def refuse_host_path(where: str, path: str) -> None:
        if "host-bind-mounts" in allowed or any(is_under(path, p) for p in host_paths_allowed):
            return
        shown = f" (normalised: {path})" if where.rsplit(" ", 1)[-1] != path else ""
        listed = ", ".join(host_paths_allowed) if host_paths_allowed else "none"
        raise ClientException(
            f"{where}{shown} is refused by the workload policy (rule host-bind-mounts: {RULES['host-bind-mounts']}; "
            f"it is not under an allowed host path, this server allows: {listed}). A server started with "
            f"`orchestrator server --allow-host-path {path}` (this path or a directory above it) or "
            "`orchestrator server --allow host-bind-mounts` (any path) accepts it; the same flags work on "
            "`orchestrator dev`."
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
    for where, raw in host_paths(req):
        path = normalise_host_path(raw)
        if holds_docker_socket(path):
            # An allowed prefix or host-bind-mounts is not enough: the socket is control of the host.
            refuse("docker-socket", where)
        refuse_host_path(where, path)
