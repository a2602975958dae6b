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
LANES = 2


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


def _rounds(data: Path, numbers: range, failures: list[str]) -> None:
    """Kill rounds one after another on one data dir; what went missing is put in `failures`."""
    acknowledged: set[str] = set()
    try:
        for number in numbers:
            with server_process(data) as server:
                listed = httpx.get(
                    server.url + "/v1/task-definitions", headers={"authorization": f"Bearer {server.admin_token}"}
                )
                if listed.status_code != 200:  # what earlier rounds wrote reads back through the API
                    failures.append(f"round {number + 1}: listing answered {listed.status_code}")
                    return
                this = Round(number, server)
                this.run_then_kill()
            acknowledged |= this.acknowledged
            missing = acknowledged - _families(data / "data" / "orchestrator.db")
            print(
                f"round {number + 1}: {len(this.acknowledged)} acknowledged, "
                f"{this.attempts - len(this.acknowledged)} in flight at the kill, "
                f"{len(acknowledged)} acknowledged in {data.name} in all, {len(missing)} missing"
            )
            if len(this.acknowledged) < WRITES_BEFORE_KILL:
                failures.append(f"round {number + 1}: the server died after {len(this.acknowledged)} writes")
            if missing:
                failures.append(f"round {number + 1}: {len(missing)} acknowledged missing: {sorted(missing)[:10]}")
                return
        with server_process(data) as server:
            resp = httpx.get(server.url + "/v1/clusters", headers={"authorization": f"Bearer {server.admin_token}"})
            if resp.status_code != 200:
                failures.append(f"{data.name}: the last restart answered {resp.status_code}")
    except Exception as err:  # a lane's thread must report, not vanish
        failures.append(f"{data.name}: {type(err).__name__}: {err}")


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    # Two data dirs, each its own server process, killed in turn: the twenty kills take half the
    # time of one lane and each still lands during 1,000 acknowledged writes.
    failures: list[str] = []
    lanes = [
        threading.Thread(target=_rounds, args=(tmp_path / f"lane{lane}", range(lane, ROUNDS, LANES), failures))
        for lane in range(LANES)
    ]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    assert not failures, failures
