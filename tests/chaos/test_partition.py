"""A network partition between an agent and the control plane.

The test makes a network namespace and a veth pair with link-local addresses (169.254.N.1 on the
host side, .2 inside); nothing else on the host is touched. The control plane listens on the host
side; agent a1 runs inside the namespace, agent a2 on the host, both through that address. A
partition is two DROP rules in the namespace's own iptables (packets to and from the control
plane), so a1's connections hang as across a dead link rather than failing fast.

- a short partition (2 s, below the disconnect threshold of min(15 s, lost_after)) changes
  nothing: same tasks, same containers, the instance never counted disconnected;
- a long one (beyond lost_after) has a1's task replaced on a2;
- healing resolves the duplicate with the newer placement winning: a1 stops its superseded
  container, the replacement keeps running, the old task stays STOPPED.

Figures: the short partition's effect, seconds to replacement, seconds from healing to the
duplicate resolved.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.executor.docker import DockerExecutor
from tests.chaos.procs import AgentProc, Server, figure, remove_containers, running_by_task, tid, timed

LOST_AFTER_S = 8.0
SHORT_S = 2.0
LONG_S = LOST_AFTER_S + 3  # healed soon after the replacement runs

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@dataclass
class Netns:
    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    def run(self, *args: str) -> None:
        sh("ip", "netns", "exec", self.name, *args)

    def partition(self) -> None:
        self.run("iptables", "-A", "OUTPUT", "-d", self.host_ip, "-j", "DROP")
        self.run("iptables", "-A", "INPUT", "-s", self.host_ip, "-j", "DROP")

    def heal(self) -> None:
        self.run("iptables", "-D", "OUTPUT", "-d", self.host_ip, "-j", "DROP")
        self.run("iptables", "-D", "INPUT", "-s", self.host_ip, "-j", "DROP")


@pytest.fixture
def netns() -> Iterator[Netns]:
    n = os.getpid() % 100_000
    octet = 20 + os.getpid() % 200
    ns = Netns(f"orchchaos{n}", f"och{n}h", f"och{n}n", f"169.254.{octet}.1", f"169.254.{octet}.2")
    sh("ip", "netns", "add", ns.name)
    try:
        sh("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
        sh("ip", "link", "set", ns.ns_if, "netns", ns.name)
        sh("ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        sh("ip", "link", "set", ns.host_if, "up")
        ns.run("ip", "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if)
        ns.run("ip", "link", "set", ns.ns_if, "up")
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", ns.host_if], capture_output=True, timeout=30)  # takes its peer along
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=30)


class ConnectedSampler:
    """Samples the partitioned instance's agentConnected in the background."""

    def __init__(self, server: Server, instance_id: str) -> None:
        self.server, self.instance_id = server, instance_id
        self.samples: list[bool] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append(bool(self.server.instance(self.instance_id)["agentConnected"]))

    def __enter__(self) -> ConnectedSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_partitions_short_change_nothing_long_replace_and_healing_keeps_the_newer(
    docker_executor: DockerExecutor, netns: Netns, tmp_path: Path
) -> None:
    server = Server(tmp_path, ["--lost-after", str(LOST_AFTER_S), "--health-grace", "1"], host=netns.host_ip)
    server.start()
    inside = ["ip", "netns", "exec", netns.name]
    a1 = AgentProc(tmp_path, "part-a1", server.url, server.join_token, zone="us-east-1a", prefix=inside)
    a2 = AgentProc(tmp_path, "part-a2", server.url, server.join_token, zone="us-east-1b")
    try:
        a1.start()
        a2.start()
        td = server.register("part", ["sleep", "3600"])
        server.create_service("part", td, 2)  # spread over the zones: one task on each agent
        timed(lambda: len(server.running("part")) == 2, 60, "2 RUNNING tasks")
        ids = [a1.instance_id, a2.instance_id]
        before = {t["taskArn"]: t["containers"][0]["runtimeId"] for t in server.running("part")}
        on_a1 = [t["taskArn"] for t in server.running("part") if t["containerInstanceArn"].endswith(a1.instance_id)]
        assert len(on_a1) == 1, "the spread placed both tasks on one agent"

        # Short: below the disconnect threshold, nothing changes.
        with ConnectedSampler(server, a1.instance_id) as sampler:
            netns.partition()
            time.sleep(SHORT_S)
            netns.heal()
            time.sleep(LOST_AFTER_S - SHORT_S + 1)  # past the thresholds, counted from the partition's start
        assert sampler.samples and all(sampler.samples), "a short partition counted the agent disconnected"
        assert {t["taskArn"]: t["containers"][0]["runtimeId"] for t in server.running("part")} == before
        assert not server.tasks("STOPPED", serviceName="part")

        # Long: beyond lost_after, a1's task is replaced on a2.
        netns.partition()
        cut = time.monotonic()

        def replaced() -> bool:
            running = server.running("part")
            return len(running) == 2 and all(t["containerInstanceArn"].endswith(a2.instance_id) for t in running)

        timed(replaced, LOST_AFTER_S + 15, "the partitioned agent's task replaced")
        replaced_s = time.monotonic() - cut
        # Both placements run now: the old one behind the partition, the new one on a2.
        assert running_by_task(docker_executor, [a1.instance_id])[tid(on_a1[0])] == 1
        time.sleep(max(0.0, LONG_S - (time.monotonic() - cut)))
        netns.heal()
        healed = time.monotonic()
        timed(lambda: not running_by_task(docker_executor, [a1.instance_id]), 30, "the superseded container stopped")
        resolved_s = time.monotonic() - healed
        timed(lambda: server.instance(a1.instance_id)["agentConnected"], 30, "a1 connected again")
        old = server.task(on_a1[0])
        assert old["lastStatus"] == "STOPPED", "the old placement came back to life"
        running = server.running("part")
        counts = running_by_task(docker_executor, ids)
        assert len(running) == 2 and sorted(counts) == sorted(tid(t["taskArn"]) for t in running)
        assert set(counts.values()) == {1}, f"a task runs twice: {counts}"
        figure(
            f"partition {SHORT_S:g} s (threshold {min(15.0, LOST_AFTER_S):g} s): no change, "
            f"{len(sampler.samples)} samples all connected; partition {LONG_S:g} s: replaced in {replaced_s:.1f} s "
            f"(lost_after {LOST_AFTER_S:g} s); healed: duplicate resolved in {resolved_s:.1f} s, newer placement kept"
        )
    finally:
        ids = [a.instance_id for a in (a1, a2) if a.state_file.exists()]
        a1.stop()
        a2.stop()
        server.stop()
        remove_containers(docker_executor, ids)
