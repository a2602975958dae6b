"""FakeExecutor: the in-memory engine behaves like DockerExecutor where the worker can tell."""

from __future__ import annotations

import threading

import pytest

from agent.executor.base import (
    ContainerSpec,
    ExecutorError,
    HealthCheckSpec,
    ImageNotFound,
    PortMapping,
    ResourceSample,
)
from agent.executor.fake import DEFAULT_STOP_EXIT_CODE, FIRST_DYNAMIC_PORT, FakeExecutor
from agent.stats import utilization


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def spec(name: str = "task-1-web", image: str = "orch/web", **kw: object) -> ContainerSpec:
    labels = kw.pop("labels", {"orch.task": name})
    return ContainerSpec(name=name, image=image, labels=labels, **kw)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeExecutor:
    return FakeExecutor(clock=clock)


def test_run_starts_a_container(fake: FakeExecutor, clock: Clock) -> None:
    state = fake.run(spec())
    assert state.status == "running" and state.running
    assert state.name == "task-1-web"
    assert state.labels == {"orch.task": "task-1-web"}
    assert state.started_at == clock.now
    assert state.exit_code is None
    assert state.health is None
    assert len(state.id) == 64


def test_run_is_idempotent_by_name(fake: FakeExecutor) -> None:
    first = fake.run(spec())
    again = fake.run(spec(image="orch/other"))
    assert again.id == first.id
    assert len(fake.list({})) == 1
    assert len(fake.runs) == 2  # both calls recorded, one container


def test_names_are_unique_ids_distinct(fake: FakeExecutor) -> None:
    a = fake.run(spec("a"))
    b = fake.run(spec("b"))
    assert a.id != b.id


def test_list_filters_by_all_labels(fake: FakeExecutor) -> None:
    fake.run(spec("a", labels={"orch.cluster": "c1", "orch.instance": "i1"}))
    fake.run(spec("b", labels={"orch.cluster": "c1", "orch.instance": "i2"}))
    fake.run(spec("c", labels={"orch.cluster": "c2", "orch.instance": "i1"}))
    assert sorted(s.name for s in fake.list({"orch.cluster": "c1"})) == ["a", "b"]
    assert [s.name for s in fake.list({"orch.cluster": "c1", "orch.instance": "i1"})] == ["a"]
    assert len(fake.list({})) == 3


def test_inspect_by_id_or_name_and_missing(fake: FakeExecutor) -> None:
    state = fake.run(spec())
    assert fake.inspect(state.id) == state
    assert fake.inspect("task-1-web") == state
    assert fake.inspect("nope") is None


def test_exit_records_code_and_time(fake: FakeExecutor, clock: Clock) -> None:
    state = fake.run(spec())
    clock.now += 5
    fake.exit(state.id, 3)
    after = fake.inspect(state.id)
    assert after is not None
    assert after.status == "exited" and not after.running
    assert after.exit_code == 3
    assert after.finished_at == clock.now
    assert not after.oom_killed


def test_exit_oom(fake: FakeExecutor) -> None:
    state = fake.run(spec())
    fake.exit(state.id, 137, oom_killed=True)
    after = fake.inspect(state.id)
    assert after is not None and after.oom_killed and after.exit_code == 137


def test_stop_and_remove_tolerate_missing(fake: FakeExecutor) -> None:
    state = fake.run(spec())
    fake.stop(state.id, 7)
    stopped = fake.inspect(state.id)
    assert stopped is not None and stopped.exit_code == DEFAULT_STOP_EXIT_CODE
    assert fake.stops == [(state.id, 7)]
    fake.remove(state.id)
    assert fake.inspect(state.id) is None
    fake.stop(state.id, 1)
    fake.remove(state.id)
    assert fake.list({}) == []


def test_stop_exit_code_is_settable(fake: FakeExecutor) -> None:
    state = fake.run(spec())
    fake.set_stop_exit_code(state.id, 0)
    fake.stop(state.id, 30)
    after = fake.inspect(state.id)
    assert after is not None and after.exit_code == 0


def test_name_is_free_again_after_remove(fake: FakeExecutor) -> None:
    first = fake.run(spec())
    fake.remove(first.id)
    second = fake.run(spec())
    assert second.id != first.id and second.running


def test_health_starts_as_starting_and_can_be_driven(fake: FakeExecutor) -> None:
    hc = HealthCheckSpec(command=("CMD-SHELL", "true"))
    state = fake.run(spec(health_check=hc))
    assert state.health == "starting"
    fake.set_health(state.id, "unhealthy")
    after = fake.inspect(state.id)
    assert after is not None and after.health == "unhealthy"


