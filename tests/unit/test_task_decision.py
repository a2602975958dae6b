"""The agent's per-task decision, as a table: assignment + observed containers + now -> actions.

Each row names the situation; the comment beside it says why ECS's agent would act that way.
Actions are compared as a short text form (kind, containers, and for reports the task's and each
container's status) so that a row reads as the expected outcome.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.executor.base import ContainerState
from agent.task_decision import (
    Action,
    FinishTask,
    RemoveContainers,
    Report,
    StartContainers,
    StopContainers,
    TaskInputs,
    decide_orphans,
    decide_task,
    start_order,
    with_reported,
)

ARN = "arn:aws:ecs:us-east-1:000000000000:task/default/t1"
TD_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/app:1"
NOW = 1000.0


def cdef(name: str, essential: bool = True, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": "orch/busybox", "essential": essential, "memory": 32, **kw}


def dep(name: str, condition: str) -> dict[str, str]:
    return {"containerName": name, "condition": condition}


def td(*cdefs: dict[str, Any]) -> dict[str, Any]:
    return {"taskDefinitionArn": TD_ARN, "containerDefinitions": list(cdefs)}


def task(desired: str = "RUNNING", last: str = "PENDING") -> dict[str, Any]:
    return {"taskArn": ARN, "taskDefinitionArn": TD_ARN, "desiredStatus": desired, "lastStatus": last}


def running(name: str, health: str | None = None) -> ContainerState:
    return ContainerState(id=f"id-{name}", name=name, labels={}, status="running", health=health, started_at=900.0)


def exited(name: str, code: int = 0) -> ContainerState:
    return ContainerState(id=f"id-{name}", name=name, labels={}, status="exited", exit_code=code, started_at=900.0)


def refused(name: str, error: str = "port is already allocated") -> ContainerState:
    return ContainerState(id=f"id-{name}", name=name, labels={}, status="created", exit_code=128, error=error)


def observed(*states: ContainerState) -> dict[str, ContainerState]:
    return {s.name: s for s in states}


def text(action: Action) -> str:
    if isinstance(action, StartContainers):
        return f"start {','.join(action.containers)}"
    if isinstance(action, StopContainers):
        return "stop " + ",".join(f"{cid.removeprefix('id-')}/{t}" for cid, t in action.containers)
    if isinstance(action, RemoveContainers):
        return "remove " + ",".join(cid.removeprefix("id-") for cid, _ in action.containers)
    if isinstance(action, FinishTask):
        return "finish"
    assert isinstance(action, Report)
    r = action.report
    out = f"report {r['lastStatus']} [" + " ".join(f"{c['name']}:{c['lastStatus']}" for c in r["containers"]) + "]"
    if r.get("stopCode"):
        out += f" {r['stopCode']}"
    return out


WEB = td(cdef("web"))
SIDECAR = td(cdef("web"), cdef("log", essential=False))
# db must be healthy before app starts; app stops before db.
HEALTHY_DB = td(
    cdef("db", healthCheck={"command": ["CMD", "true"]}),
    cdef("app", dependsOn=[dep("db", "HEALTHY")], startTimeout=60),
)
# a non-essential init container must exit 0 before app starts
INIT = td(cdef("init", essential=False), cdef("app", dependsOn=[dep("init", "SUCCESS")]))
COMPLETE = td(cdef("init", essential=False), cdef("app", dependsOn=[dep("init", "COMPLETE")]))
START = td(cdef("proxy", stopTimeout=5), cdef("app", dependsOn=[dep("proxy", "START")], stopTimeout=10))

ROWS: list[tuple[str, TaskInputs, list[str]]] = [
    # -- no dependsOn: the behaviour before the split, unchanged --------------------------------
    ("new task: start every container", TaskInputs(task(), WEB), ["start web", "report PENDING [web:PENDING]"]),
    # the definition has not arrived with the assignment yet: nothing can be done or said
    ("definition unknown", TaskInputs(task(), None), []),
    ("already finished", TaskInputs(task(), WEB, finished=True), []),
    # a start or stop is in flight: report, never act twice on one task
    ("busy", TaskInputs(task(), WEB, busy=True), ["report PENDING [web:PENDING]"]),
    ("all up", TaskInputs(task(), WEB, observed(running("web"))), ["report RUNNING [web:RUNNING]"]),
    # created, never started, nothing in flight and no refusal: the agent died between `docker
    # create` and the start (tests/chaos/test_kill_after_create.py); start it, in that container
    (
        "created, never started",
        TaskInputs(task(), WEB, observed(ContainerState(id="id-web", name="web", labels={}, status="created"))),
        ["start web", "report PENDING [web:PENDING]"],
    ),
    # the control plane wants it stopped: stop what runs, report STOPPED only when nothing runs
    (
        "desired STOPPED, web runs",
        TaskInputs(task("STOPPED", "RUNNING"), WEB, observed(running("web"))),
        ["stop web/30", "report RUNNING [web:RUNNING]"],
    ),
    (
        "desired STOPPED, web exited",
        TaskInputs(task("STOPPED", "RUNNING"), WEB, observed(exited("web", 143))),
        ["report STOPPED [web:STOPPED]", "finish"],
    ),
    # Docker refused to start an essential container: the task failed to start
    (
        "essential refused",
        TaskInputs(task(), WEB, observed(refused("web"))),
        ["report STOPPED [web:STOPPED] TaskFailedToStart", "finish"],
    ),
    # run raised (image missing) for the essential container
    (
        "essential run raised",
        TaskInputs(task(), WEB, start_errors={"web": "image not found"}),
        ["report STOPPED [web:STOPPED] TaskFailedToStart", "finish"],
    ),
    (
        "essential exited",
        TaskInputs(task(last="RUNNING"), SIDECAR, observed(exited("web", 1), running("log"))),
        ["stop log/30", "report STOPPED [web:STOPPED log:STOPPED] EssentialContainerExited", "finish"],
    ),
    # it ran here and someone removed its containers: it has stopped
    (
        "containers removed by hand",
        TaskInputs(task(last="RUNNING"), WEB),
        ["report STOPPED [web:STOPPED] EssentialContainerExited", "finish"],
    ),
    # -- essential: false is deterministic: the task keeps running -------------------------------
    (
        "non-essential exits",
        TaskInputs(task(last="RUNNING"), SIDECAR, observed(running("web"), exited("log", 1))),
        ["report RUNNING [web:RUNNING log:STOPPED]"],
    ),
    (
        "non-essential refused by Docker",
        TaskInputs(task(), SIDECAR, observed(running("web"), refused("log"))),
        ["report RUNNING [web:RUNNING log:STOPPED]"],
    ),
    # run raised for the sidecar: it is reported STOPPED and never retried
    (
        "non-essential run raised",
        TaskInputs(task(), SIDECAR, observed(running("web")), start_errors={"log": "image not found"}),
        ["report RUNNING [web:RUNNING log:STOPPED]"],
    ),
    # -- dependsOn ---------------------------------------------------------------------------------
    (
        "HEALTHY: db first",
        TaskInputs(task(), HEALTHY_DB, seen_at=NOW),
        ["start db", "report PENDING [db:PENDING app:PENDING]"],
    ),
    # db runs but its health check has not passed: app waits (no start action)
    (
        "HEALTHY: db starting",
        TaskInputs(task(), HEALTHY_DB, observed(running("db", "starting")), seen_at=NOW - 10),
        ["report PENDING [db:RUNNING app:PENDING]"],
    ),
    (
        "HEALTHY: db healthy",
        TaskInputs(task(), HEALTHY_DB, observed(running("db", "healthy")), seen_at=NOW - 10),
        ["start app", "report PENDING [db:RUNNING app:PENDING]"],
    ),
    # unhealthy can still turn healthy: wait, until app's startTimeout (60 s) has passed
    (
        "HEALTHY: db unhealthy, 59 s",
        TaskInputs(task(), HEALTHY_DB, observed(running("db", "unhealthy")), seen_at=NOW - 59),
        ["report PENDING [db:RUNNING app:PENDING]"],
    ),
    # 60 s >= startTimeout 60: the dependency is not resolved in time; db stops with the task
    (
        "HEALTHY: db unhealthy, 60 s",
        TaskInputs(task(), HEALTHY_DB, observed(running("db", "unhealthy")), seen_at=NOW - 60),
        ["stop db/30", "report STOPPED [db:STOPPED app:STOPPED] TaskFailedToStart", "finish"],
    ),
    # app waits on init exiting 0: init runs first, app waits while it runs
    (
        "SUCCESS: init first",
        TaskInputs(task(), INIT, seen_at=NOW),
        ["start init", "report PENDING [init:PENDING app:PENDING]"],
    ),
    (
        "SUCCESS: init runs",
        TaskInputs(task(), INIT, observed(running("init")), seen_at=NOW),
        ["report PENDING [init:RUNNING app:PENDING]"],
    ),
    (
        "SUCCESS: init exited 0",
        TaskInputs(task(), INIT, observed(exited("init", 0)), seen_at=NOW),
        ["start app", "report PENDING [init:STOPPED app:PENDING]"],
    ),
    # exit 1 can never become SUCCESS: stop the task at once rather than wait out the timeout
    (
        "SUCCESS: init exited 1",
        TaskInputs(task(), INIT, observed(exited("init", 1)), seen_at=NOW),
        ["report STOPPED [init:STOPPED app:STOPPED] TaskFailedToStart", "finish"],
    ),
    # COMPLETE accepts any exit code
    (
        "COMPLETE: init exited 1",
        TaskInputs(task(), COMPLETE, observed(exited("init", 1)), seen_at=NOW),
        ["start app", "report PENDING [init:STOPPED app:PENDING]"],
    ),
    # init exited and app runs: the task is RUNNING (init is not essential)
    (
        "COMPLETE: app runs",
        TaskInputs(task(), COMPLETE, observed(exited("init", 0), running("app")), seen_at=NOW),
        ["report RUNNING [init:STOPPED app:RUNNING]"],
    ),
    # a dependency that failed to start can meet no condition
    (
        "START: proxy refused",
        TaskInputs(
            task(),
            td(cdef("proxy", essential=False), cdef("app", dependsOn=[dep("proxy", "START")])),
            observed(refused("proxy")),
            seen_at=NOW,
        ),
        ["report STOPPED [proxy:STOPPED app:STOPPED] TaskFailedToStart", "finish"],
    ),
    (
        "START: proxy runs",
        TaskInputs(task(), START, observed(running("proxy"))),
        ["start app", "report PENDING [proxy:RUNNING app:PENDING]"],
    ),
    # stop in reverse dependency order, each with its own stopTimeout: app (10 s) before proxy (5 s)
    (
        "stop order",
        TaskInputs(task("STOPPED", "RUNNING"), START, observed(running("proxy"), running("app"))),
        ["stop app/10,proxy/5", "report RUNNING [proxy:RUNNING app:RUNNING]"],
    ),
]


@pytest.mark.parametrize(("inputs", "expected"), [(r[1], r[2]) for r in ROWS], ids=[r[0] for r in ROWS])
def test_decide_task(inputs: TaskInputs, expected: list[str]) -> None:
    assert [text(a) for a in decide_task(inputs, NOW)] == expected


def test_every_action_says_why() -> None:
    for _, inputs, _ in ROWS:
        for action in decide_task(inputs, NOW):
            assert action.reason, action


def test_stopped_report_carries_ecs_reasons() -> None:
    [report, _] = decide_task(TaskInputs(task(), WEB, observed(refused("web", "no such file"))), NOW)
    assert isinstance(report, Report)
    assert report.report["stoppedReason"] == "CannotStartContainerError: no such file"
    assert report.report["containers"][0]["reason"] == "CannotStartContainerError: no such file"
    actions = decide_task(TaskInputs(task(), INIT, observed(exited("init", 3)), seen_at=NOW), NOW)
    reason = next(a.report for a in actions if isinstance(a, Report))["stoppedReason"]
    # the member and the fact, as the ECS agent's DependencyNotResolved error gives them
    assert reason.startswith("DependencyNotResolved: container app cannot start: init exited with code 3")


def test_running_report_has_started_at() -> None:
    [report] = decide_task(TaskInputs(task(), WEB, observed(running("web"))), NOW)
    assert isinstance(report, Report) and report.report["startedAt"] == 900.0


def test_orphans_are_stopped_and_removed() -> None:
    by_task = {"t1": observed(running("web")), "gone": observed(running("a"), exited("b"))}
    actions = decide_orphans({"t1"}, by_task, 30)
    # t1 is assigned: untouched; a runs: graceful stop (30 s) then remove; b has exited: remove only
    assert [(a.key, a.containers) for a in actions if isinstance(a, RemoveContainers)] == [
        ("orphan:id-a", (("id-a", 30),)),
        ("orphan:id-b", (("id-b", None),)),
    ]


@pytest.mark.parametrize(
    ("cdefs", "order"),
    [
        # no dependsOn: definition order
        ([cdef("a"), cdef("b")], ["a", "b"]),
        # a needs b, b needs c: c, b, a
        (
            [cdef("a", dependsOn=[dep("b", "START")]), cdef("b", dependsOn=[dep("c", "START")]), cdef("c")],
            ["c", "b", "a"],
        ),
        # a dependency on a name the definition lacks is ignored for ordering (registration refuses it)
        ([cdef("a", dependsOn=[dep("x", "START")])], ["a"]),
        # a link orders as START: the linked db first, whatever the definition order
        ([cdef("web", links=["db:database"]), cdef("db")], ["db", "web"]),
    ],
)
def test_start_order(cdefs: list[dict[str, Any]], order: list[str]) -> None:
    assert start_order(cdefs) == order


@pytest.mark.parametrize(
    ("assigned", "reported", "seen"),
    [
        ("PENDING", None, "PENDING"),  # nothing reported yet: the assignment as it is
        ("PENDING", "RUNNING", "RUNNING"),  # the answer predates the report: the report is newer
        ("PROVISIONING", "PENDING", "PENDING"),
        ("RUNNING", "PENDING", "RUNNING"),  # an older report never takes a task back
        ("STOPPED", "RUNNING", "STOPPED"),  # the control plane stopped it since (a lost agent's task)
        ("RUNNING", "BOGUS", "RUNNING"),  # not a lifecycle status: ignored
    ],
)
def test_the_agents_own_report_is_kept_over_an_older_assignment(assigned: str, reported: str | None, seen: str) -> None:
    mine = None if reported is None else {"taskArn": ARN, "lastStatus": reported}
    assert with_reported(task(last=assigned), mine)["lastStatus"] == seen
