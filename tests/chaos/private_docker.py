"""A private Docker engine for one test: its own dockerd and containerd with its own
data root, exec root, pid file and unix socket under a short temporary directory, a bridge of its
own (made here, removed at the end) and no iptables rules, so a test can restart or kill it
without touching the engine everybody else on the machine shares.

Never `--bridge=none`: a dockerd started that way deletes the host's `docker0` interface (it
takes it for a stale bridge of its own), which breaks the shared engine's networking. The images
the test needs are copied in from the shared engine (`docker save | docker load`: no registry).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
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
    containerd: subprocess.Popen[bytes] | None = None
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
        address = f"10.{self.subnet_octet}.77.1/24"
        subprocess.run(["ip", "addr", "add", address, "dev", self.bridge], check=True, capture_output=True)
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

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    def _start_containerd(self) -> None:
        """containerd as its own process, as under systemd (containerd.service beside docker.service):
        restarting or killing dockerd then leaves it, and the containers, to the next dockerd."""
        if self.containerd is not None and self.containerd.poll() is None:
            return
        config = self.root / "containerd.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.root}/containerd-root"\n'
            f'state = "{self.root}/containerd-state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.containerd_socket}"\n'
            f'[debug]\n  address = "{self.root}/containerd-debug.sock"\n'
            '[metrics]\n  address = ""\n'
        )
        with open(self.root / "containerd.log", "ab") as out:
            self.containerd = subprocess.Popen(
                ["containerd", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(self.containerd_socket.exists, 60, what="the private containerd's socket")

    def start(self) -> None:
        self._make_bridge()
        self._start_containerd()
        args = [
            *("dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec")),
            *("--pidfile", str(self.pidfile), "-H", self.host),
            # Its own bridge, no NAT, no forwarding, no iptables: nothing of the host's network is touched.
            *(f"--bridge={self.bridge}", "--iptables=false", "--ip-masq=false", "--ip-forward=false"),
            "--cgroup-parent=orch-chaos",
            f"--containerd={self.containerd_socket}",
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
            wait_for(answers, 120, what="the private dockerd to answer")
        finally:
            executor.close()

    def _reap(self) -> None:
        """Whatever of this engine outlived a failed test: shims (and the container processes under
        them) naming our root, then the mounts under it; nothing outside our root is touched."""
        root = str(self.root)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                children = (proc / "task" / proc.name / "children").read_text().split()
            except OSError:
                continue
            if root in cmdline:
                for pid in [*children, proc.name]:
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(root + "/")), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)

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
        if self.containerd is not None and self.containerd.poll() is None:
            self.containerd.terminate()
            try:
                self.containerd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.containerd.kill()
                self.containerd.wait(timeout=10)
        self._reap()
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
