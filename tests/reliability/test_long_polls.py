"""Agents' long-polls hold no worker thread: with more polls open than the server has threads, an
admin read still answers while every poll is still waiting (over real HTTP on loopback).

Each agent keeps two polls open all the time, its assignments and its exec sessions; with 1,000
agents a thread each would be 2,000 threads. The server here gets 8 (THREAD_LIMIT patched), and
24 polls wait for 20 s each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import server as server_module
from orchestrator.server import ControlPlane

THREADS = 8
AGENTS = 12  # x 2 polls = 24, three times the threads


@pytest.fixture
def plane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ControlPlane, str]]:
    monkeypatch.setattr(server_module, "THREAD_LIMIT", THREADS)
    plane = ControlPlane(tmp_path / "data")
    url = plane.start_in_thread("127.0.0.1:0")
    yield plane, url
    plane.stop()


def _register(url: str, join_token: str, n: int) -> str:
    body = {"joinToken": join_token, "zone": "us-east-1a", "cpu": 1024, "memory": 1024, "name": f"poller-{n}"}
    reg = httpx.post(url + "/v1/agent/register", json=body, timeout=30)
    assert reg.status_code == 200, reg.text
    return str(reg.json()["credential"])


def test_an_admin_read_answers_while_more_polls_wait_than_there_are_threads(plane: tuple[ControlPlane, str]) -> None:
    cp, url = plane
    credentials = [_register(url, cp.join_token, n) for n in range(AGENTS)]

    async def scenario() -> tuple[int, list[bool]]:
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=100)) as client:
            polls = []
            for credential in credentials:
                headers = {"authorization": f"Bearer {credential}"}
                since = (await client.get("/v1/agent/assignments?wait=0", headers=headers)).json()["seq"]
                for path in (f"/v1/agent/assignments?since={since}&wait=20", "/v1/agent/exec?wait=20"):
                    polls.append(asyncio.create_task(client.get(path, headers=headers)))
            await asyncio.sleep(1.0)  # let every poll reach the server and start waiting
            admin = await client.get("/v1/clusters", headers={"authorization": f"Bearer {cp.admin_token}"})
            still_waiting = [not p.done() for p in polls]
            for p in polls:
                p.cancel()
            await asyncio.gather(*polls, return_exceptions=True)
            return admin.status_code, still_waiting

    status, still_waiting = asyncio.run(scenario())
    assert status == 200
    # The read came back while all 24 polls were still open: none of them held one of the 8 threads.
    assert still_waiting == [True] * (2 * AGENTS)


def test_stopping_the_control_plane_answers_the_parked_long_polls_at_once(tmp_path: Path) -> None:
    # Without this the polls wait out uvicorn's grace time (2 s) and are cancelled, each with a
    # traceback in the log; an agent then sees a broken connection instead of an answer.
    import threading
    import time

    cp = ControlPlane(tmp_path / "data")
    url = cp.start_in_thread("127.0.0.1:0")
    credentials = [_register(url, cp.join_token, n) for n in range(4)]
    answers: list[int] = []
    seqs = []
    for credential in credentials:
        headers = {"authorization": f"Bearer {credential}"}
        seqs.append(httpx.get(url + "/v1/agent/assignments?wait=0", headers=headers, timeout=10).json()["seq"])

    def poll(credential: str, since: int) -> None:
        headers = {"authorization": f"Bearer {credential}"}
        reply = httpx.get(url + f"/v1/agent/assignments?since={since}&wait=30", headers=headers, timeout=60)
        answers.append(reply.status_code)

    polls = [threading.Thread(target=poll, args=pair) for pair in zip(credentials, seqs, strict=True)]
    for p in polls:
        p.start()
    time.sleep(1.0)  # every poll is parked on the server
    assert answers == []
    cp.stop()
    for p in polls:
        p.join(10)
    # Answered (they asked for 30 s); cancelled at the end of the grace time, they were 500s.
    assert answers == [200] * 4


@pytest.mark.parametrize(
    ("quiet_s", "tasks_in_first_answer"),
    [
        # The second task is placed 0.5 s after the first woke the poll: the store was not quiet
        # for 1 s in between, so the poll answers with both.
        (1.0, 2),
        # Quiet for 0.05 s after the first: answered with it; the second waits for the next poll.
        (0.05, 1),
    ],
)
def test_a_woken_long_poll_gathers_the_placements_that_follow_into_one_answer(
    tmp_path: Path, quiet_s: float, tasks_in_first_answer: int
) -> None:
    import threading
    import time

    from orchestrator.core.settings import Settings
    from tests.builders import task_definition

    settings = Settings(agent_answer_quiet_s=quiet_s, agent_answer_gather_s=10.0)
    cp = ControlPlane(tmp_path / "data", settings)
    url = cp.start_in_thread("127.0.0.1:0")
    try:
        headers = {"authorization": f"Bearer {_register(url, cp.join_token, 0)}"}
        since = httpx.get(url + "/v1/agent/assignments?wait=0", headers=headers, timeout=10).json()["seq"]
        family = task_definition(cp.ops)
        answers: list[dict[str, Any]] = []

        def poll() -> None:
            reply = httpx.get(url + f"/v1/agent/assignments?since={since}&wait=20", headers=headers, timeout=60)
            answers.append(reply.json())

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)  # parked on the server
        cp.ops.run_task({"taskDefinition": family})
        time.sleep(0.5)
        cp.ops.run_task({"taskDefinition": family})
        poller.join(30)
        [answer] = answers
        assert len(answer["tasks"]) == tasks_in_first_answer
    finally:
        cp.stop()
