"""The background loop reconciles the services a commit touched, the services with a timer running
when it may have run out, and everything at start-up and on the slow sweep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.core.clock import FakeClock
from orchestrator.core.service_state import ServiceState
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store, cluster_key, instance_key, service_key
from orchestrator.jobs import Background, dirty_services
from orchestrator.operations import Context, Operations
from orchestrator.reconcile.services import ServiceController
from tests.builders import instance, report_running, service, task_definition

# Only so that a broken loop fails the test instead of hanging it.
HANG_S = 30.0


@pytest.mark.parametrize(
    ("keys", "services", "clusters"),
    [
        ({service_key("default", "web")}, {("default", "web")}, set()),
        ({cluster_key("prod")}, set(), {"prod"}),
        # An agent's key alone concerns no service: task changes also name their service.
        ({instance_key("arn:ci/default/i1"), "events:default/web", "doc:autoscaling"}, set(), set()),
        (
            {service_key("default", "a"), service_key("prod", "a"), cluster_key("default")},
            {("default", "a"), ("prod", "a")},
            {"default"},
        ),
    ],
)
def test_dirty_services(keys: set[str], services: set[tuple[str, str]], clusters: set[str]) -> None:
    assert dirty_services(keys) == (services, clusters)


class Recorder:
    """Stands in for the service controller: records each pass, decides nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._cond = threading.Condition()
        self.sweep_takes: Callable[[], None] = lambda: None

    def reconcile_all(self) -> None:
        self.sweep_takes()
        self._record("*")

    def reconcile(self, cluster: str, name: str) -> None:
        self._record(f"{cluster}/{name}")

    def _record(self, what: str) -> None:
        with self._cond:
            self.calls.append(what)
            self._cond.notify_all()

    def wait(self, count: int) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= count, HANG_S), self.calls
            return list(self.calls)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Operations, Background, Recorder, FakeClock]]:
    clock = FakeClock()
    store = Store(tmp_path / "orchestrator.db")
    store.ensure_cluster("default")
    settings = Settings(service_timer_s=1.0, service_sweep_s=5.0)
    ops = Operations(Context(store=store, clock=clock, settings=settings))
    instance(ops, "a", "us-east-1a")
    task_definition(ops, "web")
    service(ops, "web", desired=1)
    service(ops, "api", desired=1)
    bg = Background(ops.ctx)
    recorder = Recorder()
    bg.services = recorder  # type: ignore[assignment]
    bg.start()
    yield ops, bg, recorder, clock
    bg.stop()
    store.close()


