"""A task definition's `volumes`, and its containers' `mountPoints` and `volumesFrom`, checked as ECS does.

What each kind of volume becomes on the agent (`agent.container_spec.task_volumes`):
- `host: {sourcePath: P}`: a bind mount of the host's P (workload policy rule host-bind-mounts,
  or docker-socket for the Docker socket);
- `host: {}` or no `host` and no `dockerVolumeConfiguration`: a Docker volume that lives as long
  as the task (ECS's "bind mount" volume with no source path, removed with the task);
- `dockerVolumeConfiguration`: a Docker volume of `driver` (default local) with `driverOpts` and
  `labels`; `scope: task` (the default) lives as long as the task, `scope: shared` outlives it
  under the volume's own name and, with `autoprovision`, is created when missing.
EFS, FSx and volumes configured at launch are refused by name in `taskdef_fields`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import ClientException

VOLUME_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ClientException(f"{where} must be an object.")
    return value


def _strings(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ClientException(f"{where} must be an object of string -> string.")


def _check_volume(i: int, volume: Any, seen: set[str]) -> None:
    where = f"volumes[{i}]"
    v = _mapping(volume, where)
    name = v.get("name")
    if not isinstance(name, str) or not VOLUME_NAME.fullmatch(name):
        raise ClientException(f"{where}.name: up to 255 letters, numbers, hyphens and underscores, required.")
    if name in seen:
        raise ClientException(f"{where}.name: {name} is already the name of another volume of this task definition.")
    seen.add(name)
    host, docker = v.get("host"), v.get("dockerVolumeConfiguration")
    if host is not None and docker is not None:
        raise ClientException(f"{where}: give host or dockerVolumeConfiguration, not both.")
    if host is not None:
        source = _mapping(host, f"{where}.host").get("sourcePath")
        if source is not None and (not isinstance(source, str) or not source.startswith("/")):
            raise ClientException(f"{where}.host.sourcePath must be an absolute path on the host.")
    if docker is not None:
        d = _mapping(docker, f"{where}.dockerVolumeConfiguration")
        scope = d.get("scope", "task")
        if scope not in ("task", "shared"):
            raise ClientException(f"{where}.dockerVolumeConfiguration.scope must be task or shared.")
        if d.get("autoprovision") is not None and not isinstance(d["autoprovision"], bool):
            raise ClientException(f"{where}.dockerVolumeConfiguration.autoprovision must be true or false.")
        if d.get("autoprovision") and scope != "shared":
            # ECS: autoprovision only applies to shared volumes (task volumes are always created).
            raise ClientException(f"{where}.dockerVolumeConfiguration.autoprovision is only valid with scope shared.")
        if d.get("driver") is not None and (not isinstance(d["driver"], str) or not d["driver"]):
            raise ClientException(f"{where}.dockerVolumeConfiguration.driver must be a Docker volume driver name.")
        _strings(d.get("driverOpts"), f"{where}.dockerVolumeConfiguration.driverOpts")
        _strings(d.get("labels"), f"{where}.dockerVolumeConfiguration.labels")


def check_volumes(req: Mapping[str, Any]) -> None:
    """Each volume well formed and named once; each mount point names one of them at an absolute
    path; each volumesFrom names another container of the task."""
    volumes = req.get("volumes") or []
    if not isinstance(volumes, list):
        raise ClientException("volumes must be a list.")
    names: set[str] = set()
    for i, volume in enumerate(volumes):
        _check_volume(i, volume, names)
    containers = [c.get("name") for c in req.get("containerDefinitions") or []]
    for i, c in enumerate(req.get("containerDefinitions") or []):
        where = f"containerDefinitions[{i}]"
        paths: set[str] = set()
        for j, mp in enumerate(c.get("mountPoints") or []):
            m = _mapping(mp, f"{where}.mountPoints[{j}]")
            if m.get("sourceVolume") not in names:
                raise ClientException(
                    f"{where}.mountPoints[{j}].sourceVolume: {m.get('sourceVolume')!r} is not a volume of this task "
                    "definition; name one of its volumes."
                )
            path = m.get("containerPath")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ClientException(f"{where}.mountPoints[{j}].containerPath must be an absolute path.")
            if path in paths:
                raise ClientException(f"{where}.mountPoints[{j}].containerPath: {path} is mounted twice.")
            paths.add(path)
            if m.get("readOnly") is not None and not isinstance(m["readOnly"], bool):
                raise ClientException(f"{where}.mountPoints[{j}].readOnly must be true or false.")
        for j, vf in enumerate(c.get("volumesFrom") or []):
            f = _mapping(vf, f"{where}.volumesFrom[{j}]")
            source = f.get("sourceContainer")
            if source == c.get("name") or source not in containers:
                raise ClientException(
                    f"{where}.volumesFrom[{j}].sourceContainer: {source!r} is not another container of this task "
                    "definition."
                )
            if f.get("readOnly") is not None and not isinstance(f["readOnly"], bool):
                raise ClientException(f"{where}.volumesFrom[{j}].readOnly must be true or false.")


def host_paths(req: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, host path) of every host bind mount: what the workload policy rules on."""
    out = []
    for i, volume in enumerate(req.get("volumes") or []):
        source = ((volume or {}).get("host") or {}).get("sourcePath")
        if source:
            out.append((f"volumes[{i}].host.sourcePath {source}", str(source)))
    return out
