"""ECS services as Kubernetes objects: a Deployment (or DaemonSet), a Service and a HorizontalPodAutoscaler.

A pure translation: the inputs are the JSON the APIs return (the service as DescribeServices
returns it, its task definition as DescribeTaskDefinition does, the scalable target and scaling
policies as Application Auto Scaling does) and the output is `kubernetes` client model objects,
with two lists beside them: `mapped` (what each ECS setting became, for people learning one side
from the other) and `notes` (what did not translate, or what the cluster must provide, such as the
Secrets the pods refer to). Nothing is dropped in silence: every member of the inputs is either
translated, listed in `notes`, or read-only state (ARNs, counts, events) that describes a running
service rather than configures one. This is the only module of the project that imports
`kubernetes`, so the CLI imports it lazily and stays quick to start.

The arithmetic (see the README's ECS -> Kubernetes table):
- CPU units: 1024 units are one CPU, so `units * 1000 / 1024` millicores, rounded up so a pod
  never asks for less than the task reserved (128 units -> 125m, 100 -> 98m). ECS's container
  `cpu` is a share, not a cap (Docker's cpu-shares), so it is a request; a task-level `cpu`, which
  is a cap, becomes the limit of a one-container pod.
- Memory: `memory` (the hard limit) -> limits.memory; `memoryReservation` (the soft one) ->
  requests.memory, else `memory`, which is what ECS reserves when no reservation is given.
- Rollouts: maximumPercent 200 -> maxSurge 100 %, minimumHealthyPercent 100 -> maxUnavailable 0 %.
- Placement spread -> topologySpreadConstraints with maxSkew 1 and whenUnsatisfiable
  ScheduleAnyway (ECS's spread is a preference that never blocks placement); memberOf -> required
  node affinity (see `memberof.py`); distinctInstance -> required pod anti-affinity on hostname.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client as k8s

from orchestrator.export import memberof

KUBERNETES_VERSION = "1.30.0"  # the schema version the tests validate every document against
ANNOTATION = "orchestrator.export/"
NAME_LABEL = "app.kubernetes.io/name"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
DEFAULT_COOLDOWN = 300  # Application Auto Scaling's default for ECS services, in seconds
DEFAULT_STRATEGY = (
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "spread", "field": "instanceId"},
)
# The HPA's limits on its behavior fields (autoscaling/v2 validation).
MAX_STABILIZATION_S = 3600
MAX_POLICY_PERIOD_S = 1800
METRIC_RESOURCES = {"ECSServiceAverageCPUUtilization": "cpu", "ECSServiceAverageMemoryUtilization": "memory"}

# State a description carries that configures nothing: never a note.
_SERVICE_STATE = frozenset(
    {
        "serviceArn",
        "clusterArn",
        "status",
        "runningCount",
        "pendingCount",
        "deployments",
        "events",
        "createdAt",
        "createdBy",
        "taskSets",
        "roleArn",
        "platformFamily",
    }
)
_TASKDEF_STATE = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "compatibilities",
        "requiresAttributes",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    }
)
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ServiceInput:
    """One ECS service and what belongs to it, as the APIs return them."""

    service: dict[str, Any]
    task_definition: dict[str, Any]
    scalable_target: dict[str, Any] | None = None
    scaling_policies: Sequence[dict[str, Any]] = ()


@dataclass
class ServiceExport:
    """The Kubernetes objects for one service, what each ECS setting became, and what did not translate."""

    service_name: str
    objects: list[Any] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Log:
    mapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def map(self, ecs: str, kubernetes: str) -> None:
        self.mapped.append(f"{ecs} -> {kubernetes}")

    def note(self, where: str, text: str) -> None:
        if f"{where}: {text}" not in self.notes:
            self.notes.append(f"{where}: {text}")

    def unhandled(self, obj: dict[str, Any], handled: Iterable[str], where: str) -> None:
        """A note for every member that is set and that no translation step took."""
        known = set(handled)
        for key, value in obj.items():
            if key not in known and value not in (None, "", [], {}, False):
                self.note(f"{where}.{key}", f"not translated ({_brief(value)})")


# -- names and quantities ------------------------------------------------------------------


def dns_label(text: str, limit: int = 63) -> str:
    """A DNS-1123 label (lower case letters, digits and '-', alphanumeric at both ends)."""
    label = _DNS_LABEL.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return label or "x"


def millicores(units: int) -> str:
    """ECS CPU units -> Kubernetes millicores, rounded up: 1024 units = 1000m."""
    return f"{math.ceil(units * 1000 / 1024)}m"


def _task_cpu_units(value: Any) -> int | None:
    """A task-level cpu: "256" units or "0.25 vCPU"."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*vcpu", text, re.IGNORECASE)
    return round(float(match.group(1)) * 1024) if match else None


