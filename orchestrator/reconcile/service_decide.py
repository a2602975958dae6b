"""The service controller's decision: one pass over one service's snapshot, as pure Actions.

`decide` compares what is wanted (desired count, PRIMARY deployment, deployment configuration)
with the task rows and returns what to do: tasks to start (each with its instance and the
scheduler's explanation), tasks to stop (with their reasons), events, and the service row and
controller state as they should be after the pass. It reads nothing but its arguments, so the
same snapshot, seed and task ids give the same Actions, and `svc plan` can call it on a copy of
the snapshot without writing anything. `reconcile/services.py` loads snapshots and applies Actions.

In order, a pass: counts failures (tasks that stopped before they were healthy), marks newly
healthy tasks, stops unhealthy ones, trips the circuit breaker and rolls back, scales in, starts
tasks of the PRIMARY deployment up to maximumPercent, stops outgoing tasks (older deployments,
draining instances) down to minimumHealthyPercent, and completes deployments. The rolling-update
arithmetic (`bounds`, `plan_step`, `breaker_threshold`, `retry_delay`) is separate so it can be
tested as a table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.core import fargate
from orchestrator.core.lifecycle import checked_containers, stop_task_row, task_health
from orchestrator.core.models import ContainerInstance, Deployment, Service, Task, TaskDefinition, arn_id
from orchestrator.core.placement_input import to_scheduler
from orchestrator.core.placing import (
    InstanceUsage,
    ViewMemo,
    instance_views,
    new_task,
    placement_request,
    usage_of,
)
from orchestrator.core.service_state import ServiceState
from orchestrator.core.settings import Settings
from scheduler import DEFAULT_SERVICE_STRATEGIES, describe_failure, place, select_for_scale_in
from scheduler.types import InstanceView, TaskView, Unplaceable

HEALTH_FAILURE_REASON = "Task failed container health checks"
FAILED_STOP_CODES = ("TaskFailedToStart", "EssentialContainerExited")
STOP_CODE = "ServiceSchedulerInitiated"
STUCK_MESSAGE = (
    "was unable to stop or start tasks during a deployment because of the service deployment configuration. "
    "Update the minimumHealthyPercent or maximumPercent value and try again."
)
# Ours, not ECS: how many of a deployment's tasks count as healthy, for `svc update --wait`. The
# Deployment model keeps extra members; the ECS endpoint drops what botocore's model lacks.
HEALTHY_COUNT = "healthyCount"


# -- the rolling-update arithmetic ---------------------------------------------------------------


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


# -- inputs and outputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The settings a decision depends on (taken from Settings, so tests can state them)."""

    health_grace_s: float = 40.0
    start_retry_base_s: float = 5.0
    start_retry_max_s: float = 900.0
    placement_seed: int = 0

    @staticmethod
    def of(settings: Settings) -> Rules:
        return Rules(
            health_grace_s=settings.health_grace_s,
            start_retry_base_s=settings.start_retry_base_s,
            start_retry_max_s=settings.start_retry_max_s,
            placement_seed=settings.placement_seed,
        )


@dataclass
class ServiceSnapshot:
    """Everything one pass over one service reads. `decide` never changes it."""

    cluster: str
    service: Service
    state: ServiceState
    tasks: list[Task]  # every row of the service, stopped ones included
    task_definitions: Mapping[str, TaskDefinition | None]  # of its tasks and deployments; None: unreadable
    instances: list[ContainerInstance]  # the cluster's, INACTIVE ones included
    now: float
    # What the cluster's other tasks hold per instance, for placement. A function so that a pass
    # that places nothing does not read every task of the cluster; it is called at most once, in
    # the same transaction as the rest of the snapshot.
    other_usage: Callable[[], Mapping[str, InstanceUsage]] = dict
    # The views of earlier passes, kept by the controller (placing.instance_views): a cache that
    # gives the same views as building them again.
    view_memo: ViewMemo | None = None
    # Behind a load balancer (the service's loadBalancers, reconcile/targets.py): per live task
    # ARN, whether all its targets are healthy (None: the service has no load balancer), and for
    # a task whose target failed its health checks, (ECS's event, the stop reason).
    lb_healthy: Mapping[str, bool] | None = None
    lb_failing: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.service.serviceName


@dataclass(frozen=True)
class StartTask:
    """A new task row (PROVISIONING, on its instance) and why the scheduler put it there."""

    task: Task
    explanation: Mapping[str, Any]


