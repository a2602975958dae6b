"""The worker and network modes on the fake executor: an awsvpc task's sandbox comes first, its
address is reported, it goes last and never leaks; host and none reach Docker as network modes."""

from __future__ import annotations

from agent.container_spec import AWSVPC_NETWORK, sandbox_name
from agent.executor.base import LABEL_INSTANCE, LABEL_MANAGED, LABEL_SANDBOX, LABEL_TASK, ContainerSpec
from agent.worker import Worker
from tests.unit.test_worker import INSTANCE, Rig, cdef, td


def awsvpc(*cdefs: dict[str, object]) -> dict[str, object]:
    return td(*cdefs, networkMode="awsvpc")


def sandbox(rig: Rig, tid: str) -> str:
    [sb] = [c.id for c in rig.fake.list({LABEL_TASK: tid, LABEL_SANDBOX: "true"})]
    return sb


def test_the_sandbox_is_made_first_and_the_containers_join_it() -> None:
    rig = Rig()
    rig.assign(awsvpc(cdef("app", portMappings=[{"containerPort": 80, "hostPort": 80}]), cdef("side")), "t1")
    rig.step()
    names = [s.name for s in rig.fake.runs]
    assert names[0] == sandbox_name("task/default/t1")
    assert AWSVPC_NETWORK in rig.fake.networks
    first = rig.fake.runs[0]
    assert (first.network_mode, first.init) == (AWSVPC_NETWORK, True)
    for spec in rig.fake.runs[1:]:
        assert spec.network_mode == f"container:{sandbox_name('task/default/t1')}"
        assert spec.port_mappings == ()  # an awsvpc task publishes no host port
    [report] = rig.step()
    assert report["lastStatus"] == "RUNNING"
    ip = rig.fake.inspect(sandbox(rig, "t1")).ip_address  # type: ignore[union-attr]
    assert ip and report["networkInterface"]["privateIPv4Address"] == ip
    assert "networkBindings" not in report["containers"][0]


def test_the_sandbox_goes_after_the_containers_when_the_task_stops() -> None:
    rig = Rig()
    rig.assign(awsvpc(cdef("app")), "t1")
    rig.step()
    rig.step()
    sb, app = sandbox(rig, "t1"), rig.container("t1", "app")
    rig.want("t1", "STOPPED")
    rig.step()  # the app stops
    assert rig.fake.inspect(sb) is not None and rig.fake.inspect(sb).running  # type: ignore[union-attr]
    [report] = rig.step()  # STOPPED, then cleanup: app removed, the sandbox after it
    assert report["lastStatus"] == "STOPPED"
    assert rig.fake.list({LABEL_TASK: "t1"}) == []
    assert [cid for cid, _ in rig.fake.stops][:1] == [app]


def test_a_sandbox_that_stops_stops_the_task() -> None:
    rig = Rig()
    rig.assign(awsvpc(cdef("app")), "t1")
    rig.step()
    rig.step()
    rig.fake.exit(sandbox(rig, "t1"), 137)
    [report] = rig.step()
    assert (report["lastStatus"], report["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert "network namespace" in report["stoppedReason"]
    assert rig.fake.list({LABEL_TASK: "t1"}) == []


def test_a_sandbox_that_cannot_start_fails_the_task_with_why() -> None:
    rig = Rig()
    rig.fake.mark_image_missing("orch/busybox:latest")
    rig.assign(awsvpc(cdef("app")), "t1")
    rig.step()
    [report] = rig.step()
    assert (report["lastStatus"], report["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    assert "ResourceInitializationError" in report["stoppedReason"]
    assert [s.name for s in rig.fake.runs if s.name.endswith("-app")] == []  # no container ran without it


def test_an_orphan_sandbox_goes_only_once_its_containers_are_gone() -> None:
    rig = Rig()
    base = {LABEL_INSTANCE: INSTANCE, LABEL_MANAGED: "true", LABEL_TASK: "gone"}
    sb = rig.fake.run(
        ContainerSpec(name="orch-gone.sandbox", image="orch/busybox", labels={**base, LABEL_SANDBOX: "true"})
    )
    app = rig.fake.run(
        ContainerSpec(name="orch-gone-app", image="orch/busybox", labels={**base, "orch.container": "app"})
    )
    rig.assign(td(cdef("web")), "t1")
    rig.step()  # the orphan container goes; its sandbox waits for the next pass
    assert rig.fake.inspect(app.id) is None
    assert rig.fake.inspect(sb.id) is not None
    rig.step()
    assert rig.fake.inspect(sb.id) is None


def test_an_adopted_sandbox_is_used_not_made_again() -> None:
    rig = Rig()
    rig.assign(awsvpc(cdef("app")), "t1")
    rig.step()
    rig.step()
    sb = sandbox(rig, "t1")
    # A new agent on the same engine (a restart): it finds the task's sandbox and containers.
    rig.worker = Worker(rig.fake, rig.sent.append, "default", INSTANCE, clock=rig.clock, inline=True)
    rig._push()
    [report] = rig.step()
    assert report["lastStatus"] == "RUNNING"
    assert sandbox(rig, "t1") == sb
    assert report["networkInterface"]["privateIPv4Address"] == rig.fake.inspect(sb).ip_address  # type: ignore[union-attr]


def test_host_and_none_are_docker_network_modes() -> None:
    rig = Rig()
    rig.assign(td(cdef("app", portMappings=[{"containerPort": 9000, "hostPort": 9000}]), networkMode="host"), "t1")
    rig.step()
    [report] = rig.step()
    [spec] = rig.fake.runs
    assert (spec.network_mode, spec.port_mappings) == ("host", ())
    # host mode: the container binds the host's port itself, reported as ECS reports it
    assert report["containers"][0]["networkBindings"] == [
        {"bindIP": "0.0.0.0", "containerPort": 9000, "hostPort": 9000, "protocol": "tcp"}
    ]
    rig = Rig()
    rig.assign(td(cdef("app"), networkMode="none"), "t2")
    rig.step()
    assert [s.network_mode for s in rig.fake.runs] == ["none"]
