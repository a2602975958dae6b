"""The real `aws` CLI, run as a subprocess, against the ECS-compatible endpoint of real agents.

Nothing from the machine leaks in: the CLI gets its own empty config and credentials files, no
profile and no instance metadata, and the key pair comes from `orchestrator credentials create`.
Every response the endpoint sends in this module is checked against the botocore model at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import TASK_DEFINITION, WireLog, real_cluster

BIN = Path(sys.executable).parent
ARN = "arn:aws:ecs:us-east-1:000000000000"


@dataclass(frozen=True)
class Run:
    rc: int
    out: Any
    err: str


@dataclass
class Aws:
    """The `aws` command with a clean environment, pointed at one control plane."""

    url: str
    env: dict[str, str]

    def __call__(
        self, *args: str, endpoint: bool = True, extra_env: dict[str, str] | None = None, ok: bool = True
    ) -> Run:
        argv = [str(BIN / "aws"), *args, "--output", "json"]
        if endpoint:
            argv += ["--endpoint-url", self.url]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, check=False, env={**self.env, **(extra_env or {})}
        )
        if ok:
            assert proc.returncode == 0, f"aws {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
        return Run(proc.returncode, out, proc.stderr)

    def fails(self, *args: str, **kwargs: Any) -> str:
        run = self(*args, ok=False, **kwargs)
        assert run.rc != 0, f"aws {' '.join(args)} should have failed"
        return run.err


def orchestrator(cluster: LocalCluster, *args: str) -> Any:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_TOKEN": cluster.plane.admin_token}
    proc = subprocess.run(
        [str(BIN / "orchestrator"), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert proc.returncode == 0, f"orchestrator {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout) if "-o" in args else proc.stdout


@pytest.fixture(scope="module")
def wire() -> Iterator[WireLog]:
    log = WireLog()
    with log.recording():
        yield log


@pytest.fixture(scope="module")
def cluster(
    wire: WireLog, docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    with real_cluster(Path(tmp_path_factory.mktemp("aws-cli")) / "data") as c:
        yield c


@pytest.fixture(scope="module")
def keys(cluster: LocalCluster) -> dict[str, Any]:
    created: dict[str, Any] = orchestrator(cluster, "credentials", "create", "-d", "aws cli tests", "-o", "json")
    return created


@pytest.fixture(scope="module")
def aws(cluster: LocalCluster, keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Aws:
    home = Path(tmp_path_factory.mktemp("aws-home"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"),  # absent files: nothing configured
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys["accessKeyId"],
            "AWS_SECRET_ACCESS_KEY": keys["secretAccessKey"],
        }
    )
    return Aws(cluster.url, env)


@pytest.fixture(scope="module")
def input_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("aws-input")) / "sleeper.json"
    path.write_text(json.dumps(TASK_DEFINITION))
    return f"file://{path}"


def test_credentials_list_shows_ids_and_never_secrets(cluster: LocalCluster, keys: dict[str, Any]) -> None:
    listed = orchestrator(cluster, "credentials", "list", "-o", "json")
    assert [k["accessKeyId"] for k in listed["credentials"]] == [keys["accessKeyId"]]
    assert keys["secretAccessKey"] not in json.dumps(listed)
    assert keys["secretAccessKey"] not in orchestrator(cluster, "credentials", "list")


def test_clusters(aws: Aws) -> None:
    assert aws("ecs", "create-cluster", "--cluster-name", "cli-a").out["cluster"]["status"] == "ACTIVE"
    out = aws("ecs", "describe-clusters", "--clusters", "cli-a", "nope").out
    assert [c["clusterName"] for c in out["clusters"]] == ["cli-a"]
    assert out["failures"] == [{"arn": f"{ARN}:cluster/nope", "reason": "MISSING"}]
    assert aws("ecs", "delete-cluster", "--cluster", "cli-a").out["cluster"]["status"] == "INACTIVE"
    err = aws.fails("ecs", "delete-cluster", "--cluster", "default")
    assert "(ClusterContainsContainerInstancesException) when calling the DeleteCluster operation" in err


def test_service_update_and_wait_services_stable(aws: Aws, input_json: str) -> None:
    first = aws("ecs", "register-task-definition", "--cli-input-json", input_json).out["taskDefinition"]
    assert first["family"] == "sleeper"
    aws(
        "ecs",
        "create-service",
        "--service-name",
        "web",
        "--task-definition",
        first["taskDefinitionArn"],
        "--desired-count",
        "3",
    )

    def service() -> dict[str, Any]:
        svc: dict[str, Any] = aws("ecs", "describe-services", "--services", "web").out["services"][0]
        return svc

    wait_for(lambda: service()["runningCount"] == 3, 60, interval=1, what="3 running tasks of web")

    second = aws("ecs", "register-task-definition", "--cli-input-json", input_json).out["taskDefinition"]
    updated = aws(
        "ecs", "update-service", "--service", "web", "--task-definition", "sleeper:2", "--desired-count", "4"
    ).out["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    # The CLI's own waiter (DescribeServices every 15 s): stable is one deployment, running == desired.
    assert aws("ecs", "wait", "services-stable", "--services", "web").rc == 0
    svc = service()
    assert (len(svc["deployments"]), svc["runningCount"], svc["desiredCount"]) == (1, 4, 4)
    assert svc["taskDefinition"] == second["taskDefinitionArn"]

    arns = aws("ecs", "list-tasks", "--service-name", "web").out["taskArns"]
    tasks = aws("ecs", "describe-tasks", "--tasks", *arns).out["tasks"]
    assert len(tasks) == 4 and {t["taskDefinitionArn"] for t in tasks} == {second["taskDefinitionArn"]}
    stopped = aws("ecs", "stop-task", "--task", arns[0], "--reason", "cli test").out["task"]
    assert (stopped["desiredStatus"], stopped["stoppedReason"]) == ("STOPPED", "cli test")

    err = aws.fails("ecs", "delete-service", "--service", "web")
    assert "(InvalidParameterException)" in err and "force" in err
    assert aws("ecs", "delete-service", "--service", "web", "--force").out["service"]["status"] == "DRAINING"


def test_instances_drain_start_and_run_tasks(aws: Aws, cluster: LocalCluster, input_json: str) -> None:
    aws("ecs", "register-task-definition", "--cli-input-json", input_json)
    in_b = aws("ecs", "list-container-instances", "--filter", "attribute:ecs.availability-zone == us-east-1b").out[
        "containerInstanceArns"
    ]
    assert in_b == [f"{ARN}:container-instance/default/{cluster.instance_id('agent-2')}"]
    arns = aws("ecs", "list-container-instances").out["containerInstanceArns"]
    described = aws("ecs", "describe-container-instances", "--container-instances", *arns).out
    assert len(described["containerInstances"]) == 3 and described["failures"] == []

    drained = aws(
        "ecs", "update-container-instances-state", "--container-instances", in_b[0], "--status", "DRAINING"
    ).out
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    assert aws("ecs", "list-container-instances", "--status", "DRAINING").out["containerInstanceArns"] == in_b
    ran = aws("ecs", "run-task", "--task-definition", "sleeper", "--count", "4", "--started-by", "cli").out
    # A DRAINING instance takes no new tasks: all 4 land on the other two.
    assert len(ran["tasks"]) == 4 and in_b[0] not in {t["containerInstanceArn"] for t in ran["tasks"]}
    aws("ecs", "update-container-instances-state", "--container-instances", in_b[0], "--status", "ACTIVE")

    first = cluster.instance_id("agent-1")
    started = aws(
        "ecs", "start-task", "--task-definition", "sleeper", "--container-instances", first, "--started-by", "cli"
    ).out["tasks"]
    assert [t["containerInstanceArn"] for t in started] == [f"{ARN}:container-instance/default/{first}"]

    mine = aws("ecs", "list-tasks", "--started-by", "cli").out["taskArns"]
    assert sorted(mine) == sorted(t["taskArn"] for t in ran["tasks"] + started)
    for arn in mine:
        aws("ecs", "stop-task", "--task", arn)
    assert aws("ecs", "list-tasks", "--started-by", "cli").out["taskArns"] == []
    err = aws.fails("ecs", "run-task", "--task-definition", "sleeper", "--count", "11")
    assert "(InvalidParameterException) when calling the RunTask operation: count must be at most 10" in err


def test_endpoint_from_the_environment_and_refused_requests(aws: Aws, cluster: LocalCluster) -> None:
    listed = aws("ecs", "list-clusters", endpoint=False, extra_env={"AWS_ENDPOINT_URL_ECS": cluster.url}).out
    assert f"{ARN}:cluster/default" in listed["clusterArns"]

    assert "(MissingAuthenticationTokenException)" in aws.fails("--no-sign-request", "ecs", "list-clusters")
    assert "(InvalidSignatureException)" in aws.fails(
        "ecs", "list-clusters", extra_env={"AWS_SECRET_ACCESS_KEY": "x" * 40}
    )
    other = orchestrator(cluster, "credentials", "create", "-o", "json")
    as_other = {"AWS_ACCESS_KEY_ID": other["accessKeyId"], "AWS_SECRET_ACCESS_KEY": other["secretAccessKey"]}
    assert aws("ecs", "list-clusters", extra_env=as_other).rc == 0
    assert other["accessKeyId"] in orchestrator(cluster, "credentials", "revoke", other["accessKeyId"])
    err = aws.fails("ecs", "create-cluster", "--cluster-name", "evil", extra_env=as_other)
    assert "(UnrecognizedClientException)" in err
    assert f"{ARN}:cluster/evil" not in aws("ecs", "list-clusters").out["clusterArns"]


def test_application_autoscaling(aws: Aws, cluster: LocalCluster, input_json: str) -> None:
    aws("ecs", "register-task-definition", "--cli-input-json", input_json)
    aws("ecs", "create-service", "--service-name", "scaled", "--task-definition", "sleeper", "--desired-count", "2")
    # botocore names service-specific endpoint variables after the serviceId, "Application Auto
    # Scaling", so it is ..._AUTO_SCALING; an ..._AUTOSCALING variable is silently ignored.
    scaling = {"AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING": cluster.url}
    target = [
        "--service-namespace",
        "ecs",
        "--resource-id",
        "service/default/scaled",
        "--scalable-dimension",
        "ecs:service:DesiredCount",
    ]
    registered = aws(
        "application-autoscaling",
        "register-scalable-target",
        *target,
        "--min-capacity",
        "1",
        "--max-capacity",
        "3",
        endpoint=False,
        extra_env=scaling,
    ).out
    assert registered["ScalableTargetARN"].startswith("arn:aws:application-autoscaling:")
    config = {
        "TargetValue": 50.0,
        "ScaleInCooldown": 0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    }
    policy = aws(
        "application-autoscaling",
        "put-scaling-policy",
        *target,
        "--policy-name",
        "cpu50",
        "--policy-type",
        "TargetTrackingScaling",
        "--target-tracking-scaling-policy-configuration",
        json.dumps(config),
    ).out
    described = aws("application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs").out
    assert [p["PolicyARN"] for p in described["ScalingPolicies"]] == [policy["PolicyARN"]]

    def scaled_in() -> list[dict[str, Any]]:
        out = aws(
            "application-autoscaling",
            "describe-scaling-activities",
            "--service-namespace",
            "ecs",
            "--resource-id",
            "service/default/scaled",
        ).out
        return [a for a in out["ScalingActivities"] if a["StatusCode"] == "Successful"]

    # Idle busybox stays under 90 % of the 50 % CPU target; the low alarm scales in to the minimum.
    assert wait_for(scaled_in, 60, interval=1, what="a scale-in activity")[0]["Description"] == (
        "Setting desired count to 1."
    )
    err = aws.fails("application-autoscaling", "delete-scaling-policy", *target, "--policy-name", "nope")
    assert "(ObjectNotFoundException)" in err
    aws("application-autoscaling", "deregister-scalable-target", *target)
    aws("ecs", "delete-service", "--service", "scaled", "--force")


def test_task_output_read_with_aws_logs(aws: Aws, tmp_path: Path) -> None:
    awslogs = {"awslogs-group": "/cli/echo", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "cli"}
    definition = {
        "family": "cli-echo",
        "containerDefinitions": [
            {
                "name": "echo",
                "image": "orch/busybox:latest",
                "memory": 32,
                "stopTimeout": 2,
                "command": ["sh", "-c", "for i in 0 1 2 3 4; do echo cli-line-$i; done; exec sleep 3600"],
                "logConfiguration": {"logDriver": "awslogs", "options": awslogs},
            }
        ],
    }
    path = tmp_path / "echo.json"
    path.write_text(json.dumps(definition))
    aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")
    task_arn = aws("ecs", "run-task", "--task-definition", "cli-echo").out["tasks"][0]["taskArn"]
    stream = f"cli/echo/{task_arn.rsplit('/', 1)[-1]}"  # ECS's name: prefix/container-name/task-id

    def lines() -> list[str]:
        run = aws(
            "logs",
            "get-log-events",
            "--log-group-name",
            "/cli/echo",
            "--log-stream-name",
            stream,
            "--start-from-head",
            ok=False,
        )
        if run.rc != 0 and "does not exist" in run.err:
            return []  # the group and its stream are made with the first lines the agent ships
        assert run.rc == 0, run.err
        return [e["message"] for e in run.out["events"]]

    assert wait_for(lambda: len(lines()) == 5 and lines(), 60, interval=1, what="5 lines through aws logs") == [
        f"cli-line-{i}" for i in range(5)
    ]
    groups = aws("logs", "describe-log-groups", "--log-group-name-prefix", "/cli/").out["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/cli/echo"]
    streams = aws("logs", "describe-log-streams", "--log-group-name", "/cli/echo").out["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    # The CLI pages filter-log-events itself (nextToken) until it has every match.
    found = aws("logs", "filter-log-events", "--log-group-name", "/cli/echo", "--filter-pattern", '"cli-line-3"').out
    assert [e["message"] for e in found["events"]] == ["cli-line-3"]
    err = aws.fails("logs", "get-log-events", "--log-group-name", "/cli/nope", "--log-stream-name", stream)
    assert "(ResourceNotFoundException) when calling the GetLogEvents operation" in err
    aws("ecs", "stop-task", "--task", task_arn)


def test_every_response_of_this_module_fits_the_botocore_model(wire: WireLog) -> None:
    # Runs last (pytest keeps file order).
    assert {
        "RegisterTaskDefinition",
        "UpdateService",
        "DescribeServices",
        "StartTask",
        "RunTask",
        "UpdateContainerInstancesState",
        "DescribeContainerInstances",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "DescribeScalingPolicies",
        "DescribeScalingActivities",
    } <= wire.operations()
    assert wire.problems() == []
