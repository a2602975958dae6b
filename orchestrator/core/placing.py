"""The bridge between the store and the pure scheduler.

It builds the scheduler's snapshot of a cluster (what each instance has left, which task groups
it holds), turns a task definition into a placement request and into task rows, and writes the
scheduler's decisions back. It runs inside the caller's write transaction, so a placement and
the task rows it creates commit together or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.core.models import (
    DEFAULT_RESERVED_TCP_PORTS,
    Container,
    ContainerDefinition,
    ContainerInstance,
    Resource,
    Task,
    TaskDefinition,
    arn_id,
    cluster_arn,
    task_arn,
)
from orchestrator.core.store import Store
from orchestrator.core.tags import tag_service_task
from orchestrator.core.task_network import new_attachment
from scheduler import place
from scheduler.types import (
    InstanceView,
    PlacementConstraint,
    PlacementRequest,
    PlacementResult,
    PlacementStrategy,
    Profile,
)

ZONE = "ecs.availability-zone"


@dataclass(frozen=True)
class TaskNeeds:
    """What one task of a task definition reserves on an instance."""

    cpu: int
    memory: int
    tcp_ports: frozenset[int]
    udp_ports: frozenset[int]
    gpus: int = 0


def container_gpus(container: ContainerDefinition) -> int:
    """The GPUs one container definition asks for (resourceRequirements type GPU, a count as a string)."""
    return sum(int(r.value or 0) for r in container.resourceRequirements or () if r.type == "GPU")


def task_needs(td: TaskDefinition) -> TaskNeeds:
    # Placement subtracts memoryReservation when set, else memory; a task-level memory wins.
    # An awsvpc task's ports are on its own IP, not the instance's: it reserves none (as on ECS).
    # A host-mode task's are the host's: registration made each hostPort its containerPort.
    cpu = int(td.cpu) if td.cpu else sum(c.cpu for c in td.containerDefinitions)
    memory = int(td.memory) if td.memory else sum(c.memoryReservation or c.memory or 0 for c in td.containerDefinitions)
    tcp: set[int] = set()
    udp: set[int] = set()
    for c in td.containerDefinitions:
        for pm in c.portMappings if td.network_mode != "awsvpc" else ():
            if pm.hostPort:
                (udp if pm.protocol == "udp" else tcp).add(pm.hostPort)
    gpus = sum(container_gpus(c) for c in td.containerDefinitions)
    return TaskNeeds(cpu, memory, frozenset(tcp), frozenset(udp), gpus)


def resources(
    cpu: int, memory: int, tcp: Sequence[int], udp: Sequence[int], gpus: Sequence[str] | None = None
) -> list[Resource]:
    """ECS's resource list; GPU (a STRINGSET of GPU ids) only on an instance that has GPUs, as ECS."""
    out = [
        Resource(name="CPU", type="INTEGER", integerValue=cpu),
        Resource(name="MEMORY", type="INTEGER", integerValue=memory),
        Resource(name="PORTS", type="STRINGSET", stringSetValue=[str(p) for p in sorted(tcp)]),
        Resource(name="PORTS_UDP", type="STRINGSET", stringSetValue=[str(p) for p in sorted(udp)]),
    ]
    if gpus is not None:
        out.append(Resource(name="GPU", type="STRINGSET", stringSetValue=list(gpus)))
    return out


def registered_gpus(inst: ContainerInstance) -> list[str] | None:
    """The instance's GPU ids as its agent registered them, or None for an instance without GPUs."""
    for r in inst.registeredResources:
        if r.name == "GPU":
            return list(r.stringSetValue or [])
    return None


@dataclass
class InstanceUsage:
    """What the non-stopped tasks on one instance hold."""

    cpu: int = 0
    memory: int = 0
    running: int = 0
    pending: int = 0
    tcp: set[int] = field(default_factory=set)
    udp: set[int] = field(default_factory=set)
    groups: Counter[str] = field(default_factory=Counter)
    gpus: set[str] = field(default_factory=set)  # GPU ids the tasks' containers hold


def cluster_usage(store: Store, cluster: str) -> dict[str, InstanceUsage]:
    """Usage per instance ARN, derived from the task rows (the rows are the only truth)."""
    tasks = store.list_tasks(cluster, not_stopped=True)
    tds = {arn: store.get_task_definition_by_arn(arn) for arn in {t.taskDefinitionArn for t in tasks}}
    return usage_of(tasks, tds)


