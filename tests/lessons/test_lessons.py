"""Each numbered lesson in examples/ run end to end, as a teacher would run it: its run.sh starts
its own `orchestrator dev` on real Docker, drives it with the `orchestrator` CLI, and prints
`RESULT key=value` lines. The tests check that each lesson shows its point (where tasks went,
what failed, what came back), not only that the script exited 0. The scripts check the same
points themselves, so a teacher sees a failure too.

The lessons mostly wait (health grace, an agent's silence), so the selected ones run side by
side, at most PARALLEL at a time, longest first; each test waits for its own. Each has its own
cluster on its own port and data dir. Lesson 03 runs alone, first: its point is CPU utilization,
which the others' clusters would take from its containers on a small machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.executor.docker import DockerExecutor

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Generous: a lesson takes under a minute alone, longer on a machine shared with other suites.
TIMEOUT_S = 240
PARALLEL = 3
ALONE = "03-autoscale"
# Test -> lesson, longest lesson first (the order they are started in).
LESSONS = {
    "test_05_losing_a_zone": "05-zone-loss",
    "test_03_autoscaling_target_tracking_and_step": "03-autoscale",
    "test_02_placement_strategies_and_constraints": "02-placement",
    "test_04_rollout_failed_rollout_and_rollback": "04-rollout",
    "test_06_the_same_service_placed_by_ecs_and_by_kube_scheduler": "06-ecs-and-kubernetes",
    "test_01_a_web_service": "01-web",
    "test_07_an_app_and_its_sidecar_in_one_awsvpc_task": "07-sidecar",
}


class LessonFailed(Exception):
    """A lesson's script failed; the message has its output."""


@pytest.fixture(scope="module")
def lessons(
    request: pytest.FixtureRequest, docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[dict[str, str]]]]:
    """The selected lessons, started side by side: lesson name -> its RESULT lines, when done."""
    selected = {getattr(item, "originalname", item.name) for item in request.session.items}
    names = [lesson for test, lesson in LESSONS.items() if test in selected]
    alone_done = threading.Event()

    def run(name: str, tmp_path: Path) -> dict[str, str]:
        if name == ALONE:
            try:
                return run_lesson(name, tmp_path)
            finally:
                alone_done.set()
        alone_done.wait()
        return run_lesson(name, tmp_path)

    if ALONE not in names:
        alone_done.set()
    order = sorted(names, key=lambda name: name != ALONE)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        yield {name: pool.submit(run, name, tmp_path_factory.mktemp(name)) for name in order}


def results(lessons: dict[str, Future[dict[str, str]]], name: str) -> dict[str, str]:
    try:
        return lessons[name].result()
    except LessonFailed as err:
        pytest.fail(str(err), pytrace=False)


def run_lesson(name: str, tmp_path: Path) -> dict[str, str]:
    """Run examples/NAME/run.sh; its RESULT lines as a dict. LessonFailed with the output on a non-zero exit."""
    env = {
        **os.environ,
        "LESSON_DATA": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # never the person's own CLI contexts
        "ORCH": str(Path(sys.executable).parent / "orchestrator"),
        "PYTHON": sys.executable,
        "COLUMNS": "200",
    }
    for var in ("ORCH_SERVER", "ORCH_TOKEN", "ORCH_DATA_DIR", "ORCH_CLUSTER", "LESSON_KEEP", "LESSON_PAUSE"):
        env.pop(var, None)
    proc = subprocess.Popen(
        ["bash", str(EXAMPLES / name / "run.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # TERM the script's group: its EXIT trap stops the cluster and removes its containers.
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        raise LessonFailed(f"{name}/run.sh did not finish in {TIMEOUT_S} s:\n{out[-4000:]}") from None
    if proc.returncode != 0:
        raise LessonFailed(f"{name}/run.sh exited {proc.returncode}:\n{out[-6000:]}")
    results = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            key, _, value = line[len("RESULT ") :].partition("=")
            results[key] = value
    return results


def test_01_a_web_service(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "01-web")
    # 3 tasks over 3 zones, each answering HTTP on its own host port; a killed one replaced; 6 = 2 per zone.
    assert r["spread"] == "us-east-1a=1 us-east-1b=1 us-east-1c=1"
    assert int(r["http_answers"]) >= 3
    assert r["replaced"] == "1"
    assert r["scaled"] == "us-east-1a=2 us-east-1b=2 us-east-1c=2"


def test_02_placement_strategies_and_constraints(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "02-placement")
    assert r["spread"] == "us-east-1a=2 us-east-1b=2 us-east-1c=2"
    # binpack: 4 tasks on one instance (the first to hold one has the least memory left from then on).
    [(instance, count)] = [kv.split("=") for kv in r["binpack"].split()]
    assert count == "4" and instance.startswith("agent-")
    assert r["memberof"] == "agent-3=2"
    # distinctInstance: 4 desired, 3 instances -> 3 running, and an "unable to place" event.
    assert r["distinct"] == "agent-1=1 agent-2=1 agent-3=1"
    assert int(r["distinct_event"]) >= 1
    assert r["runtask_failure"] == "RESOURCE:MEMORY"


def test_03_autoscaling_target_tracking_and_step(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "03-autoscale")
    assert 1 < int(r["target_out"]) <= 3  # scaled out, never past the maximum
    assert r["target_in"] == "1"  # back to the minimum
    assert 1 < int(r["step_out"]) <= 3
    assert r["step_cause"] == "policy cpu-steps"


def test_04_rollout_failed_rollout_and_rollback(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "04-rollout")
    assert r["rollout"] == "web:2:0"  # svc update --wait exit 0
    assert r["failed_rollout"] == "1"  # svc update --wait exit 1: failed and rolled back
    assert r["rolled_back_to"] == "web:2"
    assert r["running_revisions"] == "web:2"


def test_05_losing_a_zone(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "05-zone-loss")
    assert r["before"] == "us-east-1a=2 us-east-1b=2 us-east-1c=2"
    assert r["after"] == "us-east-1a=3 us-east-1b=3"
    assert r["lost_reason"] == "Task stopped due to container instance lost"
    # Back: the superseded containers are gone, and the service did not move by itself.
    assert r["orphans_left"] == "0"
    assert r["back"] == "us-east-1a=3 us-east-1b=3"
    assert r["respread"] == "us-east-1a=2 us-east-1b=2 us-east-1c=2"


def test_06_the_same_service_placed_by_ecs_and_by_kube_scheduler(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "06-ecs-and-kubernetes")
    # agent-1 and agent-2 are half full: ECS binpack packs onto them, kube's LeastAllocated avoids them.
    assert r["ecs"] == "agent-1,agent-2"
    assert r["kube"] == "agent-3,agent-4"
    assert r["plan_ecs"] == "agent-1,agent-2"
    assert r["plan_kube"] == "agent-3,agent-4"


def test_07_an_app_and_its_sidecar_in_one_awsvpc_task(lessons: dict[str, Future[dict[str, str]]]) -> None:
    r = results(lessons, "07-sidecar")
    # the sidecar read the app's page over 127.0.0.1; the task's own IP answered from the host;
    # init exited before app started; nothing of the task (containers, sandbox, volume) was left.
    assert (r["localhost"], r["task_ip"], r["order"], r["left"]) == ("1", "1", "1", "0")
