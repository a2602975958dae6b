"""DAEMON services: the pure decision as a table, then the controller over a real store and fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core.models import Task
from orchestrator.operations import Operations
from orchestrator.reconcile.daemons import STOP_NOT_ELIGIBLE, STOP_REPLACED, DaemonController, decide
from tests.builders import control_plane, instance, report_running, task_definition


def task(arn: str, on: str, deployment: str, status: str = "RUNNING") -> Task:
    return Task(
        taskArn=arn,
        clusterArn="c",
        taskDefinitionArn="td",
        containerInstanceArn=on,
        group="service:d",
        startedBy=deployment,
        lastStatus=status,
        createdAt=0.0,
    )


@pytest.mark.parametrize(
    ("eligible", "tasks", "min_healthy", "start", "stop", "complete"),
    [
        # Nothing yet: one task on each of the 3 eligible instances.
        (["i1", "i2", "i3"], [], 0, ("i1", "i2", "i3"), (), False),
        # All running the PRIMARY deployment: done.
        (["i1", "i2"], [task("t1", "i1", "new"), task("t2", "i2", "new")], 0, (), (), True),
        # i2 drained (not eligible): its task stops; nothing starts elsewhere.
        (["i1"], [task("t1", "i1", "new"), task("t2", "i2", "new")], 0, (), (("t2", STOP_NOT_ELIGIBLE),), False),
        # Rolling update, 4 instances, minimumHealthyPercent 50: ceil(4 x 50 / 100) = 2 must keep
        # running, 4 run, so 2 old tasks stop this pass.
        (
            ["i1", "i2", "i3", "i4"],
            [task(f"t{i}", f"i{i}", "old") for i in range(1, 5)],
            50,
            (),
            (("t1", STOP_REPLACED), ("t2", STOP_REPLACED)),
            False,
        ),
        # minimumHealthyPercent 100 with 2 instances: ceil(2 x 100 / 100) = 2 must run: stuck.
        (["i1", "i2"], [task("t1", "i1", "old"), task("t2", "i2", "old")], 100, (), (), False),
        # minimumHealthyPercent 0: every old task may stop at once (ECS's daemon default).
        (
            ["i1", "i2"],
            [task("t1", "i1", "old"), task("t2", "i2", "old")],
            0,
            (),
            (("t1", STOP_REPLACED), ("t2", STOP_REPLACED)),
            False,
        ),
        # A new instance joins a finished daemon: it gets a task.
        (["i1", "i2"], [task("t1", "i1", "new")], 0, ("i2",), (), False),
    ],
)
def test_decide(
    eligible: list[str],
    tasks: list[Task],
    min_healthy: int,
    start: tuple[str, ...],
    stop: tuple[tuple[str, str], ...],
    complete: bool,
) -> None:
    actions = decide(active=True, primary_id="new", eligible=eligible, tasks=tasks, minimum_healthy_percent=min_healthy)
    assert (actions.desired, actions.start_on, actions.stop, actions.complete) == (len(eligible), start, stop, complete)


def test_a_deleted_daemon_stops_everything() -> None:
    actions = decide(
        active=False, primary_id="new", eligible=["i1"], tasks=[task("t1", "i1", "new")], minimum_healthy_percent=0
    )
    assert (actions.desired, [a for a, _ in actions.stop]) == (0, ["t1"])


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "a", "us-east-1a", cpu=1024, memory=1024, stack="blue")
    instance(o, "b", "us-east-1b", cpu=1024, memory=1024, stack="blue")
    instance(o, "c", "us-east-1c", cpu=1024, memory=1024, stack="green")
    task_definition(o, "agent")
    return o


def _tasks(ops: Operations) -> list[dict]:
    arns = ops.list_tasks({"serviceName": "d"})["taskArns"]
    return ops.describe_tasks({"tasks": arns})["tasks"] if arns else []


def test_one_task_per_matching_instance_following_joins_drains_and_updates(ops: Operations) -> None:
    controller = DaemonController(ops.ctx)
    ops.create_service(
        {
            "serviceName": "d",
            "taskDefinition": "agent:1",
            "schedulingStrategy": "DAEMON",
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == blue"}],
        }
    )
    svc = ops.describe_services({"services": ["d"]})["services"][0]
    assert svc["deploymentConfiguration"]["maximumPercent"] == 100
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    controller.reconcile_all()
    tasks = _tasks(ops)
    # Instances a and b are blue, c is green: two tasks, one on each blue instance.
    assert len(tasks) == 2 and len({t["containerInstanceArn"] for t in tasks}) == 2
    for t in tasks:
        report_running(ops, t)
    controller.reconcile_all()
    svc = ops.describe_services({"services": ["d"]})["services"][0]
    assert (svc["desiredCount"], svc["runningCount"], svc["deployments"][0]["rolloutState"]) == (2, 2, "COMPLETED")

    # A blue instance joins: it gets a task at the next pass.
    joined = instance(ops, "d", "us-east-1a", cpu=1024, memory=1024, stack="blue")
    controller.reconcile_all()
    (new,) = [t for t in _tasks(ops) if t["containerInstanceArn"] == joined]
    report_running(ops, new)

    # Draining stops the daemon task there and lowers the desired count.
    ops.update_container_instances_state({"containerInstances": [joined], "status": "DRAINING"})
    controller.reconcile_all()
    assert [t for t in _tasks(ops) if t["containerInstanceArn"] == joined] == []
    stopped = ops.list_tasks({"serviceName": "d", "desiredStatus": "STOPPED"})["taskArns"]
    assert [t["containerInstanceArn"] for t in ops.describe_tasks({"tasks": stopped})["tasks"]] == [joined]
    assert ops.describe_services({"services": ["d"]})["services"][0]["desiredCount"] == 2

    # A new revision rolls out: old tasks stop (minimumHealthyPercent 0), then new ones start.
    task_definition(ops, "agent")
    ops.update_service({"service": "d", "taskDefinition": "agent:2"})
    controller.reconcile_all()
    assert [t for t in _tasks(ops) if t["taskDefinitionArn"].endswith(":1")] == []
    # The old tasks have not reported STOPPED yet, so the instances are still busy: the next
    # passes start revision 2 once the agents report them stopped.
    for t in ops.describe_tasks(
        {"tasks": ops.list_tasks({"serviceName": "d", "desiredStatus": "STOPPED"})["taskArns"]}
    )["tasks"]:
        ops.report_task_states(
            t["containerInstanceArn"],
            [
                {
                    "taskArn": t["taskArn"],
                    "lastStatus": "STOPPED",
                    "containers": [{"name": "app", "lastStatus": "STOPPED", "exitCode": 0}],
                }
            ],
        )
    controller.reconcile_all()
    tasks = _tasks(ops)
    assert len(tasks) == 2 and all(t["taskDefinitionArn"].endswith(":2") for t in tasks)
    for t in tasks:
        report_running(ops, t)
    controller.reconcile_all()
    svc = ops.describe_services({"services": ["d"]})["services"][0]
    assert [(d["status"], d["rolloutState"]) for d in svc["deployments"]] == [("PRIMARY", "COMPLETED")]


def test_update_service_refuses_a_desired_count_for_a_daemon(ops: Operations) -> None:
    ops.create_service({"serviceName": "d", "taskDefinition": "agent:1", "schedulingStrategy": "DAEMON"})
    with pytest.raises(Exception, match="desiredCount"):
        ops.update_service({"service": "d", "desiredCount": 3})
    assert len(ops.list_services({"schedulingStrategy": "DAEMON"})["serviceArns"]) == 1


def test_a_plan_of_a_daemon_is_refused_by_name(ops: Operations) -> None:
    ops.create_service({"serviceName": "d", "taskDefinition": "agent:1", "schedulingStrategy": "DAEMON"})
    with pytest.raises(Exception, match="DAEMON"):
        ops.plan_request({"service": "d", "forceNewDeployment": True})
