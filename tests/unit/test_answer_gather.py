"""A woken long-poll's gather: it ends once the store has been quiet for a moment, at the bound
however busy the store stays, and at once when gathering is off or the server is stopping (a
real SQLite store, commits from another thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.api.answer_gather import AnswerGather
from orchestrator.core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "gather.db")
    yield s
    s.close()


def _gathered(gather: AnswerGather, within_s: float) -> bool:
    """Whether `gather.wait()` ended within `within_s` (a bound far above what it should take)."""

    async def run() -> bool:
        try:
            await asyncio.wait_for(gather.wait(), within_s)
        except TimeoutError:
            return False
        return True

    return asyncio.run(run())


def test_a_quiet_store_ends_the_gather_long_before_its_bound(store: Store) -> None:
    # Bound 60 s, quiet 0.05 s: ending within 10 s can only be the quiet store.
    assert _gathered(AnswerGather(store, quiet_s=0.05, most_s=60.0), within_s=10.0)


def test_a_store_that_keeps_committing_is_answered_at_the_bound(store: Store) -> None:
    stop = threading.Event()

    def commit() -> None:
        n = 0
        while not stop.wait(0.005):  # a commit every 5 ms: never quiet for 0.5 s
            store.ensure_cluster(f"busy-{n}")
            n += 1

    busy = threading.Thread(target=commit)
    busy.start()
    try:
        gather = AnswerGather(store, quiet_s=0.5, most_s=0.3)
        assert _gathered(gather, within_s=10.0)
        assert busy.is_alive()  # ended by the bound, while the store was still busy
        before = store.position
        stop.wait(0.1)
        assert store.position > before  # (and the store really was committing)
    finally:
        stop.set()
        busy.join()


def test_a_gather_that_overlaps_a_commit_waits_for_the_quiet_after_it(store: Store) -> None:
    # Quiet 0.4 s: a commit 0.2 s into the gather restarts the quiet period, so the gather ends
    # after the commit, never before it.
    committed: list[int] = []

    async def run() -> list[int]:
        gather = AnswerGather(store, quiet_s=0.4, most_s=30.0)

        async def commit_later() -> None:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(store.ensure_cluster, "late")
            committed.append(store.position)

        later = asyncio.create_task(commit_later())
        await asyncio.wait_for(gather.wait(), 10.0)
        ended_with = list(committed)
        await later
        return ended_with

    assert len(asyncio.run(run())) == 1


@pytest.mark.parametrize("ended", [False, True])
def test_gathering_off_or_a_stopping_server_answers_at_once(store: Store, ended: bool) -> None:
    # Off: most_s 0. Stopping: the bound is 60 s and quiet 30 s, yet it ends within 5 s.
    gather = AnswerGather(store, quiet_s=30.0, most_s=60.0 if ended else 0.0)
    if ended:
        store.end_watches()
    assert _gathered(gather, within_s=5.0)
