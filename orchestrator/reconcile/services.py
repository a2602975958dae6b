"""The service controller: makes each service's tasks match its desired count and deployments.

One pass per service compares what is wanted (desired count, PRIMARY deployment, deployment
configuration) with the task rows and acts: count failures, stop unhealthy tasks, trip the
circuit breaker and roll back, start tasks of the PRIMARY deployment up to maximumPercent, stop
outgoing tasks (older deployments, draining instances) while keeping minimumHealthyPercent, and
complete deployments. Every decision reads only the store and the clock, so a pass is idempotent
and a control plane restarted half way through a rollout carries on from the rows.

The rolling-update arithmetic is pure (`bounds`, `plan_step`, `breaker_threshold`,
`retry_delay`) so it can be tested as a table; the controller only gathers the counts it needs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import structlog

from orchestrator.core.context import Context
from orchestrator.core.lifecycle import stop_task_row
from orchestrator.core.models import Deployment, Service, Task, TaskDefinition, arn_id
from orchestrator.core.placement_input import to_scheduler
from orchestrator.core.placing import place_tasks, placement_request, snapshot
from orchestrator.core.service_state import ServiceState
from orchestrator.core.store import Store
from scheduler import DEFAULT_SERVICE_STRATEGIES, describe_failure, select_for_scale_in
from scheduler.types import TaskView

log = structlog.get_logger("orchestrator.reconcile.services")

HEALTH_FAILURE_REASON = "Task failed container health checks"
FAILED_STOP_CODES = ("TaskFailedToStart", "EssentialContainerExited")
STUCK_MESSAGE = (
    "was unable to stop or start tasks during a deployment because of the service deployment configuration. "
    "Update the minimumHealthyPercent or maximumPercent value and try again."
)
# Ours, not ECS: how many of a deployment's tasks count as healthy, for `svc update --wait`. The
# Deployment model keeps extra members; the ECS endpoint drops what botocore's model lacks.
HEALTHY_COUNT = "healthyCount"


def breaker_threshold(desired: int) -> int:
    """ECS: half the desired count, rounded up, at least 3 and at most 200."""
    return min(200, max(3, math.ceil(0.5 * desired)))


def bounds(desired: int, minimum_healthy_percent: int, maximum_percent: int) -> tuple[int, int]:
    """(most tasks RUNNING or PENDING, fewest healthy tasks) during a deployment, as ECS rounds them:
    floor(desired x maximumPercent / 100) and ceil(desired x minimumHealthyPercent / 100)."""
    # Integer arithmetic: no float can round 3 x 50 / 100 the wrong way.
    return desired * maximum_percent // 100, -(-desired * minimum_healthy_percent // 100)


def retry_delay(failures: int, base_s: float, max_s: float) -> float:
    """Seconds before the next start after `failures` consecutive failed tasks: none for the first
    two, then base x 2^(failures - 3), at most `max_s` (ECS: 15 minutes), never giving up."""
    if failures < 3:
        return 0.0
    # The exponent is capped so a crash loop of thousands of tasks cannot overflow a float.
    return float(min(max_s, base_s * 2 ** min(failures - 3, 40)))


def throttle_message(delay_s: float, max_s: float) -> str:
    return (
        "is unable to consistently start tasks successfully. Retrying with a growing delay "
        f"(now {delay_s:.0f} s, at most {max_s / 60:g} minutes); an update of the service resets it."
    )


@dataclass(frozen=True)
class Step:
    """What one pass may do: start `start` tasks of the PRIMARY deployment and stop `stop` healthy
    outgoing tasks. `stuck` is True when the bounds allow neither and waiting cannot change that."""

    start: int
    stop: int
    stuck: bool


def plan_step(
    desired: int,
    minimum_healthy_percent: int,
    maximum_percent: int,
    *,
    live: int,
    healthy: int,
    current: int,
    healthy_outgoing: int,
) -> Step:
    """One pass of a rolling update, given the service's counts at the start of the pass.

    live: tasks not STOPPED (RUNNING, PENDING, and stopping ones, which still hold a container);
    healthy: healthy tasks the service still wants; current: tasks of the PRIMARY deployment the
    service keeps; healthy_outgoing: healthy tasks to replace (older deployments, draining
    instances). Outgoing tasks that are not healthy cost nothing to stop and are not counted here.
    """
    max_tasks, min_healthy = bounds(desired, minimum_healthy_percent, maximum_percent)
    start = max(0, min(desired - current, max_tasks - live))
    stop = max(0, min(healthy_outgoing, healthy - min_healthy))
    # Every live task is healthy, so no start, stop or health change is coming that would open room.
    stuck = current < desired and start == 0 and stop == 0 and healthy == live
    return Step(start, stop, stuck)


@dataclass
class Pass:
    """The working set of one reconcile pass of one service."""

    svc: Service
    cluster: str
    state: ServiceState
    now: float
    tasks: list[Task]  # every row of the service, stopped ones included
    # Per task definition ARN: its essential containers with a health check (they alone decide a
    # task's health, as in ECS), or None when the task definition cannot be read.
    checked: dict[str, frozenset[str] | None]

    @property
    def name(self) -> str:
        return self.svc.serviceName

    @property
    def primary(self) -> Deployment:
        return self.svc.deployments[0]

    def live(self) -> list[Task]:
        return [t for t in self.tasks if t.lastStatus != "STOPPED"]

    def wanted(self) -> list[Task]:
        return [t for t in self.live() if t.desiredStatus == "RUNNING"]


class ServiceController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tds: dict[str, TaskDefinition] = {}

    # -- entry points ----------------------------------------------------------------------

    def reconcile_all(self) -> None:
        store = self.ctx.store
        with store.read():
            services = [s for s in store.list_services() if s.status in ("ACTIVE", "DRAINING")]
        for svc in services:
            try:
                self.reconcile(arn_id(svc.clusterArn), svc.serviceName)
            except Exception:  # one broken service must not stop the others
                log.exception("service reconcile failed", service=svc.serviceName)

    def reconcile(self, cluster: str, name: str) -> None:
        store = self.ctx.store
        with store.write() as s:
            svc = s.get_service(cluster, name)
            if svc is None or svc.status == "INACTIVE" or not svc.deployments:
                return
            tasks = s.list_tasks(cluster, group=f"service:{name}")
            arns = {t.taskDefinitionArn for t in tasks} | {d.taskDefinition for d in svc.deployments}
            p = Pass(
                svc=svc,
                cluster=cluster,
                state=ServiceState.load(s, cluster, name),
                now=self.ctx.clock.now(),
                tasks=tasks,
                checked={arn: self._checked(s, arn) for arn in arns},
            )
            before_svc, before_state = svc.model_dump(), asdict(p.state)
            self._account_stopped(s, p)
            self._mark_healthy(p)
            self._stop_unhealthy(s, p)
            self._circuit_breaker(s, p)
            self._scale(s, p)
            self._update_counts(s, p)
            if svc.model_dump() != before_svc:
                s.put_service(svc)
            if asdict(p.state) != before_state:
                p.state.save(s, cluster, name)

    # -- helpers ---------------------------------------------------------------------------

    def _td(self, store: Store, arn: str) -> TaskDefinition | None:
        td = self._tds.get(arn)
        if td is None:
            td = store.get_task_definition_by_arn(arn)
            if td is not None:
                self._tds[arn] = td
        return td

    def _checked(self, store: Store, arn: str) -> frozenset[str] | None:
        td = self._td(store, arn)
        if td is None:
            return None
        return frozenset(
            c.name
            for c in td.containerDefinitions
            if c.essential and c.healthCheck is not None and c.healthCheck.command[0] != "NONE"
        )

    def _event(self, store: Store, p: Pass, message: str) -> None:
        store.add_event(p.cluster, p.name, f"(service {p.name}) {message}", p.now)
        log.info("service event", cluster=p.cluster, service=p.name, message=message)

    def _health(self, p: Pass, task: Task) -> str | None:
        """UNHEALTHY over UNKNOWN over HEALTHY across the essential containers with a health
        check; None when there are none (then only the grace time decides)."""
        names = p.checked.get(task.taskDefinitionArn)
        if names is None:
            states = [c.healthStatus for c in task.containers if c.healthStatus is not None]
        else:
            states = [c.healthStatus or "UNKNOWN" for c in task.containers if c.name in names]
        if not states:
            return None
        for worst in ("UNHEALTHY", "UNKNOWN"):
            if worst in states:
                return worst
        return "HEALTHY"

    def _in_grace(self, p: Pass, task: Task, grace_s: float) -> bool:
        return task.startedAt is None or p.now - task.startedAt < grace_s

    def _healthy(self, p: Pass, task: Task) -> bool:
        """ECS's healthy: RUNNING and wanted, and every checked essential container HEALTHY, or
        with no health check, RUNNING for the grace time."""
        if task.lastStatus != "RUNNING" or task.desiredStatus != "RUNNING":
            return False
        health = self._health(p, task)
        if health is not None:
            return health == "HEALTHY"
        grace = p.svc.healthCheckGracePeriodSeconds
        grace_s = self.ctx.settings.health_grace_s if grace is None else float(grace)
        return not self._in_grace(p, task, grace_s)

    # -- steps of a pass -------------------------------------------------------------------

    def _account_stopped(self, store: Store, p: Pass) -> None:
        """Count tasks that stopped before they were ever healthy, or failed health checks."""
        seen = set(p.state.seen_stopped)
        ever_healthy = set(p.state.ever_healthy)
        # A deployment leaves the list only after its last task stopped and was counted here, so
        # a task of no listed deployment belongs to an earlier service of the same name.
        deployments = {d.id for d in p.svc.deployments}
        for t in p.tasks:
            if t.lastStatus != "STOPPED" or t.taskArn in seen:
                continue
            p.state.seen_stopped.append(t.taskArn)
            if t.startedBy not in deployments:
                continue
            health_failure = (t.stoppedReason or "").startswith(HEALTH_FAILURE_REASON)
            failed = health_failure or (t.stopCode in FAILED_STOP_CODES and t.taskArn not in ever_healthy)
            if not failed:
                continue
            p.state.start_failures += 1
            for d in p.svc.deployments:
                if d.id == t.startedBy:
                    d.failedTasks += 1
                    d.updatedAt = p.now
            settings = self.ctx.settings
            delay = retry_delay(p.state.start_failures, settings.start_retry_base_s, settings.start_retry_max_s)
            if delay > 0:
                p.state.retry_after = p.now + delay
                if not p.state.throttle_notified:
                    p.state.throttle_notified = True
                    self._event(store, p, throttle_message(delay, settings.start_retry_max_s))
        # Forget only rows the store has purged: a stopped task still listed must never count twice.
        stored = {t.taskArn for t in p.tasks}
        p.state.seen_stopped = [a for a in p.state.seen_stopped if a in stored]

    def _mark_healthy(self, p: Pass) -> None:
        ever = set(p.state.ever_healthy)
        for t in p.wanted():
            if t.taskArn not in ever and self._healthy(p, t):
                p.state.ever_healthy.append(t.taskArn)
                # A task that became healthy ends a run of failures.
                p.state.start_failures = 0
                p.state.retry_after = 0.0
                p.state.throttle_notified = False
                for d in p.svc.deployments:
                    if d.id == t.startedBy and d.rolloutState == "IN_PROGRESS":
                        d.failedTasks = 0
        live = {t.taskArn for t in p.live()}
        # Bounded by the live tasks; a cap would make long-healthy tasks look newly healthy again.
        p.state.ever_healthy = [a for a in p.state.ever_healthy if a in live]

    def _stop(self, store: Store, p: Pass, tasks: list[Task], reason: str) -> None:
        stopped = []
        for t in tasks:
            if stop_task_row(t, p.now, "ServiceSchedulerInitiated", reason):
                store.put_task(t)
                stopped.append(t)
        if stopped:
            ids = " ".join(f"(task {arn_id(t.taskArn)})" for t in stopped)
            self._event(store, p, f"has stopped {len(stopped)} running tasks: {ids}.")

    def _stop_unhealthy(self, store: Store, p: Pass) -> None:
        # healthCheckGracePeriodSeconds, when set, is how long ECS ignores failing health checks
        # of a task that has just started.
        grace = p.svc.healthCheckGracePeriodSeconds or 0
        unhealthy = [
            t
            for t in p.wanted()
            if t.lastStatus == "RUNNING" and self._health(p, t) == "UNHEALTHY" and not self._in_grace(p, t, grace)
        ]
        self._stop(store, p, unhealthy, HEALTH_FAILURE_REASON)

    def _circuit_breaker(self, store: Store, p: Pass) -> None:
        breaker = p.svc.deploymentConfiguration.deploymentCircuitBreaker
        primary = p.primary
        if not breaker.enable or primary.rolloutState != "IN_PROGRESS":
            return
        if primary.failedTasks < breaker_threshold(p.svc.desiredCount):
            return
        primary.rolloutState = "FAILED"
        primary.rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updatedAt = p.now
        self._event(store, p, f"(deployment {primary.id}) deployment failed: tasks failed to start.")
        if not breaker.rollback:
            return
        target = next((d for d in p.svc.deployments[1:] if d.rolloutState == "COMPLETED"), None)
        if target is None:
            self._event(store, p, "has no completed deployment to roll back to.")
            return
        self._event(store, p, f"rolling back to deployment {target.id}.")
        # The completed deployment becomes PRIMARY again: its tasks still run, nothing is restarted.
        p.svc.deployments.remove(target)
        primary.status = "ACTIVE"
        target.status = "PRIMARY"
        target.rolloutState = "IN_PROGRESS"
        target.rolloutStateReason = f"Rolling back from {primary.id}."
        target.desiredCount = p.svc.desiredCount
        target.failedTasks = 0
        target.updatedAt = p.now
        p.svc.deployments.insert(0, target)
        p.svc.taskDefinition = target.taskDefinition
        p.state.start_failures = 0
        p.state.retry_after = 0.0
        p.state.steady = False

    def _outgoing(self, store: Store, p: Pass) -> tuple[list[Task], list[Task]]:
        """(tasks of the PRIMARY deployment to keep, tasks to replace: older deployments or on
        instances that are draining or gone)."""
        instances = store.list_instances(p.cluster, include_inactive=True)
        leaving = {i.containerInstanceArn for i in instances if i.status != "ACTIVE"}
        current, outgoing = [], []
        for t in p.wanted():
            if t.startedBy == p.primary.id and t.containerInstanceArn not in leaving:
                current.append(t)
            else:
                outgoing.append(t)
        return current, outgoing

    def _scale(self, store: Store, p: Pass) -> None:
        svc, primary = p.svc, p.primary
        desired = svc.desiredCount if svc.status == "ACTIVE" else 0
        config = svc.deploymentConfiguration
        current, outgoing = self._outgoing(store, p)
        reason = f"Scaling activity initiated by (deployment {primary.id})"

        # Scale in: more tasks of the PRIMARY deployment than desired (a lower desired count is
        # not bound by minimumHealthyPercent).
        if len(current) > desired:
            excess = self._select_excess(store, p, current, len(current) - desired)
            self._stop(store, p, excess, reason)
            current = [t for t in current if t not in excess]

        healthy = {t.taskArn for t in p.wanted() if self._healthy(p, t)}
        healthy_out = [t for t in outgoing if t.taskArn in healthy]
        step = plan_step(
            desired,
            config.minimumHealthyPercent,
            config.maximumPercent,
            live=len(p.live()),
            healthy=len(healthy),
            current=len(current),
            healthy_outgoing=len(healthy_out),
        )

        # Start what the PRIMARY deployment lacks, within maximumPercent; a FAILED deployment
        # starts nothing more, and a throttled service waits for its retry time.
        can_start = primary.rolloutState != "FAILED" and p.now >= p.state.retry_after
        if step.start > 0 and can_start:
            self._start(store, p, step.start)

        # Stop outgoing tasks: those not healthy at once (they hold up no bound), healthy ones
        # only down to minimumHealthyPercent. A FAILED deployment keeps the old tasks it could
        # not replace.
        if (outgoing and primary.rolloutState != "FAILED") or desired == 0:
            not_healthy = [t for t in outgoing if t.taskArn not in healthy]
            self._stop(store, p, not_healthy + self._select_excess(store, p, healthy_out, step.stop), reason)

        if step.stuck and can_start and not p.state.stuck_notified:
            p.state.stuck_notified = True
            self._event(store, p, STUCK_MESSAGE)

    def _select_excess(self, store: Store, p: Pass, tasks: list[Task], count: int) -> list[Task]:
        if count <= 0:
            return []
        # Tasks not yet running go first: stopping them costs nothing.
        not_running = [t for t in tasks if t.lastStatus != "RUNNING"]
        chosen = not_running[:count]
        rest = [t for t in tasks if t not in chosen]
        if len(chosen) < count and rest:
            strategies, _ = to_scheduler(p.svc.placementStrategy, [])
            views = [
                TaskView(
                    arn=t.taskArn,
                    instance_arn=t.containerInstanceArn or "",
                    group=t.group,
                    started_at=t.startedAt or 0.0,
                )
                for t in rest
            ]
            arns = select_for_scale_in(
                count - len(chosen),
                views,
                snapshot(store, p.cluster),
                strategies or DEFAULT_SERVICE_STRATEGIES,
                seed=self.ctx.settings.placement_seed,
            )
            by_arn = {t.taskArn: t for t in rest}
            chosen += [by_arn[a] for a in arns if a in by_arn]
        return chosen

    def _start(self, store: Store, p: Pass, count: int) -> int:
        td = self._td(store, p.primary.taskDefinition)
        if td is None:
            return 0
        strategies, constraints = to_scheduler(p.svc.placementStrategy, p.svc.placementConstraints)
        request = placement_request(
            td,
            count,
            f"service:{p.name}",
            strategies or DEFAULT_SERVICE_STRATEGIES,
            constraints,
            profile="kubernetes" if p.state.profile == "kubernetes" else "ecs",
        )
        placed = place_tasks(store, p.cluster, td, request, p.primary.id, p.now, self.ctx.settings.placement_seed)
        p.tasks.extend(placed.tasks)
        if placed.tasks:
            ids = " ".join(f"(task {arn_id(t.taskArn)})" for t in placed.tasks)
            self._event(store, p, f"has started {len(placed.tasks)} tasks: {ids}.")
            p.state.last_unplaceable = ""
        failure = placed.result.failure
        if placed.result.unplaced and failure is not None:
            message = (
                "was unable to place a task because no container instance met all of its requirements. "
                + describe_failure(failure)
            )
            if message != p.state.last_unplaceable:
                p.state.last_unplaceable = message
                self._event(store, p, message)
        return len(placed.tasks)

    def _update_counts(self, store: Store, p: Pass) -> None:
        svc = p.svc
        wanted = p.wanted()
        svc.runningCount = sum(1 for t in wanted if t.lastStatus == "RUNNING")
        svc.pendingCount = sum(1 for t in wanted if t.lastStatus != "RUNNING")
        live = p.live()
        for d in svc.deployments:
            mine = [t for t in wanted if t.startedBy == d.id]
            d.runningCount = sum(1 for t in mine if t.lastStatus == "RUNNING")
            d.pendingCount = len(mine) - d.runningCount
            setattr(d, HEALTHY_COUNT, sum(1 for t in mine if self._healthy(p, t)))
            if d is not svc.deployments[0]:
                d.desiredCount = len(mine)
        primary = svc.deployments[0]
        desired = svc.desiredCount if svc.status == "ACTIVE" else 0
        primary.desiredCount = desired
        current, outgoing = self._outgoing(store, p)
        others_live = [t for t in live if t.startedBy != primary.id]
        settled = (
            len(current) == desired
            and all(self._healthy(p, t) for t in current)
            and not outgoing
            and not others_live
            and all(t.desiredStatus == "RUNNING" for t in live)
        )
        if settled and primary.rolloutState == "IN_PROGRESS":
            primary.rolloutState = "COMPLETED"
            primary.rolloutStateReason = "ECS deployment completed."
            primary.updatedAt = p.now
            if len(svc.deployments) > 1:
                self._event(store, p, f"(deployment {primary.id}) deployment completed.")
        # Older deployments leave the list once none of their tasks is left.
        if primary.rolloutState != "IN_PROGRESS":
            svc.deployments = [primary] + [d for d in svc.deployments[1:] if any(t.startedBy == d.id for t in live)]
        steady = settled and len(svc.deployments) == 1 and primary.rolloutState == "COMPLETED"
        if steady and not p.state.steady:
            self._event(store, p, "has reached a steady state.")
        p.state.steady = steady
        if svc.status == "DRAINING" and not live:
            svc.status = "INACTIVE"