def _task_memory_mib(value: Any) -> int | None:
    """A task-level memory: "512" MiB or "1 GB"."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*gb", text, re.IGNORECASE)
    return round(float(match.group(1)) * 1024) if match else None


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _family_revision(td: dict[str, Any]) -> str:
    return f"{td.get('family')}:{td.get('revision')}"


# -- the export ----------------------------------------------------------------------------


def export_service(inp: ServiceInput) -> ServiceExport:
    """The Kubernetes objects for one ECS service."""
    svc, td = inp.service, inp.task_definition
    log = _Log()
    ecs_name = str(svc["serviceName"])
    name = dns_label(ecs_name)
    if name != ecs_name:
        log.note("serviceName", f"{ecs_name!r} is not a DNS-1123 label; the objects are named {name!r}")
    labels = {NAME_LABEL: name}
    daemon = svc.get("schedulingStrategy") == "DAEMON"
    _service_settings(svc, log)

    pod = _pod_spec(svc, td, labels, daemon, log)
    annotations = {
        ANNOTATION + "ecs-service": str(svc.get("serviceArn") or ecs_name),
        ANNOTATION + "ecs-task-definition": str(td.get("taskDefinitionArn") or _family_revision(td)),
    }
    template = k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=dict(labels)), spec=pod)
    selector = k8s.V1LabelSelector(match_labels=dict(labels))
    config = svc.get("deploymentConfiguration") or {}
    workload: Any
    if daemon:
        workload = k8s.V1DaemonSet(
            api_version="apps/v1",
            kind="DaemonSet",
            metadata=k8s.V1ObjectMeta(name=name, labels=dict(labels), annotations=annotations),
            spec=k8s.V1DaemonSetSpec(
                selector=selector, template=template, update_strategy=_daemon_rollout(config, log)
            ),
        )
        log.map("schedulingStrategy DAEMON", "DaemonSet (one pod per node that meets the node affinity)")
    else:
        desired = int(svc.get("desiredCount") or 0)
        workload = k8s.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=k8s.V1ObjectMeta(name=name, labels=dict(labels), annotations=annotations),
            spec=k8s.V1DeploymentSpec(
                replicas=desired, selector=selector, template=template, strategy=_rollout(config, desired, log)
            ),
        )
        log.map(f"desiredCount {desired}", f"Deployment {name} replicas {desired}")
    objects: list[Any] = [workload]

    service = _service(name, labels, pod, svc, log)
    if service is not None:
        objects.append(service)
    if daemon:
        if inp.scalable_target or inp.scaling_policies:
            log.note("autoscaling", "a DAEMON service does not scale by count; no HorizontalPodAutoscaler")
    else:
        hpa = _hpa(name, pod, inp.scalable_target, inp.scaling_policies, log)
        if hpa is not None:
            objects.append(hpa)
            log.note(
                "desiredCount",
                f"replicas {workload.spec.replicas} is today's count; once the HPA owns it, leave replicas out "
                "of later applies (each apply would reset it)",
            )

    # Set last: the lists are complete only now (the models copy what they are given).
    annotations[ANNOTATION + "mapped"] = "\n".join(log.mapped)
    if log.notes:
        annotations[ANNOTATION + "untranslated"] = "\n".join(log.notes)
    workload.metadata.annotations = annotations
    return ServiceExport(service_name=ecs_name, objects=objects, mapped=log.mapped, notes=log.notes)


def export_services(inputs: Iterable[ServiceInput]) -> list[ServiceExport]:
    return [export_service(inp) for inp in inputs]


# -- service-level settings ----------------------------------------------------------------


def _service_settings(svc: dict[str, Any], log: _Log) -> None:
    """Notes for the service's members that configure what Kubernetes has no field for here."""
    handled = {
        "serviceName",
        "desiredCount",
        "taskDefinition",
        "deploymentConfiguration",
        "placementConstraints",
        "placementStrategy",
        "schedulingStrategy",
        "healthCheckGracePeriodSeconds",
        "launchType",
        "schedulerProfile",
        "loadBalancers",
        "propagateTags",
        "deploymentController",
        "enableExecuteCommand",
        "enableECSManagedTags",
        *_SERVICE_STATE,
    }
    log.unhandled(svc, handled, "service")
    launch = svc.get("launchType")
    if launch not in (None, "EC2"):
        log.note("service.launchType", f"{launch}: Kubernetes has no launch types (on EKS, Fargate profiles)")
    for lb in svc.get("loadBalancers") or []:
        target = lb.get("targetGroupArn") or lb.get("loadBalancerName")
        log.note(
            "service.loadBalancers",
            f"{target} -> {lb.get('containerName')}:{lb.get('containerPort')}: the Service selects the same pods; "
            "expose it with type LoadBalancer or an Ingress (the AWS Load Balancer Controller on EKS)",
        )
    if svc.get("propagateTags") not in (None, "NONE"):
        log.note("service.propagateTags", f"{svc['propagateTags']}: not translated (labels are set per object)")
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        log.note("service.deploymentController", f"{controller}: the export writes a Kubernetes rolling update")
    if svc.get("enableExecuteCommand"):
        log.note("service.enableExecuteCommand", "kubectl exec needs no switch on the pod; grant it with RBAC")
    if svc.get("enableECSManagedTags"):
        log.note("service.enableECSManagedTags", "not translated (the pods carry the label " + NAME_LABEL + ")")
    profile = svc.get("schedulerProfile")
    if profile not in (None, "ecs"):
        log.note(
            "service.schedulerProfile",
            f"{profile}: here the project placed the tasks with kube-scheduler's rules; the exported "
            "constraints keep the service's ECS placement settings",
        )


# -- the pod -------------------------------------------------------------------------------


