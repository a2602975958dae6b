"""`ClusterUsage`: what the other services' tasks hold, kept between passes, is always what
`usage_of` computes from every row; a report that only moves a task to RUNNING parses nothing."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.cluster_usage import ClusterUsage
from orchestrator.core.models import Container, Task, TaskDefinition
from orchestrator.core.placing import InstanceUsage, usage_of
from orchestrator.core.store import Store
from tests.builders import instance_row, task_def_row, task_row

WEB = task_def_row("web", portMappings=[{"containerPort": 80, "hostPort": 8080}])
API = task_def_row(
    "api", cpu=256, memory=512, portMappings=[{"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]
)
TDS = {td.taskDefinitionArn: td for td in (WEB, API)}
NODES = [instance_row(f"n{i}", "us-east-1a", cpu=4096, memory=8192) for i in range(3)]


def expected(store: Store, group: str) -> dict[str, InstanceUsage]:
    """`usage_of` over every row not in `group`, read and parsed afresh: the truth."""
    others = [t for t in store.list_tasks("default", not_stopped=True) if t.group != group]
    return dict(usage_of(others, TDS))


def agree(store: Store, usage: ClusterUsage) -> None:
    with store.write() as s:
        usage.refresh(s, TDS.get)
        for group in ("service:web", "service:api", "service:none"):
            assert usage.others(group) == expected(store, group), group


def put(store: Store, task: Task) -> None:
    with store.write() as s:
        s.insert_task(task)


def change(store: Store, arn: str, status: str) -> None:
    with store.write() as s:
        t = s.get_task(arn)
        assert t is not None
        t.lastStatus = status
        s.update_task(t)


def test_the_kept_sums_match_a_fresh_count_through_placements_reports_and_stops(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    usage = ClusterUsage("default")
    web = [task_row(f"w{i}", WEB, NODES[i % 3], status="PENDING") for i in range(3)]
    api = [task_row(f"a{i}", API, NODES[i % 2], status="PENDING", group="service:api") for i in range(4)]
    for t in web + api:
        put(store, t)
    agree(store, usage)
    assert usage.parsed == 7  # every task parsed once, when first seen

    # Reports to RUNNING: pending counts move to running, and nothing is parsed again.
    for t in web[:2] + api[:3]:
        change(store, t.taskArn, "RUNNING")
    agree(store, usage)
    assert usage.parsed == 7

    # A stopped task frees its CPU, memory and host port; the instance with nothing left is gone.
    change(store, web[2].taskArn, "STOPPED")
    agree(store, usage)
    with store.write() as s:
        usage.refresh(s, TDS.get)
    # n2 held only web[2]: for api's view nothing is left there (4,096 CPU free again).
    assert NODES[2].containerInstanceArn not in usage.others("service:api")

    # Two api tasks on n0 share the UDP port count: one stopping keeps the port held.
    change(store, api[0].taskArn, "STOPPED")
    agree(store, usage)
    n0 = usage.others("service:web")[NODES[0].containerInstanceArn]
    # n0 holds api[2] (256 CPU, 512 MiB, UDP 5353) after api[0] stopped.
    assert (n0.cpu, n0.memory, n0.udp, n0.running) == (256, 512, {5353}, 1)

    # A task placed later, with GPU ids, is read once more.
    gpu = task_row("g0", WEB, NODES[1], status="PENDING", group="service:gpu")
    gpu.containers = [
        Container(
            containerArn=f"{gpu.taskArn}/c0",
            taskArn=gpu.taskArn,
            name="app",
            image="orch/busybox:latest",
            gpuIds=["0", "1"],
        )
    ]
    put(store, gpu)
    agree(store, usage)
    assert usage.parsed == 8
    assert usage.others("service:web")[NODES[1].containerInstanceArn].gpus == {"0", "1"}


def test_a_controller_pass_places_around_what_other_services_hold(tmp_path: Path) -> None:
    # Through load_snapshot, as the service controller reads it: the kept sums and the fresh
    # count give the same snapshot usage.
    from orchestrator.reconcile.services import SnapshotRows, TaskDefinitions, load_snapshot
    from tests.builders import service_row

    store = Store(tmp_path / "db")
    with store.write() as s:
        s.ensure_cluster("default")
        for node in NODES:
            s.insert_instance(node, "h", heartbeat_at=0.0)
        for td in (WEB, API):
            s.put_task_definition(TaskDefinition.model_validate(td.model_dump()))
        s.put_service(service_row(WEB, 3))
        for i in range(4):
            s.insert_task(task_row(f"a{i}", API, NODES[i % 3], group="service:api"))
    rows = SnapshotRows()
    for _ in range(2):  # the second pass reads the kept sums
        with store.write() as s:
            kept = load_snapshot(s, "default", "web", TaskDefinitions(), 0.0, rows)
            fresh = load_snapshot(s, "default", "web", TaskDefinitions(), 0.0)
            assert kept is not None and fresh is not None
            assert kept.other_usage() == fresh.other_usage()
            # n0 holds a0 and a3: 2 x 256 CPU.
            assert kept.other_usage()[NODES[0].containerInstanceArn].cpu == 512


def test_inside_a_write_a_refresh_reads_only_the_rows_written_since_the_last(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", changes_kept=4)
    usage = ClusterUsage("default")
    tasks = [task_row(f"w{i}", WEB, NODES[i % 3], status="PENDING") for i in range(6)]
    for t in tasks:
        put(store, t)
    agree(store, usage)
    assert usage.rows_read == 6  # the first refresh reads every row

    change(store, tasks[0].taskArn, "RUNNING")
    change(store, tasks[1].taskArn, "STOPPED")
    agree(store, usage)
    # Only w0 and w1 were written; w1 is STOPPED, so one row comes back and w1 is forgotten.
    assert usage.rows_read == 6 + 1

    # A transaction rolled back leaves nothing in the log, and the sums still agree.
    try:
        with store.write() as s:
            s.insert_task(task_row("gone", WEB, NODES[0], status="PENDING"))
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    agree(store, usage)
    assert usage.rows_read == 7

    # More commits than the log keeps (4): the next refresh reads every non-STOPPED row again.
    for t in tasks[2:]:
        change(store, t.taskArn, "RUNNING")
    put(store, task_row("late", WEB, NODES[2], status="PENDING"))
    agree(store, usage)
    # 5 commits since the last refresh, the log keeps 4: w0 and w2-w5 and late are not STOPPED (6 rows).
    assert usage.rows_read == 7 + 6

    # Outside a write (a read snapshot) the log is not used: another full read of the 6 rows.
    with store.read() as s:
        usage.refresh(s, TDS.get)
    assert usage.rows_read == 13 + 6
    agree(store, usage)
    assert usage.rows_read == 19  # and nothing was written since: nothing read
