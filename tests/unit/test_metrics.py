"""The metrics collector: agents' samples -> per-service CPU and memory utilization datapoints.

A real SQLite store on a temporary file and a fake clock; task and service rows are written
directly, as the service controller would leave them. The arithmetic is beside every case.
Also the pure helpers of `svc metrics`' chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.autoscaling.metrics import (
    MetricsCollector,
    TaskUsage,
    stored_datapoints,
    stored_records,
    utilization,
)
from orchestrator.cli.autoscale import MISSING, chart_rows, parse_target_tracking, sparkline
from orchestrator.cli.client import CliError
from orchestrator.core import elb
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import Service, Task, cluster_arn, instance_arn, service_arn, task_arn
from orchestrator.core.store import Store

PERIOD = 10.0
INSTANCE_A = instance_arn("default", "a" * 32)
INSTANCE_B = instance_arn("default", "b" * 32)


# -- the arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "cpu", "memory"),
    [
        # 100 x (128 + 384) / (256 + 256) = 100; memory 100 x (64 + 32) / (128 + 128) = 37.5
        ([TaskUsage(128, 64, 256, 128), TaskUsage(384, 32, 256, 128)], 100.0, 37.5),
        # One busy core on a quarter-core reservation: 100 x 1024 / 256 = 400 (may exceed 100).
        ([TaskUsage(1024, 300, 256, 128)], 400.0, 100 * 300 / 128),
        # A task reserving 0 CPU units has no CPU denominator: CPU from the other task only,
        # 100 x 50 / 100 = 50; memory counts both, 100 x (10 + 30) / (20 + 60) = 50.
        ([TaskUsage(500, 10, 0, 20), TaskUsage(50, 30, 100, 60)], 50.0, 50.0),
        # No CPU yet (first sample): CPU None, memory 100 x 16 / 64 = 25.
        ([TaskUsage(None, 16, 256, 64)], None, 25.0),
        # Nothing reserved at all: neither metric has a denominator.
        ([TaskUsage(10, 10, 0, 0)], None, None),
        # No tasks: no data.
        ([], None, None),
        # Different reservations weigh by reservation, not per task: 100 x (256 + 0) / (512 + 256) = 33.3...
        ([TaskUsage(256, 0, 512, 64), TaskUsage(0, 0, 256, 64)], 100 * 256 / 768, 0.0),
    ],
)
def test_utilization_is_used_over_reserved_summed_over_tasks(
    tasks: list[TaskUsage], cpu: float | None, memory: float | None
) -> None:
    got_cpu, got_memory = utilization(tasks)
    assert got_cpu == pytest.approx(cpu) if cpu is not None else got_cpu is None
    assert got_memory == pytest.approx(memory) if memory is not None else got_memory is None


# -- the collector on a store --------------------------------------------------------------------


class World:
    def __init__(self, path: Path, history: int = 200) -> None:
        self.clock = FakeClock()
        self.store = Store(path)
        self.store.ensure_cluster("default")
        self.collector = MetricsCollector(self.store, self.clock, PERIOD, history=history)

    def service(self, name: str = "web", desired: int = 2, status: str = "ACTIVE") -> None:
        svc = Service(
            serviceArn=service_arn("default", name),
            serviceName=name,
            clusterArn=cluster_arn("default"),
            desiredCount=desired,
            taskDefinition="arn:td/web:1",
            status=status,  # type: ignore[arg-type]
            createdAt=self.clock.now(),
        )
        with self.store.write() as s:
            s.put_service(svc)

    def task(
        self,
        task_id: str,
        *,
        instance: str = INSTANCE_A,
        group: str = "service:web",
        cpu: str | None = "256",
        memory: str | None = "128",
        status: str = "RUNNING",
    ) -> None:
        task = Task(
            taskArn=task_arn("default", task_id),
            clusterArn=cluster_arn("default"),
            taskDefinitionArn="arn:td/web:1",
            containerInstanceArn=instance,
            group=group,
            cpu=cpu,
            memory=memory,
            lastStatus=status,
            createdAt=self.clock.now(),
        )
        with self.store.write() as s:
            existing = s.get_task(task.taskArn)
            if existing is None:
                s.insert_task(task)
            else:  # the same task seen again later, e.g. stopped
                s.update_task(task.model_copy(update={"version": existing.version}))

    def report(self, *samples: dict[str, Any], instance: str = INSTANCE_A) -> None:
        self.collector.sink(instance, list(samples))

    def close(self) -> dict[str, Any]:
        """Advance one period and close it; the web service's stored record for that period."""
        self.clock.advance(PERIOD)
        self.collector.close_period()
        return stored_records(self.store, "default", "web")[-1]


