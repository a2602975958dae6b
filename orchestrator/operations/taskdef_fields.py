"""Which RegisterTaskDefinition members we honour, which we refuse, and why: the one rule as two tables.

Every member of botocore's RegisterTaskDefinition input (task level, `containerDefinitions[]`
and the structures inside honoured members) is a key of HONOURED (with where it takes effect) or
of REFUSED (with the sentence the ClientException gives: what to do instead). A unit test walks
botocore's shape and fails on any member in neither table, so a new botocore member cannot slip
through unnoticed. `check_members` applies the tables to a request; value-level rules (a member
we honour only for some values, e.g. `networkMode`) live in `check_values`; what the server's
workload policy forbids lives in `workload_policy`.

Paths name members as the JSON nests them, list items without an index:
`containerDefinitions.linuxParameters.capabilities.add`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import ClientException

_NOT_YET = "is not supported yet"

HONOURED: dict[str, str] = {
    # -- task level ----------------------------------------------------------------------------
    "family": "the task definition's family",
    "containerDefinitions": "one Docker container each",
    "cpu": "the task's cgroup cpu quota (all its containers together); placement reserves it",
    "memory": "the task's cgroup memory limit (all its containers together); placement reserves it",
    "placementConstraints": "memberOf expressions, applied by the scheduler",
    "placementConstraints.type": "memberOf only",
    "placementConstraints.expression": "the cluster query language",
    "tags": "returned by RegisterTaskDefinition",
    "tags.key": "returned by RegisterTaskDefinition",
    "tags.value": "returned by RegisterTaskDefinition",
    "networkMode": "bridge (Docker's bridge), host (the host's network; workload policy host-network), none, "
    "or awsvpc (a network namespace and IP per task, held by the agent's sandbox container); "
    "see operations/taskdef_network.py",
    "requiresCompatibilities": "EC2, or FARGATE: validated as Fargate validates (operations/taskdef_fargate.py)",
    "pidMode": "host (workload policy host-pid); task is refused by value",
    "ipcMode": "host (workload policy host-ipc) or none; task is refused by value",
    "runtimePlatform": "operatingSystemFamily LINUX (every agent runs Linux containers)",
    "runtimePlatform.operatingSystemFamily": "LINUX only",
    "taskRoleArn": "the containers get AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN: "
    "1 h key pairs for this endpoint, served by the agent on 127.0.0.1:51679 in the task's network namespace, "
    "revoked when the task stops (security/task_roles.py: what they may call)",
    "executionRoleArn": "what the task's agent acts as: it reads the task's secrets and registry credentials "
    "from this endpoint's SSM and Secrets Manager with a 1 h session of it (assumed-role/ROLE/TASK_ID), allowed "
    "only the references the task definition makes (security/execution_roles.py), and the task's log streams are "
    "accepted only with the key id of a live session of it; any network mode",
    # -- container level -----------------------------------------------------------------------
    "containerDefinitions.name": "part of the Docker container name orch-<task id>-<name>",
    "containerDefinitions.image": "pulled if missing",
    "containerDefinitions.cpu": "Docker CPU shares; placement reserves it",
    "containerDefinitions.memory": "Docker hard memory limit; placement reserves it",
    "containerDefinitions.memoryReservation": "Docker soft memory limit; placement reserves it",
    "containerDefinitions.portMappings": "bridge: Docker port bindings (hostPort 0 or absent: dynamic); host: the "
    "host's ports; awsvpc: ports on the task's own IP; none: refused",
    "containerDefinitions.portMappings.containerPort": "the container side of the binding",
    "containerDefinitions.portMappings.hostPort": "the host side of the binding (host, awsvpc: equal to containerPort)",
    "containerDefinitions.portMappings.protocol": "tcp or udp",
    "containerDefinitions.essential": "an essential container's exit or failed start stops the task",
    "containerDefinitions.entryPoint": "Docker entrypoint",
    "containerDefinitions.command": "Docker command",
    "containerDefinitions.environment": "Docker environment",
    "containerDefinitions.environment.name": "variable name",
    "containerDefinitions.environment.value": "variable value",
    "containerDefinitions.linuxParameters": "Docker host config, member by member",
    "containerDefinitions.linuxParameters.capabilities": "Docker CapAdd / CapDrop",
    "containerDefinitions.linuxParameters.capabilities.add": "Docker CapAdd (beyond Docker's defaults: policy)",
    "containerDefinitions.linuxParameters.capabilities.drop": "Docker CapDrop",
    "containerDefinitions.linuxParameters.devices": "Docker Devices (workload policy devices)",
    "containerDefinitions.linuxParameters.devices.hostPath": "the host device",
    "containerDefinitions.linuxParameters.devices.containerPath": "where it appears (default: hostPath)",
    "containerDefinitions.linuxParameters.devices.permissions": "read/write/mknod -> rwm",
    "containerDefinitions.linuxParameters.initProcessEnabled": "Docker Init (tini as PID 1)",
    "containerDefinitions.linuxParameters.sharedMemorySize": "Docker ShmSize (MiB)",
    "containerDefinitions.linuxParameters.tmpfs": "Docker Tmpfs",
    "containerDefinitions.linuxParameters.tmpfs.containerPath": "mount point",
    "containerDefinitions.linuxParameters.tmpfs.size": "size=<MiB>m",
    "containerDefinitions.linuxParameters.tmpfs.mountOptions": "mount options",
    "containerDefinitions.linuxParameters.maxSwap": "Docker MemorySwap = memory + maxSwap",
    "containerDefinitions.linuxParameters.swappiness": "Docker MemorySwappiness",
    "containerDefinitions.dependsOn": "start order and conditions, enforced by the agent",
    "containerDefinitions.dependsOn.containerName": "a container of the same task",
    "containerDefinitions.dependsOn.condition": "START, COMPLETE, SUCCESS or HEALTHY",
    "containerDefinitions.startTimeout": "how long the agent waits for its dependencies",
    "containerDefinitions.stopTimeout": "SIGTERM, then SIGKILL after this many seconds",
    "containerDefinitions.hostname": "Docker Hostname",
    "containerDefinitions.user": "Docker User",
    "containerDefinitions.workingDirectory": "Docker WorkingDir",
    "containerDefinitions.disableNetworking": "Docker NetworkDisabled",
    "containerDefinitions.privileged": "Docker Privileged (workload policy privileged)",
    "containerDefinitions.readonlyRootFilesystem": "Docker ReadonlyRootfs",
    "containerDefinitions.dnsServers": "Docker Dns",
    "containerDefinitions.dnsSearchDomains": "Docker DnsSearch",
    "containerDefinitions.extraHosts": "Docker ExtraHosts",
    "containerDefinitions.extraHosts.hostname": "the name",
    "containerDefinitions.extraHosts.ipAddress": "its address",
    "containerDefinitions.interactive": "Docker OpenStdin",
    "containerDefinitions.pseudoTerminal": "Docker Tty",
    "containerDefinitions.dockerLabels": "Docker labels beside ours (orch.* are ours and refused)",
    "containerDefinitions.ulimits": "Docker Ulimits",
    "containerDefinitions.ulimits.name": "the limit",
    "containerDefinitions.ulimits.softLimit": "soft",
    "containerDefinitions.ulimits.hardLimit": "hard",
    "containerDefinitions.logConfiguration": "Docker LogConfig; awslogs is shipped to the control plane by the agent",
    "containerDefinitions.logConfiguration.logDriver": "awslogs (CloudWatch Logs calls, `task logs`), json-file, "
    "local, syslog, journald (to Docker, and shipped if Docker reads them back) or none; others refused by value",
    "containerDefinitions.logConfiguration.options": "awslogs: awslogs-group, awslogs-region, awslogs-stream-prefix "
    "(others refused by name); other drivers: Docker's own options",
    "containerDefinitions.healthCheck": "Docker Healthcheck; the task's health",
    "containerDefinitions.healthCheck.command": "CMD or CMD-SHELL",
    "containerDefinitions.healthCheck.interval": "seconds",
    "containerDefinitions.healthCheck.timeout": "seconds",
    "containerDefinitions.healthCheck.retries": "count",
    "containerDefinitions.healthCheck.startPeriod": "seconds",
    "volumes": "one Docker volume or bind mount each (see operations/taskdef_volumes.py)",
    "volumes.name": "what mountPoints name",
    "volumes.host": "empty: a Docker volume removed with the task",
    "volumes.host.sourcePath": "a bind mount of that host path (workload policy: under an --allow-host-path "
    "prefix or rule host-bind-mounts; the Docker socket also rule docker-socket)",
    "volumes.dockerVolumeConfiguration": "a Docker volume",
    "volumes.dockerVolumeConfiguration.scope": "task (removed with the task) or shared (outlives it)",
    "volumes.dockerVolumeConfiguration.autoprovision": "shared: created when missing, else it must exist",
    "volumes.dockerVolumeConfiguration.driver": "the Docker volume driver",
    "volumes.dockerVolumeConfiguration.driverOpts": "the driver's options",
    "volumes.dockerVolumeConfiguration.labels": "Docker volume labels, beside ours",
    "containerDefinitions.mountPoints": "Docker mounts of the task's volumes",
    "containerDefinitions.mountPoints.sourceVolume": "a volume of the task definition",
    "containerDefinitions.mountPoints.containerPath": "where it is mounted",
    "containerDefinitions.mountPoints.readOnly": "mounted read-only",
    "containerDefinitions.volumesFrom": "Docker VolumesFrom; the source container starts first",
    "containerDefinitions.volumesFrom.sourceContainer": "another container of the task",
    "containerDefinitions.volumesFrom.readOnly": "mounted read-only",
    "containerDefinitions.links": "Docker links on the bridge network (name or name:alias, in /etc/hosts); "
    "the linked container starts first",
    "containerDefinitions.systemControls": "Docker Sysctls",
    "containerDefinitions.systemControls.namespace": "the sysctl",
    "containerDefinitions.systemControls.value": "its value",
    "containerDefinitions.secrets": "environment variables resolved when the task starts, for its agent only",
    "containerDefinitions.secrets.name": "the environment variable",
    "containerDefinitions.secrets.valueFrom": "SSM parameter name or ARN, or Secrets Manager ARN[:json-key::]",
    "containerDefinitions.resourceRequirements": "GPU: placement on an instance with that many unassigned GPUs, "
    "given to the container as Docker device requests (containers[].gpuIds); InferenceAccelerator is refused by value",
    "containerDefinitions.resourceRequirements.type": "GPU (InferenceAccelerator and NeuronDevice refused by value)",
    "containerDefinitions.resourceRequirements.value": "GPU: how many, a whole number as a string (ALL refused)",
    "containerDefinitions.repositoryCredentials": "resolved and checked at task start; the image pull uses them",
    "containerDefinitions.repositoryCredentials.credentialsParameter": "a Secrets Manager secret {username, password}",
}

REFUSED: dict[str, str] = {
    # -- task level ----------------------------------------------------------------------------
    "volumes.efsVolumeConfiguration": f"{_NOT_YET}: there is no EFS here; use dockerVolumeConfiguration with "
    "scope shared (a Docker volume that outlives the task)",
    "volumes.fsxWindowsFileServerVolumeConfiguration": f"{_NOT_YET}: there is no FSx here and tasks run Linux; "
    "use dockerVolumeConfiguration",
    "volumes.s3filesVolumeConfiguration": f"{_NOT_YET}: there is no S3 here; use dockerVolumeConfiguration",
    "volumes.configuredAtLaunch": f"{_NOT_YET}: volumes come from the task definition only; describe the volume here",
    "proxyConfiguration": f"{_NOT_YET}: there is no App Mesh here; run the proxy as a container of the task",
    "inferenceAccelerators": f"{_NOT_YET}: there are no Elastic Inference accelerators here; remove it",
    "ephemeralStorage": f"{_NOT_YET}: it applies to Fargate only; containers use the Docker host's disk",
    "enableFaultInjection": f"{_NOT_YET}: there is no fault injection endpoint here; remove it",
    "trustedExecutionConfiguration": f"{_NOT_YET}: there is no trusted execution here; remove it",
    "runtimePlatform.cpuArchitecture": f"{_NOT_YET}: instances do not report their architecture, so it "
    "could not be placed by; remove it (containers run on the agents' own architecture)",
    # -- container level -----------------------------------------------------------------------
    "containerDefinitions.portMappings.name": f"{_NOT_YET}: there is no Service Connect here; remove it",
    "containerDefinitions.portMappings.appProtocol": f"{_NOT_YET}: there is no Service Connect here; remove it",
    "containerDefinitions.portMappings.containerPortRange": f"{_NOT_YET}: list each port in its own mapping",
    "containerDefinitions.restartPolicy": f"{_NOT_YET}: an exited container is not restarted in place; "
    "a service replaces a stopped task instead",
    "containerDefinitions.environmentFiles": f"{_NOT_YET}: there is no S3 here; list the variables in environment",
    "containerDefinitions.versionConsistency": f"{_NOT_YET}: the image tag is resolved when the container "
    "starts; pin a digest in image instead (versionConsistency disabled is accepted)",
    "containerDefinitions.dockerSecurityOptions": f"{_NOT_YET}: remove it (Docker's default seccomp and "
    "AppArmor profiles apply)",
    "containerDefinitions.resourceRequirements.sharingStrategy": f"{_NOT_YET}: each GPU is given to one container "
    "(no NVIDIA MPS here); give value, a number of whole GPUs, instead",
    "containerDefinitions.firelensConfiguration": f"{_NOT_YET}: read container output with Docker's json-file "
    "logs; remove it",
    "containerDefinitions.credentialSpecs": f"{_NOT_YET}: there is no Active Directory here; remove it",
    "containerDefinitions.logConfiguration.secretOptions": f"{_NOT_YET}: no log driver here takes secrets; remove it",
}

# Refused members that one value still leaves honoured, because it is what we do anyway.
_HARMLESS: dict[str, Any] = {"containerDefinitions.versionConsistency": "disabled"}


def _is_absent(path: str, value: Any) -> bool:
    """None, an empty list/map/string or false is as good as absent (CLI skeletons send them)."""
    if value is None or value is False or (isinstance(value, list | dict | str) and not value):
        return True
    return path in _HARMLESS and _HARMLESS[path] == value


def check_members(req: Mapping[str, Any]) -> None:
    """Refuse, naming it, the first member that is refused or that the model does not have."""
    _walk(req, "", "")


def _walk(value: Any, path: str, where: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, path, f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        return
    for key, child in value.items():
        member = f"{path}.{key}" if path else str(key)
        shown = f"{where}.{key}" if where else str(key)
        if member in REFUSED:
            if not _is_absent(member, child):
                raise ClientException(f"{shown} {REFUSED[member]}.")
            continue
        if member not in HONOURED:
            raise ClientException(f"{shown} is not a member of RegisterTaskDefinition's request; remove it.")
        if not _is_map(member):
            _walk(child, member, shown)


def _is_map(member: str) -> bool:
    """Members whose keys are the user's own (labels, driver options), not model members."""
    return member in (
        "containerDefinitions.dockerLabels",
        "containerDefinitions.logConfiguration.options",
        "volumes.dockerVolumeConfiguration.driverOpts",
        "volumes.dockerVolumeConfiguration.labels",
    )
