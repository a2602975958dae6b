"""Fixtures for the dashboard's tests: Debian's chromium driven by selenium, and one real cluster.

Chromium and chromedriver are installed by scripts/ensure-chromium.sh when missing (root on
Debian), as the Docker engine is by ensure-docker.sh; when they still cannot be had the tests
FAIL, never skip. Screenshots go to tests/ui/artifacts/ (git-ignored), one per step worth seeing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.integration.conftest import docker_executor  # noqa: F401 (a fixture, used by name)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
_SETUP_TIMEOUT_S = 900


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver), installing them first if needed; pytest.fail when that cannot be done."""
    script = REPO / "scripts" / "ensure-chromium.sh"
    try:
        proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=_SETUP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.fail(f"scripts/ensure-chromium.sh could not run: {err}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/ensure-chromium.sh failed (exit {proc.returncode}):\n{proc.stderr}", pytrace=False)
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium or chromedriver is not on PATH after scripts/ensure-chromium.sh", pytrace=False)
    return chromium, driver


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium at 1600x1000, the size of a classroom projector's picture."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = chromium_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
    ):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver), options=opts)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def ui_cluster(docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:  # noqa: F811
    """A control plane with 3 real-Docker agents, one per zone; the module's tests share it."""
    cluster = LocalCluster(tmp_path_factory.mktemp("ui") / "data", executor_factory=DockerExecutor)
    try:
        cluster.start_agents(3)
        yield cluster
    finally:
        cluster.close()
