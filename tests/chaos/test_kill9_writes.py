"""kill -9 of a real control plane process while clients write: every write the control plane
acknowledged (answered 200) is there after a restart on the same data dir, round after round.
Prints how many writes were acknowledged, in flight and found per round."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.reliability.server_process import ServerProcess, server_process

ROUNDS = 20  # issue 14: 20 kills, each during 1,000 acknowledged writes
WRITES_BEFORE_KILL = 1000
WRITERS = 4


def _families(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT family FROM task_definitions")}
    finally:
        conn.close()


@dataclass
class Round:
    number: int
    server: ServerProcess
    acknowledged: set[str] = field(default_factory=set)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def writer(self, w: int) -> None:
        admin = {"authorization": f"Bearer {self.server.admin_token}"}
        n = 0
        with httpx.Client(base_url=self.server.url, headers=admin, timeout=10) as http:
            while not self.stop.is_set():
                family = f"r{self.number}-w{w}-{n}"
                n += 1
                body = {"family": family, "containerDefinitions": [{"name": "a", "image": "i", "memory": 8}]}
                with self.lock:
                    self.attempts += 1
                try:
                    resp = http.post("/v1/task-definitions", json=body)
                except httpx.HTTPError:
                    return  # the process died mid-request: not acknowledged
                if resp.status_code == 200:
                    with self.lock:
                        self.acknowledged.add(family)

    def run_then_kill(self) -> None:
        threads = [threading.Thread(target=self.writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        while self.server.alive():
            with self.lock:
                if len(self.acknowledged) >= WRITES_BEFORE_KILL:
                    break
            self.stop.wait(0.01)
        self.server.proc.kill()  # SIGKILL, with writes in flight
        self.server.proc.wait()
        self.stop.set()
        for t in threads:
            t.join()


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    acknowledged: set[str] = set()
    for number in range(ROUNDS):
        with server_process(tmp_path) as server:
            listed = httpx.get(
                server.url + "/v1/task-definitions", headers={"authorization": f"Bearer {server.admin_token}"}
            )
            assert listed.status_code == 200  # what earlier rounds wrote reads back through the API
            this = Round(number, server)
            this.run_then_kill()
        acknowledged |= this.acknowledged
        missing = acknowledged - _families(tmp_path / "data" / "orchestrator.db")
        print(
            f"round {number + 1}: {len(this.acknowledged)} acknowledged, {this.attempts - len(this.acknowledged)} in "
            f"flight at the kill, {len(acknowledged)} acknowledged in all, {len(missing)} missing"
        )
        assert not missing, sorted(missing)[:10]
    with server_process(tmp_path) as server:
        resp = httpx.get(server.url + "/v1/clusters", headers={"authorization": f"Bearer {server.admin_token}"})
        assert resp.status_code == 200
