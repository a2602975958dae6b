"""Assignment answers after the first carry only the tasks that changed: the agent names the
answer it holds by its change number, and the worker rebuilds the whole list from what it held."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.executor.fake import FakeExecutor
from agent.worker import Worker
from orchestrator.operations import Operations
from orchestrator.reconcile.services import ServiceController
from tests.builders import control_plane, instance, report_running, service, task_definition


def _ops(tmp_path: Path) -> tuple[Operations, str]:
    ops = control_plane(tmp_path)
    arn = instance(ops, "n1", "us-east-1a", cpu=4096, memory=4096)
    task_definition(ops)
    return ops, arn


def test_a_second_answer_carries_only_the_new_tasks_and_names_all(tmp_path: Path) -> None:
    ops, arn = _ops(tmp_path)
    service(ops, "web", 2)
    ServiceController(ops.ctx).reconcile_all()
    first = ops.assignments(arn, 0, 0)
    assert len(first["tasks"]) == 2 and "taskArns" not in first  # since 0: every task, whole

    service(ops, "api", 1)
    ServiceController(ops.ctx).reconcile_all()
    second = ops.assignments(arn, first["seq"], 0)
    # 2 web tasks held + 1 api task new: three named, one sent.
    assert len(second["taskArns"]) == 3
    [new] = second["tasks"]
    assert new["group"] == "service:api"
    assert set(second["taskArns"]) == {t["taskArn"] for t in first["tasks"]} | {new["taskArn"]}

    # Asked after an older answer (this one was lost): every task again, whole.
    again = ops.assignments(arn, first["seq"], 0)
    assert "taskArns" not in again and len(again["tasks"]) == 3

    # A running task stopped: sent again (its desired status moved), the others only named. Its
    # agent's own report woke nobody, so the answer after it still holds the running row.
    report_running(ops, new)
    ops.stop_task({"task": new["taskArn"]})
    third = ops.assignments(arn, again["seq"], 0)
    assert [(t["taskArn"], t["desiredStatus"]) for t in third["tasks"]] == [(new["taskArn"], "STOPPED")]
    assert len(third["taskArns"]) == 3


def _worker() -> Worker:
    return Worker(FakeExecutor(), lambda _: None, "default", "i1", inline=True)


def _task(n: int) -> dict[str, Any]:
    return {"taskArn": f"arn:t/{n}", "taskDefinitionArn": "td", "desiredStatus": "RUNNING", "lastStatus": "PENDING"}


def test_the_worker_rebuilds_the_list_from_what_it_held_in_the_answer_order() -> None:
    worker = _worker()
    assert worker.assign({"tasks": [_task(1), _task(2)], "taskDefinitions": {}})
    stopped = {**_task(2), "desiredStatus": "STOPPED"}
    assert worker.assign({"tasks": [stopped, _task(3)], "taskArns": ["arn:t/2", "arn:t/1", "arn:t/3"]})
    assert worker._tasks is not None
    assert list(worker._tasks) == ["arn:t/2", "arn:t/1", "arn:t/3"]
    assert worker._tasks["arn:t/2"]["desiredStatus"] == "STOPPED"
    assert worker._tasks["arn:t/1"] == _task(1)


def test_changes_to_an_answer_the_worker_never_had_are_refused_and_change_nothing() -> None:
    worker = _worker()
    assert worker.assign({"tasks": [_task(1)]})
    # arn:t/9 is neither sent nor held: the worker asks for every task again.
    assert not worker.assign({"tasks": [_task(2)], "taskArns": ["arn:t/1", "arn:t/2", "arn:t/9"]})
    assert worker._tasks is not None and list(worker._tasks) == ["arn:t/1"]
