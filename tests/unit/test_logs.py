"""Container logs without Docker: the store's dedupe and retention, the CloudWatch Logs read calls'
paging, the filter patterns, the logConfiguration rules, and the agent's shipper on the fake
executor and a fake clock (resuming from its state file without loss or duplicates)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from agent.executor.base import LABEL_CONTAINER, LABEL_INSTANCE, LABEL_MANAGED, LABEL_TASK, ContainerSpec
from agent.executor.fake import FakeExecutor
from agent.log_shipper import LogShipper
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import ApiError
from orchestrator.core.models import arn_id
from orchestrator.core.settings import Settings
from orchestrator.operations import Operations
from orchestrator.operations.cloudwatch_logs import matcher
from orchestrator.operations.logs import AGE_PURGE_EVERY_S
from tests.builders import container, control_plane, instance
from tests.harness import wait_for

AWSLOGS = {
    "logDriver": "awslogs",
    "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
}
S = 1_000_000_000  # ns per second


def _ops(tmp_path: Path, **settings: Any) -> tuple[Operations, str, str]:
    """A control plane with one instance running one awslogs task: (ops, instance ARN, task id)."""
    ops = control_plane(tmp_path, Settings(**settings))
    arn = instance(ops, "a", "us-east-1a")
    ops.register_task_definition({"family": "web", "containerDefinitions": [container(logConfiguration=AWSLOGS)]})
    task = ops.run_task({"taskDefinition": "web:1"})["tasks"][0]
    return ops, arn, arn_id(task["taskArn"])


def _batch(tid: str, *events: tuple[int, int, str], name: str = "app") -> list[dict[str, Any]]:
    return [{"taskId": tid, "containerName": name, "containerId": "c1", "events": [list(e) for e in events]}]


def _messages(ops: Operations, tid: str, **req: Any) -> list[str]:
    return [e["message"] for e in ops.task_logs({"task": tid, **req})["events"]]


def _now_ns(ops: Operations) -> int:
    return int(ops.ctx.clock.now() * S)


# -- dedupe ------------------------------------------------------------------------------------


def test_a_batch_sent_twice_is_stored_once(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path)
    t = _now_ns(ops)
    # Two lines with the very same timestamp are two events: the ordinal tells them apart.
    batch = _batch(tid, (t, 0, "one"), (t, 1, "two"), (t + 1, 0, "three"))
    assert ops.ingest_logs(arn, batch) == {"accepted": 3, "stored": 3}
    assert ops.ingest_logs(arn, batch) == {"accepted": 3, "stored": 0}  # the answer was lost: sent again
    # A resumed reader sends its overlap again plus what is new: only the new line is added.
    assert ops.ingest_logs(arn, _batch(tid, (t + 1, 0, "three"), (t + 2, 0, "four")))["stored"] == 1
    assert _messages(ops, tid) == ["one", "two", "three", "four"]


def test_only_the_instance_running_a_task_may_ship_its_logs(tmp_path: Path) -> None:
    ops, _arn, tid = _ops(tmp_path)
    other = instance(ops, "b", "us-east-1b")
    with pytest.raises(ApiError) as caught:
        ops.ingest_logs(other, _batch(tid, (_now_ns(ops), 0, "spoofed")))
    assert caught.value.code == "AccessDeniedException"
    assert _messages(ops, tid) == []


# -- retention (per cluster; fake clock) -------------------------------------------------------


def test_retention_keeps_the_newest_events_of_the_cluster(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path, log_retention_events=5)
    t = _now_ns(ops)
    ops.ingest_logs(arn, _batch(tid, *[(t + i, 0, f"l{i}") for i in range(8)]))
    # 8 stored, 5 kept: l0..l2 (the oldest) go.
    assert _messages(ops, tid) == ["l3", "l4", "l5", "l6", "l7"]
    ops.ingest_logs(arn, _batch(tid, (t + 8, 0, "l8")))
    assert _messages(ops, tid) == ["l4", "l5", "l6", "l7", "l8"]


def test_retention_drops_events_older_than_the_limit(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path, log_retention_s=3600)
    clock = ops.ctx.clock
    assert isinstance(clock, FakeClock)
    t0 = _now_ns(ops)
    ops.ingest_logs(arn, _batch(tid, (t0, 0, "old")))
    clock.advance(3000)  # 3000 s: "old" is 3000 s old, within the 3600 s kept
    ops.ingest_logs(arn, _batch(tid, (_now_ns(ops), 0, "mid")))
    assert _messages(ops, tid) == ["old", "mid"]
    clock.advance(max(1000, AGE_PURGE_EVERY_S))  # now 4000 s: "old" is past 3600 s, "mid" 1000 s
    ops.ingest_logs(arn, _batch(tid, (_now_ns(ops), 0, "new")))
    assert _messages(ops, tid) == ["mid", "new"]


# -- reading: tail, since, follow cursor -------------------------------------------------------


def test_tail_since_and_the_follow_cursor(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path)
    clock = ops.ctx.clock
    assert isinstance(clock, FakeClock)
    t = _now_ns(ops)
    ops.ingest_logs(arn, _batch(tid, *[(t + i * S, 0, f"l{i}") for i in range(10)]))
    clock.advance(10)  # now = t + 10 s
    assert _messages(ops, tid, tail=3) == ["l7", "l8", "l9"]
    assert _messages(ops, tid, sinceSeconds=2) == ["l8", "l9"]  # newer than t + 8 s
    history = ops.task_logs({"task": tid, "tail": 1})
    assert ops.task_logs({"task": tid, "after": history["cursor"]})["events"] == []
    # A late event (older timestamp) arrives after the cursor: follow shows it, in arrival order.
    ops.ingest_logs(arn, _batch(tid, (t + 20 * S, 0, "new"), (t - S, 0, "late")))
    follow = ops.task_logs({"task": tid, "after": history["cursor"]})
    assert [e["message"] for e in follow["events"]] == ["new", "late"]
    assert ops.task_logs({"task": tid, "after": follow["cursor"]})["events"] == []


def test_a_follower_is_woken_by_the_next_batch(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path)
    cursor = ops.task_logs({"task": tid})["cursor"]
    got: list[Any] = []
    follower = threading.Thread(target=lambda: got.append(ops.task_logs({"task": tid, "after": cursor, "wait": 20})))
    follower.start()
    ops.ingest_logs(arn, _batch(tid, (_now_ns(ops), 0, "hello")))
    follower.join(timeout=30)
    assert [e["message"] for e in got[0]["events"]] == ["hello"]


# -- CloudWatch Logs ---------------------------------------------------------------------------


def test_get_log_events_tokens_page_forward_and_back(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path)
    t = _now_ns(ops)
    ops.ingest_logs(arn, _batch(tid, *[(t + i * 1_000_000, 0, f"l{i}") for i in range(5)]))
    stream = f"ecs/app/{tid}"
    req = {"logGroupName": "/ecs/web", "logStreamName": stream, "limit": 2}

    def page(**extra: Any) -> tuple[list[str], dict[str, Any]]:
        answer = ops.get_log_events({**req, **extra})
        return [e["message"] for e in answer["events"]], answer

    head, a = page(startFromHead=True)
    assert head == ["l0", "l1"]
    more, b = page(nextToken=a["nextForwardToken"])
    assert more == ["l2", "l3"]
    last, c = page(nextToken=b["nextForwardToken"])
    assert last == ["l4"]
    end, d = page(nextToken=c["nextForwardToken"])
    assert end == [] and d["nextForwardToken"] == c["nextForwardToken"]  # the end: the same token again
    # Without startFromHead the newest come first (oldest first within the page), then back.
    tail, e = page()
    assert tail == ["l3", "l4"]
    back, _ = page(nextToken=e["nextBackwardToken"])
    assert back == ["l1", "l2"]
    groups = ops.describe_log_groups({})["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/web"]
    streams = ops.describe_log_streams({"logGroupName": "/ecs/web"})["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    assert streams[0]["firstEventTimestamp"] == t // 1_000_000
    with pytest.raises(ApiError) as caught:
        ops.get_log_events({"logGroupName": "/ecs/nope", "logStreamName": stream})
    assert caught.value.code == "ResourceNotFoundException"


def test_filter_log_events_pages_and_matches_terms(tmp_path: Path) -> None:
    ops, arn, tid = _ops(tmp_path)
    t = _now_ns(ops)
    lines = ["ERROR disk", "ok", "ERROR net", "WARN cpu", "ERROR disk again"]
    ops.ingest_logs(arn, _batch(tid, *[(t + i * 1_000_000, 0, m) for i, m in enumerate(lines)]))
    first = ops.filter_log_events({"logGroupName": "/ecs/web", "filterPattern": "ERROR", "limit": 2})
    assert [e["message"] for e in first["events"]] == ["ERROR disk", "ERROR net"]
    rest = ops.filter_log_events(
        {"logGroupName": "/ecs/web", "filterPattern": "ERROR", "limit": 2, "nextToken": first["nextToken"]}
    )
    assert [e["message"] for e in rest["events"]] == ["ERROR disk again"] and "nextToken" not in rest
    # startTime is inclusive, endTime exclusive (ms): events 1 and 2.
    ms = t // 1_000_000
    window = ops.filter_log_events({"logGroupName": "/ecs/web", "startTime": ms + 1, "endTime": ms + 3})
    assert [e["message"] for e in window["events"]] == ["ok", "ERROR net"]
    with pytest.raises(ApiError) as caught:
        ops.filter_log_events({"logGroupName": "/ecs/web", "filterPattern": '{ $.level = "x" }'})
    assert "JSON patterns" in caught.value.message


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),  # case-sensitive, as on AWS
        ("ERROR disk", "ERROR: disk full", True),  # every term
        ("ERROR disk", "ERROR: net down", False),
        ('"disk full"', "ERROR: disk full", True),  # a quoted phrase
        ('"disk full"', "full disk", False),
        ("?ERROR ?WARN", "WARN: slow", True),  # any of
        ("?ERROR ?WARN", "INFO: fine", False),
        ("ERROR -retry", "ERROR, will retry", False),  # an exclusion
        ("ERROR -retry", "ERROR, giving up", True),
    ],
)
def test_filter_pattern_terms(pattern: str, message: str, matches: bool) -> None:
    assert matcher(pattern)(message) is matches


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"logDriver": "fluentd"}, "fluentd is not supported"),
        ({"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}}, "awslogs-group is required"),
        ({"logDriver": "awslogs", "options": {"awslogs-group": "g", "mode": "non-blocking"}}, "mode is not supported"),
        ({"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "eu-west-1"}}, "eu-west-1"),
    ],
)
def test_log_configuration_refused_by_name(tmp_path: Path, config: dict[str, Any], problem: str) -> None:
    ops = control_plane(tmp_path)
    with pytest.raises(ApiError) as caught:
        ops.register_task_definition({"family": "x", "containerDefinitions": [container(logConfiguration=config)]})
    assert problem in caught.value.message


@pytest.mark.parametrize("driver", ["awslogs", "json-file", "local", "syslog", "journald", "none"])
def test_log_drivers_we_honour_register(tmp_path: Path, driver: str) -> None:
    ops = control_plane(tmp_path)
    config = AWSLOGS if driver == "awslogs" else {"logDriver": driver}
    td = ops.register_task_definition({"family": "x", "containerDefinitions": [container(logConfiguration=config)]})
    assert td["taskDefinition"]["containerDefinitions"][0]["logConfiguration"]["logDriver"] == driver


# -- the agent's shipper on the fake executor --------------------------------------------------

LABELS = {LABEL_INSTANCE: "i1", LABEL_MANAGED: "true"}


def _container(fake: FakeExecutor, task: str, name: str = "app", driver: str | None = None) -> str:
    labels = {**LABELS, LABEL_TASK: task, LABEL_CONTAINER: name}
    return fake.run(
        ContainerSpec(name=f"orch-{task}-{name}", image="orch/busybox", labels=labels, log_driver=driver)
    ).id


class _Plane:
    """What the control plane keeps of the shipped events: one per (task, container, ts, ordinal)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str, int, int], str] = {}
        self.sent = 0

    def send(self, streams: list[dict[str, Any]]) -> None:
        for s in streams:
            for ts, ordinal, message in s["events"]:
                self.sent += 1
                self.events[(s["taskId"], s["containerName"], ts, ordinal)] = message

    def messages(self) -> list[str]:
        return [m for _, m in sorted(self.events.items())]