def _pod_spec(svc: dict[str, Any], td: dict[str, Any], labels: dict[str, str], daemon: bool, log: _Log) -> Any:
    where = f"taskDefinition {_family_revision(td)}"
    log.unhandled(
        td,
        {
            "family",
            "containerDefinitions",
            "cpu",
            "memory",
            "networkMode",
            "placementConstraints",
            "volumes",
            "pidMode",
            "ipcMode",
            "requiresCompatibilities",
            *_TASKDEF_STATE,
        },
        where,
    )
    compat = [c for c in td.get("requiresCompatibilities") or [] if c != "EC2"]
    if compat:
        log.note(f"{where}.requiresCompatibilities", f"{compat}: Kubernetes has no launch types")
    volumes, volume_names = _volumes(td.get("volumes") or [], where, log)
    defs: list[dict[str, Any]] = td.get("containerDefinitions") or []
    network = td.get("networkMode") or "bridge"
    grace = svc.get("healthCheckGracePeriodSeconds")
    containers = [_container(c, td, len(defs) == 1, network, volume_names, grace, log) for c in defs]
    _task_limits(td, defs, where, log)
    if grace and not any(c.get("healthCheck") for c in defs):
        log.note(
            "service.healthCheckGracePeriodSeconds",
            f"{grace} s: no container health check to delay (it applies to load balancer checks in ECS)",
        )
    _duplicate_ports(defs, log)

    pod = k8s.V1PodSpec(containers=containers, volumes=volumes or None)
    if network == "host":
        pod.host_network = True
        log.map("networkMode host", "hostNetwork: true")
    elif network == "none":
        log.note(f"{where}.networkMode", "none: every pod has a network in Kubernetes")
    elif network in ("bridge", "awsvpc"):
        log.map(f"networkMode {network}", "the pod network (every pod has its own IP)")
    else:
        log.note(f"{where}.networkMode", f"{network}: not translated")
    pid, ipc = td.get("pidMode"), td.get("ipcMode")
    if pid == "host":
        pod.host_pid = True
        log.map("pidMode host", "hostPID: true")
    elif pid == "task":
        pod.share_process_namespace = True
        log.map("pidMode task", "shareProcessNamespace: true")
    elif pid is not None:
        log.note(f"{where}.pidMode", f"{pid}: not translated")
    # The containers of a pod share one IPC namespace already: ECS's "task".
    if ipc == "host":
        pod.host_ipc = True
        log.map("ipcMode host", "hostIPC: true")
    elif ipc == "task":
        log.map("ipcMode task", "the pod's IPC namespace, which its containers share")
    elif ipc is not None:
        log.note(f"{where}.ipcMode", f"{ipc}: a pod's containers always share its IPC namespace; not translated")
    stop = [int(c["stopTimeout"]) for c in defs if c.get("stopTimeout") is not None]
    if stop:
        pod.termination_grace_period_seconds = max(stop)
        log.map(f"stopTimeout {max(stop)} s", f"terminationGracePeriodSeconds {max(stop)}")
        if len(set(stop)) > 1:
            log.note(f"{where}.stopTimeout", f"{sorted(set(stop))} differ per container; the pod has one grace period")
    affinity, spread = _placement(svc, td, labels, daemon, log)
    pod.affinity = affinity
    pod.topology_spread_constraints = spread or None
    return pod


def _container(
    c: dict[str, Any],
    td: dict[str, Any],
    single: bool,
    network: str,
    volume_names: dict[str, str | None],
    grace: int | None,
    log: _Log,
) -> Any:
    where = f"container {c.get('name')}"
    log.unhandled(
        c,
        {
            "name",
            "image",
            "cpu",
            "memory",
            "memoryReservation",
            "essential",
            "command",
            "entryPoint",
            "environment",
            "secrets",
            "portMappings",
            "healthCheck",
            "stopTimeout",
            "workingDirectory",
            "user",
            "mountPoints",
            "readonlyRootFilesystem",
            "privileged",
            "interactive",
            "pseudoTerminal",
            "extraHosts",
        },
        where,
    )
    name = dns_label(str(c["name"]))
    if name != c["name"]:
        log.note(f"{where}.name", f"{c['name']!r} is not a DNS-1123 label; the container is named {name!r}")
    container = k8s.V1Container(name=name, image=str(c["image"]))
    if c.get("entryPoint"):
        container.command = list(c["entryPoint"])
        log.map(f"{where} entryPoint", "command")
    if c.get("command"):
        container.args = list(c["command"])
        log.map(f"{where} command", "args")
    if c.get("workingDirectory"):
        container.working_dir = c["workingDirectory"]
    if c.get("interactive"):
        container.stdin = True
    if c.get("pseudoTerminal"):
        container.tty = True
    if c.get("essential") is False:
        log.note(
            f"{where}.essential",
            "false: Kubernetes restarts every container of a pod; a non-essential container that exits "
            "does not end the task in ECS, here it is restarted",
        )
    container.resources = _resources(c, td, single, where, log)
    env = [k8s.V1EnvVar(name=e["name"], value=str(e.get("value", ""))) for e in c.get("environment") or []]
    if env:
        log.map(f"{where} environment ({len(env)})", "env")
    env += [_secret_env(s, where, log) for s in c.get("secrets") or []]
    container.env = env or None
    container.ports = _container_ports(c, network, where, log) or None
    if c.get("healthCheck"):
        _probes(container, c["healthCheck"], grace, where, log)
    container.volume_mounts = _mounts(c, volume_names, where, log) or None
    container.security_context = _security(c, where, log)
    for host in c.get("extraHosts") or []:
        log.note(f"{where}.extraHosts", f"{host.get('hostname')}={host.get('ipAddress')}: use the pod's hostAliases")
    return container


