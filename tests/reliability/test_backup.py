"""`orchestrator backup` while a real server process serves and writes, `orchestrator restore`
into a stopped data dir, and the integrity check at start: a damaged database stops the server
with a message that says how out, and the data dir lock refuses a restore under a running one."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.reliability.server_process import server_process

CLI = str(Path(sys.executable).parent / "orchestrator")


def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent"}
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc


def _families(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT family FROM task_definitions")}
    finally:
        conn.close()


def test_backup_while_serving_and_restore(tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    with server_process(tmp_path / "a") as server:
        admin = {"authorization": f"Bearer {server.admin_token}"}
        acknowledged: list[str] = []
        stop = threading.Event()

        def writer() -> None:
            n = 0
            while not stop.is_set():
                family = f"fam-{n}"
                body = {"family": family, "containerDefinitions": [{"name": "a", "image": "orch/busybox", "memory": 8}]}
                if httpx.post(server.url + "/v1/task-definitions", json=body, headers=admin).status_code == 200:
                    acknowledged.append(family)
                n += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while len(acknowledged) < 20:
                threading.Event().wait(0.05)
            before = set(acknowledged)
            out = run("backup", str(backup), "--data-dir", str(server.data_dir)).stdout
            assert "integrity ok" in out
        finally:
            stop.set()
            thread.join()
        assert server.alive()
        # Restore refuses while the server holds the data dir.
        refused = run("restore", str(backup), "--data-dir", str(server.data_dir), expect=1)
        assert "stop it first" in refused.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    saved = _families(backup)
    assert before <= saved  # everything acknowledged before the backup began is in it
    print(f"backup while serving: {len(saved)} task definitions copied, {len(acknowledged)} written in all")
    data = tmp_path / "a" / "data"
    run("restore", str(backup), "--data-dir", str(data))
    assert _families(data / "orchestrator.db") == saved
    assert any(p.name.startswith("orchestrator.db.before-restore-") for p in data.iterdir())
    with server_process(tmp_path / "a") as again:
        resp = httpx.get(again.url + "/v1/task-definitions", headers={"authorization": f"Bearer {again.admin_token}"})
        assert resp.status_code == 200


def test_restore_refuses_a_file_that_is_no_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    proc = run("restore", str(junk), "--data-dir", str(tmp_path / "data"), expect=1)
    assert "cannot restore" in proc.stderr


def test_a_damaged_database_stops_the_server_with_the_way_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "orchestrator.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))  # a header, then garbage
    port = "127.0.0.1:0"
    proc = subprocess.run(
        [CLI, "server", "--data-dir", str(data), "--listen", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "damaged" in proc.stderr and "orchestrator restore" in proc.stderr
    assert "Traceback" not in proc.stderr
