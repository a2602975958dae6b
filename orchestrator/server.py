"""Assembling and running a control plane: store, operations, background jobs and HTTP server."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
import uvicorn

from orchestrator.api import autoscaling_rest, elbv2_rest, exec_rest, secrets_rest
from orchestrator.api.app import create_app
from orchestrator.api.aws import ecs
from orchestrator.api.limits import Limits, slow_client_protocol
from orchestrator.autoscaling.metrics import MetricsCollector
from orchestrator.autoscaling.runner import AutoscalingRunner
from orchestrator.core.clock import Clock, SystemClock
from orchestrator.core.ids import Ids
from orchestrator.core.models import set_region
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store
from orchestrator.jobs import Background
from orchestrator.lb import DataPlane
from orchestrator.operations import Context, Operations
from orchestrator.reconcile.targets import TargetController
from orchestrator.security.auth import ADMIN_TOKEN_FILE, JOIN_TOKEN_FILE, Tokens
from orchestrator.security.credentials import MASTER_KEY_FILE
from orchestrator.security.tls import Certificates, pinned_join_token

log = structlog.get_logger("orchestrator.server")

# How long a thread holding the GIL keeps it while another waits (Python's default is 5 ms). The
# API's worker threads give the GIL up around every SQLite step (one per row) and then wait for
# it: at 5 ms each, against the event loop's HTTP work, an agent's answer of a few rows spent
# ~100 ms waiting and ~1.8 ms of CPU handing the GIL back and forth (benchmarks/control_plane.py).
GIL_SWITCH_INTERVAL_S = 0.0005

DB_FILE = "orchestrator.db"
# Worker threads for sync routes; agents' long-polls wait on the event loop and hold none (api/agents.py).
THREAD_LIMIT = 400


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT, checked to be free so a second cluster on the same port fails with a clear word."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    host = host.strip("[]")
    if int(port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, int(port)))
            except OSError as err:
                raise ValueError(
                    f"cannot listen on {host}:{port} ({err.strerror}): another orchestrator server or dev may "
                    "be running there; stop it or pick another address with --listen"
                ) from None
    return host, int(port)


LOCK_FILE = "server.lock"


def private_dir(path: Path) -> None:
    """The data dir holds the database (task environments), tokens and keys: its owner's only."""
    path.chmod(0o700)


def private_files(path: Path) -> None:
    """Every file already in the data dir readable by its owner only (an older version left 0644)."""
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            item.chmod(0o600)


