"""ECS container definition -> ContainerSpec: every member the control plane accepted, as Docker names it.

Registration (orchestrator/operations/taskdefs.py) refuses what the agent cannot honour, so this
translation can assume a valid definition; it must not drop anything registration let through.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from agent.executor.base import (
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_SANDBOX,
    LABEL_TASK,
    LABEL_VOLUME_SCOPE,
    ContainerSpec,
    Device,
    HealthCheckSpec,
    Mount,
    NetworkSpec,
    PortMapping,
    TaskLimits,
    Tmpfs,
    Ulimit,
    VolumeSpec,
)
from agent.overrides import with_overrides

DEFAULT_STOP_TIMEOUT_S = 30  # the ECS agent default (ECS_CONTAINER_STOP_TIMEOUT)
# An awslogs container logs to json-file, which the agent reads back and ships; rotated, so a
# long-lived chatty container does not fill the host's disk (what is shipped stays in the store).
AWSLOGS_DOCKER_DRIVER = ("json-file", {"max-size": "20m", "max-file": "5"})


def docker_log_config(log_config: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The Docker log driver and options for an ECS logConfiguration."""
    driver = log_config.get("logDriver")
    if driver == "awslogs":
        return AWSLOGS_DOCKER_DRIVER[0], dict(AWSLOGS_DOCKER_DRIVER[1])
    return driver, {str(k): str(v) for k, v in (log_config.get("options") or {}).items()}


# An awsvpc task's network namespace is held by a sandbox container (the ECS agent's pause
# container): it only sleeps, with an init as PID 1 so that SIGTERM ends it at once.
AWSVPC_NETWORK = "orch-awsvpc"  # the control plane's subnet-local (orchestrator/core/task_network.py)
SANDBOX_IMAGE = "orch/busybox:latest"
SANDBOX_COMMAND = ("sleep", "2147483647")
SANDBOX_MEMORY_MIB = 16
SANDBOX_STOP_TIMEOUT_S = 2


def network_mode_of(td: Mapping[str, Any] | None) -> str:
    return str((td or {}).get("networkMode") or "bridge")


def awsvpc_network() -> NetworkSpec:
    """Shared by every agent on the engine (dev instances share one), so not labelled with one instance;
    an agent never removes it."""
    return NetworkSpec(AWSVPC_NETWORK, {LABEL_MANAGED: "true"})


def sandbox_name(task_arn: str) -> str:
    # A dot cannot be in a container definition's name, so this never clashes with container_name.
    return f"orch-{task_id(task_arn)}.sandbox"


def sandbox_spec(task: Mapping[str, Any], cluster: str, instance_id: str) -> ContainerSpec:
    """The container that holds an awsvpc task's network namespace on the agent's network."""
    return ContainerSpec(
        name=sandbox_name(str(task["taskArn"])),
        image=SANDBOX_IMAGE,
        labels={
            LABEL_MANAGED: "true",
            LABEL_CLUSTER: cluster,
            LABEL_INSTANCE: instance_id,
            LABEL_TASK: task_id(str(task["taskArn"])),
            LABEL_SANDBOX: "true",
        },
        command=SANDBOX_COMMAND,
        memory_mib=SANDBOX_MEMORY_MIB,
        stop_timeout_s=SANDBOX_STOP_TIMEOUT_S,
        init=True,
        network_mode=AWSVPC_NETWORK,
    )


def docker_network_mode(task: Mapping[str, Any], td: Mapping[str, Any] | None) -> str | None:
    """Docker's network mode for the task's containers: awsvpc joins the task's sandbox."""
    mode = network_mode_of(td)
    if mode == "awsvpc":
        return f"container:{sandbox_name(str(task['taskArn']))}"
    if mode in ("host", "none"):
        return mode
    return None


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def container_name(task_arn: str, name: str) -> str:
    return f"orch-{task_id(task_arn)}-{name}"


def task_cgroup(task_arn: str) -> str:
    return f"orch-task-{task_id(task_arn)}"


def task_limits(task: Mapping[str, Any], td: Mapping[str, Any] | None) -> TaskLimits | None:
    """The task definition's task-level cpu and memory as the task cgroup's limits.

    Only the definition's own values count: the task's `cpu`/`memory` are also filled in from the
    sum of its containers (what placement reserved), and container cpu is a share, not a cap.
    """
    source = td or {}
    cpu, memory = source.get("cpu"), source.get("memory")
    if not cpu and not memory:
        return None
    return TaskLimits(
        cgroup=task_cgroup(str(task["taskArn"])),
        cpu_units=int(cpu) if cpu else None,
        memory_mib=int(memory) if memory else None,
    )


