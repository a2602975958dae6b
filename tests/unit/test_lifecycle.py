"""The task lifecycle as tables: stopping, health, agents' reports (state only moves forward) and
what an agent's silence means for its instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.lifecycle import (
    LOST_REASON,
    Health,
    Liveness,
    apply_report,
    checked_containers,
    give_up_lost,
    judge_silence,
    record_heartbeat,
    silence,
    stop_task_row,
    task_health,
)
from orchestrator.core.models import (
    Container,
    ContainerDefinition,
    ContainerInstance,
    HealthCheck,
    Task,
    TaskDefinition,
    cluster_arn,
    instance_arn,
    task_arn,
)
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store

INSTANCE = instance_arn("default", "i1")
NOW = 1000.0


def container(name: str = "app", status: str = "PENDING", health: Health | None = None) -> Container:
    return Container(
        containerArn=f"arn:c/{name}", taskArn="arn:t", name=name, image="img", lastStatus=status, healthStatus=health
    )


def task(
    status: str = "RUNNING",
    desired: str = "RUNNING",
    instance: str | None = INSTANCE,
    containers: list[Container] | None = None,
    **extra: Any,
) -> Task:
    fields: dict[str, Any] = {
        "taskArn": task_arn("default", "t1"),
        "clusterArn": cluster_arn("default"),
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        "containerInstanceArn": instance,
        "group": "service:web",
        "lastStatus": status,
        "desiredStatus": desired,
        "containers": containers if containers is not None else [container(status=status)],
        "createdAt": 1.0,
    }
    return Task(**{**fields, **extra})


# -- stopping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "desired", "instance", "changed", "last_after"),
    [
        # An agent holds it: only the wish changes; the agent reports STOPPED later.
        ("RUNNING", "RUNNING", INSTANCE, True, "RUNNING"),
        ("PENDING", "RUNNING", INSTANCE, True, "PENDING"),
        # Never handed to an agent (still PROVISIONING, or no instance): stopped at once.
        ("PROVISIONING", "RUNNING", INSTANCE, True, "STOPPED"),
        ("PENDING", "RUNNING", None, True, "STOPPED"),
        # Already asked to stop: nothing changes, not even the reason.
        ("RUNNING", "STOPPED", INSTANCE, False, "RUNNING"),
    ],
)
def test_stop_task_row(status: str, desired: str, instance: str | None, changed: bool, last_after: str) -> None:
    t = task(status, desired, instance)
    assert stop_task_row(t, NOW, "UserInitiated", "because") is changed
    assert t.desiredStatus == "STOPPED" and t.lastStatus == last_after
    if changed:
        assert (t.stopCode, t.stoppedReason, t.stoppingAt) == ("UserInitiated", "because", NOW)
        assert (t.stoppedAt == NOW) is (last_after == "STOPPED")
        assert all(c.lastStatus == last_after for c in t.containers) or last_after != "STOPPED"
    assert t.version == 1  # the store bumps it when the task is written


def test_the_first_stop_code_and_reason_win() -> None:
    t = task(stopCode="EssentialContainerExited", stoppedReason="exited")
    stop_task_row(t, NOW, "UserInitiated", "later")
    assert (t.stopCode, t.stoppedReason) == ("EssentialContainerExited", "exited")


# -- health -----------------------------------------------------------------------------------


def td(*containers: tuple[str, bool, list[str] | None]) -> TaskDefinition:
    return TaskDefinition(
        taskDefinitionArn="arn:td/web:1",
        family="web",
        revision=1,
        containerDefinitions=[
            ContainerDefinition(
                name=name,
                image="img",
                essential=essential,
                healthCheck=HealthCheck(command=check) if check else None,
            )
            for name, essential, check in containers
        ],
    )


CHECK = ["CMD-SHELL", "true"]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (None, None),  # no task definition: unknown
        (td(("app", True, None)), frozenset()),  # no health check at all
        (td(("app", True, CHECK)), frozenset({"app"})),
        (td(("app", True, CHECK), ("side", False, CHECK)), frozenset({"app"})),  # non-essential: ignored
        (td(("app", True, ["NONE"])), frozenset()),  # NONE disables the image's check: no check
    ],
)
def test_checked_containers(definition: TaskDefinition | None, expected: frozenset[str] | None) -> None:
    assert checked_containers(definition) == expected


@pytest.mark.parametrize(
    ("healths", "checked", "expected"),
    [
        # UNHEALTHY over UNKNOWN over HEALTHY across the checked containers.
        ({"a": "HEALTHY", "b": "HEALTHY"}, {"a", "b"}, "HEALTHY"),
        ({"a": "HEALTHY", "b": "UNKNOWN"}, {"a", "b"}, "UNKNOWN"),
        ({"a": "UNKNOWN", "b": "UNHEALTHY"}, {"a", "b"}, "UNHEALTHY"),
        # Only checked containers count: an unhealthy unchecked one does not.
        ({"a": "HEALTHY", "b": "UNHEALTHY"}, {"a"}, "HEALTHY"),
        # A checked container with no status yet counts as UNKNOWN.
        ({"a": None}, {"a"}, "UNKNOWN"),
        # Nothing checked: no health (the grace time decides).
        ({"a": "HEALTHY"}, set(), None),
        # Task definition unknown: every container that has a status counts.
        ({"a": "HEALTHY", "b": None}, None, "HEALTHY"),
        ({"a": "HEALTHY", "b": "UNHEALTHY"}, None, "UNHEALTHY"),
        ({"a": None}, None, None),
    ],
)
def test_task_health(healths: dict[str, Health | None], checked: set[str] | None, expected: str | None) -> None:
    t = task(containers=[container(name, "RUNNING", h) for name, h in healths.items()])
    assert task_health(t, checked) == expected


# -- agents' reports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "reported", "after"),
    [
        ("PROVISIONING", "PENDING", "PENDING"),
        ("PENDING", "RUNNING", "RUNNING"),
        ("RUNNING", "STOPPED", "STOPPED"),
        ("PROVISIONING", "STOPPED", "STOPPED"),  # skipping states is fine
        # Only forward: a late report of an earlier state changes nothing.
        ("RUNNING", "PENDING", "RUNNING"),
        ("STOPPED", "RUNNING", "STOPPED"),
        # Not a status: ignored.
        ("RUNNING", "EXPLODED", "RUNNING"),
        ("RUNNING", ["RUNNING"], "RUNNING"),
    ],
)
def test_a_report_moves_the_task_only_forward(before: str, reported: Any, after: str) -> None:
    t = task(before, containers=[])
    changed = apply_report(t, {"lastStatus": reported}, NOW, checked=frozenset())
    assert t.lastStatus == after
    assert changed is (after != before)


def test_running_sets_started_at_once() -> None:
    t = task("PENDING", containers=[])
    apply_report(t, {"lastStatus": "RUNNING", "startedAt": 900.0}, NOW, frozenset())
    apply_report(t, {"lastStatus": "RUNNING", "startedAt": 950.0}, NOW + 1, frozenset())
    assert t.startedAt == 900.0


def test_stopped_report_makes_the_task_desired_stopped_and_keeps_the_first_reason() -> None:
    t = task("RUNNING", containers=[], stopCode="UserInitiated", stoppedReason="by user", stoppingAt=990.0)
    report = {"lastStatus": "STOPPED", "stopCode": "EssentialContainerExited", "stoppedReason": "exited"}
    assert apply_report(t, report, NOW, frozenset())
    assert (t.desiredStatus, t.stoppedAt, t.stoppingAt) == ("STOPPED", NOW, 990.0)
    assert (t.stopCode, t.stoppedReason) == ("UserInitiated", "by user")


@pytest.mark.parametrize(
    ("checked", "start_health", "reported", "container_after", "task_after"),
    [
        # A container with a health check takes the reported health; the task's follows.
        ({"app"}, "UNKNOWN", "HEALTHY", "HEALTHY", "HEALTHY"),
        ({"app"}, "HEALTHY", "UNHEALTHY", "UNHEALTHY", "UNHEALTHY"),
        # A container without one (status None) keeps none, whatever the agent says.
        (set(), None, "HEALTHY", None, "UNKNOWN"),
        # Not a health status: ignored.
        ({"app"}, "UNKNOWN", "GREAT", "UNKNOWN", "UNKNOWN"),
        # A checked container's health does not count when it is not essential (not in `checked`).
        (set(), "UNKNOWN", "UNHEALTHY", "UNHEALTHY", "UNKNOWN"),
    ],
)
def test_container_health_from_reports(
    checked: set[str], start_health: Health | None, reported: str, container_after: str | None, task_after: str
) -> None:
    t = task("RUNNING", containers=[container("app", "RUNNING", start_health)])
    apply_report(t, {"containers": [{"name": "app", "healthStatus": reported}]}, NOW, checked)
    assert t.containers[0].healthStatus == container_after
    assert t.healthStatus == task_after


def test_container_details_merge_and_container_status_only_moves_forward() -> None:
    t = task("RUNNING", containers=[container("app", "RUNNING")])
    report = {
        "containers": [
            {
                "name": "app",
                "lastStatus": "PENDING",  # behind: ignored
                "runtimeId": "abc",
                "exitCode": 0,
                "networkBindings": [{"containerPort": 80, "hostPort": 32768}],
            },
            {"name": "ghost", "lastStatus": "RUNNING"},  # no such container: ignored
        ]
    }
    assert apply_report(t, report, NOW, frozenset())
    c = t.containers[0]
    assert (c.lastStatus, c.runtimeId, c.exitCode) == ("RUNNING", "abc", 0)
    assert [(b.containerPort, b.hostPort) for b in c.networkBindings] == [(80, 32768)]
    assert not apply_report(t, report, NOW, frozenset())  # the same report again changes nothing


# -- instances whose agent went quiet ---------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "last_heartbeat", "since", "expected"),
    [
        (100.0, 90.0, 0.0, 10.0),  # quiet since its last heartbeat
        (100.0, 90.0, 95.0, 5.0),  # the control plane started at 95: silence before counts not
        (100.0, None, 0.0, 0.0),  # no heartbeat row: not quiet
    ],
)
def test_silence(now: float, last_heartbeat: float | None, since: float, expected: float) -> None:
    assert silence(now, last_heartbeat, since) == expected


@pytest.mark.parametrize(
    ("connected", "silent_s", "expected"),
    [
        # Settings: disconnected after 15 s, lost after 60 s.
        (True, 15.0, Liveness(disconnect=False, lost=False)),
        (True, 15.5, Liveness(disconnect=True, lost=False)),
        (False, 30.0, Liveness(disconnect=False, lost=False)),  # already disconnected
        (True, 61.0, Liveness(disconnect=True, lost=True)),
        (False, 61.0, Liveness(disconnect=False, lost=True)),
    ],
)
def test_judge_silence(connected: bool, silent_s: float, expected: Liveness) -> None:
    assert judge_silence(connected, silent_s, Settings(disconnected_after_s=15.0, lost_after_s=60.0)) == expected


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "orchestrator.db")
    yield s
    s.close()


def test_a_lost_instance_gives_up_its_tasks(store: Store) -> None:
    running = task("RUNNING")
    stopping = task("RUNNING", "STOPPED", taskArn=task_arn("default", "t2"), stoppedReason="by user")
    elsewhere = task("RUNNING", instance=instance_arn("default", "i2"), taskArn=task_arn("default", "t3"))
    with store.write() as s:
        for t in (running, stopping, elsewhere):
            s.insert_task(t)
        assert give_up_lost(s, INSTANCE, NOW) == 2
    after = {t.taskArn: t for t in store.list_tasks()}
    for arn, reason in ((running.taskArn, LOST_REASON), (stopping.taskArn, "by user")):
        t = after[arn]
        assert (t.lastStatus, t.desiredStatus, t.stoppedAt, t.stoppedReason) == ("STOPPED", "STOPPED", NOW, reason)
        assert t.version == 2 and all(c.lastStatus == "STOPPED" for c in t.containers)
    assert after[elsewhere.taskArn].lastStatus == "RUNNING"


def test_a_heartbeat_reconnects_a_disconnected_instance(store: Store) -> None:
    inst = ContainerInstance(containerInstanceArn=INSTANCE, ec2InstanceId="i-1", registeredAt=1.0, agentConnected=False)
    with store.write() as s:
        s.insert_instance(inst, "hash", heartbeat_at=1.0)
    with store.write() as s:
        record_heartbeat(s, INSTANCE, NOW)
        record_heartbeat(s, INSTANCE, NOW + 1)  # connected already: no second change
    stored = store.get_instance(INSTANCE)
    assert stored is not None and stored.agentConnected and stored.version == 2
    assert store.last_heartbeats() == {INSTANCE: NOW + 1}


def test_a_lost_instance_is_disconnected_even_when_lost_after_is_the_shorter() -> None:
    # lost_after 6 s < disconnected_after 15 s: at 7 s of silence its tasks are given up, and no
    # replacement may be placed back on it, so it is disconnected at the same moment.
    settings = Settings(disconnected_after_s=15.0, lost_after_s=6.0)
    assert judge_silence(True, 7.0, settings) == Liveness(disconnect=True, lost=True)
    assert judge_silence(True, 5.0, settings) == Liveness(disconnect=False, lost=False)
