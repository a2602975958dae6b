"""Log throughput: lines/s from 20 chatty containers through the agent to `task logs`, against the
same lines read directly with `docker logs`, in one run; and the agent's CPU meanwhile.

A control plane runs in this process and one real agent as its own process (`orchestrator
agent`), so its CPU time is its own (/proc/PID/stat). CONTAINERS tasks each wait for the same
wall-clock second, then print LINES numbered lines as fast as `seq` can and go quiet; the agent
path is timed from that second until every task's last line is readable through the REST API
behind `task logs` (and each task's full count is checked).

Two baselines, both with `docker logs`:
- followed live: CONTAINERS plain containers (not tasks) print the same lines from a common
  second while CONTAINERS `docker logs --follow` processes read them, timed the same way as the
  agent path. This is the like-for-like one: both sides wait for the containers to write and for
  the engine to keep their lines. The goal (at least 0.5x) is against it.
- read after the fact: CONTAINERS parallel `docker logs` over the tasks' finished output; only
  the engine's read speed, which no follower can reach while the lines are still being written.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.executor.docker import DockerExecutor  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from tests.harness import wait_for  # noqa: E402

CONTAINERS = 20
LINES = 10_000  # per container; one `task logs` page holds them all
START_DELAY_S = 40  # every container runs well before the common start second (slow engines too)
ORCH = str(Path(sys.executable).with_name("orchestrator"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_logs_rate(names: list[str]) -> tuple[float, int]:
    """(lines/s, lines) of parallel `docker logs` over the finished containers."""
    counts = [0] * len(names)

    def read(i: int) -> None:
        out = subprocess.run(["docker", "logs", names[i]], capture_output=True, check=True).stdout
        counts[i] = out.count(b"\n")

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(names))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return sum(counts) / elapsed, sum(counts)


def docker_follow_rate(go: int) -> float:
    """lines/s of CONTAINERS `docker logs --follow` over plain containers printing from `go`."""
    names = [f"orch-bench-follow-{os.getpid()}-{i}" for i in range(CONTAINERS)]
    done: dict[str, float] = {}

    def follow(name: str) -> None:
        reader = subprocess.Popen(["docker", "logs", "--follow", name], stdout=subprocess.PIPE)
        assert reader.stdout is not None
        last = f"{LINES}\n".encode()
        for line in reader.stdout:
            if line == last:
                done[name] = time.monotonic()
                break
        reader.kill()
        reader.wait()

    try:
        for name in names:
            subprocess.run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--memory",
                    "64m",
                    "orch/busybox:latest",
                    "sh",
                    "-c",
                    chatty(go),
                ],
                capture_output=True,
                check=True,
            )
        threads = [threading.Thread(target=follow, args=(n,)) for n in names]
        for t in threads:
            t.start()
        while time.time() < go:
            time.sleep(0.01)
        t0 = time.monotonic()
        for t in threads:
            t.join(timeout=600)
        assert len(done) == CONTAINERS, f"{CONTAINERS - len(done)} followers never saw line {LINES}"
        return CONTAINERS * LINES / (max(done.values()) - t0)
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)


def chatty(go: int) -> str:
    return f"while [ $(date +%s) -lt {go} ]; do sleep 0.05; done; seq 1 {LINES}; sleep 3600"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cluster = LocalCluster(root / "data", executor_factory=DockerExecutor)
        agent = subprocess.Popen(
            [
                *(ORCH, "agent", "--server", cluster.url, "--join-token", cluster.plane.join_token),
                *("--zone", "us-east-1a", "--name", "bench", "--state-dir", str(root / "agent")),
                *("--cpu", "8192", "--memory", "8192", "--stop-timeout", "1", "--log-level", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(os.environ.get("BENCH_AGENT_LOG", root / "agent.log"), "wb"),  # noqa: SIM115 - the subprocess keeps it
        )
        instance = ""
        try:
            wait_for((root / "agent" / "bench.json").exists, 30, what="the agent to register")
            state = json.loads((root / "agent" / "bench.json").read_text())
            instance = str(state["containerInstanceArn"]).rsplit("/", 1)[-1]
            go = int(time.time()) + START_DELAY_S
            command = chatty(go)
            awslogs = {"awslogs-group": "/bench/logs", "awslogs-stream-prefix": "bench"}
            family = cluster.register(
                "chatty",
                command=["sh", "-c", command],
                logConfiguration={"logDriver": "awslogs", "options": awslogs},
            )
            tids: list[str] = []
            for _ in range(CONTAINERS // 10):
                found = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": family, "count": 10})
                tids += [t["taskArn"].rsplit("/", 1)[-1] for t in found["tasks"]]
            wait_for(
                lambda: sum(t["lastStatus"] == "RUNNING" for t in cluster.tasks()) == CONTAINERS,
                START_DELAY_S - 2,
                what=f"{CONTAINERS} running tasks before the start second",
            )
            cpu0 = cpu_seconds(agent.pid)
            while time.time() < go:
                time.sleep(0.01)
            t0 = time.monotonic()
            pending = list(tids)
            while pending:
                # One light call every 50 ms: the control plane shares this process's GIL.
                last = cluster.api("GET", f"/v1/clusters/default/tasks/{pending[0]}/logs", tail=1)["events"]
                if last and last[0]["message"] == str(LINES):
                    pending.pop(0)
                    continue
                pending.append(pending.pop(0))
                time.sleep(0.05)
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(agent.pid) - cpu0
            total = 0
            for tid in tids:
                events = cluster.api("GET", f"/v1/clusters/default/tasks/{tid}/logs", limit=LINES)["events"]
                assert [e["message"] for e in events] == [str(n) for n in range(1, LINES + 1)], tid
                total += len(events)
            agent_rate = total / elapsed
            direct_rate, direct_total = docker_logs_rate([f"orch-{tid}-app" for tid in tids])
            assert direct_total == total, (direct_total, total)
            follow_rate = docker_follow_rate(int(time.time()) + START_DELAY_S // 4)
        finally:
            agent.terminate()
            agent.wait(timeout=20)
            if instance:
                executor = DockerExecutor()
                for c in executor.list({"orch.instance": instance}):
                    executor.remove(c.id)
            cluster.close()
    print(f"{CONTAINERS} containers x {LINES} lines = {total} lines")
    print(f"through the agent to task logs: {agent_rate:,.0f} lines/s ({elapsed:.2f} s)")
    print(f"docker logs --follow, live:     {follow_rate:,.0f} lines/s")
    print(f"docker logs, after the fact:    {direct_rate:,.0f} lines/s")
    print(f"ratio against docker logs --follow: {agent_rate / follow_rate:.2f}x (goal >= 0.5x)")
    print(f"ratio against docker logs after the fact: {agent_rate / direct_rate:.2f}x")
    share = 100 * cpu / elapsed
    print(f"agent CPU: {cpu:.2f} s over {elapsed:.2f} s = {share:.0f} % of a core, {cpu / total * 1e6:.1f} us/line")


if __name__ == "__main__":
    main()