def container_spec(
    task: Mapping[str, Any],
    cdef: Mapping[str, Any],
    cluster: str,
    instance_id: str,
    default_stop_timeout: int = DEFAULT_STOP_TIMEOUT_S,
    td: Mapping[str, Any] | None = None,
    host_ip: str = "0.0.0.0",
) -> ContainerSpec:
    """The Docker container for one container definition of one task, as ECS maps the fields."""
    cdef = with_overrides(task, cdef)
    hc = cdef.get("healthCheck")
    health = None
    if hc and hc.get("command") and hc["command"][0] != "NONE":
        health = HealthCheckSpec(
            command=tuple(hc["command"]),
            interval_s=int(hc.get("interval", 30)),
            timeout_s=int(hc.get("timeout", 5)),
            retries=int(hc.get("retries", 3)),
            start_period_s=int(hc.get("startPeriod") or 0),
        )
    lp: Mapping[str, Any] = cdef.get("linuxParameters") or {}
    caps: Mapping[str, Any] = lp.get("capabilities") or {}
    log_driver, log_options = docker_log_config(cdef.get("logConfiguration") or {})
    definition = td or {}
    # Ours last: a user's dockerLabels can never pass for (or hide) the agent's own labels.
    labels = {
        **{str(k): str(v) for k, v in (cdef.get("dockerLabels") or {}).items()},
        LABEL_MANAGED: "true",
        LABEL_CLUSTER: cluster,
        LABEL_INSTANCE: instance_id,
        LABEL_TASK: task_id(task["taskArn"]),
        LABEL_CONTAINER: cdef["name"],
    }
    return ContainerSpec(
        name=container_name(task["taskArn"], cdef["name"]),
        image=cdef["image"],
        labels=labels,
        command=tuple(cdef["command"]) if cdef.get("command") else None,
        entrypoint=tuple(cdef["entryPoint"]) if cdef.get("entryPoint") else None,
        environment={e["name"]: e.get("value", "") for e in cdef.get("environment") or []},
        cpu_shares=int(cdef.get("cpu") or 0),
        memory_mib=cdef.get("memory"),
        memory_reservation_mib=cdef.get("memoryReservation"),
        # Only the bridge publishes ports: in host mode they are the host's already, an awsvpc task's
        # are on its own IP (Docker refuses to publish from a joined namespace), none has none.
        port_mappings=tuple(
            PortMapping(int(pm["containerPort"]), int(pm.get("hostPort") or 0), pm.get("protocol", "tcp"), host_ip)
            for pm in cdef.get("portMappings") or []
        )
        if network_mode_of(td) == "bridge"
        else (),
        health_check=health,
        stop_timeout_s=int(cdef["stopTimeout"]) if cdef.get("stopTimeout") is not None else default_stop_timeout,
        working_directory=cdef.get("workingDirectory"),
        user=cdef.get("user"),
        ulimits=tuple(
            Ulimit(str(u["name"]), int(u["softLimit"]), int(u["hardLimit"])) for u in cdef.get("ulimits") or []
        ),
        init=bool(lp["initProcessEnabled"]) if lp.get("initProcessEnabled") is not None else None,
        cap_add=tuple(str(c) for c in caps.get("add") or []),
        cap_drop=tuple(str(c) for c in caps.get("drop") or []),
        shm_size_mib=int(lp["sharedMemorySize"]) if lp.get("sharedMemorySize") is not None else None,
        tmpfs=tuple(
            Tmpfs(str(t["containerPath"]), int(t["size"]), tuple(str(o) for o in t.get("mountOptions") or []))
            for t in lp.get("tmpfs") or []
        ),
        devices=tuple(
            Device(
                str(d["hostPath"]),
                str(d.get("containerPath") or d["hostPath"]),
                _permissions(d.get("permissions")),
            )
            for d in lp.get("devices") or []
        ),
        max_swap_mib=int(lp["maxSwap"]) if lp.get("maxSwap") is not None else None,
        swappiness=int(lp["swappiness"]) if lp.get("swappiness") is not None else None,
        hostname=cdef.get("hostname"),
        extra_hosts={str(h["hostname"]): str(h["ipAddress"]) for h in cdef.get("extraHosts") or []},
        dns_servers=tuple(cdef.get("dnsServers") or ()),
        dns_search=tuple(cdef.get("dnsSearchDomains") or ()),
        read_only_root=bool(cdef.get("readonlyRootFilesystem")),
        privileged=bool(cdef.get("privileged")),
        network_disabled=bool(cdef.get("disableNetworking")),
        interactive=bool(cdef.get("interactive")),
        tty=bool(cdef.get("pseudoTerminal")),
        sysctls={str(s["namespace"]): str(s["value"]) for s in cdef.get("systemControls") or []},
        pid_mode=definition.get("pidMode") or None,
        ipc_mode=definition.get("ipcMode") or None,
        log_driver=log_driver,
        log_options=log_options,
        task_limits=task_limits(task, td),
        links=tuple((container_name(task["taskArn"], name), alias) for name, alias in links_of(cdef)),
        mounts=_mounts(task, definition, cdef),
        volumes_from=tuple(
            (container_name(task["taskArn"], str(v["sourceContainer"])), bool(v.get("readOnly")))
            for v in cdef.get("volumesFrom") or []
        ),
        network_mode=docker_network_mode(task, td),
        gpu_ids=gpu_ids_of(task, str(cdef["name"])),
    )