def hold_data_dir(data_dir: Path) -> Any:
    """An exclusive lock on the data dir for this process's life: a second control plane on the
    same data dir, or `orchestrator restore` while one runs, is refused instead of corrupting it."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataDirBusy(
            f"another control plane is using {data_dir}; stop it first (or give this one another --data-dir)"
        ) from None
    return handle


class DataDirBusy(RuntimeError):
    """The data dir is locked by a running control plane."""


@asynccontextmanager
async def _lifespan(_: Any) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
    yield


class _Server(uvicorn.Server):
    """uvicorn's server, ending the agents' long-polls as it stops: each answers at once (with
    Connection: close) instead of waiting out the grace time and dying with a traceback."""

    def __init__(self, config: uvicorn.Config, store: Store) -> None:
        super().__init__(config)
        self._store = store

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection first, so the answered agents cannot poll again
        self._store.end_watches()
        await super().shutdown(sockets)


@dataclass
class ControlPlane:
    data_dir: Path
    settings: Settings = field(default_factory=Settings)
    clock: Clock = field(default_factory=SystemClock)
    limits: Limits = field(default_factory=Limits)
    tls: Certificates | None = None
    ids: Ids = field(default_factory=Ids)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        private_dir(self.data_dir)
        self._lock = hold_data_dir(self.data_dir)
        set_region(self.settings.region)
        try:
            self.store = Store(self.data_dir / DB_FILE)
        except BaseException:
            self._lock.close()
            raise
        # No `default` cluster until something creates it (CreateCluster, or the first agent to
        # join it), as on ECS.
        self.tokens = Tokens.load_or_create(self.data_dir)
        self.metrics = MetricsCollector(self.store, self.clock, self.settings.metric_period_s)
        self.ctx = Context(
            store=self.store,
            clock=self.clock,
            settings=self.settings,
            metrics_sink=self.metrics.sink,
            request_sink=self.metrics.observe_requests,
            master_key_path=self.data_dir / MASTER_KEY_FILE,
            ids=self.ids,
        )
        self.ops = Operations(self.ctx)
        self.background = Background(self.ctx)
        self.autoscaler = AutoscalingRunner(self.store, self.clock, self.settings, self.ops, self.metrics)
        self.background.add_periodic("autoscaling", self.settings.metric_period_s, self.autoscaler.tick)
        self.background.add_scheduled_actions(self.ops.scheduled_actions, self.ops.run_scheduled_action)
        # Load balancers: targets follow tasks, HAProxy follows the store, health comes back.
        self.targets = TargetController(self.ctx, DataPlane(self.data_dir / "lb"))
        self.background.add_periodic("load-balancers", 1.0, self.targets.tick)
        private_files(self.data_dir)
        self.app = create_app(self.ops, self.tokens, self._extra_routers(), lifespan=_lifespan, limits=self.limits)
        self.app.state.tls = self.tls
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _extra_routers(self) -> list[Any]:
        return [
            *ecs.routers(self.ctx, self.ops, self.data_dir),
            autoscaling_rest.router,
            elbv2_rest.router,
            secrets_rest.router,
            exec_rest.router,
        ]

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def pinned_join_token(self) -> str:
        """The join token, with the CA's fingerprint when this control plane made its own CA."""
        return pinned_join_token(self.join_token, self.tls)

    @property
    def admin_token(self) -> str:
        return (self.data_dir / ADMIN_TOKEN_FILE).read_text().strip()

    @property
    def join_token(self) -> str:
        return (self.data_dir / JOIN_TOKEN_FILE).read_text().strip()

    def _uvicorn(self, host: str, port: int) -> uvicorn.Server:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # for the whole process: it serves the control plane
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            # Nothing fronts the control plane: a client's X-Forwarded-For is not its address.
            proxy_headers=False,
            timeout_graceful_shutdown=2,
            http=slow_client_protocol(self.limits.head_timeout_s),
            timeout_keep_alive=int(self.limits.keep_alive_s),
            # The request line and headers together; more is refused by h11 before any route runs.
            h11_max_incomplete_event_size=self.limits.max_header_bytes + 1024,
            ssl_certfile=str(self.tls.cert) if self.tls else None,
            ssl_keyfile=str(self.tls.key) if self.tls else None,
        )
        return _Server(config, self.store)

    def serve(self, listen: str) -> None:
        """Run in the foreground until SIGINT/SIGTERM."""
        host, port = parse_listen(listen)
        self.background.start()
        server = self._uvicorn(host, port)

        log.info("control plane listening", url=f"{self.scheme}://{host}:{port}", data_dir=str(self.data_dir))
        try:
            server.run()
        finally:
            self.background.stop()
            self.targets.close()
            self.store.close()
            self._lock.close()

    def start_in_thread(self, listen: str) -> str:
        """Serve from a background thread (dev mode, tests); returns the base URL once ready."""
        host, port = parse_listen(listen)
        self.background.start()
        server = self._uvicorn(host, port)

        self._server = server
        self._thread = threading.Thread(target=server.run, name="http", daemon=True)
        self._thread.start()
        ready = threading.Event()
        for _ in range(200):
            if server.started:
                ready.set()
                break
            threading.Event().wait(0.05)
        if not ready.is_set():
            raise RuntimeError(f"the control plane did not start listening on {listen}")
        bound = server.servers[0].sockets[0].getsockname()[1] if port == 0 else port
        return f"{self.scheme}://{host}:{bound}"

    def stop(self) -> None:
        self.ops.exec_hub.shut_down()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.background.stop()
        self.targets.close()
        self.store.close()
        self._lock.close()