def _resources(c: dict[str, Any], td: dict[str, Any], single: bool, where: str, log: _Log) -> Any:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu = int(c.get("cpu") or 0)
    if cpu > 0:
        requests["cpu"] = millicores(cpu)
        log.map(f"{where} cpu {cpu} units", f"requests.cpu {requests['cpu']} ({cpu} / 1024 CPU)")
    memory, reservation = c.get("memory"), c.get("memoryReservation")
    if memory:
        limits["memory"] = f"{int(memory)}Mi"
        log.map(f"{where} memory {memory}", f"limits.memory {memory}Mi")
    if reservation:
        requests["memory"] = f"{int(reservation)}Mi"
        log.map(f"{where} memoryReservation {reservation}", f"requests.memory {reservation}Mi")
    elif memory:
        requests["memory"] = f"{int(memory)}Mi"
        log.map(f"{where} memory {memory} (no memoryReservation)", f"requests.memory {memory}Mi")
    if single:
        task_cpu = _task_cpu_units(td["cpu"]) if td.get("cpu") else None
        task_memory = _task_memory_mib(td["memory"]) if td.get("memory") else None
        if task_cpu:
            limits["cpu"] = millicores(task_cpu)
            requests.setdefault("cpu", limits["cpu"])
            log.map(f"task cpu {td['cpu']}", f"limits.cpu {limits['cpu']}")
        if task_memory and not memory:
            limits["memory"] = f"{task_memory}Mi"
            requests.setdefault("memory", limits["memory"])
            log.map(f"task memory {td['memory']}", f"limits.memory {task_memory}Mi")
    if not requests and not limits:
        return None
    return k8s.V1ResourceRequirements(requests=requests or None, limits=limits or None)


def _task_limits(td: dict[str, Any], defs: list[dict[str, Any]], where: str, log: _Log) -> None:
    """Task-level cpu and memory: a cap on the whole task, which only a one-container pod can carry."""
    for key, parse in (("cpu", _task_cpu_units), ("memory", _task_memory_mib)):
        if not td.get(key):
            continue
        if parse(td[key]) is None:
            log.note(f"{where}.{key}", f"{td[key]!r}: not a value the export reads")
        elif len(defs) > 1:
            log.note(
                f"{where}.{key}",
                f"{td[key]}: a cap on the whole task; Kubernetes {KUBERNETES_VERSION} has per-container "
                "limits only (pod-level resources came later, as a beta)",
            )
        elif key == "memory" and defs and defs[0].get("memory"):
            log.note(f"{where}.memory", f"{td[key]}: the container's own memory limit is the one kept")


def _secret_env(secret: dict[str, Any], where: str, log: _Log) -> Any:
    """ECS `secrets` -> an env var from a Secret the cluster must hold (the export never copies values)."""
    source = str(secret.get("valueFrom", ""))
    key = "value"
    if source.startswith("arn:aws:secretsmanager:") and ":secret:" in source:
        parts = source.split(":secret:", 1)[1].split(":")
        raw_name = parts[0]
        if len(parts) > 1 and parts[1]:
            key = re.sub(r"[^-._a-zA-Z0-9]", "-", parts[1])
        if any(parts[2:]):
            log.note(f"{where}.secrets", f"{secret.get('name')}: the version stage / id in {source} is not kept")
    elif source.startswith("arn:aws:ssm:") and ":parameter" in source:
        raw_name = source.split(":parameter", 1)[1]
    else:
        raw_name = source
    secret_name = dns_label(raw_name.strip("/").replace("/", "-").replace("_", "-"), 253)
    log.note(
        f"{where}.secrets",
        f"{secret.get('name')} reads Secret {secret_name} key {key}: create it from {source} "
        "(the export refers to it and never copies secret values)",
    )
    log.map(f"{where} secret {secret.get('name')}", f"env valueFrom.secretKeyRef {secret_name}/{key}")
    return k8s.V1EnvVar(
        name=str(secret.get("name")),
        value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=key)),
    )


def _port_name(pm: dict[str, Any]) -> str:
    """An IANA_SVC_NAME: at most 15 characters, a letter among them."""
    if pm.get("name"):
        name = dns_label(str(pm["name"]), 15)
        if re.search(r"[a-z]", name) and "--" not in name:
            return name
    return f"{str(pm.get('protocol') or 'tcp').lower()}-{pm['containerPort']}"


def _container_ports(c: dict[str, Any], network: str, where: str, log: _Log) -> list[Any]:
    ports = []
    for pm in c.get("portMappings") or []:
        if pm.get("containerPort") is None:
            log.note(f"{where}.portMappings", f"{_brief(pm)}: no containerPort (port ranges are not translated)")
            continue
        protocol = str(pm.get("protocol") or "tcp").upper()
        port = k8s.V1ContainerPort(container_port=int(pm["containerPort"]), protocol=protocol, name=_port_name(pm))
        host = pm.get("hostPort")
        if network == "bridge" and host:
            port.host_port = int(host)
            log.note(
                f"{where}.portMappings",
                f"hostPort {host}: kept as the container's hostPort (one pod per node on that port, as in ECS); "
                "pods have their own IPs, so the Service alone may be enough",
            )
        ports.append(port)
        for extra in ("containerPortRange", "hostPortRange"):
            if pm.get(extra):
                log.note(f"{where}.portMappings.{extra}", f"{pm[extra]}: not translated")
    return ports


