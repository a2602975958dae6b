"""Fixtures for tests against a real Docker engine: start it (and build the local images) once per
session, give each test a unique label, and remove that test's containers afterwards.

An engine that cannot be reached FAILS the tests that need it, never skips them: CI must not go
green by testing nothing.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executor.base import ExecutorError
from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster

REPO = Path(__file__).resolve().parents[2]
# A first run may apt-get install docker.io and busybox-static.
_SETUP_TIMEOUT_S = 900
TEST_LABEL = "orch.test"


def _run_script(name: str) -> None:
    script = REPO / "scripts" / name
    try:
        proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=_SETUP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.fail(f"scripts/{name} could not run: {err}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/{name} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def docker_executor() -> Iterator[DockerExecutor]:
    """A DockerExecutor on a running engine with orch/busybox, orch/web and orch/cpu-web built."""
    _run_script("ensure-docker.sh")
    _run_script("build-images.sh")
    executor = DockerExecutor()
    try:
        executor.ping()
    except ExecutorError as err:
        pytest.fail(f"the Docker engine does not answer after ensure-docker.sh: {err}", pytrace=False)
    yield executor
    executor.close()


@pytest.fixture
def test_labels(docker_executor: DockerExecutor) -> Iterator[dict[str, str]]:
    """Labels unique to this test; every container carrying them is removed when the test ends."""
    labels = {TEST_LABEL: uuid.uuid4().hex[:12]}
    yield labels
    for state in docker_executor.list(labels):
        docker_executor.remove(state.id)


@pytest.fixture
def docker_cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    """A control plane on loopback with no agents yet; `start_agents(3)` adds real-Docker agents."""
    cluster = LocalCluster(tmp_path / "data", executor_factory=DockerExecutor)
    yield cluster
    cluster.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
