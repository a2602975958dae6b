"""The service controller driven pass by pass over a real SQLite store, with a fake clock and no agents:
the test plays the agents by reporting task states the way they would (`report_task_states`), and
checks the deployment bounds after every pass. Covers UpdateService opening deployments, the
deployment rows, rolling updates, health, the circuit breaker and rollback, throttling, draining
and a control plane that restarts half way through a rollout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import ApiError
from orchestrator.core.models import Service, Task, arn_id
from orchestrator.core.service_state import ServiceState
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store, instance_key
from orchestrator.operations import Context, Operations
from orchestrator.reconcile.service_decide import STUCK_MESSAGE, bounds
from orchestrator.reconcile.services import ServiceController

GRACE_S = 10.0
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
HEALTHY_CHECK = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}


@dataclass
class Rig:
    """A control plane without HTTP or threads: operations, one controller, three instances."""

    path: Path
    clock: FakeClock = field(default_factory=FakeClock)
    settings: Settings = field(default_factory=lambda: Settings(health_grace_s=GRACE_S))
    instances: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.open()
        for i, zone in enumerate(ZONES):
            reg = self.ops.register_instance({"zone": zone, "cpu": 4096, "memory": 4096, "name": f"i{i + 1}"})
            self.instances.append(reg["containerInstanceArn"])

    def open(self) -> None:
        self.store = Store(self.path)
        self.store.ensure_cluster("default")
        self.ops = Operations(Context(store=self.store, clock=self.clock, settings=self.settings))
        self.ctrl = ServiceController(self.ops.ctx)

    def restart(self) -> None:
        """What a control plane killed and started again has: the database file, nothing else."""
        self.store.close()
        self.open()

    # -- setup ---------------------------------------------------------------------------------

    def taskdef(self, family: str = "web", **container: Any) -> str:
        extra = container.pop("containers", [])
        cdef = {"name": "app", "image": "orch/busybox", "memory": 32, "cpu": 64, **container}
        td = self.ops.register_task_definition({"family": family, "containerDefinitions": [cdef, *extra]})
        return f"{family}:{td['taskDefinition']['revision']}"

    def create(self, desired: int, td: str, name: str = "web", **req: Any) -> None:
        self.ops.create_service({"serviceName": name, "taskDefinition": td, "desiredCount": desired, **req})

    def update(self, name: str = "web", **req: Any) -> Service:
        self.ops.update_service({"service": name, **req})
        return self.svc(name)

    # -- reading -------------------------------------------------------------------------------

    def svc(self, name: str = "web") -> Service:
        svc = self.store.get_service("default", name)
        assert svc is not None
        return svc

    def tasks(self, name: str = "web") -> list[Task]:
        return self.store.list_tasks("default", group=f"service:{name}")

    def live(self, name: str = "web") -> list[Task]:
        return [t for t in self.tasks(name) if t.lastStatus != "STOPPED"]

    def healthy(self, name: str = "web") -> list[Task]:
        """Healthy as ECS defines it, computed here independently of the controller."""
        now = self.clock.now()
        out = []
        for t in self.tasks(name):
            if t.lastStatus != "RUNNING" or t.desiredStatus != "RUNNING":
                continue
            checked = [c for c in t.containers if c.healthStatus is not None and c.name == "app"]
            if checked:
                ok = all(c.healthStatus == "HEALTHY" for c in checked)
            else:
                ok = t.startedAt is not None and now - t.startedAt >= GRACE_S
            if ok:
                out.append(t)
        return out

    def events(self, name: str = "web") -> list[str]:
        return [e["message"] for e in reversed(self.store.list_events("default", name))]

    # -- acting like the agents ----------------------------------------------------------------

    def report(self, task: Task, status: str, **extra: Any) -> None:
        containers = [{"name": c.name, "lastStatus": status, **extra.pop("container", {})} for c in task.containers]
        assert task.containerInstanceArn is not None
        self.ops.report_task_states(
            task.containerInstanceArn,
            [{"taskArn": task.taskArn, "lastStatus": status, "containers": containers, **extra}],
        )

    def start_pending(self, name: str = "web", health: str | None = None, fail: bool = False) -> int:
        """Start every task the controller asked for; `fail` makes each fail to start instead."""
        started = 0
        for t in self.tasks(name):
            if t.desiredStatus != "RUNNING" or t.lastStatus not in ("PROVISIONING", "PENDING"):
                continue
            if fail:
                self.report(
                    t, "STOPPED", stopCode="TaskFailedToStart", stoppedReason="CannotStartContainerError: no such image"
                )
            else:
                self.report(t, "RUNNING", container={"healthStatus": health} if health else {})
            started += 1
        return started

    def finish_stops(self, name: str = "web") -> int:
        stopping = [t for t in self.tasks(name) if t.desiredStatus == "STOPPED" and t.lastStatus != "STOPPED"]
        for t in stopping:
            self.report(t, "STOPPED", container={"exitCode": 143})
        return len(stopping)

    def reconcile(self, name: str = "web") -> None:
        self.ctrl.reconcile("default", name)

    def settle(self, name: str = "web", health: str | None = None, passes: int = 10) -> None:
        """Run passes (agents doing their part, time passing) until the service is steady."""
        for _ in range(passes):
            self.reconcile(name)
            svc = self.svc(name)
            if (
                len(svc.deployments) == 1
                and svc.deployments[0].rolloutState == "COMPLETED"
                and len(self.live(name)) == svc.desiredCount == len(self.healthy(name))
            ):
                return
            self.start_pending(name, health)
            self.finish_stops(name)
            self.clock.advance(GRACE_S)
        raise AssertionError(f"service {name} did not settle: {self.svc(name).deployments}")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "orchestrator.db")
    yield r
    r.store.close()


def steady(rig: Rig, desired: int, **req: Any) -> tuple[str, str]:
    """A service `web` at `desired` healthy tasks of web:1, with web:2 registered; their names."""
    v1, v2 = rig.taskdef(), rig.taskdef()
    rig.create(desired, v1, **req)
    rig.settle()
    return v1, v2


def assert_bounds(rig: Rig, floor: int) -> tuple[int, int]:
    """(live, healthy) now, checked against the service's bounds; `floor` is the healthy count
    the rollout may not go under (the min, or fewer if the service had fewer to start with)."""
    svc = rig.svc()
    config = svc.deploymentConfiguration
    max_tasks, _ = bounds(svc.desiredCount, config.minimumHealthyPercent, config.maximumPercent)
    live, healthy = len(rig.live()), len(rig.healthy())
    assert live <= max_tasks, f"{live} tasks RUNNING or PENDING, more than maximumPercent allows ({max_tasks})"
    assert healthy >= floor, f"{healthy} healthy tasks, fewer than minimumHealthyPercent needs ({floor})"
    return live, healthy


# -- rolling updates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "min_pct", "max_pct", "trace"),
    [
        # (live, healthy) after each pass; between passes the agents start and stop what they are
        # told and GRACE_S passes, so tasks started in one pass are healthy at the next.
        # 100/200, 6: start 6 (6 + 6 = 12 = max) / 12 healthy - 6 = stop 6 old / done.
        (6, 100, 200, [(12, 6), (12, 6), (6, 6)]),
        # 50/100, 6: stop 3 (6 - ceil(3)) / 3 stopped, start 3 / 6 healthy: stop the other 3 old
        # / start the last 3 / done.
        (6, 50, 100, [(6, 3), (6, 3), (6, 3), (6, 3), (6, 6)]),
        # ECS: desired 4, min 50 -> may stop 2 first (max 100: nothing can start first).
        (4, 50, 100, [(4, 2), (4, 2), (4, 2), (4, 2), (4, 4)]),
        # ECS: desired 2, min 75 -> can stop none (ceil(1.5) = 2), so start 2 first (max 4).
        (2, 75, 200, [(4, 2), (4, 2), (2, 2)]),
        # desired 3, max 125, min 50 -> start none (floor(3.75) = 3), stop 1 (3 - ceil(1.5)) at a time.
        (3, 50, 125, [(3, 2), (3, 2), (3, 2), (3, 2), (3, 2), (3, 2), (3, 3)]),
        # min 0, max 100: everything old goes at once, then everything new starts.
        (4, 0, 100, [(4, 0), (4, 0), (4, 4)]),
        # 100/150, 5: start floor(7.5) - 5 = 2 / stop 2 / start 2 / stop 2 / start 1 / stop 1 / done.
        (5, 100, 150, [(7, 5), (7, 5), (7, 5), (7, 5), (6, 5), (6, 5), (5, 5)]),
    ],
)
def test_rolling_update_stays_within_the_bounds_after_every_pass(
    rig: Rig, desired: int, min_pct: int, max_pct: int, trace: list[tuple[int, int]]
) -> None:
    _, v2 = steady(rig, desired)
    rig.update(taskDefinition=v2, deploymentConfiguration={"minimumHealthyPercent": min_pct, "maximumPercent": max_pct})
    _, floor = bounds(desired, min_pct, max_pct)
    seen = []
    for _ in range(len(trace)):
        rig.reconcile()
        seen.append(assert_bounds(rig, floor))
        rig.start_pending()
        rig.finish_stops()
        rig.clock.advance(GRACE_S)
    assert seen == trace
    svc = rig.svc()
    assert [d.rolloutState for d in svc.deployments] == ["COMPLETED"]
    assert {t.taskDefinitionArn.rsplit("/", 1)[-1] for t in rig.live()} == {v2}


def test_stuck_configuration_says_so_once_and_an_update_frees_it(rig: Rig) -> None:
    # min = max = 100 with 3 tasks: floor(3 x 100 / 100) = 3 = live, 3 healthy - ceil(3) = 0 to stop.
    _, v2 = steady(rig, 3, deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 100})
    rig.update(taskDefinition=v2)
    for _ in range(3):
        rig.reconcile()
        assert assert_bounds(rig, 3) == (3, 3)
        rig.clock.advance(GRACE_S)
    stuck = [m for m in rig.events() if "unable to stop or start" in m]
    assert stuck == [f"(service web) {STUCK_MESSAGE}"]
    assert (
        "unable to stop or start tasks during a deployment because of the service deployment configuration" in stuck[0]
    )
    rig.update(deploymentConfiguration={"maximumPercent": 200})
    rig.settle()
    assert {arn_id(t.taskDefinitionArn) for t in rig.live()} == {v2}


def test_desired_3_max_125_starts_none_and_stops_one_at_a_time_with_min_50(rig: Rig) -> None:
    _, v2 = steady(rig, 3)
    rig.update(taskDefinition=v2, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 125})
    rig.reconcile()
    # floor(3 x 1.25) = 3 live at most: nothing may start; 3 healthy - ceil(1.5) = 1 may stop.
    assert [t.desiredStatus for t in rig.live()].count("STOPPED") == 1
    assert not [t for t in rig.tasks() if arn_id(t.taskDefinitionArn) == v2]


# -- deployments as rows -----------------------------------------------------------------------


def test_deployments_have_ecs_ids_statuses_counts_and_leave_when_done(rig: Rig) -> None:
    v1, v2 = steady(rig, 4)
    first = rig.svc().deployments[0]
    assert re.fullmatch(r"ecs-svc/\d{19}", first.id)
    assert (first.status, first.rolloutState, first.rolloutStateReason) == (
        "PRIMARY",
        "COMPLETED",
        "ECS deployment completed.",
    )
    rig.update(taskDefinition=v2)
    new, old = rig.svc().deployments
    assert re.fullmatch(r"ecs-svc/\d{19}", new.id) and new.id != old.id
    assert (new.status, new.rolloutState, new.taskDefinition.endswith(v2)) == ("PRIMARY", "IN_PROGRESS", True)
    assert (old.status, old.id, old.taskDefinition.endswith(v1)) == ("ACTIVE", first.id, True)

    rig.reconcile()  # starts 4 new: 4 + 4 = 8 = floor(4 x 200 / 100)
    new, old = rig.svc().deployments
    assert (new.desiredCount, new.runningCount, new.pendingCount) == (4, 0, 4)
    assert (old.desiredCount, old.runningCount, old.pendingCount) == (4, 4, 0)
    assert new.model_dump()["healthyCount"] == 0 and old.model_dump()["healthyCount"] == 4
    wire = rig.ops.describe_services({"services": ["web"]})["services"][0]
    assert [d["healthyCount"] for d in wire["deployments"]] == [0, 4]

    rig.start_pending()
    rig.reconcile()  # running, not healthy yet: nothing stops
    new, old = rig.svc().deployments
    assert (new.runningCount, new.pendingCount, new.model_dump()["healthyCount"]) == (4, 0, 0)
    rig.clock.advance(GRACE_S)
    rig.reconcile()  # healthy now: 8 healthy - ceil(4) = 4 old ones stop
    new, old = rig.svc().deployments
    assert (new.model_dump()["healthyCount"], old.desiredCount, old.runningCount) == (4, 0, 0)
    assert new.rolloutState == "IN_PROGRESS"  # the old tasks still hold their containers
    rig.finish_stops()
    rig.reconcile()
    (only,) = rig.svc().deployments
    assert (only.id, only.status, only.rolloutState, only.runningCount) == (new.id, "PRIMARY", "COMPLETED", 4)
    events = rig.events()
    assert f"(service web) (deployment {new.id}) deployment completed." in events
    assert events[-1] == "(service web) has reached a steady state."
    assert any(re.fullmatch(r"\(service web\) has started 4 tasks: (\(task [0-9a-f]{32}\) ?){4}\.", m) for m in events)
    assert any(
        re.fullmatch(r"\(service web\) has stopped 4 running tasks: (\(task [0-9a-f]{32}\) ?){4}\.", m) for m in events
    )


def test_tasks_stopped_by_a_deployment_name_it(rig: Rig) -> None:
    _, v2 = steady(rig, 2)
    old = {t.taskArn for t in rig.live()}
    rig.update(taskDefinition=v2)
    rig.settle()
    new_id = rig.svc().deployments[0].id
    stopped = [t for t in rig.tasks() if t.taskArn in old]
    assert {(t.lastStatus, t.stopCode, t.stoppedReason) for t in stopped} == {
        ("STOPPED", "ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {new_id})")
    }
    assert all(t.stoppingAt is not None and t.stoppedAt is not None for t in stopped)


def test_a_restarted_control_plane_finishes_the_rollout_from_the_rows(rig: Rig) -> None:
    _, v2 = steady(rig, 6, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100})
    rig.update(taskDefinition=v2)
    rig.reconcile()  # 3 old tasks told to stop
    deployment = rig.svc().deployments[0].id
    rig.restart()
    assert rig.svc().deployments[0].id == deployment
    passes = 0
    while rig.svc().deployments[0].rolloutState != "COMPLETED" or len(rig.svc().deployments) > 1:
        rig.finish_stops()
        rig.start_pending()
        rig.clock.advance(GRACE_S)
        rig.reconcile()
        assert_bounds(rig, 3)
        passes += 1
        assert passes < 10
    assert len(rig.healthy()) == 6 and {arn_id(t.taskDefinitionArn) for t in rig.live()} == {v2}


# -- UpdateService -----------------------------------------------------------------------------


def test_update_with_a_family_takes_its_latest_active_revision(rig: Rig) -> None:
    steady(rig, 1)
    rig.taskdef()  # web:3
    rig.ops.deregister_task_definition({"taskDefinition": "web:3"})
    svc = rig.update(taskDefinition="web")
    assert svc.taskDefinition.endswith("web:2") and svc.deployments[0].taskDefinition.endswith("web:2")
    assert len(svc.deployments) == 2


def test_update_with_the_same_revision_or_only_a_count_opens_no_deployment(rig: Rig) -> None:
    steady(rig, 2)
    before = rig.svc().deployments[0].id
    svc = rig.update(taskDefinition="web:1", desiredCount=3)
    assert [d.id for d in svc.deployments] == [before]
    assert (svc.desiredCount, svc.deployments[0].desiredCount) == (3, 3)
    rig.settle()
    assert len(rig.healthy()) == 3


@pytest.mark.parametrize(
    ("req", "opens"),
    [
        ({"forceNewDeployment": True}, True),
        ({"taskDefinition": "web:2"}, True),
        ({"placementStrategy": [{"type": "binpack", "field": "memory"}]}, True),
        ({"placementConstraints": [{"type": "distinctInstance"}]}, True),
        ({"desiredCount": 5}, False),
        ({"deploymentConfiguration": {"minimumHealthyPercent": 50}}, False),
    ],
)
def test_what_opens_a_new_deployment(rig: Rig, req: dict[str, Any], opens: bool) -> None:
    steady(rig, 2)
    before = rig.svc().deployments[0]
    svc = rig.update(**req)
    if opens:
        assert [d.status for d in svc.deployments] == ["PRIMARY", "ACTIVE"]
        assert svc.deployments[1].id == before.id and svc.deployments[0].rolloutState == "IN_PROGRESS"
    else:
        assert [d.id for d in svc.deployments] == [before.id]


def test_force_new_deployment_replaces_every_task_with_the_same_revision(rig: Rig) -> None:
    v1, _ = steady(rig, 3)
    old = {t.taskArn for t in rig.live()}
    svc = rig.update(forceNewDeployment=True)
    assert svc.deployments[0].taskDefinition.endswith(v1)
    rig.settle()
    assert not old & {t.taskArn for t in rig.live()} and len(rig.healthy()) == 3


def test_deployment_configuration_merges_and_bad_values_change_nothing(rig: Rig) -> None:
    steady(rig, 2)
    svc = rig.update(deploymentConfiguration={"minimumHealthyPercent": 50})
    config = svc.deploymentConfiguration
    assert (config.minimumHealthyPercent, config.maximumPercent) == (50, 200)
    svc = rig.update(deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    assert svc.deploymentConfiguration.minimumHealthyPercent == 50
    assert svc.deploymentConfiguration.deploymentCircuitBreaker.rollback
    before = rig.svc().model_dump()
    for bad in ({"maximumPercent": 50}, {"minimumHealthyPercent": 150}, {"maximumPercent": "lots"}):
        with pytest.raises(ApiError):
            rig.update(taskDefinition="web:2", deploymentConfiguration=bad)
        assert rig.svc().model_dump() == before


# -- health ------------------------------------------------------------------------------------


def test_without_a_health_check_a_task_is_healthy_after_the_grace_time(rig: Rig) -> None:
    rig.create(1, rig.taskdef())
    rig.reconcile()
    rig.start_pending()
    rig.clock.advance(GRACE_S - 1)
    rig.reconcile()
    assert rig.svc().deployments[0].rolloutState == "IN_PROGRESS"  # 9 s of 10 s
    rig.clock.advance(1)
    rig.reconcile()
    assert rig.svc().deployments[0].rolloutState == "COMPLETED"


def test_the_services_grace_period_overrides_the_default(rig: Rig) -> None:
    rig.create(1, rig.taskdef(), healthCheckGracePeriodSeconds=30)
    rig.reconcile()
    rig.start_pending()
    rig.clock.advance(29)
    rig.reconcile()
    assert rig.svc().deployments[0].rolloutState == "IN_PROGRESS"
    rig.clock.advance(1)
    rig.reconcile()
    assert rig.svc().deployments[0].rolloutState == "COMPLETED"


def test_an_unhealthy_task_is_replaced_and_counted_as_failed(rig: Rig) -> None:
    v1 = rig.taskdef(healthCheck=HEALTHY_CHECK)
    rig.create(2, v1)
    rig.settle(health="HEALTHY")
    victim = rig.live()[0]
    rig.report(victim, "RUNNING", container={"healthStatus": "UNHEALTHY"})
    rig.reconcile()
    victim = next(t for t in rig.tasks() if t.taskArn == victim.taskArn)
    assert (victim.desiredStatus, victim.stopCode, victim.stoppedReason) == (
        "STOPPED",
        "ServiceSchedulerInitiated",
        "Task failed container health checks",
    )
    rig.finish_stops()
    rig.reconcile()
    assert rig.svc().deployments[0].failedTasks == 1
    rig.settle(health="HEALTHY")
    assert len(rig.healthy()) == 2 and victim.taskArn not in {t.taskArn for t in rig.live()}


def test_a_new_revision_failing_its_health_check_keeps_the_old_tasks(rig: Rig) -> None:
    v1 = rig.taskdef(healthCheck=HEALTHY_CHECK)
    v2 = rig.taskdef(healthCheck={**HEALTHY_CHECK, "command": ["CMD-SHELL", "exit 1"]})
    rig.create(2, v1)
    rig.settle(health="HEALTHY")
    rig.update(taskDefinition=v2)
    for _ in range(5):
        rig.reconcile()
        assert_bounds(rig, 2)
        rig.start_pending(health="UNHEALTHY")
        rig.finish_stops()
        rig.clock.advance(GRACE_S)
    new, old = rig.svc().deployments
    # Pass 1 starts 2 (2 + 2 = 4 = max) and the agents report them UNHEALTHY; pass 2 stops them;
    # pass 3 counts 2 failed and starts 2 more; pass 4 stops those; pass 5 counts 4.
    assert new.failedTasks == 4 and new.rolloutState == "IN_PROGRESS"
    assert old.runningCount == 2 and len(rig.healthy()) == 2
    failed = [t for t in rig.tasks() if t.stoppedReason == "Task failed container health checks"]
    assert len(failed) == 4 and all(arn_id(t.taskDefinitionArn) == v2 for t in failed)


def test_only_essential_containers_decide_task_health(rig: Rig) -> None:
    sidecar = {
        "name": "sidecar",
        "image": "orch/busybox",
        "memory": 16,
        "essential": False,
        "healthCheck": HEALTHY_CHECK,
    }
    rig.create(1, rig.taskdef(healthCheck=HEALTHY_CHECK, containers=[sidecar]))
    rig.reconcile()
    (task,) = rig.live()
    assert task.containerInstanceArn is not None
    rig.ops.report_task_states(
        task.containerInstanceArn,
        [
            {
                "taskArn": task.taskArn,
                "lastStatus": "RUNNING",
                "containers": [
                    {"name": "app", "lastStatus": "RUNNING", "healthStatus": "HEALTHY"},
                    {"name": "sidecar", "lastStatus": "RUNNING", "healthStatus": "UNHEALTHY"},
                ],
            }
        ],
    )
    rig.reconcile()
    (task,) = rig.live()
    assert task.desiredStatus == "RUNNING"  # the unhealthy sidecar is not essential
    assert task.healthStatus == "HEALTHY"  # and the task's reported health agrees
    assert rig.svc().deployments[0].rolloutState == "COMPLETED"


def test_grace_period_ignores_failing_health_checks_of_a_new_task(rig: Rig) -> None:
    rig.create(1, rig.taskdef(healthCheck=HEALTHY_CHECK), healthCheckGracePeriodSeconds=60)
    rig.reconcile()
    rig.start_pending(health="UNHEALTHY")
    rig.clock.advance(59)
    rig.reconcile()
    assert rig.live()[0].desiredStatus == "RUNNING"
    rig.clock.advance(1)
    rig.reconcile()
    assert rig.tasks()[0].stoppedReason == "Task failed container health checks"


# -- circuit breaker and rollback --------------------------------------------------------------


def test_circuit_breaker_fails_the_deployment_and_rolls_back(rig: Rig) -> None:
    v1, v2 = steady(rig, 4, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    completed = rig.svc().deployments[0].id
    old = {t.taskArn for t in rig.live()}
    rig.update(taskDefinition=v2)
    failing = rig.svc().deployments[0].id
    rig.reconcile()  # 4 new tasks start
    assert rig.start_pending(fail=True) == 4
    rig.reconcile()  # 4 failures >= threshold max(3, ceil(0.5 x 4)) = 3
    assert_bounds(rig, 4)
    events = rig.events()
    assert f"(service web) (deployment {failing}) deployment failed: tasks failed to start." in events
    assert f"(service web) rolling back to deployment {completed}." in events
    assert events.index(f"(service web) rolling back to deployment {completed}.") > events.index(
        f"(service web) (deployment {failing}) deployment failed: tasks failed to start."
    )
    svc = rig.svc()
    assert svc.taskDefinition.endswith(v1)
    assert [(d.id, d.status) for d in svc.deployments] == [(completed, "PRIMARY")]  # the failed one had no tasks
    assert {t.taskArn for t in rig.live()} == old  # the old tasks were never touched
    rig.settle()
    assert svc.deployments[0].rolloutState == "COMPLETED"


def test_rollback_restarts_a_completed_deployment_that_has_no_tasks_left(rig: Rig) -> None:
    v1, v2 = steady(
        rig,
        4,
        deploymentConfiguration={
            "minimumHealthyPercent": 0,
            "maximumPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    )
    completed = rig.svc().deployments[0].id
    rig.update(taskDefinition=v2)
    rig.reconcile()  # min 0: all 4 old tasks stop at once
    rig.finish_stops()
    rig.reconcile()  # max floor(4 x 1) = 4: the 4 new ones start
    assert rig.start_pending(fail=True) == 4
    rig.reconcile()  # 4 failed >= 3: FAILED, back to the old deployment, which starts 4 again
    svc = rig.svc()
    assert svc.deployments[0].id == completed and svc.taskDefinition.endswith(v1)
    assert [arn_id(t.taskDefinitionArn) for t in rig.live()] == [v1] * 4
    rig.settle()
    assert len(rig.healthy()) == 4 and rig.svc().deployments[0].rolloutState == "COMPLETED"


def test_circuit_breaker_without_rollback_leaves_the_deployment_failed(rig: Rig) -> None:
    _, v2 = steady(rig, 6, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True}})
    rig.update(taskDefinition=v2)
    failing = rig.svc().deployments[0].id
    for _ in range(3):
        rig.reconcile()
        assert_bounds(rig, 6)
        rig.start_pending(fail=True)
        rig.clock.advance(GRACE_S)
    rig.reconcile()
    primary, old = rig.svc().deployments
    # threshold max(3, ceil(0.5 x 6)) = 3; the first pass already started 6 (12 = max), all failed.
    assert (primary.id, primary.rolloutState) == (failing, "FAILED")
    assert primary.rolloutStateReason == "ECS deployment circuit breaker: tasks failed to start."
    assert primary.failedTasks == 6 and old.runningCount == 6
    started = len(rig.tasks())
    for _ in range(3):
        rig.clock.advance(GRACE_S)
        rig.reconcile()
    assert len(rig.tasks()) == started  # a FAILED deployment starts nothing more
    assert len(rig.healthy()) == 6


def test_failed_count_resets_once_a_task_of_the_deployment_is_healthy(rig: Rig) -> None:
    _, v2 = steady(
        rig,
        8,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 125},
    )
    # threshold max(3, ceil(0.5 x 8)) = 4; max floor(8 x 1.25) = 10: 2 new at a time.
    rig.update(taskDefinition=v2)
    rig.reconcile()
    assert rig.start_pending(fail=True) == 2
    rig.reconcile()  # 2 failed, 2 more start
    assert rig.svc().deployments[0].failedTasks == 2
    new = [t for t in rig.live() if arn_id(t.taskDefinitionArn) == v2]
    rig.report(new[0], "RUNNING")
    rig.report(new[1], "STOPPED", stopCode="TaskFailedToStart", stoppedReason="CannotStartContainerError: x")
    rig.clock.advance(GRACE_S)
    rig.reconcile()  # 1 more failure (3 < 4), then the running one turns healthy: back to 0
    primary = rig.svc().deployments[0]
    assert (primary.failedTasks, primary.rolloutState) == (0, "IN_PROGRESS")


# -- throttling --------------------------------------------------------------------------------


def test_failing_starts_are_retried_with_a_growing_delay_and_an_update_resets_it(rig: Rig) -> None:
    rig.create(1, rig.taskdef())
    rig.reconcile()
    assert rig.start_pending(fail=True) == 1
    # Seconds from one start to the next: failures 1 and 2 retry at the next pass (1 s later
    # here); from the 3rd the pass that counts it waits 5 x 2^(n - 3) s, at most 900 s:
    # 1 + 5, 1 + 10, 1 + 20, ... 1 + 640, then 1 + 900 for ever, never given up.
    gaps = [1, 1, 6, 11, 21, 41, 81, 161, 321, 641, 901, 901, 901]
    for gap in gaps:
        rig.clock.advance(1)
        rig.reconcile()  # counts the failure
        if gap > 1:
            assert rig.start_pending(fail=True) == 0
            rig.clock.advance(gap - 2)
            rig.reconcile()  # 1 s early
            assert rig.start_pending(fail=True) == 0
            rig.clock.advance(1)
            rig.reconcile()
        assert rig.start_pending(fail=True) == 1
    throttled = [m for m in rig.events() if "unable to consistently start tasks" in m]
    assert throttled == [
        "(service web) is unable to consistently start tasks successfully. Retrying with a "
        "growing delay (now 5 s, at most 15 minutes); an update of the service resets it."
    ]
    rig.clock.advance(1)
    rig.reconcile()
    state = ServiceState.load(rig.store, "default", "web")
    assert state.retry_after == rig.clock.now() + 900
    rig.update(desiredCount=1)  # any service update resets the throttle
    rig.reconcile()
    assert rig.start_pending(fail=True) == 1


# -- draining ----------------------------------------------------------------------------------


def test_draining_moves_running_service_tasks_within_the_bounds_and_leaves_standalone_tasks(rig: Rig) -> None:
    steady(rig, 6)
    drained = rig.instances[0]
    on_drained = {t.taskArn for t in rig.live() if t.containerInstanceArn == drained}
    assert len(on_drained) == 2  # 6 tasks spread over 3 zones
    standalone = rig.ops.start_task({"taskDefinition": "web:1", "containerInstances": [drained]})["tasks"][0]
    rig.ops.update_container_instances_state({"containerInstances": [drained], "status": "DRAINING"})
    for _ in range(4):
        rig.reconcile()
        assert_bounds(rig, 6)
        rig.start_pending()
        rig.finish_stops()
        rig.clock.advance(GRACE_S)
    live = rig.live()
    assert len(live) == 6 and len(rig.healthy()) == 6
    assert not [t for t in live if t.containerInstanceArn == drained]
    assert all(t.desiredStatus == "STOPPED" for t in rig.tasks() if t.taskArn in on_drained)
    kept = rig.store.get_task(standalone["taskArn"])
    assert kept is not None and kept.desiredStatus == "RUNNING"
    assert rig.svc().deployments[0].rolloutState == "COMPLETED"


def test_draining_stops_pending_service_tasks_at_once(rig: Rig) -> None:
    rig.create(6, rig.taskdef())
    rig.reconcile()
    drained = rig.instances[1]
    pending = [t for t in rig.live() if t.containerInstanceArn == drained]
    for t in pending:
        rig.report(t, "PENDING")  # the agent is pulling the image
    rig.ops.update_container_instances_state({"containerInstances": [drained], "status": "DRAINING"})
    assert all(rig.store.get_task(t.taskArn).desiredStatus == "STOPPED" for t in pending)  # type: ignore[union-attr]
    rig.settle()
    assert not [t for t in rig.live() if t.containerInstanceArn == drained]
    # ...and it takes nothing new until it is ACTIVE again.
    rig.ops.update_container_instances_state({"containerInstances": [drained], "status": "ACTIVE"})
    rig.update(desiredCount=9)
    rig.settle()
    assert len([t for t in rig.live() if t.containerInstanceArn == drained]) == 3


def test_an_update_leaves_the_controllers_throttle_to_the_controller(rig: Rig) -> None:
    rig.create(1, rig.taskdef())
    rig.reconcile()
    for _ in range(3):  # 3 failed starts in a row: throttled for 5 s
        rig.start_pending(fail=True)
        rig.clock.advance(1)
        rig.reconcile()
    throttled = ServiceState.load(rig.store, "default", "web")
    assert throttled.start_failures == 3 and throttled.retry_after > rig.clock.now()
    rig.update(desiredCount=1)
    # UpdateService records a new generation and nothing of the controller's...
    state = ServiceState.load(rig.store, "default", "web")
    assert (state.generation, state.start_failures, state.retry_after) == (1, 3, throttled.retry_after)
    # ...whose next pass sees it, resets its throttle and starts at once.
    rig.reconcile()
    state = ServiceState.load(rig.store, "default", "web")
    assert (state.observed_generation, state.start_failures, state.retry_after) == (1, 0, 0.0)
    assert rig.start_pending(fail=True) == 1


def test_an_agents_own_report_does_not_wake_its_long_poll_but_the_control_planes_stop_does(rig: Rig) -> None:
    rig.create(1, rig.taskdef())
    rig.reconcile()
    (task,) = rig.live()
    assert task.containerInstanceArn is not None
    key = [instance_key(task.containerInstanceArn)]
    placed = rig.store.latest(key)
    rig.report(task, "RUNNING")
    # The agent knows what it reported: answering its poll again would send it every task for nothing.
    assert rig.store.latest(key) == placed
    assert rig.store.get_task(task.taskArn).lastStatus == "RUNNING"  # type: ignore[union-attr]
    rig.ops.stop_task({"task": task.taskArn, "reason": "test"})
    assert rig.store.latest(key) > placed  # a stop is news to the agent: it wakes