def test_missing_image(fake: FakeExecutor) -> None:
    fake.mark_image_missing("orch/web")
    with pytest.raises(ImageNotFound, match="make images"):
        fake.run(spec(image="orch/web:latest"))  # same image, explicit tag
    assert fake.list({}) == []
    fake.mark_image_missing("orch/web", missing=False)
    assert fake.run(spec()).running


def test_fail_next_run_raises_once(fake: FakeExecutor) -> None:
    fake.fail_next_run("orch/web", "no space left on device")
    with pytest.raises(ExecutorError, match="no space left"):
        fake.run(spec())
    assert fake.list({}) == []
    assert fake.run(spec()).running


def test_fail_next_run_at_start_leaves_created_container(fake: FakeExecutor) -> None:
    fake.fail_next_run("orch/web", 'exec: "nope": executable file not found', at_start=True)
    state = fake.run(spec())
    assert state.status == "created" and not state.running
    assert state.exit_code == 128
    assert "executable file not found" in state.error
    # idempotent: the same failed container comes back, nothing new is created
    assert fake.run(spec()).id == state.id


def test_ports_dynamic_and_static_with_conflict(fake: FakeExecutor) -> None:
    a = fake.run(spec("a", port_mappings=(PortMapping(80), PortMapping(443, 8443))))
    assert a.host_ports == (PortMapping(80, FIRST_DYNAMIC_PORT), PortMapping(443, 8443))
    b = fake.run(spec("b", port_mappings=(PortMapping(80),)))
    assert b.host_ports == (PortMapping(80, FIRST_DYNAMIC_PORT + 1),)
    clash = fake.run(spec("c", port_mappings=(PortMapping(8080, 8443),)))
    assert clash.status == "created" and "port is already allocated" in clash.error
    # the port is free once its holder stops
    fake.stop(a.id, 1)
    fake.remove(clash.id)
    assert fake.run(spec("c", port_mappings=(PortMapping(8080, 8443),))).running


def test_subscribe_calls_back_synchronously_for_matching_labels(fake: FakeExecutor) -> None:
    seen: list[str] = []
    sub = fake.subscribe(seen.append, {"orch.cluster": "c1"})
    mine = fake.run(spec("a", labels={"orch.cluster": "c1"}))
    other = fake.run(spec("b", labels={"orch.cluster": "c2"}))
    assert seen == [mine.id]  # start
    fake.set_health(mine.id, "healthy")
    fake.exit(mine.id, 0)
    fake.exit(other.id, 0)
    fake.remove(mine.id)
    # start, health, die, destroy of the matching container only
    assert seen == [mine.id] * 4
    sub.close()
    fake.run(spec("c", labels={"orch.cluster": "c1"}))
    assert len(seen) == 4


def test_callback_may_reenter_the_fake(fake: FakeExecutor) -> None:
    statuses: list[str] = []

    def on_change(cid: str) -> None:
        state = fake.inspect(cid)
        statuses.append(state.status if state else "gone")

    fake.subscribe(on_change, {})
    state = fake.run(spec())
    fake.exit(state.id, 1)
    fake.remove(state.id)
    assert statuses == ["running", "exited", "gone"]


def test_sample_reports_set_usage_for_running_only(fake: FakeExecutor, clock: Clock) -> None:
    a = fake.run(spec("a"))
    b = fake.run(spec("b"))
    fake.set_usage(a.id, cpu_ns=1_000, memory_bytes=2_000)
    fake.exit(b.id, 0)
    samples = fake.sample([a.id, b.id, "unknown"])
    assert samples == {a.id: ResourceSample(cpu_ns=1_000, memory_bytes=2_000, at=clock.now)}


def test_sample_feeds_utilization(fake: FakeExecutor, clock: Clock) -> None:
    state = fake.run(spec(cpu_shares=512))
    first = fake.sample([state.id])[state.id]
    clock.now += 10
    # 5 s of CPU in 10 s = half a core = 512 units = 100 % of a 512-unit reservation
    fake.set_usage(state.id, cpu_ns=5_000_000_000, memory_bytes=0)
    second = fake.sample([state.id])[state.id]
    u = utilization(first, second, cpu_reserved_units=512)
    assert u.cpu_units == pytest.approx(512.0)
    assert u.cpu_percent == pytest.approx(100.0)


def test_engine_down(fake: FakeExecutor) -> None:
    fake.set_available(False)
    with pytest.raises(ExecutorError, match="make setup"):
        fake.ping()
    with pytest.raises(ExecutorError):
        fake.run(spec())
    fake.set_available(True)
    fake.ping()
    assert fake.run(spec()).running


def test_concurrent_runs_of_one_name_make_one_container(fake: FakeExecutor) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        ids.append(fake.run(spec()).id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert len(fake.list({})) == 1
