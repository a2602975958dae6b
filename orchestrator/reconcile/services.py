"""The service controller: loads each service's snapshot, asks `decide`, and applies its Actions.

The decision itself (`reconcile/service_decide.py`) is pure; this module is the thin part around
it: `load_snapshot` reads what a pass needs inside a store transaction, `apply` writes the
Actions (new task rows, stopped rows, events, the service row and the controller's state) in the
same transaction. A pass is idempotent and a control plane restarted half way through a rollout
carries on from the rows. `svc plan` (`reconcile/plan.py`) loads the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from orchestrator.core import fargate
from orchestrator.core.cluster_usage import ClusterUsage
from orchestrator.core.context import Context
from orchestrator.core.models import ContainerInstance, Task, TaskDefinition, cluster_arn
from orchestrator.core.placing import InstanceUsage, ViewMemo, usage_of
from orchestrator.core.service_state import ServiceState
from orchestrator.core.store import ParsedRows, Store
from orchestrator.core.tags import tag_service_task
from orchestrator.reconcile import targets
from orchestrator.reconcile.service_decide import Actions, Rules, ServiceSnapshot, decide

log = structlog.get_logger("orchestrator.reconcile.services")


class TaskDefinitions:
    """Task definitions by ARN, cached: their content never changes once registered."""

    def __init__(self) -> None:
        self._cache: dict[str, TaskDefinition] = {}

    def get(self, store: Store, arn: str) -> TaskDefinition | None:
        td = self._cache.get(arn)
        if td is None:
            td = store.get_task_definition_by_arn(arn)
            if td is not None:
                self._cache[arn] = td
        return td


@dataclass
class SnapshotRows:
    """The controller's parsed rows, kept from pass to pass: a pass parses only the task and
    instance rows that changed since the last (the decision never changes a snapshot's rows), and
    reads what the cluster's other tasks hold from `ClusterUsage`."""

    own_tasks: ParsedRows[Task] = field(default_factory=lambda: ParsedRows(Task))
    instances: ParsedRows[ContainerInstance] = field(default_factory=lambda: ParsedRows(ContainerInstance))
    # What every cluster's tasks hold, by cluster: a pass that places reads its columns, not every row.
    usage: dict[str, ClusterUsage] = field(default_factory=dict)
    # The instance views of the last passes that placed (placing.instance_views).
    views: ViewMemo = field(default_factory=dict)


def load_snapshot(
    store: Store, cluster: str, name: str, tds: TaskDefinitions, now: float, rows: SnapshotRows | None = None
) -> ServiceSnapshot | None:
    """What one pass over service `name` reads (call inside a store transaction); None when the
    service is gone, INACTIVE or has no deployment. With `rows`, unchanged rows are not parsed again."""
    svc = store.get_service(cluster, name)
    if svc is None or svc.status == "INACTIVE" or not svc.deployments:
        return None
    group = f"service:{name}"
    tasks = store.list_tasks(cluster, group=group, parsed=rows.own_tasks if rows else None)
    arns = {t.taskDefinitionArn for t in tasks} | {d.taskDefinition for d in svc.deployments}

    def other_usage() -> dict[str, InstanceUsage]:
        if rows is not None:
            held = rows.usage.setdefault(cluster, ClusterUsage(cluster))
            held.refresh(store, lambda arn: tds.get(store, arn))
            return held.others(group)
        listed = store.list_tasks(cluster, not_stopped=True)
        others = [t for t in listed if t.group != group]
        return usage_of(others, {arn: tds.get(store, arn) for arn in {t.taskDefinitionArn for t in others}})

    def pool_usage() -> dict[str, InstanceUsage]:
        # Every cluster's Fargate tasks share the pool; this service's own are the decision's to count.
        mine = cluster_arn(cluster)
        return fargate.pool_usage(store, skip=lambda t: t.group == group and t.clusterArn == mine)

    on_pool = svc.launchType == fargate.LAUNCH_TYPE
    # The pool's rows are not this cluster's: the cluster's parsed-row cache is not used for them.
    instances = store.list_instances(
        fargate.POOL_CLUSTER if on_pool else cluster,
        include_inactive=True,
        parsed=rows.instances if rows and not on_pool else None,
    )
    return ServiceSnapshot(
        cluster=cluster,
        service=svc,
        state=ServiceState.load(store, cluster, name),
        tasks=tasks,
        task_definitions={arn: tds.get(store, arn) for arn in arns},
        instances=instances,
        now=now,
        other_usage=pool_usage if on_pool else other_usage,
        view_memo=rows.views if rows is not None else None,
        **targets.snapshot_of(store, svc, [t for t in tasks if t.lastStatus != "STOPPED"]),
    )


def apply(store: Store, snap: ServiceSnapshot, actions: Actions) -> None:
    """Write one pass's Actions (call inside the store transaction the snapshot was read in)."""
    for start in actions.starts:
        store.insert_task(start.task, explanation=dict(start.explanation))
        # propagateTags and ECS's managed tags, in the transaction that creates the task.
        tag_service_task(store, start.task)
    for stop in actions.stops:
        store.update_task(stop.task)
    for message in actions.events:
        store.add_event(snap.cluster, snap.name, message, snap.now)
        log.info("service event", cluster=snap.cluster, service=snap.name, message=message)
    if actions.service is not None:
        store.put_service(actions.service)
    if actions.state is not None:
        actions.state.save(store, snap.cluster, snap.name)


class ServiceController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tds = TaskDefinitions()
        self.rows = SnapshotRows()

    def new_task_id(self) -> str:
        return self.ctx.ids.hex("task", 16)

    def reconcile_all(self) -> None:
        # DAEMON services have their own controller (reconcile/daemons.py).
        for cluster, name in self.ctx.store.service_refs(daemon=False):
            try:
                self.reconcile(cluster, name)
            except Exception:  # one broken service must not stop the others
                log.exception("service reconcile failed", service=name)

    def reconcile(self, cluster: str, name: str) -> Actions | None:
        """One pass over one service: decide, then apply, in one transaction. Returns the Actions."""
        with self.ctx.store.write() as s:
            snap = load_snapshot(s, cluster, name, self.tds, self.ctx.clock.now(), self.rows)
            if snap is None:
                return None
            actions = decide(snap, Rules.of(self.ctx.settings), self.new_task_id)
            apply(s, snap, actions)
            return actions