def sample(task_id: str, cpu: float | None, memory: float, container: str = "app") -> dict[str, Any]:
    out: dict[str, Any] = {"taskId": task_id, "container": container, "memoryMiB": memory, "at": 0}
    if cpu is not None:
        out["cpuUnits"] = cpu
    return out


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path / "orchestrator.db")
    w.service()
    w.task("t1")
    w.task("t2")
    return w


def test_a_period_of_two_tasks_gives_one_datapoint(world: World) -> None:
    world.report(sample("t1", 128, 64), sample("t2", 384, 32))
    record = world.close()
    # CPU 100 x (128 + 384) / (256 + 256) = 100; memory 100 x (64 + 32) / (128 + 128) = 37.5
    assert record["CPUUtilization"] == pytest.approx(100.0)
    assert record["MemoryUtilization"] == pytest.approx(37.5)
    assert (record["DesiredCount"], record["RunningCount"], record["SampledTasks"]) == (2, 2, 2)
    assert record["Timestamp"] == world.clock.now()


def test_containers_of_a_task_add_up_and_cpu_waits_for_every_container(world: World) -> None:
    world.report(
        sample("t1", 100, 10, "app"),
        sample("t1", 28, 22, "sidecar"),
        sample("t2", None, 32, "app"),
        sample("t2", 50, 0, "sidecar"),
    )
    record = world.close()
    # t1: 100 + 28 = 128 units, 10 + 22 = 32 MiB. t2's app has no CPU yet, so t2 has no CPU:
    # CPU 100 x 128 / 256 = 50 (t1 alone); memory 100 x (32 + 32) / (128 + 128) = 25.
    assert record["CPUUtilization"] == pytest.approx(50.0)
    assert record["MemoryUtilization"] == pytest.approx(25.0)


def test_reports_within_one_period_are_averaged_per_task(world: World) -> None:
    world.report(sample("t1", 100, 40))
    world.report(sample("t1", 300, 80))
    record = world.close()
    # t1 averages (100 + 300) / 2 = 200 units and (40 + 80) / 2 = 60 MiB; t2 sent nothing.
    # CPU 100 x 200 / 256 = 78.125; memory 100 x 60 / 128 = 46.875
    assert record["CPUUtilization"] == pytest.approx(78.125)
    assert record["MemoryUtilization"] == pytest.approx(46.875)
    assert record["SampledTasks"] == 1


@pytest.mark.parametrize(
    ("why", "setup", "task_id", "instance"),
    [
        ("reported by another instance", lambda w: None, "t1", INSTANCE_B),
        ("a standalone task", lambda w: w.task("solo", group="family:web"), "solo", INSTANCE_A),
        ("unknown to the control plane", lambda w: None, "ghost", INSTANCE_A),
    ],
)
def test_samples_that_are_not_this_instances_service_tasks_are_dropped(
    world: World, why: str, setup: Any, task_id: str, instance: str
) -> None:
    setup(world)
    world.report(sample(task_id, 1024, 128), instance=instance)
    world.report(sample("t2", 128, 64))
    record = world.close()
    # Only t2 counts: 100 x 128 / 256 = 50, whatever the dropped sample said.
    assert record["CPUUtilization"] == pytest.approx(50.0), why
    assert record["SampledTasks"] == 1


