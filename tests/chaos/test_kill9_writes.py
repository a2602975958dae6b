"""kill -9 of a real control plane process while clients write: every write the control plane
acknowledged (answered 200) is there after a restart on the same data dir, round after round.
Prints how many writes were acknowledged, in flight and found per round."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx

from tests.reliability.server_process import server_process

ROUNDS = 5
WRITES_BEFORE_KILL = 300
WRITERS = 4


def _families(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT family FROM task_definitions")}
    finally:
        conn.close()


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    acknowledged: set[str] = set()
    for round_no in range(ROUNDS):
        with server_process(tmp_path) as server:
            admin = {"authorization": f"Bearer {server.admin_token}"}
            # What earlier rounds acknowledged is still there, read back through the API.
            listed = httpx.get(server.url + "/v1/task-definitions", headers=admin, params={"status": "ACTIVE"})
            assert listed.status_code == 200
            this_round: set[str] = set()
            lock = threading.Lock()
            stop = threading.Event()
            attempts = [0]

            def writer(w: int, url: str = server.url) -> None:
                n = 0
                with httpx.Client(base_url=url, headers=admin, timeout=10) as http:
                    while not stop.is_set():
                        family = f"r{round_no}-w{w}-{n}"
                        n += 1
                        body = {"family": family, "containerDefinitions": [{"name": "a", "image": "i", "memory": 8}]}
                        with lock:
                            attempts[0] += 1
                        try:
                            resp = http.post("/v1/task-definitions", json=body)
                        except httpx.HTTPError:
                            return  # the process died mid-request: not acknowledged
                        if resp.status_code == 200:
                            with lock:
                                this_round.add(family)

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
            for t in threads:
                t.start()
            while True:
                with lock:
                    if len(this_round) >= WRITES_BEFORE_KILL:
                        break
                if not server.alive():
                    break
                stop.wait(0.01)
            server.proc.kill()  # SIGKILL, with writes in flight
            server.proc.wait()
            stop.set()
            for t in threads:
                t.join()
        acknowledged |= this_round
        found = _families(tmp_path / "data" / "orchestrator.db")
        missing = acknowledged - found
        print(
            f"round {round_no + 1}: {len(this_round)} acknowledged, {attempts[0] - len(this_round)} in flight or "
            f"refused at the kill, {len(acknowledged)} acknowledged in all, {len(missing)} missing"
        )
        assert not missing, sorted(missing)[:10]
    with server_process(tmp_path) as server:
        resp = httpx.get(server.url + "/v1/clusters", headers={"authorization": f"Bearer {server.admin_token}"})
        assert resp.status_code == 200
