"""benchmarks/control_plane.py --quick runs to the end and prints each figure beside its goal.

No figure is asserted against its goal (the machine's load decides those): the test checks that
every measurement ran, through real HTTP agents in a child process, and reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_quick_benchmark_prints_every_figure_with_its_goal() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "control_plane.py"), "--quick", "--latency-s", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "100 simulated agents registered over HTTP" in out
    assert "1,000 tasks of 10 services on 100 instances RUNNING in" in out and "(goal within 3x)" in out
    assert "idle control plane, 1,000 services and 100 agents connected:" in out
    assert "p99" in out and "(goal p99 under 50 ms)" in out
    assert "ListServices page of 100 at 1,000 rows" in out and "ListTasks page of 100 at 1,000 rows" in out
    assert "per 10,000 tasks" in out
