"""The HAProxy data plane on its own, with real HAProxy processes and plain HTTP servers on loopback:
a new server takes no request before its health check passes, a reload keeps the servers, and a
control plane that died without stopping HAProxy does not leave it serving an old configuration."""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.lb import Backend, DataPlane, Frontend, HealthCheck, Server, Spec
from tests.harness import wait_for

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HC = HealthCheck(path="/", interval_s=1, timeout_s=1, rise=2, fall=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[dict[str, int]]:
    servers = {}
    for name in ("a", "b"):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Named)
        srv.name = name  # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers[name] = srv
    yield {name: srv.server_address[1] for name, srv in servers.items()}
    for srv in servers.values():
        srv.shutdown()


def spec(port: int, servers: dict[str, int], health: HealthCheck = HC) -> Spec:
    return Spec(
        (Frontend("fe", "127.0.0.1", port, "http", (("be", 1),)),),
        (Backend("be", "http", health, tuple(Server(n, "127.0.0.1", p) for n, p in servers.items())),),
    )


def get(port: int) -> str:
    with OPENER.open(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        return str(resp.read().decode())


def settle(plane: DataPlane) -> bool:
    stats = plane.stats()
    plane.admit(stats)
    return bool(stats) and all(plane.admitted(s.backend, s.server) for s in stats)


def test_new_servers_wait_for_their_checks_and_a_reload_keeps_them(tmp_path: Path, backends: dict[str, int]) -> None:
    port = free_port()
    plane = DataPlane(tmp_path / "lb")
    try:
        plane.apply(spec(port, {"a": backends["a"]}))
        wait_for(lambda: settle(plane), 20, what="server a admitted")
        plane.apply(spec(port, backends))
        # b is added at run time with weight 0: until admitted, every request goes to a.
        assert not plane.admitted("be", "b")
        assert {get(port) for _ in range(10)} == {"a"}
        wait_for(lambda: settle(plane), 20, what="server b admitted")
        assert {get(port) for _ in range(10)} == {"a", "b"}
        worker = plane.pid
        plane.apply(spec(port, backends, HealthCheck(path="/", interval_s=2, timeout_s=1, rise=2, fall=2)))
        assert plane.pid != worker  # a new configuration is a reload ...
        assert {get(port) for _ in range(10)} == {"a", "b"}  # ... that kept both servers
    finally:
        plane.stop()
    assert not plane.running()


def test_an_haproxy_left_by_a_dead_control_plane_is_replaced(tmp_path: Path, backends: dict[str, int]) -> None:
    port = free_port()
    first = DataPlane(tmp_path / "lb")
    first.apply(spec(port, {"a": backends["a"]}))
    assert first._proc is not None
    orphan = first._proc
    # The control plane dies: its supervisor with it, its HAProxy (own session) lives on.
    first._stop.set()
    assert first._supervisor is not None
    first._supervisor.join(timeout=5)
    # The next control plane on the same data dir, knowing a was healthy.
    second = DataPlane(tmp_path / "lb")
    try:
        second.seed_admitted({("be", "b")})
        second.apply(spec(port, {"b": backends["b"]}))
        wait_for(lambda: orphan.poll() is not None, 10, what="the old HAProxy stopped")
        # b was known healthy: it serves at once, and nothing answers with the old configuration.
        assert {get(port) for _ in range(10)} == {"b"}
    finally:
        second.stop()