def _duplicate_ports(defs: list[dict[str, Any]], log: _Log) -> None:
    seen: dict[tuple[int, str], str] = {}
    for c in defs:
        for pm in c.get("portMappings") or []:
            if pm.get("containerPort") is None:
                continue
            port = (int(pm["containerPort"]), str(pm.get("protocol") or "tcp").lower())
            if port in seen:
                log.note(
                    f"container {c['name']}.portMappings",
                    f"port {port[0]}/{port[1]} is also {seen[port]}'s: containers of a pod share one network, "
                    "so only one of them can listen on it",
                )
            seen.setdefault(port, str(c["name"]))


def _probes(container: Any, hc: dict[str, Any], grace: int | None, where: str, log: _Log) -> None:
    """ECS healthCheck -> exec liveness and readiness probes (and a startup probe for startPeriod)."""
    command = [str(x) for x in hc.get("command") or []]
    if not command or command[0] == "NONE":
        log.note(f"{where}.healthCheck", f"{command}: disables the image's check; no probe")
        return
    if command[0] == "CMD-SHELL":
        exec_command = ["/bin/sh", "-c", " ".join(command[1:])]
    elif command[0] == "CMD":
        exec_command = command[1:]
    else:
        exec_command = command
    interval, timeout, retries = int(hc.get("interval", 30)), int(hc.get("timeout", 5)), int(hc.get("retries", 3))

    def probe(failures: int, delay: int | None = None) -> Any:
        return k8s.V1Probe(
            _exec=k8s.V1ExecAction(command=exec_command),
            period_seconds=interval,
            timeout_seconds=timeout,
            failure_threshold=failures,
            initial_delay_seconds=delay,
        )

    container.liveness_probe = probe(retries, int(grace) if grace else None)
    container.readiness_probe = probe(retries)
    log.map(
        f"{where} healthCheck (every {interval} s, timeout {timeout} s, {retries} retries)",
        "exec livenessProbe and readinessProbe (periodSeconds, timeoutSeconds, failureThreshold)",
    )
    if grace:
        log.map(f"healthCheckGracePeriodSeconds {grace}", f"livenessProbe.initialDelaySeconds {grace}")
    start = hc.get("startPeriod")
    if start:
        # ECS ignores failures during startPeriod, then allows `retries` more.
        failures = math.ceil(int(start) / interval) + retries
        container.startup_probe = probe(failures)
        log.map(
            f"{where} healthCheck startPeriod {start} s",
            f"startupProbe failureThreshold {failures} (ceil({start} / {interval}) + {retries})",
        )
    log.note(
        f"{where}.healthCheck",
        "an UNHEALTHY essential container makes ECS replace the whole task; the liveness probe restarts "
        "the container in place",
    )


def _volumes(items: list[dict[str, Any]], where: str, log: _Log) -> tuple[list[Any], dict[str, str | None]]:
    """Task volumes -> pod volumes; the map gives each ECS volume's pod volume name (None: untranslated)."""
    volumes: list[Any] = []
    names: dict[str, str | None] = {}
    for v in items:
        ecs_name = str(v.get("name"))
        name = dns_label(ecs_name)
        vwhere = f"{where}.volumes[{ecs_name}]"
        unknown = {k: x for k, x in v.items() if k not in ("name", "host", "dockerVolumeConfiguration")}
        host = v.get("host") or {}
        docker = v.get("dockerVolumeConfiguration")
        if any(unknown.values()):
            log.note(vwhere, f"{_brief(unknown)}: not translated; its mount points are left out")
            names[ecs_name] = None
            continue
        if host.get("sourcePath"):
            volumes.append(k8s.V1Volume(name=name, host_path=k8s.V1HostPathVolumeSource(path=host["sourcePath"])))
            log.map(f"volume {ecs_name} host.sourcePath", "hostPath")
        elif docker and docker.get("scope") == "shared":
            volumes.append(
                k8s.V1Volume(
                    name=name, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=name)
                )
            )
            log.note(
                vwhere,
                f"a shared Docker volume: the pod mounts PersistentVolumeClaim {name}, which the cluster must "
                "provide (driver, driverOpts and autoprovision are not translated)",
            )
        else:
            volumes.append(k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource()))
            log.map(f"volume {ecs_name} ({'task-scoped Docker volume' if docker else 'no host path'})", "emptyDir")
            if docker and (docker.get("driver") not in (None, "local") or docker.get("driverOpts")):
                log.note(vwhere, f"driver {docker.get('driver')} {docker.get('driverOpts') or ''}: not translated")
        names[ecs_name] = name
    return volumes, names


def _mounts(c: dict[str, Any], volume_names: dict[str, str | None], where: str, log: _Log) -> list[Any]:
    mounts = []
    for m in c.get("mountPoints") or []:
        source = str(m.get("sourceVolume"))
        name = volume_names.get(source)
        if name is None:
            log.note(f"{where}.mountPoints", f"{source} at {m.get('containerPath')}: its volume is not translated")
            continue
        mounts.append(
            k8s.V1VolumeMount(name=name, mount_path=str(m["containerPath"]), read_only=bool(m.get("readOnly")) or None)
        )
    for v in c.get("volumesFrom") or []:
        log.note(f"{where}.volumesFrom", f"{v.get('sourceContainer')}: mount the same volumes by name instead")
    return mounts


