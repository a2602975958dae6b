"""A private Docker engine for one test: its own dockerd (and the containerd it starts) with its own
data root, exec root, pid file and unix socket under a short temporary directory, a bridge of its
own (made here, removed at the end) and no iptables rules, so a test can restart or kill it
without touching the engine everybody else on the machine shares.

Never `--bridge=none`: a dockerd started that way deletes the host's `docker0` interface (it
takes it for a stale bridge of its own), which breaks the shared engine's networking. The images
the test needs are copied in from the shared engine (`docker save | docker load`: no registry).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.executor.base import ExecutorError
from agent.executor.docker import DockerExecutor
from tests.harness import wait_for


@dataclass
class PrivateDockerd:
    # /tmp, not pytest's tmp_path: a unix socket path must stay under 108 bytes.
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="orchd-", dir="/tmp")))
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    bridge: str = field(default_factory=lambda: f"orchd{os.getpid() % 100_000}")
    # A /24 of the private 10.0.0.0/8 range that no route on this host uses (checked in start).
    subnet_octet: int = field(default_factory=lambda: 100 + os.getpid() % 150)

    def _make_bridge(self) -> None:
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode == 0:
            return
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
        assert f"10.{self.subnet_octet}." not in routes, "the private engine's subnet is in use"
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
        subprocess.run(
            ["ip", "addr", "add", f"10.{self.subnet_octet}.77.1/24", "dev", self.bridge], check=True, capture_output=True
        )
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.root / "docker.pid"

    def start(self) -> None:
        self._make_bridge()
        args = [
            *("dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec")),
            *("--pidfile", str(self.pidfile), "-H", self.host),
            # Its own bridge, no NAT, no forwarding, no iptables: nothing of the host's network is touched.
            *(f"--bridge={self.bridge}", "--iptables=false", "--ip-masq=false", "--ip-forward=false"),
            "--cgroup-parent=orch-chaos",
        ]
        with open(self.root / "dockerd.log", "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        executor = DockerExecutor(base_url=self.host)

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"dockerd exited: {self.log_tail()}"
            try:
                executor.ping()
                return True
            except ExecutorError:
                return False

        try:
            wait_for(answers, 60, what="the private dockerd to answer")
        finally:
            executor.close()

    def log_tail(self) -> str:
        return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-20:])

    def load(self, *images: str) -> None:
        env = {**os.environ, "DOCKER_HOST": self.host}
        for image in images:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env={**os.environ})
            subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=env, check=True, capture_output=True)
            assert save.wait(timeout=120) == 0, f"docker save {image} failed"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: the engine shuts down as `systemctl stop docker` does; SIGKILL: it just dies."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        if sig == signal.SIGKILL:
            # Its containerd outlives it (as under systemd); the next start takes it over.
            time.sleep(0.5)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
        self.restarts += 1

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # A containerd left by a SIGKILL of dockerd: its pid file is under our exec root.
        pid_file = self.root / "exec" / "containerd" / "containerd.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
