"""A stopped task's tags go when the store purges the task, and nothing else's tags go with them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.core import tags
from orchestrator.core.models import service_arn
from orchestrator.core.store import Store
from tests.unit.test_store import a_task

TEAM = [{"key": "team", "value": "web"}]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "orchestrator.db")
    yield s
    s.close()


def test_a_purged_task_takes_its_tags_and_only_its_tags(store: Store) -> None:
    # Retention ends at t=100: `old` stopped at 50 (purged), `recent` at 150 (kept), `running` never stopped.
    old = a_task("old", status="STOPPED", stoppedAt=50.0)
    recent = a_task("recent", status="STOPPED", stoppedAt=150.0)
    running = a_task("running")
    service = service_arn("default", "web")
    with store.write() as s:
        for task in (old, recent, running):
            s.insert_task(task)
            tags.set_tags(s, task.taskArn, TEAM)
        tags.set_tags(s, service, TEAM)
    with store.write() as s:
        assert s.purge_stopped_tasks(100.0) == 1
    with store.read() as s:
        assert s.get_task(old.taskArn) is None
        assert tags.get_tags(s, old.taskArn) == []
        assert s.list_docs(tags.DOC_KIND, old.taskArn) == []
        assert tags.get_tags(s, recent.taskArn) == TEAM
        assert tags.get_tags(s, running.taskArn) == TEAM
        assert tags.get_tags(s, service) == TEAM


def test_a_purge_with_nothing_to_purge_keeps_every_tag(store: Store) -> None:
    task = a_task("t1", status="STOPPED", stoppedAt=150.0)
    with store.write() as s:
        s.insert_task(task)
        tags.set_tags(s, task.taskArn, TEAM)
    with store.write() as s:
        assert s.purge_stopped_tasks(100.0) == 0
    with store.read() as s:
        assert tags.get_tags(s, task.taskArn) == TEAM