def _security(c: dict[str, Any], where: str, log: _Log) -> Any:
    context = k8s.V1SecurityContext()
    used = False
    if c.get("readonlyRootFilesystem"):
        context.read_only_root_filesystem = True
        used = True
    if c.get("privileged"):
        context.privileged = True
        used = True
    user = c.get("user")
    if user:
        uid, _, gid = str(user).partition(":")
        if uid.isdigit() and (not gid or gid.isdigit()):
            context.run_as_user = int(uid)
            if gid:
                context.run_as_group = int(gid)
            used = True
        else:
            log.note(f"{where}.user", f"{user!r}: Kubernetes takes numeric user and group ids only")
    return context if used else None


# -- placement -----------------------------------------------------------------------------


def _placement(
    svc: dict[str, Any], td: dict[str, Any], labels: dict[str, str], daemon: bool, log: _Log
) -> tuple[Any, list[Any]]:
    spread: list[Any] = []
    strategies = list(svc.get("placementStrategy") or [])
    if not strategies and not daemon:
        strategies = list(DEFAULT_STRATEGY)
        log.map("placementStrategy (none: ECS's default)", "spread over zones, then over nodes")
    keys: list[str] = []
    for s in strategies:
        kind, fld = s.get("type"), str(s.get("field") or "")
        shown = f"{kind}({fld})" if fld else str(kind)
        if kind == "spread":
            if fld.lower() in ("instanceid", "host"):
                key = HOST_KEY
            elif fld.startswith("attribute:"):
                try:
                    key = memberof.label_key(fld[len("attribute:") :])
                except memberof.Untranslatable as err:
                    log.note(f"service.placementStrategy {shown}", f"not translated: {err}")
                    continue
                if memberof.is_custom_label(key):
                    log.note(f"service.placementStrategy {shown}", f"the nodes must carry the label {key}")
            else:
                log.note(f"service.placementStrategy {shown}", "not translated")
                continue
            if key in keys:
                continue
            keys.append(key)
            spread.append(
                k8s.V1TopologySpreadConstraint(
                    max_skew=1,
                    topology_key=key,
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.V1LabelSelector(match_labels=dict(labels)),
                )
            )
            log.map(f"placementStrategy {shown}", f"topologySpreadConstraint {key} maxSkew 1 ScheduleAnyway")
        elif kind == "binpack":
            log.note(
                f"service.placementStrategy {shown}",
                "Kubernetes packs nodes only cluster-wide, with a kube-scheduler profile whose NodeResourcesFit "
                "scoringStrategy is MostAllocated; a workload has no field for it",
            )
        elif kind == "random":
            log.note(f"service.placementStrategy {shown}", "kube-scheduler has no random placement; it scores nodes")
        else:
            log.note(f"service.placementStrategy {shown}", "not translated")
    if len(spread) > 1:
        log.map(
            "the order of placementStrategy",
            "none: ECS breaks ties in order, kube-scheduler weighs every spread constraint together",
        )

    terms: list[memberof.Term] = [()]
    anti = None
    constraints = [("taskDefinition", c) for c in td.get("placementConstraints") or []]
    constraints += [("service", c) for c in svc.get("placementConstraints") or []]
    for origin, constraint in constraints:
        kind = constraint.get("type")
        if kind == "distinctInstance":
            anti = k8s.V1PodAntiAffinity(
                required_during_scheduling_ignored_during_execution=[
                    k8s.V1PodAffinityTerm(
                        topology_key=HOST_KEY, label_selector=k8s.V1LabelSelector(match_labels=dict(labels))
                    )
                ]
            )
            log.map("placementConstraint distinctInstance", f"required podAntiAffinity on {HOST_KEY}")
            continue
        expression = str(constraint.get("expression") or "")
        cwhere = f"{origin}.placementConstraints memberOf({expression})"
        if kind != "memberOf":
            log.note(cwhere, f"type {kind}: not translated")
            continue
        try:
            translated = memberof.translate(expression)
            terms = memberof.conjoin(terms, translated)
        except memberof.Untranslatable as err:
            log.note(cwhere, f"not translated: {err}")
            continue
        log.map(f"placementConstraint memberOf({expression})", "required nodeAffinity")
        for key in sorted({r.key for t in translated for r in t if memberof.is_custom_label(r.key)}):
            log.note(cwhere, f"the nodes must carry the label {key} (the ECS attribute of that name)")

    node = None
    if terms != [()]:
        node = k8s.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                node_selector_terms=[
                    k8s.V1NodeSelectorTerm(
                        match_expressions=[
                            k8s.V1NodeSelectorRequirement(key=r.key, operator=r.operator, values=list(r.values) or None)
                            for r in term
                        ]
                    )
                    for term in terms
                ]
            )
        )
    affinity = k8s.V1Affinity(node_affinity=node, pod_anti_affinity=anti) if node or anti else None
    return affinity, spread


# -- rollouts ------------------------------------------------------------------------------