def test_a_task_reserving_no_cpu_counts_for_memory_only(world: World) -> None:
    world.task("t3", cpu="0", memory="64")
    world.report(sample("t1", 64, 64), sample("t3", 2048, 32))
    record = world.close()
    # CPU 100 x 64 / 256 = 25 (t3 has no CPU reservation); memory 100 x (64 + 32) / (128 + 64) = 50
    assert record["CPUUtilization"] == pytest.approx(25.0)
    assert record["MemoryUtilization"] == pytest.approx(50.0)


def test_only_tasks_running_when_the_period_closes_count(world: World) -> None:
    world.report(sample("t1", 256, 64), sample("t2", 0, 0))
    world.task("t2", status="STOPPED")
    record = world.close()
    # t2 stopped before the close: CPU 100 x 256 / 256 = 100 from t1 alone.
    assert record["CPUUtilization"] == pytest.approx(100.0)
    assert record["RunningCount"] == 1


def test_a_sample_that_misses_a_period_is_carried_once_then_missing(world: World) -> None:
    world.report(sample("t1", 128, 64))
    first = world.close()  # the sample arrived in this period (10 s before the close)
    second = world.close()  # nothing arrived: the 20 s old sample stands in (20 <= 2 x 10)
    third = world.close()  # 30 s old > 2 x 10: missing
    # 100 x 128 / 256 = 50 each time it counts.
    assert [r["CPUUtilization"] for r in (first, second)] == [50.0, 50.0]
    assert third["CPUUtilization"] is None and third["MemoryUtilization"] is None
    assert third["SampledTasks"] == 0


def test_history_is_bounded_and_survives_a_restart(tmp_path: Path) -> None:
    w = World(tmp_path / "orchestrator.db", history=3)
    w.service()
    w.task("t1")
    for cpu in (32, 64, 96, 128, 160):
        w.report(sample("t1", cpu, 64))
        w.close()
    w.store.close()
    reopened = Store(tmp_path / "orchestrator.db")
    points = stored_datapoints(reopened, "default", "web")
    # Five periods, three kept: 96, 128 and 160 units of 256 = 37.5, 50 and 62.5 %.
    assert [p.cpu_utilization for p in points] == [37.5, 50.0, 62.5]
    assert points[0].timestamp < points[1].timestamp < points[2].timestamp
    reopened.close()


def test_a_service_with_no_samples_still_gets_a_datapoint_without_values(world: World) -> None:
    record = world.close()
    assert record["CPUUtilization"] is None and record["MemoryUtilization"] is None
    assert record["DesiredCount"] == 2


def test_histories_kept_as_documents_move_into_rows_when_the_store_opens(tmp_path: Path) -> None:
    # Before metric_records, a service's history was one document rewritten whole every period.
    path = tmp_path / "orchestrator.db"
    w = World(path)
    w.service()
    old = [{"Timestamp": float(t), "CPUUtilization": float(t), "DesiredCount": 2} for t in (1, 2, 3)]
    with w.store.write() as s:
        s.put_doc("service_metrics", "default/web", {"Datapoints": old})
    w.store.close()
    w.store = Store(path)
    w.collector = MetricsCollector(w.store, w.clock, PERIOD)
    with w.store.read() as s:
        assert s.metric_records("default", "web") == old
        assert s.list_docs("service_metrics") == []
    # The next period comes after them: three moved, then the new one.
    record = w.close()
    assert [r["Timestamp"] for r in stored_records(w.store, "default", "web")[:3]] == [1.0, 2.0, 3.0]
    assert record["DesiredCount"] == 2 and record["Timestamp"] > 3.0
    assert len(stored_records(w.store, "default", "web")) == 4
    w.store.close()


def test_a_deleted_service_loses_its_history_and_the_others_keep_theirs(world: World) -> None:
    world.service("other", desired=1)
    world.close()
    world.close()
    world.service(status="INACTIVE")
    world.clock.advance(PERIOD)
    world.collector.close_period()
    assert stored_records(world.store, "default", "web") == []
    # Three periods: the third recorded only the service still ACTIVE.
    assert [r["DesiredCount"] for r in stored_records(world.store, "default", "other")] == [1, 1, 1]