def usage_of(tasks: Iterable[Task], tds: Mapping[str, TaskDefinition | None]) -> dict[str, InstanceUsage]:
    """Usage per instance ARN of the tasks that are not STOPPED (pure: the controller's decision
    and `svc plan` compute it over task lists they change in memory)."""
    out: dict[str, InstanceUsage] = defaultdict(InstanceUsage)
    for t in tasks:
        if not t.containerInstanceArn or t.lastStatus == "STOPPED":
            continue
        usage = out[t.containerInstanceArn]
        usage.cpu += int(t.cpu or 0)
        usage.memory += int(t.memory or 0)
        if t.lastStatus == "RUNNING":
            usage.running += 1
        else:
            usage.pending += 1
        usage.groups[t.group] += 1
        for c in t.containers:
            if c.gpuIds:
                usage.gpus.update(c.gpuIds)
        td = tds.get(t.taskDefinitionArn)
        if td is not None:
            needs = task_needs(td)
            usage.tcp |= needs.tcp_ports
            usage.udp |= needs.udp_ports
    return out


def with_usage(store: Store, instances: Sequence[ContainerInstance]) -> list[ContainerInstance]:
    """The instances with remainingResources and task counts filled in from their tasks, as ECS
    shows them. Computed on read so that no agent report has to rewrite instance rows."""
    by_cluster: dict[str, dict[str, InstanceUsage]] = {}
    out = []
    for inst in instances:
        cluster = inst.containerInstanceArn.split("/")[-2]
        if cluster not in by_cluster:
            by_cluster[cluster] = cluster_usage(store, cluster)
        u = by_cluster[cluster].get(inst.containerInstanceArn, InstanceUsage())
        gpus = registered_gpus(inst)
        remaining = resources(
            inst.resource("CPU") - u.cpu,
            inst.resource("MEMORY") - u.memory,
            sorted(set(DEFAULT_RESERVED_TCP_PORTS) | u.tcp),
            sorted(u.udp),
            None if gpus is None else [g for g in gpus if g not in u.gpus],
        )
        out.append(
            inst.model_copy(
                update={"remainingResources": remaining, "runningTasksCount": u.running, "pendingTasksCount": u.pending}
            )
        )
    return out


def snapshot(store: Store, cluster: str) -> list[InstanceView]:
    """The scheduler's view of every non-INACTIVE instance of the cluster."""
    return instance_views(store.list_instances(cluster), cluster_usage(store, cluster))


ViewMemo = dict[str, tuple[ContainerInstance, InstanceUsage, InstanceView]]


def instance_views(
    instances: Iterable[ContainerInstance], usage: Mapping[str, InstanceUsage], memo: ViewMemo | None = None
) -> list[InstanceView]:
    """The scheduler's view of `instances` (INACTIVE ones left out) holding `usage`. With `memo`
    (the views of the last call, kept by the caller), an instance given as the same model holding
    the same usage as then gets the same view back, instead of one built again: a placing pass
    changes the usage of the instances it places on, out of a thousand."""
    views = []
    for inst in instances:
        if inst.status == "INACTIVE":
            continue
        u = usage.get(inst.containerInstanceArn, InstanceUsage())
        if memo is not None:
            kept = memo.get(inst.containerInstanceArn)
            if kept is not None and kept[0] is inst and kept[1] == u:
                views.append(kept[2])
                continue
        view = _view(inst, u)
        if memo is not None:
            memo[inst.containerInstanceArn] = (inst, u, view)
        views.append(view)
    return views


def _view(inst: ContainerInstance, u: InstanceUsage) -> InstanceView:
    gpus = registered_gpus(inst)
    return InstanceView(
        arn=inst.containerInstanceArn,
        instance_id=arn_id(inst.containerInstanceArn),
        status=inst.status,
        agent_connected=inst.agentConnected,
        attributes=inst.attribute_map(),
        registered_cpu=inst.resource("CPU"),
        registered_memory=inst.resource("MEMORY"),
        remaining_cpu=inst.resource("CPU") - u.cpu,
        remaining_memory=inst.resource("MEMORY") - u.memory,
        used_tcp_ports=frozenset(DEFAULT_RESERVED_TCP_PORTS) | frozenset(u.tcp),
        used_udp_ports=frozenset(u.udp),
        task_groups=dict(u.groups),
        running_tasks_count=u.running,
        registered_at=inst.registeredAt,
        agent_version=inst.versionInfo.agentVersion,
        ec2_instance_id=inst.ec2InstanceId,
        remaining_gpus=tuple(g for g in gpus if g not in u.gpus) if gpus else (),
    )


