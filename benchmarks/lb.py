"""Load balancer overhead: requests/s and p99 latency through HAProxy against the tasks directly.

A local cluster (3 real-Docker agents) runs a service of 3 orch/web tasks behind a load balancer.
The same client measures the tasks directly (each thread on one task's host port, spread evenly)
and then the load balancer's address, alternately for ROUNDS rounds in the same run, in two ways:
- throughput: CONCURRENCY threads, each a closed loop of GETs on a new connection, for SECONDS;
  the machine is saturated, so this side's p99 is mostly queueing on the client's cores;
- latency: PACED_RATE requests/s in all from PACED_THREADS threads (each request on schedule,
  whatever the last one took), the "bounded client" of the rollout tests; the p99 added by the
  load balancer is measured here, where nothing queues.
It prints each side's median requests/s and p99 and their ratio and difference. Goal: at least
0.8x the throughput and under 2 ms added p99 on loopback.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.executor.docker import DockerExecutor  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from tests.harness import wait_for  # noqa: E402

TASKS = 3
CONCURRENCY = 8
SECONDS = 5.0
ROUNDS = 3
PACED_RATE = 50.0  # requests/s
PACED_THREADS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int) -> float | None:
    """Seconds one GET on a new connection took, or None if it failed."""
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - t0 if resp.status == 200 else None


def run_client(ports: list[int], seconds: float) -> tuple[float, float, int]:
    """(requests/s, p99 ms, failures) of CONCURRENCY closed-loop threads, thread i on ports[i % n]."""
    latencies: list[list[float]] = [[] for _ in range(CONCURRENCY)]
    failures = [0] * CONCURRENCY
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        port = ports[i % len(ports)]
        while time.monotonic() < deadline:
            took = _get(port)
            if took is None:
                failures[i] += 1
            else:
                latencies[i].append(took)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    flat = sorted(x for lat in latencies for x in lat)
    p99 = flat[int(0.99 * (len(flat) - 1))] * 1000 if flat else float("nan")
    return len(flat) / elapsed, p99, sum(failures)


def run_paced(ports: list[int], seconds: float) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, failures) at PACED_RATE requests/s, request k of thread i at its own time."""
    interval = PACED_THREADS / PACED_RATE
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.05

    def worker(i: int) -> None:
        port = ports[i % len(ports)]
        k = 0
        while True:
            due = start + i * interval / PACED_THREADS + k * interval
            if due - start >= seconds:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            took = _get(port)
            with lock:
                if took is None:
                    failures[0] += 1
                else:
                    latencies.append(took)
            k += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(PACED_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = sorted(latencies)
    if not flat:
        return float("nan"), float("nan"), failures[0]
    return flat[len(flat) // 2] * 1000, flat[int(0.99 * (len(flat) - 1))] * 1000, failures[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp) / "data", executor_factory=DockerExecutor)
        try:
            cluster.start_agents(3)
            ops = cluster.plane.ops
            td = cluster.register(
                "web",
                image="orch/web:latest",
                command=["httpd", "-f", "-p", "80", "-h", "/www"],
                portMappings=[{"containerPort": 80, "hostPort": 0}],
                stopTimeout=1,
            )
            lb: dict[str, Any] = ops.create_load_balancer({"Name": "bench"})["LoadBalancers"][0]
            tg = ops.create_target_group(
                {
                    "Name": "bench",
                    "Protocol": "HTTP",
                    "Port": 80,
                    "HealthCheckIntervalSeconds": 5,
                    "HealthCheckTimeoutSeconds": 2,
                    "HealthyThresholdCount": 2,
                }
            )["TargetGroups"][0]["TargetGroupArn"]
            lb_port = free_port()
            ops.create_listener(
                {
                    "LoadBalancerArn": lb["LoadBalancerArn"],
                    "Port": lb_port,
                    "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}],
                }
            )
            ops.create_service(
                {
                    "serviceName": "web",
                    "taskDefinition": td,
                    "desiredCount": TASKS,
                    "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}],
                }
            )

            def healthy() -> int:
                rows = ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"]
                return sum(1 for r in rows if r["TargetHealth"]["State"] == "healthy")

            wait_for(lambda: healthy() == TASKS, 120, what=f"{TASKS} healthy targets")
            direct_ports = [t["containers"][0]["networkBindings"][0]["hostPort"] for t in cluster.running("web")]
            run_client(direct_ports, 1.0)  # warm up both paths
            run_client([lb_port], 1.0)
            direct, through, direct_paced, through_paced = [], [], [], []
            for _ in range(ROUNDS):
                direct.append(run_client(direct_ports, SECONDS))
                through.append(run_client([lb_port], SECONDS))
                direct_paced.append(run_paced(direct_ports, SECONDS))
                through_paced.append(run_paced([lb_port], SECONDS))
        finally:
            cluster.close()

    d_rps = statistics.median(r[0] for r in direct)
    d_p99 = statistics.median(r[1] for r in direct)
    l_rps = statistics.median(r[0] for r in through)
    l_p99 = statistics.median(r[1] for r in through)
    dp50, dp99 = (statistics.median(r[k] for r in direct_paced) for k in (0, 1))
    lp50, lp99 = (statistics.median(r[k] for r in through_paced) for k in (0, 1))
    failed = sum(r[2] for r in direct + through + direct_paced + through_paced)
    print(f"load balancer benchmark: {TASKS} orch/web tasks, medians of {ROUNDS} rounds of {SECONDS:.0f} s per side")
    print(f"  throughput, {CONCURRENCY} closed-loop threads:")
    print(f"    direct to the tasks:  {d_rps:8.0f} requests/s   p99 {d_p99:6.2f} ms (saturated: queueing)")
    print(f"    through the LB:       {l_rps:8.0f} requests/s   p99 {l_p99:6.2f} ms")
    print(f"  latency, {PACED_RATE:.0f} requests/s on schedule:")
    print(f"    direct to the tasks:  p50 {dp50:6.2f} ms   p99 {dp99:6.2f} ms")
    print(f"    through the LB:       p50 {lp50:6.2f} ms   p99 {lp99:6.2f} ms")
    print(f"  throughput ratio {l_rps / d_rps:.2f}x (goal >= 0.8x), added p99 {lp99 - dp99:+.2f} ms (goal < 2 ms)")
    print(f"  failed requests: {failed}")


if __name__ == "__main__":
    main()