def test_deleted_services_lose_their_history(world: World) -> None:
    world.report(sample("t1", 128, 64))
    world.close()
    world.service(status="INACTIVE")
    world.clock.advance(PERIOD)
    world.collector.close_period()
    with world.store.read() as s:
        assert s.metric_records("default", "web") == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"taskId": "", "memoryMiB": 1}, "taskId"),
        ({"taskId": "t1", "memoryMiB": -1}, "memoryMiB"),
        ({"taskId": "t1", "memoryMiB": 1, "cpuUnits": float("nan")}, "cpuUnits"),
        ({"taskId": "t1", "memoryMiB": "12"}, "memoryMiB"),
        ({"taskId": "t1", "memoryMiB": 1, "cpuUnits": True}, "cpuUnits"),
    ],
)
def test_a_bad_sample_rejects_the_whole_report_and_keeps_nothing(world: World, bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterException) as err:
        world.report(sample("t2", 128, 64), bad)
    assert f"samples[1].{field}" in err.value.message
    record = world.close()
    assert record["CPUUtilization"] is None  # t2's good sample was not kept either


# -- the chart of `svc metrics` ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "high", "expected"),
    [
        # 8 levels over [0, high]: level = int(v / high x 8), the top value takes the last level.
        ([0, 25, 50, 75, 100], 100, "▁▃▅▇█"),  # 0, 2, 4, 6, 8 -> 7
        ([None, 50, None], 100, f"{MISSING}▅{MISSING}"),
        ([400, 200], 400, "█▅"),  # 200 / 400 x 8 = 4
        ([5], 0, "▁"),  # no scale: the lowest bar
        ([-3], 100, "▁"),
    ],
)
def test_sparkline_levels(values: list[float | None], high: float, expected: str) -> None:
    assert sparkline(values, high) == expected


def test_chart_rows_scale_percentages_to_at_least_100_and_counts_to_max_capacity() -> None:
    points: list[dict[str, Any]] = [
        {"CPUUtilization": 10.0, "MemoryUtilization": None, "DesiredCount": 1, "RunningCount": 1},
        {"CPUUtilization": 200.0, "MemoryUtilization": 30.0, "DesiredCount": 2, "RunningCount": 1},
    ]
    rows = {r[0]: r[1:] for r in chart_rows(points, max_capacity=4)}
    # CPU scale max(100, 200) = 200: 10 -> int(0.4) = 0, 200 -> 8 -> last level.
    assert rows["CPU %"] == ["▁█", "10", "200", "200"]
    # Memory on 0-100: 30 -> int(2.4) = 2.
    assert rows["memory %"] == [f"{MISSING}▃", "30", "30", "30"]
    # Counts on 0-4: 1 -> 2, 2 -> 4.
    assert rows["desired"] == ["▃▅", "1", "2", "2"]
    assert rows["running"] == ["▃▃", "1", "1", "1"]


def test_chart_rows_of_no_datapoints_show_dashes() -> None:
    assert chart_rows([]) == [[label, "", "-", "-", "-"] for label in ("CPU %", "memory %", "desired", "running")]


def test_a_sample_from_the_wrong_instance_first_does_not_hide_the_right_one(world: World) -> None:
    world.report(sample("t1", 1024, 128), instance=INSTANCE_B)
    world.report(sample("t1", 64, 32))
    record = world.close()
    # Only the owner's sample counts: 100 x 64 / 256 = 25.
    assert record["CPUUtilization"] == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cpu=50", ("ECSServiceAverageCPUUtilization", 50.0)),
        ("memory=72.5", ("ECSServiceAverageMemoryUtilization", 72.5)),
        ("CPU = 30", ("ECSServiceAverageCPUUtilization", 30.0)),
        ("requests=100", ("ALBRequestCountPerTarget", 100.0)),
    ],
)
def test_parse_target_tracking(spec: str, expected: tuple[str, float]) -> None:
    assert parse_target_tracking(spec) == expected


