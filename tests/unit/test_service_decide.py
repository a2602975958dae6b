"""The service controller's decision as tables: a snapshot built from plain rows (no store, no
agents, the clock a number), one `decide`, and what its Actions start, stop and say."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from orchestrator.core.models import ContainerInstance, Service, Task, TaskDefinition
from orchestrator.core.service_state import ServiceState
from orchestrator.reconcile.service_decide import (
    HEALTH_FAILURE_REASON,
    Actions,
    Rules,
    ServiceSnapshot,
    decide,
)
from tests.builders import ZONES, instance_row, service_row, task_def_row, task_row

NOW = 1000.0
GRACE_S = 10.0
RULES = Rules(health_grace_s=GRACE_S)
V1 = task_def_row("web", 1)
V2 = task_def_row("web", 2)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"new{next(counter)}"


def three() -> list[ContainerInstance]:
    return [instance_row(f"i{n + 1}", zone) for n, zone in enumerate(ZONES)]


def snapshot(
    svc: Service,
    tasks: Sequence[Task] = (),
    instances: Sequence[ContainerInstance] | None = None,
    state: ServiceState | None = None,
    now: float = NOW,
) -> ServiceSnapshot:
    return ServiceSnapshot(
        cluster="default",
        service=svc,
        state=state or ServiceState(),
        tasks=list(tasks),
        task_definitions={td.taskDefinitionArn: td for td in (V1, V2)},
        instances=list(three() if instances is None else instances),
        now=now,
    )


def spread(n: int, td: TaskDefinition = V1, deployment: str = "ecs-svc/1", **kw: object) -> list[Task]:
    """`n` healthy tasks (RUNNING since long before NOW) over the three instances in turn."""
    inst = three()
    return [
        task_row(f"{deployment[-1]}t{k}", td, inst[k % 3], deployment, **kw)  # type: ignore[arg-type]
        for k in range(n)
    ]


def per_instance(actions: Actions) -> tuple[dict[str, int], dict[str, int]]:
    """(tasks started per instance name, tasks stopped per instance name)."""
    name = {i.containerInstanceArn: i.attribute_map()["orch.name"] for i in three()}
    return (
        dict(sorted(Counter(name[s.task.containerInstanceArn or ""] for s in actions.starts).items())),
        dict(sorted(Counter(name[s.task.containerInstanceArn or ""] for s in actions.stops).items())),
    )


def rollout(desired: int, old: int, new: int, **config: int) -> Service:
    """A service rolling out web:2 (deployment ecs-svc/2) over web:1 (ecs-svc/1)."""
    svc = service_row(V1, desired, "ecs-svc/1", **config)
    svc.deployments[0].status = "ACTIVE"
    svc.deployments[0].rolloutState = "COMPLETED"
    svc.deployments.insert(0, service_row(V2, desired, "ecs-svc/2").deployments[0])
    svc.taskDefinition = V2.taskDefinitionArn
    return svc


# -- scaling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "running", "starts", "stops"),
    [
        # 0 -> 3 over 3 zones: one per zone (spread by zone, then by instance).
        (3, 0, {"i1": 1, "i2": 1, "i3": 1}, {}),
        # 3 -> 6: 2 per zone; the second of each zone beside the first.
        (6, 3, {"i1": 1, "i2": 1, "i3": 1}, {}),
        # 3 -> 5: 5 - 3 = 2 more, on 2 different zones (which two: the seeded tie-break, the same every run).
        (5, 3, {"i2": 1, "i3": 1}, {}),
        # 6 -> 4: stop 2 from 2 different zones (all have 2; the seeded tie-break again).
        (4, 6, {}, {"i2": 1, "i3": 1}),
        # 6 -> 0: everything stops.
        (0, 6, {}, {"i1": 2, "i2": 2, "i3": 2}),
        # 3 -> 3: nothing to do.
        (3, 3, {}, {}),
    ],
)
def test_scaling_starts_and_stops_the_difference_spread_over_zones(
    desired: int, running: int, starts: dict[str, int], stops: dict[str, int]
) -> None:
    actions = decide(snapshot(service_row(V1, desired), spread(running)), RULES, ids())
    assert per_instance(actions) == (starts, stops)
    assert all(s.task.lastStatus == "PROVISIONING" and s.task.startedBy == "ecs-svc/1" for s in actions.starts)
    assert all(s.reason == "Scaling activity initiated by (deployment ecs-svc/1)" for s in actions.stops)


def test_new_tasks_are_named_by_the_id_source_and_explained() -> None:
    actions = decide(snapshot(service_row(V1, 2)), RULES, ids())
    assert [s.task.taskArn.rsplit("/", 1)[-1] for s in actions.starts] == ["new1", "new2"]
    assert all(s.explanation.get("considered") == 3 for s in actions.starts)
    assert actions.events == ["(service web) has started 2 tasks: (task new1) (task new2)."]
    assert actions.service is not None and actions.service.pendingCount == 2


def test_the_same_snapshot_gives_the_same_actions_and_is_not_changed() -> None:
    snap = snapshot(service_row(V1, 4), spread(6))
    before = [t.model_dump() for t in snap.tasks], snap.service.model_dump()
    a, b = decide(snap, RULES, ids()), decide(snap, RULES, ids())
    assert [s.task.taskArn for s in a.stops] == [s.task.taskArn for s in b.stops] and len(a.stops) == 2
    assert ([t.model_dump() for t in snap.tasks], snap.service.model_dump()) == before
    up = snapshot(service_row(V1, 9), spread(6))
    c, d = decide(up, RULES, ids()), decide(up, RULES, ids())
    assert [s.task.model_dump() for s in c.starts] == [s.task.model_dump() for s in d.starts]


def test_a_steady_service_decides_nothing() -> None:
    state = ServiceState(steady=True, ever_healthy=[t.taskArn for t in spread(3)])
    svc = service_row(V1, 3)
    first = decide(snapshot(svc, spread(3), state=state), RULES, ids())
    # The first pass only records the counts and the completed deployment.
    assert first.service is not None and not first.changes_tasks and first.events == []
    again = decide(snapshot(first.service, spread(3), state=first.state or state), RULES, ids())
    assert not again.changes_anything()


# -- rolling updates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "min_pct", "max_pct", "old", "new", "start", "stop"),
    [
        # The first pass of a rollout of 6, all old healthy: 100/200 -> max 12, start 12 - 6 = 6.
        (6, 100, 200, 6, 0, 6, 0),
        # 50/100: max 6 = live, start none; healthy 6 - ceil(3) = 3 old stop.
        (6, 50, 100, 6, 0, 0, 3),
        # 100/150, 5: floor(7.5) = 7 - 5 = 2 start; healthy 5 - 5 = 0 stop.
        (5, 100, 150, 5, 0, 2, 0),
        # The second pass of 100/200, 6: 6 new healthy -> 12 healthy - 6 = 6 old stop, nothing starts.
        (6, 100, 200, 6, 6, 0, 6),
        # 100/150, 5, 2 new healthy: 7 healthy - 5 = 2 stop; live 7 = max: none starts.
        (5, 100, 150, 5, 2, 0, 2),
        # 0/100: every old task stops at once, none starts before they are gone.
        (4, 0, 100, 4, 0, 0, 4),
    ],
)
def test_a_rollout_pass_starts_and_stops_within_the_bounds(
    desired: int, min_pct: int, max_pct: int, old: int, new: int, start: int, stop: int
) -> None:
    svc = rollout(desired, old, new, minimumHealthyPercent=min_pct, maximumPercent=max_pct)
    tasks = spread(old) + spread(new, V2, "ecs-svc/2")
    actions = decide(snapshot(svc, tasks), RULES, ids())
    assert (len(actions.starts), len(actions.stops)) == (start, stop)
    assert all(s.task.taskDefinitionArn == V2.taskDefinitionArn for s in actions.starts)
    assert all(s.task.startedBy == "ecs-svc/1" for s in actions.stops)


def test_a_draining_instance_gives_up_its_tasks_within_the_bounds() -> None:
    instances = three()
    instances[0].status = "DRAINING"
    # 6 healthy, 2 on the draining i1: they are outgoing. 100/200: start 2 (on i2, i3), stop none yet.
    actions = decide(snapshot(service_row(V1, 6), spread(6), instances), RULES, ids())
    assert per_instance(actions) == ({"i2": 1, "i3": 1}, {})


def test_a_draining_instance_stops_its_pending_tasks_at_once() -> None:
    instances = three()
    instances[0].status = "DRAINING"
    tasks = spread(6)
    tasks[0].lastStatus = "PENDING"  # on i1
    actions = decide(snapshot(service_row(V1, 6), tasks, instances), RULES, ids())
    assert [s.task.taskArn for s in actions.stops] == [tasks[0].taskArn]


# -- health, failures, throttling ------------------------------------------------------------------


def test_an_unhealthy_task_is_stopped_as_a_health_failure() -> None:
    td = task_def_row("web", 1, health_check=True)
    tasks = [task_row(f"t{k}", td, three()[k], health="HEALTHY") for k in range(3)]
    tasks[1].containers[0].healthStatus = "UNHEALTHY"
    snap = snapshot(service_row(td, 3), tasks)
    snap.task_definitions = {td.taskDefinitionArn: td}
    actions = decide(snap, RULES, ids())
    assert [(s.task.taskArn, s.reason) for s in actions.stops] == [(tasks[1].taskArn, HEALTH_FAILURE_REASON)]


@pytest.mark.parametrize(
    ("retry_after", "generation", "starts"),
    [
        # Throttled until NOW + 5: nothing starts.
        (NOW + 5, 0, 0),
        # The retry time has come: the 2 missing tasks start.
        (NOW, 0, 2),
        # Throttled, but the service was updated since (generation 1, observed 0): the update resets it.
        (NOW + 5, 1, 2),
    ],
)
def test_the_throttle_holds_starts_until_its_time_or_an_update(
    retry_after: float, generation: int, starts: int
) -> None:
    # The running task has been healthy before: its health does not end the run of failures.
    running = spread(1)
    state = ServiceState(
        start_failures=5, retry_after=retry_after, generation=generation, ever_healthy=[running[0].taskArn]
    )
    actions = decide(snapshot(service_row(V1, 3), running, state=state), RULES, ids())
    assert len(actions.starts) == starts
    if generation:
        assert actions.state is not None
        assert (actions.state.observed_generation, actions.state.start_failures) == (1, 0)


def test_a_task_that_failed_to_start_is_counted_once_and_throttles_from_the_third() -> None:
    tasks = spread(3)
    for t in tasks:
        t.lastStatus, t.stopCode, t.desiredStatus = "STOPPED", "TaskFailedToStart", "STOPPED"
    svc = service_row(V1, 1)
    actions = decide(snapshot(svc, tasks), RULES, ids())
    assert actions.state is not None and actions.state.start_failures == 3
    # The 3rd failure in a row: retry after 5 x 2^0 = 5 s, said once.
    assert actions.state.retry_after == NOW + 5 and not actions.starts
    assert [e for e in actions.events if "unable to consistently start" in e]
    again = decide(snapshot(actions.service or svc, tasks, state=actions.state), RULES, ids())
    assert again.state is None or again.state.start_failures == 3


def test_a_task_definition_that_fits_nowhere_says_so_once() -> None:
    big = task_def_row("web", 1, memory=4096)
    snap = snapshot(service_row(big, 2))
    snap.task_definitions = {big.taskDefinitionArn: big}
    first = decide(snap, RULES, ids())
    assert (first.starts, first.unplaced) == ([], 2)
    assert [e for e in first.events if "unable to place a task" in e]
    snap.state = first.state or snap.state
    assert not [e for e in decide(snap, RULES, ids()).events if "unable to place" in e]