@dataclass(frozen=True)
class StopTask:
    """A task row as it is after being asked to stop (desiredStatus STOPPED, stop code, reason)."""

    task: Task
    reason: str


@dataclass
class Actions:
    """The outcome of one pass: what to write. `service` and `state` are None when unchanged."""

    starts: list[StartTask] = field(default_factory=list)
    stops: list[StopTask] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # full messages, "(service web) has started ..."
    service: Service | None = None
    state: ServiceState | None = None
    unplaced: int = 0  # tasks the PRIMARY deployment lacks that fit on no instance
    failure: Unplaceable | None = None

    @property
    def changes_tasks(self) -> bool:
        return bool(self.starts or self.stops)

    def changes_anything(self) -> bool:
        return self.changes_tasks or bool(self.events) or self.service is not None or self.state is not None


# -- the decision ------------------------------------------------------------------------------------


def decide(snap: ServiceSnapshot, rules: Rules, new_task_id: Callable[[], str]) -> Actions:
    """One pass over one service: what to start, stop and record. `new_task_id` names new tasks."""
    return _Pass(snap, rules, new_task_id).run()


class _Pass:
    """The working copy of one pass: the decision changes these copies, never the snapshot."""

    def __init__(self, snap: ServiceSnapshot, rules: Rules, new_task_id: Callable[[], str]) -> None:
        self.snap = snap
        self.rules = rules
        self.new_task_id = new_task_id
        # A copy through JSON, as the row is stored: a deep copy of a service's deployments and
        # their configurations took 200 us, ten times this, and was two fifths of a sweep's passes.
        self.svc = type(snap.service).model_validate_json(snap.service.model_dump_json())
        self.state = replace(
            snap.state, seen_stopped=list(snap.state.seen_stopped), ever_healthy=list(snap.state.ever_healthy)
        )
        # The snapshot's rows themselves: a row the pass changes is copied first (see `_stop`), so
        # a pass over thousands of tasks that stops few copies few.
        self.tasks = list(snap.tasks)
        self.index = {t.taskArn: i for i, t in enumerate(self.tasks)}
        self.now = snap.now
        self.checked = {arn: checked_containers(td) for arn, td in snap.task_definitions.items()}
        self.out = Actions()
        self._other_usage: Mapping[str, InstanceUsage] | None = None

    @functools.cached_property
    def leaving(self) -> set[str]:
        """Instances that are not ACTIVE: only a pass with tasks to count looks (a thousand of them,
        for every service of a sweep, was most of a steady service's pass)."""
        return {i.containerInstanceArn for i in self.snap.instances if i.status != "ACTIVE"}

    def run(self) -> Actions:
        self._observe_update()
        self._account_stopped()
        self._mark_healthy()
        self._stop_unhealthy()
        self._circuit_breaker()
        self._scale()
        self._update_counts()
        if self.svc.model_dump() != self.snap.service.model_dump():
            self.out.service = self.svc
        if self.state != self.snap.state:
            self.out.state = self.state
        return self.out

    # -- reading the working copy --------------------------------------------------------------

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

    def event(self, message: str) -> None:
        self.out.events.append(f"(service {self.name}) {message}")

    def health(self, task: Task) -> str | None:
        """None when no container's health counts (then only the grace time decides)."""
        return task_health(task, self.checked.get(task.taskDefinitionArn))

    def in_grace(self, task: Task, grace_s: float) -> bool:
        return task.startedAt is None or self.now - task.startedAt < grace_s

    def healthy(self, task: Task) -> bool:
        """ECS's healthy: RUNNING and wanted, and every checked essential container HEALTHY, or
        with no health check, RUNNING for the grace time."""
        if task.lastStatus != "RUNNING" or task.desiredStatus != "RUNNING":
            return False
        health = self.health(task)
        # Behind a load balancer, a task is healthy once its targets are (ECS), not after a grace time.
        if self.snap.lb_healthy is not None:
            return self.snap.lb_healthy.get(task.taskArn, False) and health in (None, "HEALTHY")
        if health is not None:
            return health == "HEALTHY"
        grace = self.svc.healthCheckGracePeriodSeconds
        grace_s = self.rules.health_grace_s if grace is None else float(grace)
        return not self.in_grace(task, grace_s)

    def views(self) -> list[InstanceView]:
        """The scheduler's view of the cluster with this pass's starts and stops in it."""
        if self._other_usage is None:
            self._other_usage = self.snap.other_usage()
        mine = usage_of(self.tasks, self.snap.task_definitions)
        usage: dict[str, InstanceUsage] = {}
        for arn in set(self._other_usage) | set(mine):
            a, b = self._other_usage.get(arn, InstanceUsage()), mine.get(arn, InstanceUsage())
            usage[arn] = InstanceUsage(
                cpu=a.cpu + b.cpu,
                memory=a.memory + b.memory,
                running=a.running + b.running,
                pending=a.pending + b.pending,
                tcp=a.tcp | b.tcp,
                udp=a.udp | b.udp,
                groups=a.groups + b.groups,
                gpus=a.gpus | b.gpus,
            )
        return instance_views(self.snap.instances, usage, self.snap.view_memo)

    # -- steps of a pass -------------------------------------------------------------------------

    def _observe_update(self) -> None:
        """A service update (a new generation) resets the start-failure throttle, as in ECS."""
        if self.state.observed_generation == self.state.generation:
            return
        self.state.observed_generation = self.state.generation
        self.state.start_failures = 0
        self.state.retry_after = 0.0
        self.state.throttle_notified = False
        self.state.stuck_notified = False
        self.state.steady = False

    def _account_stopped(self) -> None:
        """Count tasks that stopped before they were ever healthy, or failed health checks."""
        seen = set(self.state.seen_stopped)
        ever_healthy = set(self.state.ever_healthy)
        # A deployment leaves the list only after its last task stopped and was counted here, so
        # a task of no listed deployment belongs to an earlier service of the same name.
        deployments = {d.id for d in self.svc.deployments}
        for t in self.tasks:
            if t.lastStatus != "STOPPED" or t.taskArn in seen:
                continue
            self.state.seen_stopped.append(t.taskArn)
            if t.startedBy not in deployments:
                continue
            health_failure = (t.stoppedReason or "").startswith(HEALTH_FAILURE_REASON)
            failed = health_failure or (t.stopCode in FAILED_STOP_CODES and t.taskArn not in ever_healthy)
            if not failed:
                continue
            self.state.start_failures += 1
            for d in self.svc.deployments:
                if d.id == t.startedBy:
                    d.failedTasks += 1
                    d.updatedAt = self.now
            delay = retry_delay(self.state.start_failures, self.rules.start_retry_base_s, self.rules.start_retry_max_s)
            if delay > 0:
                self.state.retry_after = self.now + delay
                if not self.state.throttle_notified:
                    self.state.throttle_notified = True
                    self.event(throttle_message(delay, self.rules.start_retry_max_s))
        # Forget only rows the store has purged: a stopped task still listed must never count twice.
        stored = {t.taskArn for t in self.tasks}
        self.state.seen_stopped = [a for a in self.state.seen_stopped if a in stored]

    def _mark_healthy(self) -> None:
        ever = set(self.state.ever_healthy)
        for t in self.wanted():
            if t.taskArn not in ever and self.healthy(t):
                self.state.ever_healthy.append(t.taskArn)
                # A task that became healthy ends a run of failures.
                self.state.start_failures = 0
                self.state.retry_after = 0.0
                self.state.throttle_notified = False
                for d in self.svc.deployments:
                    if d.id == t.startedBy and d.rolloutState == "IN_PROGRESS":
                        d.failedTasks = 0
        live = {t.taskArn for t in self.live()}
        # Bounded by the live tasks; a cap would make long-healthy tasks look newly healthy again.
        self.state.ever_healthy = [a for a in self.state.ever_healthy if a in live]

    def _stop(self, tasks: list[Task], reason: str) -> None:
        stopped = []
        for t in tasks:
            i = self.index[t.taskArn]
            row = self.tasks[i].model_copy(deep=True)
            if stop_task_row(row, self.now, STOP_CODE, reason):
                self.tasks[i] = row
                self.out.stops.append(StopTask(row, reason))
                stopped.append(row)
        if stopped:
            ids = " ".join(f"(task {arn_id(t.taskArn)})" for t in stopped)
            self.event(f"has stopped {len(stopped)} running tasks: {ids}.")

    def _stop_unhealthy(self) -> None:
        # healthCheckGracePeriodSeconds, when set, is how long ECS ignores failing health checks
        # of a task that has just started.
        grace = self.svc.healthCheckGracePeriodSeconds or 0
        unhealthy = [
            t
            for t in self.wanted()
            if t.lastStatus == "RUNNING" and self.health(t) == "UNHEALTHY" and not self.in_grace(t, grace)
        ]
        self._stop(unhealthy, HEALTH_FAILURE_REASON)
        # A task whose load balancer target failed its health checks is replaced too, with ECS's words.
        for t in self.wanted():
            failing = self.snap.lb_failing.get(t.taskArn) if t.lastStatus == "RUNNING" else None
            if failing and t not in unhealthy and not self.in_grace(t, grace):
                self.event(failing[0])
                self._stop([t], failing[1])

    def _circuit_breaker(self) -> None:
        breaker = self.svc.deploymentConfiguration.deploymentCircuitBreaker
        primary = self.primary
        if not breaker.enable or primary.rolloutState != "IN_PROGRESS":
            return
        if primary.failedTasks < breaker_threshold(self.svc.desiredCount):
            return
        primary.rolloutState = "FAILED"
        primary.rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updatedAt = self.now
        self.event(f"(deployment {primary.id}) deployment failed: tasks failed to start.")
        if not breaker.rollback:
            return
        target = next((d for d in self.svc.deployments[1:] if d.rolloutState == "COMPLETED"), None)
        if target is None:
            self.event("has no completed deployment to roll back to.")
            return
        self.event(f"rolling back to deployment {target.id}.")
        # The completed deployment becomes PRIMARY again: its tasks still run, nothing is restarted.
        self.svc.deployments.remove(target)
        primary.status = "ACTIVE"
        target.status = "PRIMARY"
        target.rolloutState = "IN_PROGRESS"
        target.rolloutStateReason = f"Rolling back from {primary.id}."
        target.desiredCount = self.svc.desiredCount
        target.failedTasks = 0
        target.updatedAt = self.now
        self.svc.deployments.insert(0, target)
        self.svc.taskDefinition = target.taskDefinition
        self.state.start_failures = 0
        self.state.retry_after = 0.0
        self.state.steady = False

    def _outgoing(self) -> tuple[list[Task], list[Task]]:
        """(tasks of the PRIMARY deployment to keep, tasks to replace: older deployments or on
        instances that are draining or gone)."""
        current, outgoing = [], []
        for t in self.wanted():
            if t.startedBy == self.primary.id and t.containerInstanceArn not in self.leaving:
                current.append(t)
            else:
                outgoing.append(t)
        return current, outgoing

    def _scale(self) -> None:
        svc, primary = self.svc, self.primary
        desired = svc.desiredCount if svc.status == "ACTIVE" else 0
        config = svc.deploymentConfiguration
        current, outgoing = self._outgoing()
        reason = f"Scaling activity initiated by (deployment {primary.id})"

        # Scale in: more tasks of the PRIMARY deployment than desired (a lower desired count is
        # not bound by minimumHealthyPercent).
        if len(current) > desired:
            excess = self._select_excess(current, len(current) - desired)
            self._stop(excess, reason)
            gone = {t.taskArn for t in excess}
            current = [t for t in current if t.taskArn not in gone]

        healthy = {t.taskArn for t in self.wanted() if self.healthy(t)}
        healthy_out = [t for t in outgoing if t.taskArn in healthy]
        step = plan_step(
            desired,
            config.minimumHealthyPercent,
            config.maximumPercent,
            live=len(self.live()),
            healthy=len(healthy),
            current=len(current),
            healthy_outgoing=len(healthy_out),
        )

        # Start what the PRIMARY deployment lacks, within maximumPercent; a FAILED deployment
        # starts nothing more, and a throttled service waits for its retry time.
        can_start = primary.rolloutState != "FAILED" and self.now >= self.state.retry_after
        if step.start > 0 and can_start:
            self._start(step.start)

        # Stop outgoing tasks: those not healthy at once (they hold up no bound), healthy ones
        # only down to minimumHealthyPercent. A FAILED deployment keeps the old tasks it could
        # not replace.
        if (outgoing and primary.rolloutState != "FAILED") or desired == 0:
            not_healthy = [t for t in outgoing if t.taskArn not in healthy]
            self._stop(not_healthy + self._select_excess(healthy_out, step.stop), reason)

        if step.stuck and can_start and not self.state.stuck_notified:
            self.state.stuck_notified = True
            self.event(STUCK_MESSAGE)

    def _select_excess(self, tasks: list[Task], count: int) -> list[Task]:
        if count <= 0:
            return []
        # Tasks not yet running go first: stopping them costs nothing.
        not_running = [t for t in tasks if t.lastStatus != "RUNNING"]
        chosen = not_running[:count]
        picked = {t.taskArn for t in chosen}
        rest = [t for t in tasks if t.taskArn not in picked]
        if len(chosen) < count and rest:
            strategies, _ = to_scheduler(self.svc.placementStrategy, [])
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
                self.views(),
                strategies or DEFAULT_SERVICE_STRATEGIES,
                seed=self.rules.placement_seed,
            )
            by_arn = {t.taskArn: t for t in rest}
            chosen += [by_arn[a] for a in arns if a in by_arn]
        return chosen

    def _start(self, count: int) -> None:
        td = self.snap.task_definitions.get(self.primary.taskDefinition)
        if td is None:
            return
        strategies, constraints = to_scheduler(self.svc.placementStrategy, self.svc.placementConstraints)
        request = placement_request(
            td,
            count,
            f"service:{self.name}",
            strategies or DEFAULT_SERVICE_STRATEGIES,
            constraints,
            profile="kubernetes" if self.state.profile == "kubernetes" else "ecs",
        )
        views = self.views()
        result = place(request, views, seed=self.rules.placement_seed)
        by_arn = {v.arn: v for v in views}
        started = []
        for placement in result.placements:
            task = new_task(
                self.snap.cluster,
                td,
                request.group,
                self.primary.id,
                by_arn[placement.instance_arn],
                self.now,
                task_id=self.new_task_id(),
                gpu_ids=placement.gpu_ids,
            )
            if self.svc.launchType == fargate.LAUNCH_TYPE:
                fargate.mark_fargate(task, self.svc.platformVersion or "LATEST")
            self.index[task.taskArn] = len(self.tasks)
            self.tasks.append(task)
            self.out.starts.append(StartTask(task, dict(placement.explanation)))
            started.append(task)
        if started:
            ids = " ".join(f"(task {arn_id(t.taskArn)})" for t in started)
            self.event(f"has started {len(started)} tasks: {ids}.")
            self.state.last_unplaceable = ""
        failure = result.failure
        self.out.unplaced, self.out.failure = result.unplaced, failure
        if result.unplaced and failure is not None:
            message = (
                "was unable to place a task because no container instance met all of its requirements. "
                + describe_failure(failure)
            )
            if message != self.state.last_unplaceable:
                self.state.last_unplaceable = message
                self.event(message)

    def _update_counts(self) -> None:
        svc = self.svc
        wanted = self.wanted()
        svc.runningCount = sum(1 for t in wanted if t.lastStatus == "RUNNING")
        svc.pendingCount = sum(1 for t in wanted if t.lastStatus != "RUNNING")
        live = self.live()
        for d in svc.deployments:
            mine = [t for t in wanted if t.startedBy == d.id]
            d.runningCount = sum(1 for t in mine if t.lastStatus == "RUNNING")
            d.pendingCount = len(mine) - d.runningCount
            setattr(d, HEALTHY_COUNT, sum(1 for t in mine if self.healthy(t)))
            if d is not svc.deployments[0]:
                d.desiredCount = len(mine)
        primary = svc.deployments[0]
        desired = svc.desiredCount if svc.status == "ACTIVE" else 0
        primary.desiredCount = desired
        current, outgoing = self._outgoing()
        others_live = [t for t in live if t.startedBy != primary.id]
        settled = (
            len(current) == desired
            and all(self.healthy(t) for t in current)
            and not outgoing
            and not others_live
            and all(t.desiredStatus == "RUNNING" for t in live)
        )
        if settled and primary.rolloutState == "IN_PROGRESS":
            primary.rolloutState = "COMPLETED"
            primary.rolloutStateReason = "ECS deployment completed."
            primary.updatedAt = self.now
            if len(svc.deployments) > 1:
                self.event(f"(deployment {primary.id}) deployment completed.")
        # Older deployments leave the list once none of their tasks is left.
        if primary.rolloutState != "IN_PROGRESS":
            svc.deployments = [primary] + [d for d in svc.deployments[1:] if any(t.startedBy == d.id for t in live)]
        steady = settled and len(svc.deployments) == 1 and primary.rolloutState == "COMPLETED"
        if steady and not self.state.steady:
            self.event("has reached a steady state.")
        self.state.steady = steady
        if svc.status == "DRAINING" and not live:
            svc.status = "INACTIVE"


def tasks_after(snap: ServiceSnapshot, actions: Actions) -> list[Task]:
    """The service's task rows once `actions` are applied: stopped rows replaced, new rows added."""
    stopped = {s.task.taskArn: s.task for s in actions.stops}
    return [stopped.get(t.taskArn, t) for t in snap.tasks] + [s.task for s in actions.starts]
