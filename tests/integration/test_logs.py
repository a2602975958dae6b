"""Container logs on real containers: what a task prints reaches `task logs` (the real CLI),
boto3's CloudWatch Logs calls with the ECS stream name, and `--follow` as it is printed; a
service's tasks interleave in `svc logs`; a json-file container is shipped too, a `none` one not."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from orchestrator.local import LocalCluster
from tests.harness import wait_for

ORCH = str(Path(sys.executable).with_name("orchestrator"))
CHATTY = ["sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done"]
AWSLOGS = {
    "logDriver": "awslogs",
    "options": {"awslogs-group": "/ecs/chatty", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
}


def _cli(cluster: LocalCluster, *args: str, **kwargs: Any) -> Any:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_TOKEN": cluster.plane.admin_token, "COLUMNS": "500"}
    return subprocess.Popen([ORCH, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"line-(\d+)", text)]


def _run(cluster: LocalCluster, family: str) -> str:
    task = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": family})["tasks"][0]
    tid = str(task["taskArn"]).rsplit("/", 1)[-1]
    wait_for(lambda: cluster.api("GET", f"/v1/clusters/default/tasks/{tid}")["tasks"][0]["lastStatus"] == "RUNNING")
    return tid


def _logs(cluster: LocalCluster, tid: str, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cluster.api("GET", f"/v1/clusters/default/tasks/{tid}/logs", **params)["events"]
    return events


def test_task_output_reaches_task_logs_boto3_and_follow(docker_cluster: LocalCluster) -> None:
    cluster = docker_cluster
    cluster.start_agents(1)
    family = cluster.register("chatty", command=CHATTY, logConfiguration=AWSLOGS)
    tid = _run(cluster, family)
    # line-10 too: the filter below expects it as the second match of "line-1".
    wait_for(lambda: len(_logs(cluster, tid)) >= 11, what="11 lines shipped")

    # The real CLI, --tail 5: five consecutive lines.
    cli = _cli(cluster, "task", "logs", tid, "--tail", "5")
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    tail = _numbers(out)
    assert len(tail) == 5 and tail == list(range(tail[0], tail[0] + 5)), out

    # boto3, unchanged: the ECS stream name prefix/container-name/task-id, line-0 onwards in order.
    keys = cluster.api("POST", "/v1/credentials", {"description": "logs test"})
    logs = boto3.client(
        "logs",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    stream = f"ecs/app/{tid}"
    events = logs.get_log_events(logGroupName="/ecs/chatty", logStreamName=stream, startFromHead=True)["events"]
    numbers = _numbers(" ".join(e["message"] for e in events))
    assert numbers[:10] == list(range(10)) and numbers == list(range(len(numbers)))
    streams = logs.describe_log_streams(logGroupName="/ecs/chatty")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    assert "/ecs/chatty" in [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    found = logs.filter_log_events(logGroupName="/ecs/chatty", filterPattern='"line-1"', limit=2)
    assert [e["message"] for e in found["events"]] == ["line-1", "line-10"] and found["nextToken"]

    # The same lines `docker logs` shows, none missing, none twice.
    docker = subprocess.run(
        ["docker", "logs", f"orch-{tid}-app"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    shipped = _numbers(" ".join(e["message"] for e in _logs(cluster, tid)))
    assert shipped == _numbers(docker)[: len(shipped)]

    # --follow: after the history, newer lines arrive (no time limit asserted, only that they come).
    follow = _cli(cluster, "task", "logs", tid, "--follow", "--tail", "1")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follow.stdout or []], daemon=True).start()
    try:
        first = _numbers(lines.get(timeout=60))
        assert first, "the history's last line"
        deadline = time.monotonic() + 60
        newer: list[int] = []
        while not newer and time.monotonic() < deadline:
            newer = [n for n in _numbers(lines.get(timeout=60)) if n > first[0]]
        assert newer, "no line newer than the history came while following"
    finally:
        follow.terminate()
        follow.wait(timeout=10)


def test_service_logs_interleave_tasks_and_drivers_docker_reads_back(docker_cluster: LocalCluster) -> None:
    cluster = docker_cluster
    cluster.start_agents(2)
    family = cluster.register("plain", command=CHATTY, logConfiguration={"logDriver": "json-file"})
    cluster.api(
        "POST", "/v1/clusters/default/services", {"serviceName": "plain", "taskDefinition": family, "desiredCount": 2}
    )
    wait_for(lambda: len(cluster.running("plain")) == 2, 60, what="two running tasks")
    tids = {t["taskArn"].rsplit("/", 1)[-1] for t in cluster.running("plain")}

    def prefixes() -> set[str]:
        cli = _cli(cluster, "svc", "logs", "plain")
        out, _ = cli.communicate(timeout=60)
        return {line.split("/", 1)[0] for line in out.splitlines() if " | line-" in line}

    # Every line says which task (and container) printed it: both tasks show up, as app.
    assert wait_for(lambda: prefixes() == tids, what="lines of both tasks in svc logs")
    cli = _cli(cluster, "svc", "logs", "plain")
    out, _ = cli.communicate(timeout=60)
    assert all(re.fullmatch(r"[0-9a-f]{32}/app \| line-\d+", line) for line in out.splitlines()), out

    # A container logging with driver none keeps nothing Docker can read back: nothing shipped.
    silent = cluster.register(
        "silent", command=["sh", "-c", "echo hidden; sleep 3600"], logConfiguration={"logDriver": "none"}
    )
    quiet = _run(cluster, silent)
    loud = _run(cluster, cluster.register("loud", command=["sh", "-c", "echo shown; sleep 3600"]))
    wait_for(lambda: _logs(cluster, loud), what="the json-file (default) container's line")
    assert [e["message"] for e in _logs(cluster, loud)] == ["shown"]
    assert _logs(cluster, quiet) == []