def test_the_loop_reconciles_only_what_a_commit_touched(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, _, recorder, _ = world
    assert recorder.wait(1) == ["*"]  # start-up: everything
    # The recorder placed nothing, so place web's task the way its controller would.
    ServiceController(ops.ctx).reconcile("default", "web")
    assert recorder.wait(2) == ["*", "default/web"]
    web_task = ops.list_tasks({"serviceName": "web"})["taskArns"][0]
    report_running(ops, ops.describe_tasks({"tasks": [web_task]})["tasks"][0])
    assert recorder.wait(3) == ["*", "default/web", "default/web"]  # web's task, and web alone
    ops.update_service({"service": "api", "desiredCount": 2})
    assert recorder.wait(4) == ["*", "default/web", "default/web", "default/api"]


def test_an_instance_change_concerns_every_service_of_its_cluster(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, _, recorder, _ = world
    recorder.wait(1)
    instance(ops, "b", "us-east-1b")  # new capacity: any service may place there now
    assert sorted(recorder.wait(3)[1:]) == ["default/api", "default/web"]


def test_timers_bring_back_services_that_are_not_steady_and_the_sweep_all(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, _, recorder, clock = world
    recorder.wait(1)
    with ops.ctx.store.write() as s:
        ServiceState(steady=True).save(s, "default", "api")  # api has no timer running
    clock.advance(1.0)  # service_timer_s: the loop looks at services with a timer at its next wake-up
    ops.ctx.store.nudge("test:wake")
    assert recorder.wait(2) == ["*", "default/web"]
    clock.advance(5.0)  # service_sweep_s: everything
    ops.ctx.store.nudge("test:wake")
    assert recorder.wait(3) == ["*", "default/web", "*"]


def test_a_long_sweep_comes_back_no_sooner_than_a_hundred_times_its_length(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, _, recorder, clock = world
    recorder.wait(1)
    with ops.ctx.store.write() as s:
        for name in ("api", "web"):
            ServiceState(steady=True).save(s, "default", name)  # no timers: only sweeps call
    recorder.sweep_takes = lambda: clock.advance(2.0)
    clock.advance(5.0)  # service_sweep_s
    ops.ctx.store.nudge("test:wake")
    assert recorder.wait(2) == ["*", "*"]  # this sweep "takes" 2 s
    # The next is due 2 s + 100 x 2 s = 202 s after this one began (not service_sweep_s = 5 s
    # later): 201 s after it began (199 s after it ended) nothing yet, at 202 s it comes.
    clock.advance(199.0)
    ops.ctx.store.nudge("test:wake")
    time.sleep(0.3)
    assert recorder.calls == ["*", "*"]
    clock.advance(1.0)
    ops.ctx.store.nudge("test:wake")
    assert recorder.wait(3) == ["*", "*", "*"]


def test_a_steady_service_is_concerned_by_an_instance_change_only_where_it_has_a_task(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, _, recorder, _ = world
    recorder.wait(1)
    ServiceController(ops.ctx).reconcile("default", "web")  # web's task goes on instance a, the only one
    assert recorder.wait(2) == ["*", "default/web"]
    with ops.ctx.store.write() as s:
        for name in ("api", "web"):
            ServiceState(steady=True).save(s, "default", name)
    # A steady service with no task there has nothing to do with a new instance (ECS does not
    # rebalance); the service that changes next is the first to be reconciled after it.
    instance(ops, "b", "us-east-1b")
    ops.update_service({"service": "api", "desiredCount": 2})
    assert recorder.wait(3)[2:] == ["default/api"]
    # Instance a is drained (its row changes): web has a task there, api none.
    where = ops.describe_tasks({"tasks": ops.list_tasks({"serviceName": "web"})["taskArns"]})["tasks"][0]
    ops.update_container_instances_state({"containerInstances": [where["containerInstanceArn"]], "status": "DRAINING"})
    ops.update_service({"service": "api", "desiredCount": 3})
    assert recorder.wait(5)[3:] == ["default/web", "default/api"]


def test_a_daemon_service_created_after_the_loop_listed_the_daemon_services_gets_its_task(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, bg, recorder, _ = world
    recorder.wait(1)
    deadline = time.monotonic() + HANG_S
    while bg.parked_at is None:  # the start-up passes are over: the loop knows there is no DAEMON service
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Writing a service row makes the loop read the list again; a task's change alone would not.
    ops.create_service({"serviceName": "node-exporter", "taskDefinition": "web", "schedulingStrategy": "DAEMON"})
    while not ops.list_tasks({"serviceName": "node-exporter"})["taskArns"]:
        assert time.monotonic() < deadline, "the new DAEMON service was never reconciled"
        time.sleep(0.01)


def test_a_stepped_loop_passes_once_per_step_over_what_changed_and_stop_frees_it(
    world: tuple[Operations, Background, Recorder, FakeClock],
) -> None:
    ops, bg, recorder, _ = world
    recorder.wait(1)
    bg.stepped()
    ops.update_service({"service": "api", "desiredCount": 2})
    ops.update_service({"service": "web", "desiredCount": 2})
    time.sleep(0.3)  # time enough for an unstepped loop to have passed (the other tests see it sooner)
    assert recorder.calls == ["*"]
    bg.step()  # one pass over both changes, done before step returns
    assert sorted(recorder.calls[1:]) == ["default/api", "default/web"]
    ops.update_service({"service": "api", "desiredCount": 3})
    time.sleep(0.3)
    assert len(recorder.calls) == 3  # nothing without a step
    bg.step()
    assert recorder.calls[3:] == ["default/api"]
    # The fixture's stop() joins the loop, which waits for a permit: stop gives it one.


def test_stepping_a_loop_that_is_not_running_is_an_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "orchestrator.db")
    bg = Background(Context(store=store, clock=FakeClock(), settings=Settings()))
    bg.stepped()
    with pytest.raises(RuntimeError, match="loop has stopped"):
        bg.step()
    store.close()