def placement_request(
    td: TaskDefinition,
    count: int,
    group: str,
    strategies: Sequence[PlacementStrategy],
    constraints: Sequence[PlacementConstraint],
    profile: Profile = "ecs",
) -> PlacementRequest:
    needs = task_needs(td)
    merged = tuple(constraints) + tuple(
        PlacementConstraint(type=c.type, expression=c.expression or "") for c in td.placementConstraints
    )
    return PlacementRequest(
        count=count,
        cpu=needs.cpu,
        memory=needs.memory,
        tcp_ports=needs.tcp_ports,
        udp_ports=needs.udp_ports,
        gpus=needs.gpus,
        group=group,
        strategies=tuple(strategies),
        constraints=merged,
        profile=profile,
    )


def new_task(
    cluster: str,
    td: TaskDefinition,
    group: str,
    started_by: str | None,
    instance: InstanceView,
    now: float,
    task_id: str | None = None,
    gpu_ids: Sequence[str] = (),
) -> Task:
    """A PROVISIONING task row on `instance`. With `task_id` the row is the same every time (the
    container ARNs derive from it), so a decision that names its new tasks is reproducible.
    `gpu_ids`: the GPUs placement gave the task, handed out to its containers in their order."""
    task_id = task_id or secrets.token_hex(16)
    arn = task_arn(cluster, task_id)
    needs = task_needs(td)
    gpus = _gpus_by_container(td, gpu_ids)
    containers = [
        Container(
            containerArn=f"{arn.replace(':task/', ':container/')}/{_container_id(task_id, i)}",
            taskArn=arn,
            name=c.name,
            image=c.image,
            lastStatus="PENDING",
            healthStatus="UNKNOWN" if c.healthCheck else None,
            cpu=str(c.cpu),
            memory=str(c.memory) if c.memory else None,
            memoryReservation=str(c.memoryReservation) if c.memoryReservation else None,
            gpuIds=gpus[i],
        )
        for i, c in enumerate(td.containerDefinitions)
    ]
    return Task(
        taskArn=arn,
        clusterArn=cluster_arn(cluster),
        taskDefinitionArn=td.taskDefinitionArn,
        containerInstanceArn=instance.arn,
        availabilityZone=instance.attributes.get(ZONE) or None,
        lastStatus="PROVISIONING",
        desiredStatus="RUNNING",
        group=group,
        startedBy=started_by,
        cpu=str(needs.cpu),
        memory=str(needs.memory),
        containers=containers,
        createdAt=now,
        attachments=[new_attachment(task_id)] if td.network_mode == "awsvpc" else [],
    )


def _gpus_by_container(td: TaskDefinition, gpu_ids: Sequence[str]) -> list[list[str] | None]:
    """Each container's share of the task's GPU ids (None for a container that asks for none)."""
    out: list[list[str] | None] = []
    given = 0
    for c in td.containerDefinitions:
        n = container_gpus(c)
        out.append(list(gpu_ids[given : given + n]) if n else None)
        given += n
    return out


def _container_id(task_id: str, index: int) -> str:
    return hashlib.sha256(f"{task_id}/{index}".encode()).hexdigest()[:16]


@dataclass
class Placed:
    tasks: list[Task]
    result: PlacementResult


def place_tasks(
    store: Store,
    cluster: str,
    td: TaskDefinition,
    request: PlacementRequest,
    started_by: str | None,
    now: float,
    seed: int,
    instances: Sequence[InstanceView] | None = None,
) -> Placed:
    """Place and write `request.count` tasks (call inside store.write())."""
    views = list(instances) if instances is not None else snapshot(store, cluster)
    result = place(request, views, seed=seed)
    by_arn = {v.arn: v for v in views}
    tasks = []
    for placement in result.placements:
        task = new_task(
            cluster, td, request.group, started_by, by_arn[placement.instance_arn], now, gpu_ids=placement.gpu_ids
        )
        store.insert_task(task, explanation=dict(placement.explanation))
        tag_service_task(store, task)
        tasks.append(task)
    return Placed(tasks, result)
