"""taskRoleArn on real containers: a task's container fetches its role's key pair from the endpoint
its environment names, as an SDK on ECS does, and the pair signs calls to this control plane while
the task runs, and no longer once it has stopped.

The container reaches the endpoint on 127.0.0.1 of its own network namespace, where its agent
listens. botocore's own ContainerProvider is run against it from a thread of the test process that
enters the same namespace (the test runs as root on the Docker host, as the agent does).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.credentials
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from agent.container_spec import container_name
from agent.executor.docker import DockerExecutor
from agent.task_credentials import AUTH_TOKEN, FULL_URI, REFRESH_BEFORE_S
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import SETTINGS

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
ROLE = "arn:aws:iam::000000000000:role/app-role"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster(docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("role")) / "data", executor_factory=DockerExecutor, settings=SETTINGS)
    try:
        c.start_agents(1)
        yield c
    finally:
        c.close()


def _register(cluster: LocalCluster, family: str, **task: Any) -> None:
    container = {
        "name": "app",
        "image": "orch/busybox",
        "command": ["sleep", "300"],
        "memory": 32,
        "stopTimeout": 1,  # busybox sleep as PID 1 ignores SIGTERM
    }
    cluster.api("POST", "/v1/task-definitions", {"family": family, "containerDefinitions": [container], **task})


def _run(cluster: LocalCluster, family: str) -> str:
    out = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": family})
    arn = str(out["tasks"][0]["taskArn"])
    wait_for(lambda: _task(cluster, arn)["lastStatus"] == "RUNNING", 60, what="task RUNNING")
    return arn


def _task(cluster: LocalCluster, arn: str) -> dict[str, Any]:
    return dict(cluster.api("GET", f"/v1/clusters/default/tasks/{arn.rsplit('/', 1)[-1]}")["tasks"][0])


def _env(arn: str) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .Config.Env}}", container_name(arn, "app")],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(e.split("=", 1) for e in json.loads(out.stdout))


def _wget(arn: str, url: str, token: str | None) -> subprocess.CompletedProcess[str]:
    header = ["--header", f"Authorization: {token}"] if token is not None else []
    return subprocess.run(
        ["docker", "exec", container_name(arn, "app"), "wget", "-q", "-O-", *header, url],
        capture_output=True,
        text=True,
        check=False,
    )


def _ecs(cluster: LocalCluster, creds: dict[str, Any], token: bool = True) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["Token"] if token else None,
        config=NO_RETRIES,
    )


def _in_namespace(pid: int, fn: Any) -> Any:
    """fn() run on a thread that has entered the network namespace of process `pid`."""
    out: dict[str, Any] = {}

    def run() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            assert libc.setns(fd, 0x40000000) == 0, os.strerror(ctypes.get_errno())
        finally:
            os.close(fd)
        try:
            out["value"] = fn()
        except Exception as err:  # handed to the test's thread
            out["error"] = err

    thread = threading.Thread(target=run)  # ends with the namespace it entered; nothing else runs there
    thread.start()
    thread.join(30)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_task_fetches_its_role_credentials_and_they_end_with_it(cluster: LocalCluster) -> None:
    _register(cluster, "role", taskRoleArn=ROLE)
    arn = _run(cluster, "role")
    tid = arn.rsplit("/", 1)[-1]
    env = _env(arn)
    assert env[FULL_URI] == f"http://127.0.0.1:51679/v2/credentials/{tid}"
    token = env[AUTH_TOKEN]

    # From inside the container, as an SDK there would: the URI of its environment, with the token.
    got = _wget(arn, env[FULL_URI], token)
    assert got.returncode == 0, got.stderr
    creds = json.loads(got.stdout)
    assert creds["AccessKeyId"].startswith("ASIA") and creds["RoleArn"] == ROLE
    assert creds["SecretAccessKey"] and creds["Token"] and creds["Expiration"].endswith("Z")
    # without the token, or with another, nothing
    assert _wget(arn, env[FULL_URI], None).returncode != 0
    assert _wget(arn, env[FULL_URI], token[:-2] + "xx").returncode != 0

    # botocore's own provider, given that environment, in the task's network namespace
    pid = int(
        subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", container_name(arn, "app")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    loaded = _in_namespace(pid, lambda: botocore.credentials.ContainerProvider(environ=env).load())
    frozen = loaded.get_frozen_credentials()
    assert frozen.access_key == creds["AccessKeyId"]  # the agent serves its cached pair (1 h, > 30 min left)
    assert frozen.token == creds["Token"] and loaded.method == "container-role"
    assert REFRESH_BEFORE_S >= 15 * 60  # botocore refreshes 15 min before expiry: it always gets more

    # The pair signs calls to this control plane, from the test process, on loopback.
    ecs = _ecs(cluster, creds)
    described = ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"]
    assert [t["taskArn"] for t in described] == [arn]
    assert arn in ecs.list_tasks(cluster="default")["taskArns"]
    # The secret and the token appear in no answer about the task.
    shown = json.dumps(described, default=str) + json.dumps(_task(cluster, arn))
    assert creds["SecretAccessKey"] not in shown and creds["Token"] not in shown
    # Without its session token the pair is not accepted; and it is read-only on its own cluster.
    with pytest.raises(ClientError) as info:
        _ecs(cluster, creds, token=False).list_tasks(cluster="default")
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as info:
        ecs.run_task(cluster="default", taskDefinition="role")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "assumed-role/app-role/" + tid in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        ecs.list_tasks(cluster="elsewhere")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"

    cluster.api("POST", f"/v1/clusters/default/tasks/{tid}/stop", {"reason": "test over"})
    wait_for(lambda: _task(cluster, arn)["lastStatus"] == "STOPPED", 60, what="task STOPPED")
    with pytest.raises(ClientError) as info:
        ecs.describe_tasks(cluster="default", tasks=[arn])
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_a_task_without_a_role_gets_no_endpoint(cluster: LocalCluster) -> None:
    _register(cluster, "norole")
    arn = _run(cluster, "norole")
    env = _env(arn)
    assert FULL_URI not in env and AUTH_TOKEN not in env
    # nothing listens on the endpoint's port in its namespace
    assert _wget(arn, "http://127.0.0.1:51679/v2/credentials/x", "t").returncode != 0
    cluster.api("POST", f"/v1/clusters/default/tasks/{arn.rsplit('/', 1)[-1]}/stop", {})
