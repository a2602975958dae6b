"""The control plane at scale, through the real HTTP agent protocol.

Run from the repository root with `python benchmarks/control_plane.py [--quick]`. The control plane
(store, operations, controllers, scheduler, HTTP API) runs in this process; the simulated agents
(fake executor, no containers) run as threads of a child process and speak the real protocol over
loopback, so the CPU and memory figures below are the control plane's own. Full size: 1,000
instances, 100 services of 100 tasks, then 10,000 services; --quick: 100 instances, 10 services of
100 tasks, then 1,000 services. Each figure is printed with its goal or baseline:

- time from creating the services to all tasks RUNNING, against the pure scheduler's time to make
  the same placements (same sizes, same strategies) measured in the same run; goal within 3x;
- idle CPU of the control plane with every service created and every agent connected; goal < 5 %;
- API latency p50/p99 of describe and list calls at 200 requests/s during that state; goal p99 < 50 ms;
- one ListServices and one ListTasks page (100 rows) at that many rows; goal < 20 ms;
- store size and control-plane RSS per 10,000 tasks.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
CPU, MEMORY = 4096, 16384
TASK_CPU, TASK_MEMORY = 32, 64
AGENT_POLL_S = 60.0
# The safety-net sweep passes over every service at most this often (or, when a sweep is long,
# jobs.SWEEP_SHARE times its length). The idle figure is measured from the end of one sweep to the end of the
# next: one whole period of what an idle control plane does, the sweep included. A fixed window
# read 1.5 % or 17.5 % over 20 s as it missed or caught a sweep.
SWEEP_S = 60.0


def agents_main(url: str, join_token: str, count: int, state_dir: str) -> None:
    """The child process: `count` simulated agents until stdin closes."""
    from agent.executor.fake import FakeExecutor
    from agent.main import Agent, AgentConfig
    from agent.session import Registration
    from orchestrator.core.logs import configure

    configure("error")
    stop = threading.Event()
    agents = []
    for i in range(count):
        reg = Registration(zone=ZONES[i % 3], cpu=CPU, memory=MEMORY, name=f"bench-{i:04d}", instance_type="m5.xlarge")
        config = AgentConfig(
            server=url,
            join_token=join_token,
            registration=reg,
            state_file=Path(state_dir) / f"{i}.json",
            metric_period_s=3600.0,
            poll_wait_s=AGENT_POLL_S,
            pass_interval_s=30.0,
            # No exec relay or log shipper (as in the simulator): two threads and a long-poll less
            # per agent. With them, 1,000 agents are 5,000 threads in one process, which spent its
            # time in the kernel handing the GIL over and took 12 minutes to register.
            exec_relay=False,
            ship_logs=False,
        )
        agent = Agent(config, FakeExecutor(), stop)
        threading.Thread(target=agent.run, daemon=True).start()
        agents.append(agent)
    for agent in agents:
        agent.registered.wait(120)
    print("registered", flush=True)
    sys.stdin.read()
    for agent in agents:
        agent.shutdown()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def scheduler_baseline(instances: int, services: int, per_service: int) -> float:
    """Seconds the pure scheduler takes to place the same tasks on the same instances, service after service."""
    scheduler: Any = importlib.import_module("scheduler")
    views = [
        scheduler.InstanceView(
            arn=f"arn:aws:ecs:us-east-1:000000000000:container-instance/default/{n:032x}",
            instance_id=f"{n:032x}",
            status="ACTIVE",
            agent_connected=True,
            attributes={"ecs.availability-zone": ZONES[n % 3], "ecs.instance-type": "m5.xlarge"},
            registered_cpu=CPU,
            registered_memory=MEMORY,
            remaining_cpu=CPU,
            remaining_memory=MEMORY,
            used_tcp_ports=frozenset({22, 2375, 2376, 51678, 51679}),
            used_udp_ports=frozenset(),
            task_groups={},
            running_tasks_count=0,
        )
        for n in range(instances)
    ]
    began = time.perf_counter()
    for s in range(services):
        group = f"service:svc-{s}"
        result = scheduler.place(
            scheduler.PlacementRequest(count=per_service, cpu=TASK_CPU, memory=TASK_MEMORY, group=group), views, seed=0
        )
        _ = [p.explanation for p in result.placements]
        placed: dict[str, int] = {}
        for p in result.placements:
            placed[p.instance_arn] = placed.get(p.instance_arn, 0) + 1
        views = [
            dataclasses.replace(
                v,
                remaining_cpu=v.remaining_cpu - TASK_CPU * placed.get(v.arn, 0),
                remaining_memory=v.remaining_memory - TASK_MEMORY * placed.get(v.arn, 0),
                task_groups={**v.task_groups, group: placed.get(v.arn, 0)},
                running_tasks_count=v.running_tasks_count + placed.get(v.arn, 0),
            )
            for v in views
        ]
    return time.perf_counter() - began


def wait_for_sweep(plane: Any, done: int) -> None:
    """Until the service controller has finished more than `done` safety-net sweeps."""
    deadline = time.monotonic() + 10 * SWEEP_S
    while plane.background.sweeps <= done:
        if time.monotonic() > deadline:
            raise SystemExit(f"no safety-net sweep finished in {10 * SWEEP_S:g} s")
        time.sleep(0.05)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 instances, 1,000 tasks, 1,000 services (CI)")
    parser.add_argument("--latency-s", type=float, default=None, help="seconds of 200 req/s (default 20, quick 5)")
    parser.add_argument(
        "--idle-s",
        type=float,
        default=None,
        help="seconds of idle measured (default: from the end of one sweep to the end of the next; quick 5)",
    )
    parser.add_argument("--first-only", action="store_true", help="measure the first figure only (for profiling it)")
    args = parser.parse_args()
    instances, services, per_service, idle_services = (100, 10, 100, 1_000) if args.quick else (1_000, 100, 100, 10_000)
    latency_s = args.latency_s or (5.0 if args.quick else 20.0)
    idle_s = args.idle_s or (5.0 if args.quick else None)
    tasks = services * per_service

    from orchestrator.core.logs import configure
    from orchestrator.core.settings import Settings
    from orchestrator.server import ControlPlane

    configure("error")
    # A periodic job that outlasts its interval on a loaded machine says so on every skip.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    load = os.getloadavg()
    print(f"machine load (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        settings = Settings(health_grace_s=1.0, agent_poll_max_s=AGENT_POLL_S, service_sweep_s=SWEEP_S)
        plane = ControlPlane(Path(tmp) / "data", settings)
        url = plane.start_in_thread("127.0.0.1:0")
        http = httpx.Client(base_url=url, timeout=60, headers={"authorization": f"Bearer {plane.admin_token}"})
        child = subprocess.Popen(
            [sys.executable, __file__, "--agents", url, plane.join_token, str(instances), tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            began = time.perf_counter()
            assert child.stdout is not None
            if child.stdout.readline().strip() != "registered":
                raise SystemExit("the agents' process did not register its agents")
            print(f"{instances:,} simulated agents registered over HTTP in {time.perf_counter() - began:.1f} s")
            container = {"name": "app", "image": "orch/busybox:latest", "cpu": TASK_CPU, "memory": TASK_MEMORY}
            http.post("/v1/task-definitions", json={"family": "bench", "containerDefinitions": [container]})
            store = plane.store

            # 1. From creating the services to every task RUNNING.
            began = time.perf_counter()
            for s in range(services):
                body = {"serviceName": f"svc-{s}", "taskDefinition": "bench:1", "desiredCount": per_service}
                http.post("/v1/clusters/default/services", json=body).raise_for_status()
            trace = bool(os.environ.get("BENCH_TRACE"))  # the progress of phase 1, poll by poll
            if trace:
                print(f"  services created in {time.perf_counter() - began:.2f} s")
            while True:
                # Counted from an index, not grouped per instance: the wait must not cost the
                # control plane it measures (the same process) a share of its CPU.
                counts = store.cluster_counts("default")
                if trace:
                    at, cpu = time.perf_counter() - began, time.process_time()
                    print(f"  {at:6.2f} s (CPU {cpu:6.2f} s): {counts['pending']} PENDING, {counts['running']} RUNNING")
                if counts["running"] >= tasks:
                    break
                time.sleep(0.1)
            to_running = time.perf_counter() - began
            baseline = scheduler_baseline(instances, services, per_service)
            print(
                f"{tasks:,} tasks of {services} services on {instances:,} instances RUNNING in {to_running:.1f} s; "
                f"the pure scheduler places them in {baseline:.2f} s: {to_running / baseline:.1f}x (goal within 3x)"
            )
            if args.first_only:
                return

            # 2. Idle with every service created and every agent connected.
            for s in range(services, idle_services):
                body = {"serviceName": f"svc-{s}", "taskDefinition": "bench:1", "desiredCount": 0}
                http.post("/v1/clusters/default/services", json=body).raise_for_status()
            if trace:
                print(f"  {idle_services - services:,} more services created")
            time.sleep(idle_s / 2 if idle_s else 10.0)  # the services' creation settles first
            sweeps = plane.background.sweeps
            if idle_s is None:
                wait_for_sweep(plane, sweeps)
                sweeps = plane.background.sweeps
            c0, w0 = cpu_seconds(), time.perf_counter()
            if idle_s is None:
                wait_for_sweep(plane, sweeps)
                window = "from the end of one safety-net sweep to the end of the next"
            else:
                time.sleep(idle_s)
                window = f"{plane.background.sweeps - sweeps} sweep(s) in the window"
            took = time.perf_counter() - w0
            idle = (cpu_seconds() - c0) / took * 100
            print(
                f"idle control plane, {idle_services:,} services and {instances:,} agents connected: "
                f"{idle:.1f} % of one core over {took:.0f} s, {window} (goal under 5 %)"
            )

            # 3. API latency at 200 requests/s of describe and list calls.
            task_ids = [
                str(a).rsplit("/", 1)[-1] for a in plane.ops.list_tasks({"cluster": "default"})["taskArns"][:20]
            ]
            paths = [f"/v1/clusters/default/services/svc-{s}" for s in range(0, services)]
            paths += [f"/v1/clusters/default/tasks/{t}" for t in task_ids]
            paths += ["/v1/clusters/default"]
            ms: list[float] = []
            lock = threading.Lock()

            def caller(offset: int) -> None:
                client = httpx.Client(base_url=url, timeout=30, headers=http.headers)
                period, start = 4 / 200, time.perf_counter()
                n = 0
                while time.perf_counter() - start < latency_s:
                    due = start + offset * period / 4 + n * period
                    time.sleep(max(0.0, due - time.perf_counter()))
                    t = time.perf_counter()
                    client.get(paths[(n * 4 + offset) % len(paths)]).raise_for_status()
                    with lock:
                        ms.append((time.perf_counter() - t) * 1000)
                    n += 1
                client.close()

            callers = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
            for th in callers:
                th.start()
            for th in callers:
                th.join()
            rate = len(ms) / latency_s
            print(
                f"API latency, describe service/task and describe cluster at {rate:.0f} req/s for {latency_s:g} s: "
                f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms (goal p99 under 50 ms)"
            )

            # 4. One page of ListServices and of ListTasks at that many rows.
            for label, call, key, rows in (
                ("ListServices", plane.ops.list_services, "serviceArns", idle_services),
                ("ListTasks", plane.ops.list_tasks, "taskArns", tasks),
            ):
                pages = []
                for _ in range(20):
                    t = time.perf_counter()
                    page = call({"cluster": "default", "maxResults": 100})
                    pages.append((time.perf_counter() - t) * 1000)
                assert len(page[key]) == 100
                print(
                    f"{label} page of 100 at {rows:,} rows: median {statistics.median(pages):.1f} ms (goal under 20 ms)"
                )

            # 5. Store size and RSS.
            db = Path(tmp) / "data" / "orchestrator.db"
            size = sum(p.stat().st_size for p in db.parent.glob("orchestrator.db*")) / 2**20
            print(
                f"store {size:.1f} MiB and control-plane RSS {rss_mib():.0f} MiB with {tasks:,} tasks and "
                f"{idle_services:,} services: {size / tasks * 10_000:.1f} MiB store, "
                f"{rss_mib() / tasks * 10_000:.0f} MiB RSS per 10,000 tasks"
            )
        finally:
            if child.stdin:
                child.stdin.close()
            child.wait(timeout=60)
            http.close()
            plane.stop()
    load = os.getloadavg()
    print(f"machine load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--agents":
        agents_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