def _shipper(fake: FakeExecutor, plane: _Plane, state: Path) -> LogShipper:
    shipper = LogShipper(fake, plane.send, state, LABELS, threading.Event(), flush_s=0.01)
    shipper.start()
    return shipper


def test_shipper_resumes_from_its_state_file_without_loss_or_duplicates(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = FakeExecutor(clock=clock.now)
    cid = _container(fake, "t1")
    plane = _Plane()
    state = tmp_path / "agent.logs.json"
    # The fake clock stands still: a, b, c share one timestamp (ordinals 0, 1, 2).
    fake.write_output(cid, "a", "b", "c")
    first = _shipper(fake, plane, state)
    wait_for(lambda: plane.sent == 3, what="the first three lines shipped")
    first.close()
    # Written while no agent runs; then a new agent on the same state file ships only these.
    fake.write_output(cid, "d")
    clock.advance(1)
    fake.write_output(cid, "e")
    second = _shipper(fake, plane, state)
    wait_for(lambda: plane.sent >= 5, what="the lines written while the agent was down")
    fake.exit(cid, 0)
    assert second.drain(cid, timeout=10)
    second.close()
    assert plane.messages() == ["a", "b", "c", "d", "e"]
    assert plane.sent == 5  # nothing sent twice either


def test_shipper_skips_a_driver_it_cannot_read_and_drains_before_removal(tmp_path: Path) -> None:
    fake = FakeExecutor()
    quiet = _container(fake, "t1", driver="none")
    loud = _container(fake, "t2")
    plane = _Plane()
    shipper = _shipper(fake, plane, tmp_path / "s.json")
    fake.write_output(loud, "last words")
    fake.exit(loud, 1)
    fake.exit(quiet, 0)
    assert shipper.drain(loud, timeout=10) and shipper.drain(quiet, timeout=10)
    shipper.close()
    assert plane.messages() == ["last words"]


def test_a_shipper_stopped_before_its_first_batch_takes_nothing(tmp_path: Path) -> None:
    # The shipping thread's first look can come after close() set the stop: it must end quietly.
    stop = threading.Event()
    stop.set()
    shipper = LogShipper(FakeExecutor(), _Plane().send, tmp_path / "s.json", LABELS, stop)
    assert shipper._take() == []
