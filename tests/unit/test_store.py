"""The store cannot be misused: no read sees an uncommitted row, writes say what they do, the store
bumps versions and refuses a stale update, and the change feed names what each commit touched."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core.lifecycle import HEALTH_STATES, Health
from orchestrator.core.models import (
    Attribute,
    Cluster,
    Container,
    ContainerInstance,
    Deployment,
    NetworkBinding,
    Service,
    Task,
    cluster_arn,
    instance_arn,
    service_arn,
    task_arn,
)
from orchestrator.core.store import (
    SERVICE_ROWS_KEY,
    Changes,
    StaleWriteError,
    Store,
    cluster_key,
    instance_key,
    service_key,
)
from orchestrator.security.auth import authenticate_instance, new_instance_credential
from orchestrator.security.secrets import hash_token

INSTANCE = instance_arn("default", "i1")
# Waits below are only there so a broken store fails the test instead of hanging it.
HANG_S = 30.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "orchestrator.db")
    yield s
    s.close()


def a_task(task_id: str = "t1", *, group: str = "service:web", status: str = "RUNNING", **extra: Any) -> Task:
    return Task(
        taskArn=task_arn("default", task_id),
        clusterArn=cluster_arn("default"),
        taskDefinitionArn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        containerInstanceArn=INSTANCE,
        group=group,
        lastStatus=status,
        createdAt=1.0,
        **extra,
    )


def an_instance(arn: str = INSTANCE, **extra: Any) -> ContainerInstance:
    return ContainerInstance(containerInstanceArn=arn, ec2InstanceId="i-0123", **{"registeredAt": 1.0, **extra})


class OpenWrite:
    """A writer thread holding a transaction open (its row written, not committed) until told to
    commit or roll back."""

    def __init__(self, store: Store, write: Callable[[Store], None]) -> None:
        self.inside = threading.Event()
        self.finish = threading.Event()
        self.commit = False
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with store.write() as s:
                    write(s)
                    self.inside.set()
                    assert self.finish.wait(HANG_S)
                    if not self.commit:
                        raise _RolledBack()
            except _RolledBack:
                pass
            except BaseException as err:  # pragma: no cover - reported by end()
                self.error = err
                self.inside.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.inside.wait(HANG_S), "the writer never got inside its transaction"

    def end(self, commit: bool) -> None:
        self.commit = commit
        self.finish.set()
        self.thread.join(HANG_S)
        assert not self.thread.is_alive() and self.error is None, self.error


class _RolledBack(Exception):
    pass


# -- no read sees uncommitted data ---------------------------------------------------------------


def test_a_read_in_another_thread_does_not_see_an_open_transaction(store: Store) -> None:
    writer = OpenWrite(store, lambda s: s.put_cluster(Cluster(clusterArn=cluster_arn("new"), clusterName="new")))
    # The writer's row is written but not committed: neither a bare read nor a snapshot sees it.
    assert store.get_cluster("new") is None
    with store.read() as s:
        assert s.get_cluster("new") is None
        assert [c.clusterName for c in s.list_clusters()] == []
    writer.end(commit=False)
    assert store.get_cluster("new") is None  # rolled back: it never existed


def test_a_committed_write_is_seen_by_the_next_read(store: Store) -> None:
    writer = OpenWrite(store, lambda s: s.put_cluster(Cluster(clusterArn=cluster_arn("new"), clusterName="new")))
    assert store.get_cluster("new") is None
    writer.end(commit=True)
    cluster = store.get_cluster("new")
    assert cluster is not None and cluster.clusterName == "new"


def test_agent_authentication_does_not_see_an_uncommitted_instance(store: Store) -> None:
    # What an agent presents: its instance's credential, whose hash the store keeps.
    credential = new_instance_credential("i1")
    writer = OpenWrite(store, lambda s: s.insert_instance(an_instance(), hash_token(credential), heartbeat_at=1.0))
    with pytest.raises(Exception, match="Unknown instance credential"):
        authenticate_instance(store, f"Bearer {credential}")
    writer.end(commit=True)
    assert authenticate_instance(store, f"Bearer {credential}") == INSTANCE


def _commit_in_another_thread(store: Store, write: Callable[[Store], None]) -> None:
    def run() -> None:
        with store.write() as s:
            write(s)

    t = threading.Thread(target=run)
    t.start()
    t.join(HANG_S)


def test_a_snapshot_does_not_change_under_its_reader(store: Store) -> None:
    with store.read() as s:
        assert s.list_clusters() == []
        _commit_in_another_thread(
            store, lambda w: w.put_cluster(Cluster(clusterArn=cluster_arn("later"), clusterName="later"))
        )
        assert s.list_clusters() == []  # the snapshot predates the other thread's commit
    assert [c.clusterName for c in store.list_clusters()] == ["later"]


def test_a_transaction_reads_its_own_writes(store: Store) -> None:
    with store.write() as s:
        s.insert_task(a_task())
        assert s.get_task(a_task().taskArn) is not None
        with store.read() as r:  # a read block inside a write joins it
            assert r.get_task(a_task().taskArn) is not None


def test_a_write_inside_a_read_is_refused(store: Store) -> None:
    with store.read(), pytest.raises(RuntimeError, match=r"inside store\.read"), store.write():
        pass


def test_writing_outside_a_transaction_is_refused(store: Store) -> None:
    with pytest.raises(AssertionError, match=r"store\.write"):
        store.insert_task(a_task())
    writer = OpenWrite(store, lambda s: None)
    with pytest.raises(AssertionError, match=r"store\.write"):
        store.insert_task(a_task())  # someone else's open transaction is not this thread's
    writer.end(commit=True)
    assert store.get_task(a_task().taskArn) is None


def test_read_connections_are_read_only(store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._rows("DELETE FROM tasks")


# -- named writes and versions ------------------------------------------------------------------


def test_update_task_bumps_the_version_in_the_row_and_the_object(store: Store) -> None:
    with store.write() as s:
        s.insert_task(a_task())
    task = store.get_task(a_task().taskArn)
    assert task is not None and task.version == 1
    with store.write() as s:
        task = s.get_task(a_task().taskArn)
        assert task is not None
        task.desiredStatus = "STOPPED"
        s.update_task(task)
        assert task.version == 2
        task.stoppedReason = "again"
        s.update_task(task)  # the same object written twice in one transaction: 1 -> 2 -> 3
    stored = store.get_task(a_task().taskArn)
    assert stored is not None and stored.version == 3 and stored.stoppedReason == "again"


def test_a_stale_task_update_is_refused_and_writes_nothing(store: Store) -> None:
    with store.write() as s:
        s.insert_task(a_task())
    first, second = store.get_task(a_task().taskArn), store.get_task(a_task().taskArn)
    assert first is not None and second is not None
    with store.write() as s:
        first.desiredStatus = "STOPPED"
        s.update_task(first)
    # `second` was read before that update, in another transaction: writing it would lose it.
    second.stoppedReason = "lost update"
    with pytest.raises(StaleWriteError), store.write() as s:
        s.update_task(second)
    assert second.version == 1  # unchanged, as the row
    stored = store.get_task(a_task().taskArn)
    assert stored is not None and stored.desiredStatus == "STOPPED" and stored.stoppedReason is None


def test_updating_a_task_that_was_never_inserted_is_refused(store: Store) -> None:
    with pytest.raises(StaleWriteError), store.write() as s:
        s.update_task(a_task())


def test_inserting_a_task_twice_is_refused(store: Store) -> None:
    with store.write() as s:
        s.insert_task(a_task())
    with pytest.raises(sqlite3.IntegrityError), store.write() as s:
        s.insert_task(a_task())


def test_the_explanation_is_stored_with_the_new_task(store: Store) -> None:
    with store.write() as s:
        s.insert_task(a_task("t1"), explanation={"chosen": "i1"})
        s.insert_task(a_task("t2"))
    assert store.get_explanation(a_task("t1").taskArn) == {"chosen": "i1"}
    assert store.get_explanation(a_task("t2").taskArn) is None


def test_instances_insert_update_and_credential(store: Store) -> None:
    with store.write() as s:
        s.insert_instance(an_instance(), "hash-1", heartbeat_at=5.0)
    assert store.credential_hash(INSTANCE) == "hash-1"
    assert store.last_heartbeats() == {INSTANCE: 5.0}
    with store.write() as s:
        inst = s.get_instance(INSTANCE)
        assert inst is not None
        inst.status = "DRAINING"
        s.update_instance(inst)
        s.replace_credential(INSTANCE, "hash-2")
    stored = store.get_instance(INSTANCE)
    assert stored is not None and (stored.status, stored.version) == ("DRAINING", 2)
    assert store.credential_hash(INSTANCE) == "hash-2"
    stale = an_instance(status="ACTIVE")  # version 1, the row is at 2
    with pytest.raises(StaleWriteError), store.write() as s:
        s.update_instance(stale)
    assert store.list_instances()[0].status == "DRAINING"


# -- the change feed ---------------------------------------------------------------------------


def test_each_write_names_what_it_touched(store: Store) -> None:
    start = store.wait_changes(-1, timeout=0)
    assert start == Changes(0, None)  # before anything: "everything", as at start-up
    cases: list[tuple[Callable[[Store], None], set[str]]] = [
        # A new task wakes its agent and its service.
        (lambda s: s.insert_task(a_task()), {instance_key(INSTANCE), service_key("default", "web")}),
        # A standalone task concerns its agent only.
        (lambda s: s.insert_task(a_task("t2", group="family:web")), {instance_key(INSTANCE)}),
        # A task that stopped freed resources: every service of the cluster may place now.
        (
            lambda s: s.insert_task(a_task("t3", status="STOPPED")),
            {instance_key(INSTANCE), service_key("default", "web"), cluster_key("default")},
        ),
        # An instance's capacity, attributes and status concern every service of its cluster.
        (
            lambda s: s.insert_instance(an_instance(), "h", heartbeat_at=1.0),
            {instance_key(INSTANCE), cluster_key("default")},
        ),
        # A heartbeat is not a change anyone waits for.
        (lambda s: s.heartbeat(INSTANCE, 2.0), set()),
    ]
    since = start.seq
    for write, touched in cases:
        with store.write() as s:
            write(s)
        changes = store.wait_changes(since, timeout=0)
        if touched:
            assert changes == Changes(since + 1, frozenset(touched))
        else:
            assert changes == Changes(since, frozenset())  # nothing committed that counts
        since = changes.seq


def test_wait_changes_joins_every_commit_since_and_gives_up_naming_them_far_behind(tmp_path: Path) -> None:
    store = Store(tmp_path / "small.db", changes_kept=3)
    try:
        for name in ("a", "b", "c"):
            with store.write() as s:
                s.put_service(_service(name))
        # Commits 1..3 are remembered: since 0 names all three services (and that service rows changed).
        rows = {SERVICE_ROWS_KEY}
        assert store.wait_changes(0, timeout=0) == Changes(
            3, frozenset({*(service_key("default", n) for n in "abc"), *rows})
        )
        assert store.wait_changes(2, timeout=0) == Changes(3, frozenset({service_key("default", "c"), *rows}))
        with store.write() as s:
            s.put_service(_service("d"))
        # Commit 1 is forgotten now: a waiter at 0 cannot be told what changed, only "everything".
        assert store.wait_changes(0, timeout=0) == Changes(4, None)
        assert store.wait_changes(1, timeout=0).keys == frozenset({*(service_key("default", n) for n in "bcd"), *rows})
    finally:
        store.close()


def test_wait_for_answers_once_a_key_of_interest_changed(store: Store) -> None:
    key = instance_key(INSTANCE)
    assert store.wait_for([key], since=0, timeout=0) == 0  # nothing yet: times out at once
    with store.write() as s:
        s.insert_task(a_task())  # change 1 touches the instance
    with store.write() as s:
        s.put_service(_service("other"))  # change 2 does not
    assert store.wait_for([key], since=0, timeout=HANG_S) == 1
    assert store.wait_for([key], since=1, timeout=0) == 1  # nothing newer for this key
    # A `since` ahead of the feed comes from before a restart: answer at once with what is known.
    assert store.wait_for([key], since=99, timeout=HANG_S) == 1


def test_wait_for_wakes_on_a_commit_in_another_thread(store: Store) -> None:
    key = instance_key(INSTANCE)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(store.wait_for([key], since=0, timeout=HANG_S)))
    waiter.start()
    with store.write() as s:
        s.insert_task(a_task())
    waiter.join(HANG_S)
    assert got == [1]


def test_nudge_wakes_a_key_without_writing(store: Store) -> None:
    store.nudge(instance_key(INSTANCE))
    assert store.wait_for([instance_key(INSTANCE)], since=0, timeout=0) == 1
    assert store.list_tasks() == []


# -- round trips -------------------------------------------------------------------------------


def test_end_watches_wakes_every_watch_and_starts_no_new_one(store: Store) -> None:
    woken: list[str] = []
    since = store.position
    ends = [store.watch([instance_key(f"{INSTANCE}-{n}")], since, lambda n=n: woken.append(f"w{n}")) for n in range(3)]
    assert all(end is not None for end in ends) and woken == []
    assert store.waited_on([instance_key(f"{INSTANCE}-0")])  # parked: the agent counts as connected
    store.end_watches()
    assert sorted(woken) == ["w0", "w1", "w2"]
    assert store.waited_on([instance_key(f"{INSTANCE}-{n}") for n in range(3)]) == set()
    # A poll that arrives now answers at once (None: nothing to wait for), not parked till the server is gone.
    assert store.watch([instance_key(INSTANCE)], since, lambda: woken.append("late")) is None
    for end in ends:
        assert end is not None
        end()  # its owner still ends it: harmless once the store did


def _service(name: str, **extra: Any) -> Service:
    return Service(
        serviceArn=service_arn("default", name),
        serviceName=name,
        clusterArn=cluster_arn("default"),
        taskDefinition="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        createdAt=1.0,
        **extra,
    )


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
texts = st.text(max_size=20)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
health: st.SearchStrategy[Health] = st.sampled_from(HEALTH_STATES)


@st.composite
def tasks(draw: st.DrawFn) -> Task:
    task_id = draw(names)
    arn = task_arn("default", task_id)
    containers = [
        Container(
            containerArn=f"{arn}/c{i}",
            taskArn=arn,
            name=draw(names),
            image=draw(texts),
            lastStatus=draw(st.sampled_from(["PENDING", "RUNNING", "STOPPED"])),
            exitCode=draw(st.none() | st.integers(-255, 255)),
            reason=draw(st.none() | texts),
            healthStatus=draw(st.none() | health),
            networkBindings=[
                NetworkBinding(containerPort=draw(st.integers(1, 65535)), hostPort=draw(st.integers(1, 65535)))
                for _ in range(draw(st.integers(0, 2)))
            ],
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    return Task(
        taskArn=arn,
        clusterArn=cluster_arn("default"),
        taskDefinitionArn=draw(texts),
        containerInstanceArn=draw(st.none() | st.just(INSTANCE)),
        lastStatus=draw(st.sampled_from(["PROVISIONING", "PENDING", "RUNNING", "STOPPED"])),
        desiredStatus=draw(st.sampled_from(["RUNNING", "STOPPED"])),
        group=draw(st.sampled_from(["service:web", "family:web"])),
        startedBy=draw(st.none() | texts),
        containers=containers,
        healthStatus=draw(health),
        createdAt=draw(times),
        startedAt=draw(st.none() | times),
        stoppedAt=draw(st.none() | times),
        stopCode=draw(st.none() | texts),
        stoppedReason=draw(st.none() | texts),
    )


@st.composite
def instances(draw: st.DrawFn) -> ContainerInstance:
    return an_instance(
        instance_arn("default", draw(names)),
        status=draw(st.sampled_from(["ACTIVE", "DRAINING", "INACTIVE"])),
        agentConnected=draw(st.booleans()),
        attributes=[Attribute(name=draw(names), value=draw(st.none() | names)) for _ in range(draw(st.integers(0, 3)))],
        registeredAt=draw(times),
    )


@st.composite
def services(draw: st.DrawFn) -> Service:
    deployments = [
        Deployment(
            id=f"ecs-svc/{draw(names)}",
            status="PRIMARY" if i == 0 else "ACTIVE",
            taskDefinition=draw(texts),
            desiredCount=draw(st.integers(0, 100)),
            failedTasks=draw(st.integers(0, 100)),
            createdAt=draw(times),
            updatedAt=draw(times),
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    return _service(
        draw(names),
        status=draw(st.sampled_from(["ACTIVE", "DRAINING", "INACTIVE"])),
        desiredCount=draw(st.integers(0, 1000)),
        deployments=deployments,
        healthCheckGracePeriodSeconds=draw(st.none() | st.integers(0, 3600)),
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(task=tasks(), instance=instances(), service=services())
def test_random_models_read_back_equal(store: Store, task: Task, instance: ContainerInstance, service: Service) -> None:
    with store.write() as s:
        s.insert_task(task)
        s.insert_instance(instance, "h", heartbeat_at=1.0)
        s.put_service(service)
    try:
        assert store.get_task(task.taskArn) == task
        assert store.get_instance(instance.containerInstanceArn) == instance
        assert store.get_service("default", service.serviceName) == service
        with store.write() as s:
            again = s.get_task(task.taskArn)
            assert again is not None
            s.update_task(again)
        assert store.get_task(task.taskArn) == task.model_copy(update={"version": task.version + 1})
    finally:
        with store.write() as s:  # examples share the store: leave it empty
            s._exec("DELETE FROM tasks")
            s._exec("DELETE FROM container_instances")
            s.delete_service_row("default", service.serviceName)


def test_service_refs_pick_active_and_draining_services_by_strategy_without_parsing(store: Store) -> None:
    def svc(name: str, status: str, strategy: str = "REPLICA", cluster: str = "default") -> Service:
        return Service(
            serviceArn=service_arn(cluster, name),
            serviceName=name,
            clusterArn=cluster_arn(cluster),
            status=status,
            schedulingStrategy=strategy,
            taskDefinition="web:1",
            createdAt=1.0,
        )

    with store.write() as s:
        s.put_service(svc("web", "ACTIVE"))
        s.put_service(svc("old", "INACTIVE"))
        s.put_service(svc("going", "DRAINING"))
        s.put_service(svc("logs", "ACTIVE", "DAEMON"))
        s.put_service(svc("api", "ACTIVE", cluster="other"))
    assert store.service_refs() == [("default", "going"), ("default", "logs"), ("default", "web"), ("other", "api")]
    assert store.service_refs("default", daemon=False) == [("default", "going"), ("default", "web")]
    assert store.service_refs(daemon=True) == [("default", "logs")]


def test_doc_keys_where_true_reads_one_member_of_each_document(store: Store) -> None:
    with store.write() as s:
        s.put_doc("service_state", "default/a", {"steady": True})
        s.put_doc("service_state", "default/b", {"steady": False})
        s.put_doc("service_state", "default/c", {"other": True})
        s.put_doc("elsewhere", "default/d", {"steady": True})
    assert store.doc_keys_where_true("service_state", "steady") == {"default/a"}


# -- the change feed and heartbeats do not wait for a commit -------------------------------------


def test_the_change_feed_answers_while_a_write_transaction_is_open(store: Store) -> None:
    # A long-poll watches, ends and reads the feed on the event loop: none of it may wait for a
    # writer, which holds its lock through the commit.
    before = store.position
    writer = OpenWrite(store, lambda s: s.insert_instance(an_instance(), "h", heartbeat_at=1.0))
    answered: list[int] = []

    def feed() -> None:
        end = store.watch([instance_key(INSTANCE)], store.position, lambda: None)
        assert end is not None
        end()
        answered.append(store.latest([instance_key(INSTANCE)]))

    reader = threading.Thread(target=feed, daemon=True)
    reader.start()
    reader.join(5)
    assert answered == [0]  # answered with the writer still inside its transaction
    writer.end(commit=True)
    assert store.latest([instance_key(INSTANCE)]) == store.position == before + 1


def test_a_beat_counts_at_once_and_is_written_with_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "beats.db"
    store = Store(path)
    with store.write() as s:
        s.insert_instance(an_instance(), "h", heartbeat_at=5.0)
    store.beat(INSTANCE, 9.0)
    store.beat(INSTANCE, 7.0)  # an older beat heard late changes nothing
    assert store.last_heartbeats() == {INSTANCE: 9.0}
    seq = store.position
    with store.write() as s:
        s.put_cluster(Cluster(clusterArn=cluster_arn("other"), clusterName="other"))
    assert store.position == seq + 1  # the beat's row went with that commit, as no change of its own
    with store.write() as s:
        s.heartbeat(INSTANCE, 8.0)  # an in-transaction heartbeat older than the written beat
    store.beat(INSTANCE, 12.0)
    store.close()  # written at close too
    reopened = Store(path)
    try:
        assert reopened.last_heartbeats() == {INSTANCE: 12.0}
    finally:
        reopened.close()


def test_cluster_counts_come_from_the_indexed_columns(store: Store) -> None:
    with store.write() as s:
        s.insert_instance(an_instance(), "h", heartbeat_at=1.0)
        s.insert_instance(an_instance(instance_arn("default", "i2"), status="INACTIVE"), "h", heartbeat_at=1.0)
        s.insert_task(a_task("t1", status="RUNNING"))
        s.insert_task(a_task("t2", status="PROVISIONING"))
        s.insert_task(a_task("t3", status="STOPPED"))
    # 1 instance not INACTIVE; t1 running; t2 pending (any lastStatus but RUNNING); t3 not counted.
    assert store.cluster_counts("default") == {"instances": 1, "running": 1, "pending": 1, "ACTIVE": 0, "DRAINING": 0}
    assert set(store.cluster_counts("elsewhere").values()) == {0}
