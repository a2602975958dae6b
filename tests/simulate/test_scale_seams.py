"""The seams the scale work added: waits that hold no thread, liveness and pages from columns,
and how many agents `dev` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from orchestrator.cli.run import MAX_DOCKER_AGENTS, check_agent_count, simulated_agent_limit
from orchestrator.core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def commit(store: Store, key: str) -> None:
    with store.write() as s:
        s.put_doc("test", key, {"k": key})  # any write
        s.touch(key)


def test_a_watch_wakes_on_its_key_only_and_counts_as_waiting_until_ended(store: Store) -> None:
    woken: list[str] = []
    since = store.position
    end = store.watch(["instance:a"], since, lambda: woken.append("a"))
    assert end is not None
    assert store.waited_on(["instance:a", "instance:b"]) == {"instance:a"}
    commit(store, "instance:b")
    assert woken == []
    commit(store, "instance:a")
    assert woken == ["a"]
    end()
    assert store.waited_on(["instance:a"]) == set()
    commit(store, "instance:a")
    assert woken == ["a"]  # ended: not called again


def test_a_watch_after_the_change_answers_at_once(store: Store) -> None:
    since = store.position
    commit(store, "instance:a")
    assert store.watch(["instance:a"], since, lambda: None) is None
    # A `since` ahead of the feed (a restarted control plane) answers at once too.
    assert store.watch(["instance:a"], store.position + 5, lambda: None) is None
    assert store.latest(["instance:a"]) == store.position


def test_dev_keeps_real_docker_agents_to_its_limit_and_takes_more_simulated_ones() -> None:
    with pytest.raises(typer.BadParameter, match="add --simulated for more"):
        check_agent_count(MAX_DOCKER_AGENTS + 1, simulated=False)
    check_agent_count(MAX_DOCKER_AGENTS, simulated=False)
    assert simulated_agent_limit() > 300  # this machine: 24 GiB, so the acceptance's 300 fit
    check_agent_count(300, simulated=True)
    with pytest.raises(typer.BadParameter, match="this machine holds about"):
        check_agent_count(simulated_agent_limit() + 1, simulated=True)


def test_a_woken_watch_stops_counting_as_waiting_at_the_commit_and_its_end_is_harmless(store: Store) -> None:
    # The simulator asks `waited_on` right after a commit whether an agent is parked again; the
    # woken long-poll's coroutine may not have run yet, so the commit itself ends its watch.
    woken: list[str] = []
    end_a = store.watch(["instance:a", "instance:b"], store.position, lambda: woken.append("a"))
    end_b = store.watch(["instance:b"], store.position, lambda: woken.append("b"))
    assert end_a is not None and end_b is not None
    commit(store, "instance:a")
    assert woken == ["a"]  # once, though it watched two keys
    assert store.waited_on(["instance:a", "instance:b"]) == {"instance:b"}  # b's own watch still waits
    end_a()
    end_a()
    assert store.waited_on(["instance:a", "instance:b"]) == {"instance:b"}  # ending twice takes nothing of b's
    commit(store, "instance:b")
    assert woken == ["a", "b"]
    assert store.waited_on(["instance:a", "instance:b"]) == set()
    end_b()
    assert store.waited_on(["instance:b"]) == set()
