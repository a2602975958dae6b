"""The worker as the thin executor of the per-task decision, on the fake executor, pass by pass.

The worker runs starts and stops inline here, so after each `reconcile()` the fake engine shows
exactly what that pass did.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.executor.base import LABEL_INSTANCE, LABEL_MANAGED, LABEL_TASK, ContainerSpec
from agent.executor.fake import FakeExecutor
from agent.worker import Worker

CLUSTER = "default"
INSTANCE = "i-1"
TD_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/app:1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self) -> None:
        self.clock = Clock()
        self.fake = FakeExecutor(clock=self.clock)
        self.sent: list[list[dict[str, Any]]] = []
        self.worker = Worker(self.fake, self.sent.append, CLUSTER, INSTANCE, clock=self.clock, inline=True)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.td: dict[str, Any] = {}

    def assign(self, td: dict[str, Any], *task_ids: str, desired: str = "RUNNING") -> None:
        self.td = td
        for tid in task_ids:
            arn = f"arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{tid}"
            # cpu/memory as the control plane fills them in: what placement reserved, not limits
            self.tasks[tid] = {"taskArn": arn, "taskDefinitionArn": TD_ARN, "desiredStatus": desired,
                               "lastStatus": "PROVISIONING", "cpu": "0", "memory": "32"}  # fmt: skip
        self._push()

    def want(self, tid: str, desired: str) -> None:
        self.tasks[tid]["desiredStatus"] = desired
        self._push()

    def _push(self) -> None:
        self.worker.assign({"tasks": list(self.tasks.values()), "taskDefinitions": {TD_ARN: self.td}})

    def step(self) -> list[dict[str, Any]]:
        """One pass; the reports it sent. The assignment is not updated with them: the control
        plane does not wake an agent for its own reports, so the worker must go by what it sent."""
        before = len(self.sent)
        self.worker.reconcile()
        return [r for batch in self.sent[before:] for r in batch]

    def container(self, tid: str, name: str) -> str:
        return next(c.id for c in self.fake.list({LABEL_TASK: tid}) if c.labels.get("orch.container") == name)

    def started(self) -> list[str]:
        """Container names in the order they were created (first run of each name only)."""
        seen: list[str] = []
        for spec in self.fake.runs:
            if spec.name not in seen:
                seen.append(spec.name)
        return [n.split("-", 2)[2] for n in seen]


def cdef(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": f"orch/{name}", "essential": True, "memory": 32, **kw}


def td(*cdefs: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"taskDefinitionArn": TD_ARN, "containerDefinitions": list(cdefs), **kw}


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_nothing_happens_before_the_first_assignment(rig: Rig) -> None:
    rig.worker.reconcile()
    assert rig.fake.runs == [] and rig.sent == []


def test_a_task_starts_reports_running_and_is_not_reported_twice(rig: Rig) -> None:
    rig.assign(td(cdef("web")), "t1")
    [report] = rig.step()
    assert report["lastStatus"] == "PENDING"  # the report was built before the start went out
    assert rig.started() == ["web"]
    [report] = rig.step()
    assert report["lastStatus"] == "RUNNING" and report["containers"][0]["lastStatus"] == "RUNNING"
    assert rig.step() == []  # nothing changed: nothing sent
    assert len(rig.fake.runs) == 1  # and nothing started again
    assert rig.fake.runs[0].task_limits is None  # no task-level cpu/memory in the definition: no task cgroup


def test_healthy_dependency_delays_the_dependent(rig: Rig) -> None:
    rig.assign(
        td(
            cdef("db", healthCheck={"command": ["CMD", "true"]}),
            cdef("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        ),
        "t1",
    )
    rig.step()
    rig.step()
    assert rig.started() == ["db"]  # db's health is "starting": app waits
    rig.fake.set_health(rig.container("t1", "db"), "healthy")
    rig.step()
    assert rig.started() == ["db", "app"]
    [report] = rig.step()
    assert report["lastStatus"] == "RUNNING"


def test_start_timeout_stops_the_task_with_the_reason(rig: Rig) -> None:
    rig.assign(
        td(
            cdef("db", healthCheck={"command": ["CMD", "true"]}),
            cdef("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}], startTimeout=20),
        ),
        "t1",
    )
    rig.step()
    rig.clock.now += 20  # app's startTimeout passes with db never healthy
    reports = rig.step()
    assert reports[-1]["lastStatus"] == "STOPPED"
    assert reports[-1]["stopCode"] == "TaskFailedToStart"
    assert "timed out after 20 s waiting for db to be HEALTHY" in reports[-1]["stoppedReason"]
    assert rig.fake.list({LABEL_TASK: "t1"}) == []  # cleaned up once the report went out
    assert rig.started() == ["db"]


def test_stop_goes_in_reverse_dependency_order_with_each_timeout(rig: Rig) -> None:
    rig.assign(
        td(
            cdef("proxy", stopTimeout=3),
            cdef("app", dependsOn=[{"containerName": "proxy", "condition": "START"}], stopTimeout=7),
        ),
        "t1",
    )
    for _ in range(3):
        rig.step()
    assert rig.started() == ["proxy", "app"]
    proxy, app = rig.container("t1", "proxy"), rig.container("t1", "app")
    rig.want("t1", "STOPPED")
    rig.step()
    assert rig.fake.stops == [(app, 7), (proxy, 3)]  # app (the dependent) first
    [report] = rig.step()
    assert report["lastStatus"] == "STOPPED"
    assert rig.fake.list({LABEL_TASK: "t1"}) == []


def test_a_failing_sidecar_leaves_the_task_running_every_time(rig: Rig) -> None:
    for attempt in range(3):
        rig.fake.fail_next_run("orch/log", f"pull access denied ({attempt})")
        tid = f"t{attempt}"
        rig.assign(td(cdef("web"), cdef("log", essential=False)), tid)
        rig.step()
        [report] = rig.step()
        assert report["lastStatus"] == "RUNNING", report
        log = report["containers"][1]
        assert log["lastStatus"] == "STOPPED" and log["reason"].startswith("CannotStartContainerError: pull access")
        assert rig.step() == []  # and it is not retried
        assert [s.name for s in rig.fake.runs].count(f"orch-{tid}-log") == 1


def test_a_sidecar_that_exits_leaves_the_task_running(rig: Rig) -> None:
    rig.assign(td(cdef("web"), cdef("log", essential=False)), "t1")
    rig.step()
    rig.step()
    rig.fake.exit(rig.container("t1", "log"), 1)
    [report] = rig.step()
    assert report["lastStatus"] == "RUNNING"
    sidecar = {k: v for k, v in report["containers"][1].items() if k != "runtimeId"}
    assert sidecar == {"name": "log", "lastStatus": "STOPPED", "exitCode": 1}


def test_an_essential_exit_stops_and_cleans_up_the_task(rig: Rig) -> None:
    rig.assign(td(cdef("web"), cdef("log", essential=False)), "t1")
    rig.step()
    rig.step()
    log = rig.container("t1", "log")
    rig.fake.exit(rig.container("t1", "web"), 2)
    [report] = rig.step()
    assert (report["lastStatus"], report["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert (log, 30) in rig.fake.stops  # the sidecar got its graceful stop
    assert rig.fake.list({LABEL_TASK: "t1"}) == []
    assert rig.step() == []  # finished: never reported again


def test_a_task_it_reported_running_whose_containers_vanish_has_ended_though_the_assignment_is_older(
    rig: Rig,
) -> None:
    # The assignment still says PROVISIONING (the control plane does not echo reports back); the
    # worker's own RUNNING report tells it the task ran here, so it is not started a second time.
    rig.assign(td(cdef("web")), "t1")
    rig.step()
    [running] = rig.step()
    assert running["lastStatus"] == "RUNNING" and rig.tasks["t1"]["lastStatus"] == "PROVISIONING"
    rig.fake.remove(rig.container("t1", "web"))
    [report] = rig.step()
    assert (report["lastStatus"], report["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert len(rig.fake.runs) == 1


def test_containers_no_task_claims_are_removed(rig: Rig) -> None:
    labels = {LABEL_INSTANCE: INSTANCE, LABEL_MANAGED: "true", LABEL_TASK: "stale", "orch.container": "x"}
    stale = rig.fake.run(ContainerSpec(name="orch-stale-x", image="orch/busybox", labels=labels)).id
    rig.assign(td(cdef("web")), "t1")
    rig.step()
    assert (stale, 30) in rig.fake.stops
    assert rig.fake.inspect(stale) is None


def test_the_spec_carries_the_container_definition(rig: Rig) -> None:
    rig.assign(
        td(
            cdef(
                "app",
                dockerLabels={"team": "core", "orch.task": "forged"},
                ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
                linuxParameters={"initProcessEnabled": True, "capabilities": {"drop": ["NET_RAW"]}},
                stopTimeout=4,
            ),
            cpu="512",
            memory="256",
        ),
        "t1",
    )
    rig.step()
    spec = rig.fake.spec_of(rig.container("t1", "app"))
    assert spec.labels["team"] == "core" and spec.labels["orch.task"] == "t1"  # ours win
    assert [(u.name, u.soft, u.hard) for u in spec.ulimits] == [("nofile", 1024, 2048)]
    assert spec.init is True and spec.cap_drop == ("NET_RAW",)
    assert spec.stop_timeout_s == 4
    assert spec.task_limits is not None
    assert (spec.task_limits.cpu_units, spec.task_limits.memory_mib) == (512, 256)
