"""`ecs-deploy` from PyPI, run unchanged as a subprocess, rolls out a new revision on real agents.

The tool reads ECS responses as ECS writes them (it indexes `volumes`, `mountPoints` and
`requiresAttributes` without fallbacks, copies every member of the described task definition into
the new registration, and waits on the deployment list and the tasks' task definitions), so it
fails on an endpoint that drops a default member or invents one. The only thing it is told about
us is `AWS_ENDPOINT_URL_ECS`; the containers it ends up with are checked in Docker itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent.executor.docker import DockerExecutor
from agent.worker import container_name
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import WireLog, real_cluster
from tests.integration.test_aws_cli import orchestrator

BIN = Path(sys.executable).parent
SERVICE = "deployed"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def wire() -> Iterator[WireLog]:
    log = WireLog()
    with log.recording():
        yield log


@pytest.fixture(scope="module")
def cluster(
    wire: WireLog, docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    with real_cluster(Path(tmp_path_factory.mktemp("ecs-deploy")) / "data") as c:
        yield c


@pytest.fixture(scope="module")
def env(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    keys = orchestrator(cluster, "credentials", "create", "-d", "ecs-deploy tests", "-o", "json")
    home = Path(tmp_path_factory.mktemp("ecs-deploy-home"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys["accessKeyId"],
            "AWS_SECRET_ACCESS_KEY": keys["secretAccessKey"],
            "AWS_ENDPOINT_URL_ECS": cluster.url,
        }
    )
    return clean


@pytest.fixture(scope="module")
def ecs(env: dict[str, str]) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=env["AWS_ENDPOINT_URL_ECS"],
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _container_env(task_arn: str) -> dict[str, str]:
    proc = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Env}}", container_name(task_arn, "app")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pairs = [item.split("=", 1) for item in json.loads(proc.stdout)]
    return {k: v for k, v in pairs}


def _running(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster="default", serviceName=SERVICE)["taskArns"]
    tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def test_ecs_deploy_rolls_out_a_changed_environment_variable(ecs: Any, env: dict[str, str], wire: WireLog) -> None:
    first = ecs.register_task_definition(
        family="deployed",
        containerDefinitions=[
            {
                "name": "app",
                "image": "orch/busybox:latest",
                "essential": True,
                "memory": 32,
                "cpu": 64,
                "command": ["sleep", "3600"],
                "environment": [{"name": "STAGE", "value": "one"}],
            }
        ],
    )["taskDefinition"]
    ecs.create_service(
        cluster="default", serviceName=SERVICE, taskDefinition=first["taskDefinitionArn"], desiredCount=2
    )
    wait_for(lambda: len(_running(ecs)) == 2, timeout=120, what="two tasks of revision 1 running")

    proc = subprocess.run(
        [str(BIN / "ecs"), "deploy", "default", SERVICE, "-e", "app", "STAGE", "two", "--timeout", "240"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, f"ecs deploy failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "Deployment successful" in proc.stdout, proc.stdout

    service = ecs.describe_services(cluster="default", services=[SERVICE])["services"][0]
    second = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    # ecs-deploy registered revision 2 with the changed variable and deregistered revision 1.
    assert second["revision"] == 2
    assert second["containerDefinitions"][0]["environment"] == [{"name": "STAGE", "value": "two"}]
    assert ecs.describe_task_definition(taskDefinition="deployed:1")["taskDefinition"]["status"] == "INACTIVE"
    # The new registration is the old one plus the variable: nothing invented, nothing lost.
    assert "requiresCompatibilities" not in second and "taskRoleArn" not in second
    assert second["containerDefinitions"][0]["command"] == ["sleep", "3600"]
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY"]
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"

    running = _running(ecs)
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {second["taskDefinitionArn"]}
    assert [_container_env(t["taskArn"])["STAGE"] for t in running] == ["two", "two"]
    assert wire.problems() == []
