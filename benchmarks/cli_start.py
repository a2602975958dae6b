"""CLI start-up: `orchestrator task list` against a running control plane, against `python -c pass`.

A control plane with 3 agents (fake executor) and a service of 6 tasks runs in this process; the
CLI runs as a separate process the way a person runs it (the venv's `orchestrator` script, stdout
piped), and so does the baseline, `python -c pass` with the same interpreter. Each is run 5 times,
alternately; the script prints both medians and their ratio, plus `orchestrator --help` and the
import time of the CLI's modules alone. Goal: `task list` under 0.25 s where `python -c pass`
takes 0.05 s, i.e. a ratio of 5 or less.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.executor.fake import FakeExecutor  # noqa: E402
from orchestrator.local import LocalCluster  # noqa: E402
from tests.harness import wait_for  # noqa: E402

RUNS = 5
ORCH = str(Path(sys.executable).parent / "orchestrator")


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp) / "data", executor_factory=FakeExecutor)
        try:
            for k, zone in enumerate(("us-east-1a", "us-east-1b", "us-east-1c")):
                cluster.start_agent(f"agent-{k + 1}", zone)
            cluster.register("web", image="orch/web:latest", cpu=128, memory=64)
            cluster.api(
                "POST",
                "/v1/clusters/default/services",
                {"serviceName": "web", "taskDefinition": "web", "desiredCount": 6},
            )
            wait_for(lambda: len(cluster.running("web")) == 6, 30, what="6 RUNNING")
            env = {
                **os.environ,
                "ORCH_SERVER": cluster.url,
                "ORCH_DATA_DIR": str(cluster.data_dir),
                "XDG_CONFIG_HOME": str(Path(tmp) / "config"),
                "COLUMNS": "80",
            }
            # As on a person's machine, the CLI's modules are compiled once and then loaded from
            # __pycache__ (an environment that sets PYTHONDONTWRITEBYTECODE would recompile them
            # on every run, which measures the compiler, not the CLI).
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "orchestrator task list": [ORCH, "task", "list"],
                "orchestrator --help": [ORCH, "--help"],
                "import the CLI only": [sys.executable, "-c", "import orchestrator.cli.main"],
            }
            for argv in commands.values():  # warm the disk cache and write the .pyc files
                timed(argv, env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(RUNS):
                for name, argv in commands.items():
                    times[name].append(timed(argv, env))
        finally:
            cluster.close()
    base = statistics.median(times["python -c pass"])
    print(f"median of {RUNS} runs each, alternating; baseline python -c pass = {base:.3f} s")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<24} {median:.3f} s   ratio {median / base:.1f}")
    goal = statistics.median(times["orchestrator task list"]) / base
    print(f"task list / python -c pass = {goal:.1f} (goal: <= 5, i.e. 0.25 s against a 0.05 s baseline)")


if __name__ == "__main__":
    main()