def _rollout(config: dict[str, Any], desired: int, log: _Log) -> Any:
    maximum = int(config.get("maximumPercent", 200))
    minimum = int(config.get("minimumHealthyPercent", 100))
    surge, unavailable = max(0, maximum - 100), max(0, 100 - minimum)
    max_surge: int | str = f"{surge}%"
    max_unavailable: int | str = f"{unavailable}%"
    if surge == 0 and unavailable == 0:
        max_surge = 1
        log.note(
            "service.deploymentConfiguration",
            "maximumPercent 100 with minimumHealthyPercent 100 lets no task be replaced; Kubernetes refuses "
            "maxSurge and maxUnavailable both 0, so maxSurge is 1 pod",
        )
    else:
        log.map(
            f"maximumPercent {maximum}, minimumHealthyPercent {minimum}",
            f"rollingUpdate maxSurge {surge}% ({maximum} - 100), maxUnavailable {unavailable}% (100 - {minimum})",
        )
        # ECS caps the tasks at floor(desired x maximumPercent); Kubernetes rounds the surge up.
        ecs_extra = desired * maximum // 100 - desired
        k8s_extra = math.ceil(desired * surge / 100)
        if ecs_extra != k8s_extra:
            log.note(
                "service.deploymentConfiguration.maximumPercent",
                f"with {desired} tasks ECS starts at most {ecs_extra} extra, Kubernetes rounds {surge}% up to "
                f"{k8s_extra}",
            )
    breaker = config.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable"):
        log.note(
            "service.deploymentConfiguration.deploymentCircuitBreaker",
            "Kubernetes marks a stuck rollout failed after progressDeadlineSeconds (600) and never rolls back "
            "by itself: run kubectl rollout undo" + (" (ECS would roll back)" if breaker.get("rollback") else ""),
        )
    return k8s.V1DeploymentStrategy(
        type="RollingUpdate",
        rolling_update=k8s.V1RollingUpdateDeployment(max_surge=max_surge, max_unavailable=max_unavailable),
    )


def _daemon_rollout(config: dict[str, Any], log: _Log) -> Any:
    # ECS replaces a daemon's task by stopping it first; maximumPercent is not used for daemons.
    minimum = int(config.get("minimumHealthyPercent", 0))
    unavailable: int | str = f"{max(0, 100 - minimum)}%"
    if minimum >= 100:
        unavailable = 1
        log.note(
            "service.deploymentConfiguration.minimumHealthyPercent",
            "100 for a daemon lets no task be replaced; maxUnavailable is 1 node",
        )
    else:
        log.map(f"minimumHealthyPercent {minimum} (daemon)", f"rollingUpdate maxUnavailable {unavailable}, maxSurge 0")
    return k8s.V1DaemonSetUpdateStrategy(
        type="RollingUpdate", rolling_update=k8s.V1RollingUpdateDaemonSet(max_unavailable=unavailable, max_surge=0)
    )


# -- Service -------------------------------------------------------------------------------


def _service(name: str, labels: dict[str, str], pod: Any, svc: dict[str, Any], log: _Log) -> Any:
    ports = []
    seen: set[tuple[int, str]] = set()
    for container in pod.containers:
        for p in container.ports or []:
            if (p.container_port, p.protocol) in seen:
                continue
            seen.add((p.container_port, p.protocol))
            ports.append(
                k8s.V1ServicePort(name=p.name, port=p.container_port, target_port=p.container_port, protocol=p.protocol)
            )
    if not ports:
        return None
    service_name = name if name[0].isalpha() else f"svc-{name}"[:63]
    if service_name != name:
        log.note("serviceName", f"a Service name must start with a letter: the Service is {service_name}")
    log.map("portMappings", f"Service {service_name} ports {', '.join(str(p.port) for p in ports)} selecting the pods")
    return k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(name=service_name, labels=dict(labels)),
        spec=k8s.V1ServiceSpec(selector=dict(labels), ports=ports),
    )


# -- HorizontalPodAutoscaler ---------------------------------------------------------------


def _requests(pod: Any, resource: str) -> list[str]:
    """The containers without a request for `resource`, by name."""
    return [c.name for c in pod.containers if not (c.resources and (c.resources.requests or {}).get(resource))]


def _hpa(name: str, pod: Any, target: dict[str, Any] | None, policies: Sequence[dict[str, Any]], log: _Log) -> Any:
    if target is None:
        for p in policies:
            log.note(f"scaling policy {p.get('PolicyName')}", "no scalable target; no HorizontalPodAutoscaler")
        return None
    metrics = []
    tracked = []
    for p in policies:
        pwhere = f"scaling policy {p.get('PolicyName')}"
        if p.get("PolicyType") != "TargetTrackingScaling":
            log.note(
                pwhere,
                f"{p.get('PolicyType')}: the HPA tracks targets and has no alarm steps; not translated",
            )
            continue
        cfg = p.get("TargetTrackingScalingPolicyConfiguration") or {}
        metric_type = (cfg.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        resource = METRIC_RESOURCES.get(str(metric_type))
        if resource is None:
            shown = metric_type or "a customized metric"
            log.note(pwhere, f"{shown}: needs a metrics adapter (Pods or External metric); not translated")
            continue
        value = float(cfg["TargetValue"])
        utilization = max(1, math.floor(value + 0.5))  # half up: 70.5 -> 71, as people round
        if utilization != value:
            log.note(pwhere, f"TargetValue {value:g}: the HPA takes whole percents, so {utilization}")
        missing = _requests(pod, resource)
        if missing:
            log.note(
                pwhere,
                f"the HPA measures {resource} against requests, and {', '.join(missing)} has none "
                f"(ECS measures against the task's reservation)",
            )
        metrics.append(
            k8s.V2MetricSpec(
                type="Resource",
                resource=k8s.V2ResourceMetricSource(
                    name=resource, target=k8s.V2MetricTarget(type="Utilization", average_utilization=utilization)
                ),
            )
        )
        tracked.append(cfg)
        log.map(f"{pwhere} {metric_type} {value:g}", f"HPA metric {resource} averageUtilization {utilization}")
    low, high = int(target.get("MinCapacity", 1)), int(target.get("MaxCapacity", 1))
    if not metrics:
        log.note(
            "scalable target",
            f"min {low}, max {high}: no target-tracking policy on CPU or memory, so no HorizontalPodAutoscaler "
            "(one without metrics would track 80 % CPU)",
        )
        return None
    if low < 1:
        log.note("scalable target MinCapacity", f"{low}: an HPA scales down to 1 at the least (scale to zero is alpha)")
        low = 1
    if high < low:
        high = low
    log.map(
        f"scalable target min {target.get('MinCapacity')}, max {target.get('MaxCapacity')}",
        f"HPA minReplicas {low}, maxReplicas {high}",
    )
    behavior = _behavior(tracked, target, log)
    return k8s.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2",
        kind="HorizontalPodAutoscaler",
        metadata=k8s.V1ObjectMeta(name=name, labels={NAME_LABEL: name}),
        spec=k8s.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=k8s.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name=name),
            min_replicas=low,
            max_replicas=high,
            metrics=metrics,
            behavior=behavior,
        ),
    )


