"""Task definition members on real containers: what `docker inspect` shows, the start order dependsOn
gives, task-level limits in the task's cgroup, and the workload policy's refusal and permission."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.container_spec import container_spec
from agent.executor.base import LABEL_TASK
from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import ApiCallFailed, LocalCluster
from tests.harness import wait_for

pytestmark = pytest.mark.docker

BUSYBOX = "orch/busybox:latest"
CGROUP = Path("/sys/fs/cgroup")


def docker_inspect(container_id: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", container_id], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)[0]
    return result


def docker_time(value: str) -> float:
    """Docker's RFC 3339 with nanoseconds -> epoch seconds."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", value.replace("Z", "+00:00"))).timestamp()


def test_container_definition_members_show_in_docker_inspect(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    task = {"taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/default/{test_labels['orch.test']}"}
    cdef = {
        "name": "app",
        "image": BUSYBOX,
        "memory": 64,
        "command": ["sleep", "300"],
        "dockerLabels": {"acceptance.check": "task-runtime", **test_labels},
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "linuxParameters": {
            "initProcessEnabled": True,
            "capabilities": {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]},
            "sharedMemorySize": 32,
            "tmpfs": [{"containerPath": "/scratch", "size": 8, "mountOptions": ["noexec"]}],
            "maxSwap": 0,
            "swappiness": 0,
        },
        "hostname": "app-host",
        "extraHosts": [{"hostname": "db.local", "ipAddress": "127.0.0.9"}],
        "dnsServers": ["127.0.0.53"],
        "dnsSearchDomains": ["corp.example"],
        "readonlyRootFilesystem": True,
        "user": "1000:1000",
        "workingDirectory": "/tmp",
        "interactive": True,
        "pseudoTerminal": True,
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "511"}],
        "stopTimeout": 3,
    }
    spec = container_spec(task, cdef, "default", "i-test", 30, {"ipcMode": "none"})
    state = docker_executor.run(spec)
    assert state.running, state.error
    data = docker_inspect(state.id)
    hc, config = data["HostConfig"], data["Config"]
    assert {"Name": "nofile", "Soft": 1024, "Hard": 2048} in hc["Ulimits"]
    assert config["Labels"]["acceptance.check"] == "task-runtime"
    assert config["Labels"]["orch.task"] == test_labels["orch.test"]  # ours beside the user's
    assert hc["Init"] is True
    assert [c.upper().removeprefix("CAP_") for c in hc["CapDrop"]] == ["NET_RAW"]
    assert [c.upper().removeprefix("CAP_") for c in hc["CapAdd"]] == ["NET_BIND_SERVICE"]
    assert hc["ShmSize"] == 32 * 1024 * 1024
    assert hc["Tmpfs"] == {"/scratch": "noexec,size=8m"}
    assert hc["MemorySwap"] == hc["Memory"] == 64 * 1024 * 1024  # maxSwap 0: no swap at all
    assert hc["MemorySwappiness"] == 0
    assert hc["ExtraHosts"] == ["db.local:127.0.0.9"]
    assert (hc["Dns"], hc["DnsSearch"]) == (["127.0.0.53"], ["corp.example"])
    assert hc["ReadonlyRootfs"] is True
    assert hc["IpcMode"] == "none"
    assert hc["Sysctls"] == {"net.core.somaxconn": "511"}
    assert (config["Hostname"], config["User"], config["WorkingDir"]) == ("app-host", "1000:1000", "/tmp")
    assert config["OpenStdin"] is True and config["Tty"] is True
    assert config["StopTimeout"] == 3
    # and inside: init is PID 1, the hostname is ours, the root filesystem is read-only
    out = subprocess.run(
        ["docker", "exec", state.id, "sh", "-c", "cat /proc/1/comm; hostname; touch /x 2>&1 || true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0] != "sleep"  # docker-init (tini) runs as PID 1, sleep under it
    assert out[1] == "app-host"
    assert "Read-only file system" in out[2]


def test_task_level_limits_live_in_the_task_cgroup(
    docker_executor: DockerExecutor, test_labels: dict[str, str]
) -> None:
    tid = test_labels["orch.test"]
    task = {"taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/default/{tid}"}
    td = {"cpu": "512", "memory": "96"}
    ids = []
    for name in ("a", "b"):
        cdef = {"name": name, "image": BUSYBOX, "command": ["sleep", "300"], "dockerLabels": test_labels}
        state = docker_executor.run(container_spec(task, cdef, "default", "i-test", 30, td))
        assert state.running, state.error
        ids.append(state.id)
    cgroup = f"orch-task-{tid}"
    for cid in ids:
        assert docker_inspect(cid)["HostConfig"]["CgroupParent"] == f"/{cgroup}"
        assert (CGROUP / "memory" / cgroup / cid).is_dir()  # each container beneath the task's cgroup
    # 96 MiB for both containers together; 512 units = half a CPU: 50 000 us per 100 000 us
    assert (CGROUP / "memory" / cgroup / "memory.limit_in_bytes").read_text().strip() == str(96 * 1024 * 1024)
    assert (CGROUP / "cpu" / cgroup / "cpu.cfs_quota_us").read_text().strip() == "50000"
    for cid in ids:
        docker_executor.remove(cid)
    assert not (CGROUP / "memory" / cgroup).exists()  # the last container took the task cgroup along


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(
        tmp_path / "data",
        executor_factory=DockerExecutor,
        settings=Settings(health_grace_s=1.0, heartbeat_interval_s=1.0, allow=frozenset({"privileged"})),
    )
    c.start_agents(1)
    yield c
    c.close()


def run_task(cluster: LocalCluster, body: dict[str, Any]) -> str:
    td = cluster.api("POST", "/v1/task-definitions", body)["taskDefinition"]
    tasks = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": f"{td['family']}:{td['revision']}"})
    arn: str = tasks["tasks"][0]["taskArn"]
    return arn.rsplit("/", 1)[-1]


def describe(cluster: LocalCluster, tid: str) -> dict[str, Any]:
    task: dict[str, Any] = cluster.api("GET", f"/v1/clusters/default/tasks/{tid}")["tasks"][0]
    return task


def containers_of(executor: DockerExecutor, tid: str) -> dict[str, str]:
    return {s.labels["orch.container"]: s.id for s in executor.list({LABEL_TASK: tid})}


def test_a_healthy_dependency_delays_its_dependent(cluster: LocalCluster, docker_executor: DockerExecutor) -> None:
    # db passes its health check only once /tmp/ready exists, 3 s after it starts; the first probe
    # runs 5 s after the start (the interval), so app cannot start before then.
    tid = run_task(
        cluster,
        {
            "family": "order",
            "containerDefinitions": [
                {"name": "db", "image": BUSYBOX, "memory": 32, "stopTimeout": 1,
                 "command": ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 300"],
                 "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2,
                                 "retries": 3}},
                {"name": "app", "image": BUSYBOX, "memory": 32, "stopTimeout": 1, "command": ["sleep", "300"],
                 "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
            ],
        },
    )  # fmt: skip
    wait_for(lambda: describe(cluster, tid)["lastStatus"] == "RUNNING", 60, what="the task RUNNING")
    ids = containers_of(docker_executor, tid)
    db, app = docker_inspect(ids["db"]), docker_inspect(ids["app"])
    passed = min(docker_time(e["End"]) for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0)
    assert docker_time(app["State"]["StartedAt"]) > passed
    assert docker_time(app["State"]["StartedAt"]) > docker_time(db["State"]["StartedAt"])


def test_a_failing_sidecar_leaves_the_task_running(cluster: LocalCluster, docker_executor: DockerExecutor) -> None:
    tid = run_task(
        cluster,
        {
            "family": "sidecar",
            "containerDefinitions": [
                {"name": "web", "image": BUSYBOX, "memory": 32, "stopTimeout": 1, "command": ["sleep", "300"]},
                # no such executable: Docker refuses to start it
                {"name": "log", "image": BUSYBOX, "memory": 32, "essential": False, "command": ["/no/such/thing"]},
            ],
        },
    )
    last: list[dict[str, Any]] = []

    def sidecar_stopped() -> dict[str, Any] | None:
        t = describe(cluster, tid)
        last[:] = [t]
        ok = t["lastStatus"] == "RUNNING" and t["containers"][1]["lastStatus"] == "STOPPED"
        return t if ok else None

    try:
        task = wait_for(sidecar_stopped, 90, what="the task RUNNING with its sidecar STOPPED")
    except AssertionError as err:
        raise AssertionError(f"{err}; the task: {last}") from None
    assert "CannotStartContainerError" in task["containers"][1]["reason"]
    time.sleep(3)  # a few agent passes later the task is still running (not a timing assertion: a hold)
    assert describe(cluster, tid)["lastStatus"] == "RUNNING"


PRIVILEGED = {
    "family": "priv",
    "containerDefinitions": [
        {
            "name": "app",
            "image": BUSYBOX,
            "memory": 32,
            "privileged": True,
            "stopTimeout": 1,
            "command": ["sleep", "300"],
        }
    ],
}


def test_privileged_is_refused_by_default(docker_cluster: LocalCluster) -> None:
    with pytest.raises(ApiCallFailed) as info:
        docker_cluster.api("POST", "/v1/task-definitions", PRIVILEGED)
    assert "rule privileged" in str(info.value) and "--allow privileged" in str(info.value)
    assert docker_cluster.api("GET", "/v1/task-definitions")["taskDefinitionArns"] == []


def test_privileged_runs_when_the_server_allows_it(cluster: LocalCluster) -> None:
    tid = run_task(cluster, PRIVILEGED)
    seen: list[str] = []

    def settled() -> dict[str, Any] | None:
        t = describe(cluster, tid)
        seen.append(t["lastStatus"])
        return t if t["lastStatus"] in ("RUNNING", "STOPPED") else None

    task = wait_for(settled, 60, what="the privileged task RUNNING (or refused by the engine)")
    if task["lastStatus"] == "STOPPED":
        # Some engines cannot grant every capability (this one runs in a sandbox without
        # CAP_SYS_RESOURCE, so `docker run --privileged` fails there too): then the task says so in
        # the engine's own words, and the same must hold for a plain `docker run --privileged`.
        assert task["stoppedReason"].startswith("CannotStartContainerError: "), task
        probe = subprocess.run(
            ["docker", "run", "--rm", "--privileged", BUSYBOX, "true"], capture_output=True, text=True
        )
        assert probe.returncode != 0, (
            f"docker runs privileged containers, but the task stopped: {task['stoppedReason']}"
        )


def test_privileged_reaches_docker(docker_executor: DockerExecutor, test_labels: dict[str, str]) -> None:
    task = {"taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/default/{test_labels['orch.test']}"}
    cdef = {**PRIVILEGED["containerDefinitions"][0], "dockerLabels": test_labels}  # type: ignore[dict-item]
    state = docker_executor.run(container_spec(task, cdef, "default", "i-test", 30, {}))
    # created either way; it runs where the engine may grant every capability
    assert docker_inspect(state.id)["HostConfig"]["Privileged"] is True


def test_a_link_resolves_by_its_alias_and_the_linked_container_starts_first(
    cluster: LocalCluster, docker_executor: DockerExecutor
) -> None:
    # web is listed first but links db, so db starts first; inside web, "database" is db.
    tid = run_task(
        cluster,
        {
            "family": "linked",
            "containerDefinitions": [
                {"name": "web", "image": BUSYBOX, "memory": 32, "stopTimeout": 1, "command": ["sleep", "300"],
                 "links": ["db:database"]},
                {"name": "db", "image": "orch/web:latest", "memory": 32, "stopTimeout": 1,
                 "command": ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]},
            ],
        },
    )  # fmt: skip
    wait_for(lambda: describe(cluster, tid)["lastStatus"] == "RUNNING", 60, what="the task RUNNING")
    ids = containers_of(docker_executor, tid)
    web, db = docker_inspect(ids["web"]), docker_inspect(ids["db"])
    assert docker_time(web["State"]["StartedAt"]) >= docker_time(db["State"]["StartedAt"])
    assert any(link.endswith("/database") for link in web["HostConfig"]["Links"])
    page = subprocess.run(
        ["docker", "exec", ids["web"], "wget", "-q", "-O", "-", "http://database:8080/"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert page == db["Config"]["Hostname"]  # db's own page, reached by the alias


def _volumes(task_id_: str) -> list[str]:
    out = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=orch.task={task_id_}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_a_task_volume_is_shared_by_its_containers_and_removed_with_the_task(
    cluster: LocalCluster, docker_executor: DockerExecutor
) -> None:
    # writer writes to the task's own volume; reader sees it read-only, and through volumesFrom.
    tid = run_task(
        cluster,
        {
            "family": "vol",
            "volumes": [{"name": "shared", "host": {}}],
            "containerDefinitions": [
                {"name": "writer", "image": BUSYBOX, "memory": 32, "stopTimeout": 1,
                 "mountPoints": [{"sourceVolume": "shared", "containerPath": "/data"}],
                 "command": ["sh", "-c", "echo written-by-writer > /data/note; exec sleep 300"]},
                {"name": "reader", "image": BUSYBOX, "memory": 32, "stopTimeout": 1, "command": ["sleep", "300"],
                 "mountPoints": [{"sourceVolume": "shared", "containerPath": "/in", "readOnly": True}]},
                {"name": "borrower", "image": BUSYBOX, "memory": 32, "stopTimeout": 1, "command": ["sleep", "300"],
                 "volumesFrom": [{"sourceContainer": "writer", "readOnly": True}]},
            ],
        },
    )  # fmt: skip
    wait_for(lambda: describe(cluster, tid)["lastStatus"] == "RUNNING", 60, what="the task RUNNING")
    ids = containers_of(docker_executor, tid)

    def read(container: str, path: str) -> str:
        argv = ["docker", "exec", ids[container], "cat", path]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout.strip()

    wait_for(lambda: read("reader", "/in/note") == "written-by-writer", 30, what="the reader seeing the note")
    assert read("borrower", "/data/note") == "written-by-writer"
    [volume] = _volumes(tid)
    assert volume == f"orch-{tid}-shared"
    reader = docker_inspect(ids["reader"])
    [mount] = [m for m in reader["Mounts"] if m["Destination"] == "/in"]
    assert (mount["Name"], mount["RW"]) == (volume, False)
    write = subprocess.run(["docker", "exec", ids["reader"], "touch", "/in/x"], capture_output=True, check=False)
    assert write.returncode != 0  # read-only, as mountPoints said

    cluster.api("POST", f"/v1/clusters/default/tasks/{tid}/stop", {"reason": "test done"})
    wait_for(lambda: not containers_of(docker_executor, tid), 60, what="the task's containers removed")
    wait_for(lambda: not _volumes(tid), 30, what="the task's volume removed with it")
