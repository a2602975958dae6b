"""The DAEMON service controller: one task of the service on every ACTIVE instance that can hold it.

ECS's DAEMON strategy, as its deployment configuration reference defines it: the desired count is
the number of ACTIVE container instances that satisfy the service's and the task definition's
placement constraints; a task starts when such an instance joins and stops when it drains, leaves
or stops matching. A rolling update stops a daemon task before starting its replacement on the same
instance (there is room for only one), at most as many at a time as `minimumHealthyPercent` of the
desired count allows to be down; `maximumPercent` is not used; there are no placement strategies.

`decide` is pure: instances, tasks and the service in, the actions of one pass out. The controller
gathers the snapshot in a write transaction, applies the actions and updates the counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from orchestrator.core.context import Context
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import Service, Task, TaskDefinition, arn_id
from orchestrator.core.placement_input import to_scheduler
from orchestrator.core.placing import place_tasks, placement_request, snapshot
from orchestrator.core.store import Store
from scheduler.constraints import parse
from scheduler.types import InstanceView, PlacementError

log = structlog.get_logger("orchestrator.reconcile.daemons")

DAEMON = "DAEMON"
STOP_NOT_ELIGIBLE = "Container instance is draining or no longer matches the daemon service's placement"
STOP_REPLACED = "Daemon task replaced by a new deployment"
STOP_EXTRA = "More than one daemon task on the container instance"
STOP_DELETED = "Service deleted"


@dataclass(frozen=True)
class DaemonActions:
    desired: int
    start_on: tuple[str, ...] = ()  # instance ARNs that get one task of the PRIMARY deployment
    stop: tuple[tuple[str, str], ...] = ()  # (task ARN, stopped reason)
    complete: bool = False  # every eligible instance runs the PRIMARY deployment, nothing else is left


@dataclass
class _PerInstance:
    primary: list[Task] = field(default_factory=list)
    older: list[Task] = field(default_factory=list)


def _all(slot: _PerInstance) -> list[Task]:
    return slot.primary + slot.older


def eligible_instances(views: list[InstanceView], expressions: list[str]) -> list[InstanceView]:
    """ACTIVE instances satisfying every memberOf expression (bad ones match nothing)."""
    out = []
    for view in views:
        if view.status != "ACTIVE":
            continue
        try:
            if all(parse(e).evaluate(view) for e in expressions if e):
                out.append(view)
        except PlacementError:
            continue
    return out


def decide(
    *,
    active: bool,
    primary_id: str,
    eligible: list[str],
    tasks: list[Task],
    minimum_healthy_percent: int,
) -> DaemonActions:
    """One pass over a daemon service whose live (not STOPPED) tasks are `tasks`."""
    wanted = [t for t in tasks if t.desiredStatus == "RUNNING" and t.lastStatus != "STOPPED"]
    if not active:
        return DaemonActions(desired=0, stop=tuple((t.taskArn, STOP_DELETED) for t in wanted))
    where: dict[str, _PerInstance] = defaultdict(_PerInstance)
    stop: list[tuple[str, str]] = []
    eligible_set = set(eligible)
    for t in wanted:
        if t.containerInstanceArn not in eligible_set:
            stop.append((t.taskArn, STOP_NOT_ELIGIBLE))
            continue
        slot = where[t.containerInstanceArn or ""]
        (slot.primary if t.startedBy == primary_id else slot.older).append(t)
    start: list[str] = []
    replace: list[str] = []
    for arn in eligible:
        slot = where.get(arn, _PerInstance())
        if slot.primary:
            stop += [(t.taskArn, STOP_EXTRA) for t in slot.primary[1:]]
            stop += [(t.taskArn, STOP_REPLACED) for t in slot.older]
        elif slot.older:
            stop += [(t.taskArn, STOP_EXTRA) for t in slot.older[1:]]
            replace.append(arn)
        else:
            start.append(arn)
    desired = len(eligible)
    # ceil(desired x minimumHealthyPercent / 100) must stay RUNNING; instances without a RUNNING
    # task (any version) already count as down.
    must_run = -(-desired * minimum_healthy_percent // 100)
    empty = _PerInstance()
    running = sum(1 for arn in eligible if any(t.lastStatus == "RUNNING" for t in _all(where.get(arn, empty))))
    may_stop = max(0, running - must_run)
    for arn in replace[:may_stop]:
        stop.append((where[arn].older[0].taskArn, STOP_REPLACED))
    complete = (
        not replace
        and not stop
        and not start
        and all(any(t.lastStatus == "RUNNING" for t in where[arn].primary) for arn in eligible)
    )
    return DaemonActions(desired=desired, start_on=tuple(start), stop=tuple(stop), complete=complete)


class DaemonController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile_all(self, refs: Iterable[tuple[str, str]] | None = None) -> None:
        """A pass over every DAEMON service, or over `refs` (the caller's list of them)."""
        # Picked from the columns: every commit gets this pass, and parsing every service for it
        # cost 50 ms per commit with a thousand services.
        for cluster, name in self.ctx.store.service_refs(daemon=True) if refs is None else refs:
            try:
                self.reconcile(cluster, name)
            except Exception:  # one broken service must not stop the others
                log.exception("daemon reconcile failed", service=name)

    def reconcile(self, cluster: str, name: str) -> None:
        store = self.ctx.store
        with store.write() as s:
            svc = s.get_service(cluster, name)
            if svc is None or svc.status == "INACTIVE" or not svc.deployments:
                return
            primary = svc.deployments[0]
            td = s.get_task_definition_by_arn(primary.taskDefinition)
            if td is None:
                return
            before = svc.model_dump()
            views = snapshot(s, cluster)
            expressions = [c.expression or "" for c in svc.placementConstraints if c.type == "memberOf"]
            expressions += [c.expression or "" for c in td.placementConstraints]
            eligible = eligible_instances(views, expressions)
            tasks = [t for t in s.list_tasks(cluster, group=f"service:{name}") if t.lastStatus != "STOPPED"]
            actions = decide(
                active=svc.status == "ACTIVE",
                primary_id=primary.id,
                eligible=[v.arn for v in eligible],
                tasks=tasks,
                minimum_healthy_percent=svc.deploymentConfiguration.minimumHealthyPercent,
            )
            self._apply(s, svc, td, actions, eligible, tasks)
            if svc.model_dump() != before:
                s.put_service(svc)

    def _apply(
        self,
        store: Store,
        svc: Service,
        td: TaskDefinition,
        actions: DaemonActions,
        eligible: list[InstanceView],
        tasks: list[Task],
    ) -> None:
        now = self.ctx.clock.now()
        cluster = arn_id(svc.clusterArn)
        by_arn = {t.taskArn: t for t in tasks}
        for arn, reason in actions.stop:
            task = by_arn[arn]
            if stop_task_row(task, now, "ServiceSchedulerInitiated", reason):
                store.update_task(task)
        primary = svc.deployments[0]
        views = {v.arn: v for v in eligible}
        _, constraints = to_scheduler([], [c for c in svc.placementConstraints if c.type == "memberOf"])
        for arn in actions.start_on:
            request = placement_request(td, 1, f"service:{svc.serviceName}", (), constraints)
            # The instance is the only candidate; if it lacks room, the next pass tries again.
            placed = place_tasks(store, cluster, td, request, primary.id, now, 0, instances=[views[arn]])
            tasks += placed.tasks
        wanted = [t for t in tasks if t.desiredStatus == "RUNNING" and t.lastStatus != "STOPPED"]
        svc.desiredCount = actions.desired
        svc.runningCount = sum(1 for t in wanted if t.lastStatus == "RUNNING")
        svc.pendingCount = len(wanted) - svc.runningCount
        for d in svc.deployments:
            mine = [t for t in wanted if t.startedBy == d.id]
            d.runningCount = sum(1 for t in mine if t.lastStatus == "RUNNING")
            d.pendingCount = len(mine) - d.runningCount
            d.desiredCount = actions.desired if d is primary else len(mine)
        if actions.complete and primary.rolloutState == "IN_PROGRESS":
            primary.rolloutState = "COMPLETED"
            primary.rolloutStateReason = "ECS deployment completed."
            primary.updatedAt = now
        live = [t for t in tasks if t.lastStatus != "STOPPED"]
        if primary.rolloutState != "IN_PROGRESS":
            svc.deployments = [primary] + [d for d in svc.deployments[1:] if any(t.startedBy == d.id for t in live)]
        if svc.status == "DRAINING" and not live:
            svc.status = "INACTIVE"