def _behavior(tracked: list[dict[str, Any]], target: dict[str, Any], log: _Log) -> Any:
    """Cooldowns -> behavior.

    Scale-in: ECS waits ScaleInCooldown after any scaling and removes half the surplus per step; the
    HPA's scaleDown window (it keeps the highest recommendation of the last N s) waits as long after
    the load was last high, and the policy caps each period's scale-in at 50 % of the pods.
    Scale-out: within ScaleOutCooldown ECS scales out again only to a larger count, at once; so does
    an HPA with no scale-up window.
    """
    ins = sorted({int(cfg.get("ScaleInCooldown", DEFAULT_COOLDOWN)) for cfg in tracked})
    outs = sorted({int(cfg.get("ScaleOutCooldown", DEFAULT_COOLDOWN)) for cfg in tracked})
    window = min(max(ins), MAX_STABILIZATION_S)
    if len(ins) > 1:
        log.note("scaling policies ScaleInCooldown", f"{ins} differ; the HPA has one window: the longest, {window} s")
    if max(ins) > MAX_STABILIZATION_S:
        log.note("scaling policies ScaleInCooldown", f"{max(ins)} s is over the HPA's {MAX_STABILIZATION_S} s")
    down = k8s.V2HPAScalingRules(stabilization_window_seconds=window)
    if window > 0:
        period = min(window, MAX_POLICY_PERIOD_S)
        down.policies = [k8s.V2HPAScalingPolicy(type="Percent", value=50, period_seconds=period)]
        log.map(
            f"ScaleInCooldown {max(ins)} s",
            f"behavior.scaleDown stabilizationWindowSeconds {window}, at most 50 % of the pods per {period} s",
        )
    up = k8s.V2HPAScalingRules(stabilization_window_seconds=0)
    log.map(f"ScaleOutCooldown {', '.join(str(o) for o in outs)} s", "behavior.scaleUp stabilizationWindowSeconds 0")
    disabled = [bool(cfg.get("DisableScaleIn")) for cfg in tracked]
    if all(disabled):
        down.select_policy = "Disabled"
        log.map("DisableScaleIn", "behavior.scaleDown selectPolicy Disabled")
    elif any(disabled):
        log.note(
            "scaling policies DisableScaleIn",
            "set on some policies only: the HPA disables scale-down for all metrics or none; it still scales down",
        )
    suspended = target.get("SuspendedState") or {}
    if suspended.get("DynamicScalingInSuspended"):
        down.select_policy = "Disabled"
        log.map("SuspendedState DynamicScalingInSuspended", "behavior.scaleDown selectPolicy Disabled")
    if suspended.get("DynamicScalingOutSuspended"):
        up.select_policy = "Disabled"
        log.map("SuspendedState DynamicScalingOutSuspended", "behavior.scaleUp selectPolicy Disabled")
    return k8s.V2HorizontalPodAutoscalerBehavior(scale_up=up, scale_down=down)


# -- output --------------------------------------------------------------------------------


def documents(exports: Iterable[ServiceExport]) -> list[dict[str, Any]]:
    """Every object as the JSON the Kubernetes API takes (camelCase, no nulls)."""
    api = k8s.ApiClient()
    return [api.sanitize_for_serialization(obj) for e in exports for obj in e.objects]


def _header(exports: Sequence[ServiceExport]) -> list[str]:
    lines = [
        "Kubernetes objects for ECS service(s) "
        + ", ".join(e.service_name for e in exports)
        + f", made by `orchestrator export kubernetes` (schemas of Kubernetes {KUBERNETES_VERSION}).",
    ]
    for e in exports:
        lines.append(f"Service {e.service_name}: what each ECS setting became:")
        lines += [f"  {m}" for m in e.mapped]
        if e.notes:
            lines.append(f"Service {e.service_name}: NOT translated, or to provide in the cluster:")
            lines += [f"  - {n}" for n in e.notes]
        else:
            lines.append(f"Service {e.service_name}: every setting translated.")
    return lines


def render_yaml(exports: Sequence[ServiceExport]) -> str:
    """Multi-document YAML; the header comment lists what each setting became and what did not translate."""
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in _header(exports))
    body = "---\n".join(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in documents(exports))
    return header + body


def render_json(exports: Sequence[ServiceExport]) -> str:
    """A v1 List. A list's metadata has no annotations, so the notes travel on each workload, under
    `orchestrator.export/untranslated` (and what each setting became under `orchestrator.export/mapped`)."""
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": documents(exports)}
    return json.dumps(listing, indent=2) + "\n"
