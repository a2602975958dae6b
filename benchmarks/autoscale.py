"""Autoscaling reaction time: from CPU load starting to the first scale-out activity, in metric periods.

Run from the repository root with `python benchmarks/autoscale.py [--period 2] [--high-datapoints 3]
[--rounds 3]`. Each round creates a fresh orch/cpu-web service of one task with a target-tracking
policy (CPU 50 %, maximum 3), lets it idle for a few periods, then starts loading it from threads
of this process (requests to /cgi-bin/burn on the task's host port, loopback only) and waits for the
first Successful scale-out activity. The delay is measured from the first request to the
activity's StartTime and printed in metric periods, against the goal: the high alarm needs
`high datapoints` periods of data above the target, plus at most one period for the agent's sample
and the control plane's datapoint to line up, so `high datapoints + 1` periods.
"""

from __future__ import annotations

import argparse
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

from agent.executor.docker import DockerExecutor  # noqa: E402
from orchestrator.core.logs import configure  # noqa: E402
from orchestrator.core.settings import Settings  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from tests.harness import wait_for  # noqa: E402

IDLE_PERIODS = 3
LOAD_THREADS = 3
BURN_MS = 200


def _ports(cluster: LocalCluster, service: str) -> list[int]:
    return [
        b["hostPort"]
        for t in cluster.running(service)
        for c in t.get("containers", [])
        for b in c.get("networkBindings", [])
        if b.get("containerPort") == 80
    ]


def _load(ports: list[int], stop: threading.Event, first_request: list[float]) -> None:
    with httpx.Client(timeout=10.0) as client:
        n = 0
        while not stop.is_set():
            if not first_request:
                first_request.append(time.time())
            try:
                client.get(f"http://127.0.0.1:{ports[n % len(ports)]}/cgi-bin/burn?ms={BURN_MS}")
            except httpx.HTTPError:
                stop.wait(0.1)
            n += 1


def one_round(cluster: LocalCluster, td: str, name: str, period: float) -> float:
    """Seconds from the first loading request to the first scale-out activity's StartTime."""
    base = f"/v1/clusters/default/services/{name}"
    cluster.api("POST", "/v1/clusters/default/services", {"serviceName": name, "taskDefinition": td, "desiredCount": 1})
    wait_for(lambda: len(cluster.running(name)) == 1, 60, what=f"{name}: 1 RUNNING task")
    cluster.api("PUT", f"{base}/scalable-target", {"MinCapacity": 1, "MaxCapacity": 3})
    cluster.api(
        "PUT",
        f"{base}/scaling-policies/cpu50",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleOutCooldown": 60,
                "ScaleInCooldown": 60,
            },
        },
    )
    time.sleep(IDLE_PERIODS * period)  # idle datapoints first, so the alarm starts from OK
    ports = _ports(cluster, name)
    stop = threading.Event()
    first_request: list[float] = []
    threads = [
        threading.Thread(target=_load, args=(ports, stop, first_request), daemon=True) for _ in range(LOAD_THREADS)
    ]
    for t in threads:
        t.start()

    def scaled_out() -> dict[str, Any] | None:
        found = cluster.api("GET", f"{base}/scaling-activities", includeNotScaled=False)["ScalingActivities"]
        return next((a for a in found if "-AlarmHigh-" in a["Cause"] and a["StatusCode"] == "Successful"), None)

    try:
        activity = wait_for(scaled_out, 30 * period, interval=0.1, what=f"{name}: a scale-out activity")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    cluster.api("PATCH", base, {"desiredCount": 0})
    cluster.api("DELETE", f"{base}/scalable-target")
    cluster.api("DELETE", base)
    assert activity is not None
    return float(activity["StartTime"]) - first_request[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", type=float, default=2.0, help="metric period in seconds")
    parser.add_argument("--high-datapoints", type=int, default=3, help="datapoints of the high alarm (ECS: 3)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure("warning")
    for script in ("ensure-docker.sh", "build-images.sh"):
        subprocess.run(["bash", str(ROOT / "scripts" / script)], check=True, capture_output=True)
    settings = Settings(
        health_grace_s=1.0,
        heartbeat_interval_s=1.0,
        metric_period_s=args.period,
        autoscaling_high_datapoints=args.high_datapoints,
    )
    goal = args.high_datapoints + 1
    delays: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp) / "data", executor_factory=DockerExecutor, settings=settings, stop_timeout_s=1)
        try:
            cluster.start_agent("agent-1", "us-east-1a")
            td = cluster.register(
                "bench-cpu-web",
                image="orch/cpu-web:latest",
                command=None,
                cpu=256,
                memory=64,
                portMappings=[{"containerPort": 80}],
            )
            for i in range(args.rounds):
                delay = one_round(cluster, td, f"bench-scale-{i}", args.period)
                delays.append(delay)
                print(
                    f"round {i + 1}: first scale-out {delay:.2f} s after the load started = "
                    f"{delay / args.period:.2f} periods"
                )
        finally:
            cluster.close()
    median = statistics.median(delays) / args.period
    print(
        f"metric period {args.period:g} s, high alarm {args.high_datapoints} of {args.high_datapoints}: "
        f"median {median:.2f} periods to the first scale-out (goal <= {goal}: high datapoints + 1)"
    )
    print(f"autoscale reaction ratio {median / goal:.2f} (goal <= 1.0)")


if __name__ == "__main__":
    main()