def gpu_ids_of(task: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """The GPUs the control plane gave the task's container `name` (containers[].gpuIds)."""
    for c in task.get("containers") or []:
        if c.get("name") == name:
            return tuple(str(g) for g in c.get("gpuIds") or ())
    return ()


def _is_docker_volume(volume: Mapping[str, Any]) -> bool:
    return not (volume.get("host") or {}).get("sourcePath")


def _task_scoped(volume: Mapping[str, Any]) -> bool:
    return (volume.get("dockerVolumeConfiguration") or {}).get("scope", "task") == "task"


def volume_name(task_arn: str, volume: Mapping[str, Any]) -> str:
    """The Docker volume of one of the task definition's volumes: a shared one by its own name, as
    the ECS agent names it; a task's own one after the task, so two tasks never share it."""
    name = str(volume["name"])
    return f"orch-{task_id(task_arn)}-{name}" if _task_scoped(volume) else name


def task_volumes(task: Mapping[str, Any], td: Mapping[str, Any] | None, instance_id: str) -> list[VolumeSpec]:
    """The Docker volumes to have before the task's first container starts."""
    out = []
    for v in (td or {}).get("volumes") or []:
        if not _is_docker_volume(v):
            continue
        config: Mapping[str, Any] = v.get("dockerVolumeConfiguration") or {}
        labels = {str(k): str(w) for k, w in (config.get("labels") or {}).items()}
        if _task_scoped(v):
            # Ours, so the task's cleanup (and an orphan sweep) finds exactly its volumes.
            labels |= {
                LABEL_MANAGED: "true",
                LABEL_INSTANCE: instance_id,
                LABEL_TASK: task_id(task["taskArn"]),
                LABEL_VOLUME_SCOPE: "task",
            }
        out.append(
            VolumeSpec(
                name=volume_name(task["taskArn"], v),
                driver=str(config.get("driver") or "local"),
                driver_opts={str(k): str(w) for k, w in (config.get("driverOpts") or {}).items()},
                labels=labels,
                create=_task_scoped(v) or bool(config.get("autoprovision")),
            )
        )
    return out


def clean_host_path(path: str) -> str:
    """The host path as the workload policy judged it (`.`, `..`, repeated slashes resolved as text):
    what is mounted is exactly what was allowed, whatever the engine would make of the rest."""
    return "/" + posixpath.normpath("/" + path.lstrip("/")).lstrip("/")


def _mounts(task: Mapping[str, Any], td: Mapping[str, Any], cdef: Mapping[str, Any]) -> tuple[Mount, ...]:
    volumes = {str(v["name"]): v for v in td.get("volumes") or []}
    out = []
    for mp in cdef.get("mountPoints") or []:
        v = volumes[str(mp["sourceVolume"])]  # registration checked that it exists
        source_path = (v.get("host") or {}).get("sourcePath")
        out.append(
            Mount(
                source=clean_host_path(str(source_path)) if source_path else volume_name(task["taskArn"], v),
                target=str(mp["containerPath"]),
                read_only=bool(mp.get("readOnly")),
                bind=bool(source_path),
            )
        )
    return tuple(out)


def links_of(cdef: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A container definition's `links` as (container name, alias): `name:alias`, or `name` (alias
    the name itself), as Docker reads them."""
    out = []
    for link in cdef.get("links") or []:
        name, _, alias = str(link).partition(":")
        out.append((name, alias or name))
    return out


def _permissions(values: Any) -> str:
    """ECS's ["read", "write", "mknod"] -> Docker's "rwm"; none listed means all three, as Docker."""
    if not values:
        return "rwm"
    letters = {"read": "r", "write": "w", "mknod": "m"}
    return "".join(letters[p] for p in ("read", "write", "mknod") if p in values)
