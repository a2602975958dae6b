"""One supervised HAProxy process serving every load balancer of a control plane.

`DataPlane.apply(spec)` makes HAProxy match a `Spec`:
- servers come and go through the Runtime API (`add server`, `set server ... state drain`,
  `del server`), never a reload, so no connection is dropped. A new server starts with weight 0
  and its health forced down: it takes no request until its health check has passed `rise`
  times, and only then gets its weight (`admit`);
- anything else (a listener, a target group, its health check) needs a new configuration: it is
  checked with `haproxy -c`, the servers' state is saved to the state file, and the master
  process reloads (master-worker mode hands the listening sockets over: no refused connection).
A supervisor thread restarts HAProxy with the same configuration and servers if it dies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import structlog

from orchestrator.lb.runtime import Runtime
from orchestrator.lb.spec import Backend, Frontend, HealthCheck, Server, ServerStats, Spec

log = structlog.get_logger("orchestrator.lb")

WEIGHT = 100
START_WAIT_S = 10.0


class HaproxyMissing(Exception):
    """No usable haproxy binary (the project's setup installs Debian's: scripts/ensure-haproxy.sh)."""


def haproxy_binary() -> str | None:
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None


def _check_lines(hc: HealthCheck) -> list[str]:
    if not hc.enabled:
        return []
    lines = [f"  timeout check {hc.timeout_s}s"]
    if hc.protocol == "HTTP":
        lines += [
            "  option httpchk",
            f"  http-check send meth GET uri {hc.path} ver HTTP/1.1 hdr Host localhost",
            f"  http-check expect status {hc.codes}",
        ]
    return lines


def server_args(server: Server, hc: HealthCheck, weight: int) -> str:
    args = f"{server.address}:{server.port} weight {weight}"
    if hc.enabled:
        args += f" check inter {hc.interval_s}s rise {hc.rise} fall {hc.fall}"
        if hc.port is not None:
            args += f" port {hc.port}"
    return args


def render(spec: Spec, run_dir: Path, admitted: set[tuple[str, str]]) -> str:
    """The configuration for `spec`; servers already admitted keep their weight across restarts."""
    out = [
        "# Written by the orchestrator control plane (orchestrator/lb); changes here are overwritten.",
        "global",
        f"  stats socket {run_dir / 'admin.sock'} mode 600 level admin expose-fd listeners",
        f"  server-state-file {run_dir / 'servers.state'}",
        "  maxconn 4096",
        "defaults",
        "  timeout connect 2s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  timeout http-request 10s",
        "  load-server-state-from-file global",
        # A connection refused by a server that just went away is tried on another one.
        "  retries 3",
        "  option redispatch 1",
    ]
    for fe in spec.frontends:
        out += ["", f"frontend {fe.name}", f"  mode {fe.mode}", f"  bind {fe.address}:{fe.port}"]
        if fe.mode == "http":
            out.append("  option forwardfor")
        if len(fe.backends) == 1:
            out.append(f"  default_backend {fe.backends[0][0]}")
        elif fe.backends:
            total = sum(w for _, w in fe.backends) or 1
            pick = "http-request" if fe.mode == "http" else "tcp-request content"
            out.append(f"  {pick} set-var(txn.pick) rand({total})")
            upto = 0
            for name, weight in fe.backends[:-1]:
                upto += weight
                out.append(f"  use_backend {name} if {{ var(txn.pick) -m int lt {upto} }}")
            out.append(f"  default_backend {fe.backends[-1][0]}")
    for be in spec.backends:
        out += ["", f"backend {be.name}", f"  mode {be.mode}", "  balance roundrobin"]
        out += _check_lines(be.health)
        for srv in be.servers:
            weight = WEIGHT if (be.name, srv.name) in admitted else 0
            out.append(f"  server {srv.name} {server_args(srv, be.health, weight)}")
    return "\n".join(out) + "\n"


class DataPlane:
    def __init__(self, run_dir: Path, binary: str | None = None) -> None:
        self.run_dir = run_dir
        self.binary = binary
        self.config_path = run_dir / "haproxy.cfg"
        self.runtime = Runtime(run_dir / "admin.sock")
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._spec = Spec()
        self._admitted: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    # -- process ---------------------------------------------------------------------------

    def _binary(self) -> str:
        found = self.binary or haproxy_binary()
        if not found:
            raise HaproxyMissing(
                "haproxy is not installed: run `make setup` (scripts/ensure-haproxy.sh installs Debian's haproxy)"
            )
        return found

    @property
    def pid(self) -> int | None:
        """The worker's pid (the process serving traffic), or None when HAProxy is not running."""
        return self.runtime.pid() if self.running() else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = render(self._spec, self.run_dir, self._admitted)
        candidate = self.run_dir / "haproxy.cfg.new"
        candidate.write_text(text)
        check = subprocess.run(
            [self._binary(), "-c", "-q", "-f", str(candidate)], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise ValueError(f"HAProxy rejected the configuration: {(check.stderr or check.stdout).strip()[-500:]}")
        candidate.replace(self.config_path)

    def _reap_orphan(self) -> None:
        """Stop an HAProxy a previous control plane left running on this run directory (it was
        killed before it could stop it): it would keep serving an old configuration."""
        pid_file = self.run_dir / "haproxy.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "haproxy" not in cmdline or str(self.config_path) not in cmdline:
            return
        log.warning("stopping an HAProxy left by a previous control plane", pid=pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def seed_admitted(self, servers: set[tuple[str, str]]) -> None:
        """Servers known healthy before (a restarted control plane): they keep their weight at start."""
        with self._lock:
            if not self.running():
                self._admitted |= servers

    def _start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._reap_orphan()
        self._write_config()
        (self.run_dir / "servers.state").unlink(missing_ok=True)
        log_file = open(self.run_dir / "haproxy.log", "ab")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen(
            [self._binary(), "-W", "-db", "-f", str(self.config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        (self.run_dir / "haproxy.pid").write_text(str(self._proc.pid))
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ValueError(f"haproxy exited at start (see {self.run_dir / 'haproxy.log'})")
            if self.runtime.answers():
                break
            time.sleep(0.05)
        else:
            raise ValueError(f"haproxy did not open its admin socket in {START_WAIT_S:.0f} s")
        self._reassert_states()
        log.info("haproxy started", pid=self._proc.pid, config=str(self.config_path))

    def _reload(self) -> None:
        assert self._proc is not None
        old_pid = self.runtime.pid()
        with contextlib.suppress(OSError):
            (self.run_dir / "servers.state").write_text(self.runtime.run("show servers state"))
        self._write_config()
        self._proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            pid = self.runtime.pid()
            if pid is not None and pid != old_pid:
                break
            time.sleep(0.05)
        else:
            raise ValueError("haproxy did not reload its configuration in time")
        self._reassert_states()
        log.info("haproxy reloaded", worker=self.runtime.pid())

    def _reassert_states(self) -> None:
        """After a start or reload: draining servers drain, and servers not yet admitted are taken
        as down until their checks pass (HAProxy assumes a configured server up at start)."""
        commands = []
        for be in self._spec.backends:
            for srv in be.servers:
                if be.health.enabled and (be.name, srv.name) not in self._admitted:
                    commands.append(f"set server {be.name}/{srv.name} health down")
                if srv.state == "drain":
                    commands.append(f"set server {be.name}/{srv.name} state drain")
        if commands:
            self.runtime.run(*commands)

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._stop.is_set() or self._proc is None or self._proc.poll() is None:
                    continue
                log.warning("haproxy died; restarting it with the same configuration", code=self._proc.returncode)
                self.restarts += 1
                try:
                    self._start()
                except Exception:
                    log.exception("haproxy restart failed; trying again")

    # -- applying a spec -------------------------------------------------------------------

    def apply(self, spec: Spec) -> None:
        """Make HAProxy match `spec` (start, reload, or change servers at run time; stop when empty)."""
        with self._lock:
            if spec.empty():
                self._spec = spec
                self._terminate()
                return
            old = self._spec
            self._spec = spec
            try:
                if not self.running():
                    self._admitted &= {(b.name, srv.name) for b in spec.backends for srv in b.servers}
                    self._start()
                elif spec.config_key() != old.config_key():
                    self._reload()
                else:
                    self._change_servers(old, spec)
            except Exception:
                self._spec = old
                raise
            if self._supervisor is None:
                self._supervisor = threading.Thread(target=self._supervise, name="haproxy-supervisor", daemon=True)
                self._supervisor.start()

    def _change_servers(self, old: Spec, new: Spec) -> None:
        before = {b.name: {s.name: s for s in b.servers} for b in old.backends}
        commands: list[str] = []
        for be in new.backends:
            had = before.get(be.name, {})
            for srv in be.servers:
                was = had.get(srv.name)
                path = f"{be.name}/{srv.name}"
                if was is None or (was.address, was.port) != (srv.address, srv.port):
                    if was is not None:
                        commands += self._removal(path)
                    self._admitted.discard((be.name, srv.name))
                    # Weight 0 and health down: no request before `rise` passing checks.
                    commands += [
                        f"add server {path} {server_args(srv, be.health, 0)}",
                        *([f"enable health {path}"] if be.health.enabled else []),
                        f"set server {path} state ready",
                        *([f"set server {path} health down"] if be.health.enabled else []),
                    ]
                    if srv.state == "drain":
                        commands.append(f"set server {path} state drain")
                elif srv.state != was.state:
                    commands.append(f"set server {path} state {srv.state}")
            kept = {s.name for s in be.servers}
            for name in had:
                if name not in kept:
                    commands += self._removal(f"{be.name}/{name}")
                    self._admitted.discard((be.name, name))
        for cmd in commands:
            out = self.runtime.run(cmd).strip()
            if out and not out.startswith(("New server registered", "Server deleted")):
                log.warning("haproxy runtime answer", command=cmd, answer=out)

    @staticmethod
    def _removal(path: str) -> list[str]:
        # `del server` needs the server in maintenance with no connection left.
        return [f"set server {path} state maint", f"shutdown sessions server {path}", f"del server {path}"]

    def admit(self, stats: list[ServerStats]) -> None:
        """Give their weight to servers whose health check has passed (they were added at weight 0)."""
        with self._lock:
            commands = []
            wanted = {(b.name, s.name): b for b in self._spec.backends for s in b.servers}
            for st in stats:
                key = (st.backend, st.server)
                if key in wanted and key not in self._admitted and (st.up or not wanted[key].health.enabled):
                    self._admitted.add(key)
                    commands.append(f"set server {st.backend}/{st.server} weight {WEIGHT}")
            if commands and self.running():
                self.runtime.run(*commands)

    def admitted(self, backend: str, server: str) -> bool:
        return (backend, server) in self._admitted

    def stats(self) -> list[ServerStats]:
        with self._lock:
            if not self.running():
                return []
            try:
                return self.runtime.stats()
            except OSError:
                return []

    # -- stopping --------------------------------------------------------------------------

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.info("haproxy stopped")

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._terminate()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2)


def with_state(server: Server, state: str) -> Server:
    return replace(server, state=state)


__all__ = ["Backend", "DataPlane", "Frontend", "HaproxyMissing", "Server", "Spec", "render"]
