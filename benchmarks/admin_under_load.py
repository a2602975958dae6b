"""Figures of issues 14 and 16, measured against a real `orchestrator server` process over real HTTP.

Run from the repository root: `python benchmarks/admin_under_load.py [--agents 1000] [--services 10000]`.

1. 10,000 services (desiredCount 0, so no tasks: the cost of the service rows and their
   controllers alone), no agent: the server's CPU while idle (utime + stime from /proc over 60 s,
   once it has stopped falling after the creations).
2. Admin reads while 1,000 agents long-poll: 1,000 container instances are registered through the
   agent protocol, then each keeps one assignment long-poll open (`wait=20`, asked again as soon
   as it is answered, as agents do), from asyncio clients in a child process. Admin reads (GET
   /v1/clusters and GET /v1/clusters/default/services/NAME) are timed one after the other, first with
   no poll open (the baseline, same run), then with all of them open, spread over 45 s so that they
   meet the waves of answers and new polls. Goal: p99 < 100 ms, and the ratio to the baseline.
3. Idle again with the agents polling; the difference to 1. is what the polls cost, per poll.
4. The time of one GET /v1/clusters/default/services, which lists and describes them all.

The control plane is `orchestrator server` as a child process and the pollers another; on a small
machine they share its cores, so the figures include that contention. Each figure is
printed with the machine's load average: a busy machine says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ORCH = str(Path(sys.executable).with_name("orchestrator"))
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
POLL_ROUNDS_S = 45.0
IDLE_WINDOW_S = 60.0


def load() -> str:
    return f"[load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_percent(pid: int, seconds: float) -> float:
    c0 = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / seconds * 100


def settle(pid: int, limit_s: float = 300.0) -> float:
    """Seconds until the process's CPU over 10 s stops falling (two windows within 3 points of each
    other, or under 5 %), at most `limit_s`: what is left is its idle cost, polls included."""
    t0 = time.monotonic()
    last = cpu_percent(pid, 10.0)
    while last >= 5.0 and time.monotonic() - t0 < limit_s:
        now = cpu_percent(pid, 10.0)
        if abs(now - last) < 3.0:
            break
        last = now
    return time.monotonic() - t0


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def admin_reads(url: str, token: str, count: int, over_s: float = 0.0) -> list[float]:
    """`count` reads one after the other, spread over at least `over_s` seconds."""
    times = []
    start = time.monotonic()
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        for i in range(count):
            time.sleep(max(0.0, start + over_s * i / count - time.monotonic()))
            path = "/v1/clusters" if i % 2 else "/v1/clusters/default/services/probe"
            t0 = time.perf_counter()
            resp = http.get(path)
            times.append(time.perf_counter() - t0)
            assert resp.status_code == 200, resp.text
    return times


class Pollers:
    """N registered instances, each holding one assignment long-poll open, on one asyncio loop.

    Runs in a child process (`--pollers`), so its CPU and its GIL are not the measuring process's;
    the connections are spread over several clients (a connection pool's cost grows with its size).
    """

    PER_CLIENT = 50

    def __init__(self, url: str, join_token: str, count: int) -> None:
        self.url, self.join_token, self.count = url, join_token, count
        self.registered = 0
        self.answered = 0
        self.errors = 0
        self.stop = asyncio.Event()

    async def _agent(self, client: httpx.AsyncClient, i: int, gate: asyncio.Semaphore) -> None:
        """Register, then poll at once (as an agent does: a registered agent that waits is disconnected)."""
        await self._poll(client, await self._register(client, i, gate))

    async def _register(self, client: httpx.AsyncClient, i: int, gate: asyncio.Semaphore) -> str:
        body = {
            "joinToken": self.join_token,
            "name": f"poller-{i:04d}",
            "zone": ZONES[i % 3],
            "cpu": 4096,
            "memory": 16384,
            "instanceType": "m5.xlarge",
        }
        for attempt in range(20):  # as an agent does, on a busy machine: retry what timed out
            try:
                async with gate:
                    resp = await client.post("/v1/agent/register", json={**body, "name": f"poller-{i:04d}-{attempt}"})
            except httpx.HTTPError:
                await asyncio.sleep(1)
                continue
            if resp.status_code != 429:
                break
            await asyncio.sleep(1)
        assert resp.status_code == 200, resp.text
        self.registered += 1
        return str(resp.json()["credential"])

    async def _poll(self, client: httpx.AsyncClient, credential: str) -> None:
        since = 0
        headers = {"authorization": f"Bearer {credential}"}
        while not self.stop.is_set():
            try:
                resp = await client.get(
                    "/v1/agent/assignments", params={"since": since, "wait": 20}, headers=headers, timeout=40
                )
            except httpx.HTTPError:
                self.errors += 1
                await asyncio.sleep(1)
                continue
            if resp.status_code == 200:
                since = int(resp.json().get("seq", since))
                self.answered += 1
            else:
                self.errors += 1
                await asyncio.sleep(1)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.PER_CLIENT + 5, max_keepalive_connections=self.PER_CLIENT + 5)
        clients = [
            httpx.AsyncClient(base_url=self.url, limits=limits, timeout=60)
            for _ in range((self.count + self.PER_CLIENT - 1) // self.PER_CLIENT)
        ]
        gate = asyncio.Semaphore(32)
        agents = [asyncio.create_task(self._agent(clients[i // self.PER_CLIENT], i, gate)) for i in range(self.count)]
        while self.registered < self.count:
            await asyncio.sleep(0.2)
            for a in agents:
                if a.done():
                    a.result()  # raises what went wrong
        print("ready", flush=True)
        # Until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(f"errors {self.errors} answered {self.answered}", flush=True)
        self.stop.set()
        for a in agents:
            a.cancel()
        await asyncio.gather(*agents, return_exceptions=True)
        for c in clients:
            await c.aclose()


def start_pollers(url: str, join_token: str, count: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--pollers", url, join_token, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "ready", f"the pollers did not start: {line!r}"
    time.sleep(3)  # every poll sent and waiting at the server
    return child


def stop_pollers(child: subprocess.Popen[str]) -> str:
    out, _ = child.communicate(timeout=120)
    return out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=900)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.agents + 1024)), hard))

    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - the server keeps it
        server = subprocess.Popen(
            [ORCH, "server", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}", "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 300  # a busy machine starts it slowly
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
            token = (data / "admin.token").read_text().strip()
            join = (data / "join.token").read_text().strip()
            admin = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60)
            resp = admin.post("/v1/clusters", json={"clusterName": "default"})
            assert resp.status_code == 200, resp.text
            td = {"family": "probe", "containerDefinitions": [{"name": "a", "image": "orch/busybox", "memory": 8}]}
            assert admin.post("/v1/task-definitions", json=td).status_code == 200
            svc = {"serviceName": "probe", "taskDefinition": "probe", "desiredCount": 0}
            resp = admin.post("/v1/clusters/default/services", json=svc)
            assert resp.status_code == 200, resp.text

            # 1. The services, with no agent yet: what the controllers alone cost.
            t0 = time.monotonic()

            def create(names: range) -> None:
                with httpx.Client(base_url=url, headers=admin.headers, timeout=60) as http:
                    for i in names:
                        body = {"serviceName": f"s{i:05d}", "taskDefinition": "probe", "desiredCount": 0}
                        resp = http.post("/v1/clusters/default/services", json=body)
                        assert resp.status_code == 200, resp.text

            creators = [threading.Thread(target=create, args=(range(1 + k, args.services, 8),)) for k in range(8)]
            for c in creators:
                c.start()
            for c in creators:
                c.join()
            created_s = time.monotonic() - t0
            # The controllers catch up with the creations (each service's first passes) well after
            # the last one: wait until they have, then a minute of idle (the safety-net sweep over
            # every service comes every 40 times its own length: a minute may or may not hold one).
            settled_s = settle(server.pid)
            alone = cpu_percent(server.pid, IDLE_WINDOW_S)
            print(
                f"{args.services} services (desiredCount 0, created in {created_s:.0f} s, settled {settled_s:.0f} s "
                f"later), no agent: server idle CPU {alone:.1f} % of a core (goal < 5 %) {load()}",
                flush=True,
            )

            admin_reads(url, token, 20)  # warm up
            base50, base99 = percentiles(admin_reads(url, token, args.reads))
            pollers = start_pollers(url, join, args.agents)
            try:
                # 2. Admin reads over more than two rounds of every agent's poll (wait=20): the answers
                # and new polls of a thousand agents come in waves, and the reads must meet them.
                p50, p99 = percentiles(admin_reads(url, token, args.reads, over_s=POLL_ROUNDS_S))
                print(
                    f"admin reads with {args.agents} agents long-polling and {args.services} services: p50 "
                    f"{p50:.1f} ms, p99 {p99:.1f} ms (goal p99 < 100 ms); with none polling, same run: p50 "
                    f"{base50:.1f} ms, p99 {base99:.1f} ms; p99 ratio {p99 / base99:.1f}x {load()}",
                    flush=True,
                )
                # 3. Idle again, the agents connected (their registrations concerned every service).
                settled_s = settle(server.pid)
                idle = cpu_percent(server.pid, IDLE_WINDOW_S)
                per_poll_ms = (idle - alone) / 100 * 20 / args.agents * 1000
                print(
                    f"the same with {args.agents} agents polling (settled {settled_s:.0f} s after the reads): server "
                    f"idle CPU {idle:.1f} % of a core (goal < 5 %); the polls' share {idle - alone:.1f} %, "
                    f"{per_poll_ms:.2f} ms of CPU per poll {load()}",
                    flush=True,
                )
                # 4. Every service listed and described.
                t0 = time.monotonic()
                # A fresh connection: the server closes keep-alive connections idle for 5 s.
                listed = httpx.get(url + "/v1/clusters/default/services", headers=admin.headers, timeout=600)
                listed = listed.json()["services"]
                list_s = time.monotonic() - t0
                assert len(listed) == args.services, len(listed)
                print(
                    f"GET every service (list + describe) of {args.services}: {list_s:.2f} s (issue 14 found 141 s) "
                    f"{load()}",
                    flush=True,
                )
            finally:
                print(f"pollers: {stop_pollers(pollers)}", flush=True)
                admin.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--pollers":
        asyncio.run(Pollers(sys.argv[2], sys.argv[3], int(sys.argv[4])).run())
    else:
        main()