@pytest.mark.parametrize("spec", ["cpu", "disk=50", "cpu=fifty", "cpu=0", "memory=-5"])
def test_parse_target_tracking_refuses_what_it_cannot_use(spec: str) -> None:
    with pytest.raises(CliError, match="--target-tracking"):
        parse_target_tracking(spec)


# -- RequestCountPerTarget, from the load balancer's counters -----------------------------------

LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-lb/00000000000000aa"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/00000000000000bb"
LABEL = "app/web-lb/00000000000000aa/targetgroup/web-tg/00000000000000bb"


def behind_a_load_balancer(w: World, healthy: int, unhealthy: int = 0) -> None:
    """Service web behind LB_ARN's listener, forwarding to TG_ARN, which has these targets."""
    with w.store.write() as s:
        svc = s.get_service("default", "web")
        assert svc is not None
        lbs = [{"targetGroupArn": TG_ARN, "containerName": "app", "containerPort": 80}]
        s.put_service(svc.model_copy(update={"loadBalancers": lbs}))
        listener = {"LoadBalancerArn": LB_ARN, "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}
        elb.put(s, elb.LISTENER, LB_ARN + "/l1", listener)
        states = [elb.HEALTHY] * healthy + [elb.UNHEALTHY] * unhealthy
        for port, state in enumerate(states, start=32768):
            target = {"TargetGroupArn": TG_ARN, "Id": "i-1", "Port": port, "_health": {"State": state}}
            elb.put(s, elb.TARGET, elb.target_key(TG_ARN, "i-1", port), target)


def test_request_count_per_target_is_the_periods_increase_per_healthy_target_per_minute(world: World) -> None:
    behind_a_load_balancer(world, healthy=2, unhealthy=1)
    world.collector.observe_requests({TG_ARN: {"a": 100, "b": 50}})  # the first counters: a baseline
    world.collector.observe_requests({TG_ARN: {"a": 130, "b": 60}})  # +30 +10
    world.collector.observe_requests({TG_ARN: {"a": 140, "b": 5}})  # +10, and b restarted: +5
    record = world.close()
    # (30 + 10 + 10 + 5) = 55 requests over 2 healthy targets in a 10 s period: 27.5 x 60 / 10 = 165
    assert record["RequestCountPerTarget"] == {LABEL: pytest.approx(165.0)}
    [point] = stored_datapoints(world.store, "default", "web")
    assert point.value("RequestCountPerTarget", LABEL) == pytest.approx(165.0)
    assert point.value("RequestCountPerTarget", "app/other/1/targetgroup/x/2") is None
    # The next period starts from nothing: no new request, 0 per target.
    world.collector.observe_requests({TG_ARN: {"a": 140, "b": 5}})
    assert world.close()["RequestCountPerTarget"] == {LABEL: 0.0}


def test_no_healthy_target_means_no_request_count(world: World) -> None:
    behind_a_load_balancer(world, healthy=0, unhealthy=2)
    world.collector.observe_requests({TG_ARN: {"a": 0}})
    world.collector.observe_requests({TG_ARN: {"a": 40}})
    assert world.close()["RequestCountPerTarget"] == {LABEL: None}


def test_a_service_behind_no_load_balancer_records_no_request_count(world: World) -> None:
    world.collector.observe_requests({TG_ARN: {"a": 0}})
    assert "RequestCountPerTarget" not in world.close()


def test_chart_rows_show_requests_per_target_for_each_target_group() -> None:
    points = [
        {"CPUUtilization": None, "DesiredCount": 1, "RunningCount": 1, "RequestCountPerTarget": {LABEL: 50.0}},
        {"CPUUtilization": None, "DesiredCount": 1, "RunningCount": 1, "RequestCountPerTarget": {LABEL: 400.0}},
    ]
    rows = {r[0]: r[1:] for r in chart_rows(points, max_capacity=1)}
    # Scale max(100, 400) = 400: 50 -> int(8 x 50 / 400) = 1, 400 -> the last level; named by its group.
    assert rows["requests/target/min web-tg"] == ["▂█", "50", "400", "400"]
