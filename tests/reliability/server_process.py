"""A real `orchestrator server` process on loopback, its log captured to a file, for the tests
that measure what a hostile client costs the process (memory, log lines, connections)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    data_dir: Path
    log: Path

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    @property
    def join_token(self) -> str:
        return (self.data_dir / "join.token").read_text().strip()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextmanager
def server_process(tmp: Path, *args: str, scheme: str = "http") -> Iterator[ServerProcess]:
    port = free_port()
    data_dir = tmp / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "orchestrator"), "server", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"{scheme}://127.0.0.1:{port}"
    verify: object = True
    server = ServerProcess(proc, url, port, data_dir, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited ({proc.returncode}):\n{server.log_text()}")
            ca = data_dir / "tls" / "ca.pem"
            if scheme == "https" and ca.exists():
                verify = ssl.create_default_context(cafile=str(ca))
            try:
                if scheme == "https" and verify is True:
                    raise httpx.ConnectError("no CA yet")
                if httpx.get(url + "/healthz", timeout=2, verify=verify).status_code == 200:  # type: ignore[arg-type]
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer within 60 s:\n{server.log_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
