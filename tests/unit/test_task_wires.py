"""`TaskWires`: an agent's answer converts only the task rows whose text changed, and what it sends
is always the wire form of the row as it is now."""

from __future__ import annotations

from orchestrator.core.models import Task
from orchestrator.core.task_wires import TaskWires


def task(n: int, last: str = "PENDING", desired: str = "RUNNING") -> Task:
    return Task(
        taskArn=f"arn:aws:ecs:us-east-1:000000000000:task/default/{n:032x}",
        clusterArn="arn:aws:ecs:us-east-1:000000000000:cluster/default",
        taskDefinitionArn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        group="service:web",
        lastStatus=last,
        desiredStatus=desired,
        createdAt=1000.0 + n,
    )


def test_an_unchanged_row_is_not_parsed_again_a_changed_one_is() -> None:
    wires = TaskWires()
    rows = [(t.taskArn, t.model_dump_json()) for t in (task(0), task(1))]
    first = [wires.wire(arn, text) for arn, text in rows]
    assert wires.parsed == 2 and first == [task(0).wire(), task(1).wire()]
    running = task(1, last="RUNNING")
    second = [wires.wire(rows[0][0], rows[0][1]), wires.wire(running.taskArn, running.model_dump_json())]
    # 2 parsed for the first answer, 1 more for the row that changed; the other is the same object.
    assert wires.parsed == 3
    assert second[0] is first[0] and second[1]["lastStatus"] == "RUNNING"


def test_what_shown_changes_is_sent_but_never_remembered() -> None:
    wires = TaskWires()
    stopping = task(0, desired="STOPPED")
    text = stopping.model_dump_json()

    def held(t: Task) -> Task:
        return t.model_copy(update={"desiredStatus": "RUNNING"})

    assert wires.wire(stopping.taskArn, text, held)["desiredStatus"] == "RUNNING"
    assert wires.wire(stopping.taskArn, text)["desiredStatus"] == "STOPPED"  # the row itself, parsed anew


def test_past_its_limit_it_starts_again_and_still_answers_right() -> None:
    wires = TaskWires(limit=2)
    for n in range(3):
        t = task(n)
        assert wires.wire(t.taskArn, t.model_dump_json()) == t.wire()
    t = task(0)
    wires.wire(t.taskArn, t.model_dump_json())
    assert wires.parsed == 4  # task 0 was forgotten when the third one started the cache again
