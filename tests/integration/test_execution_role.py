"""executionRoleArn on real containers: the agent reads the task's SSM parameter and Secrets Manager
json-key secret as the task's execution role (SigV4 with its session, against the control plane's own
AWS endpoint), the server's records show the assumed-role principal, and that session, used by hand
with boto3, reads the task's own parameter and is denied another."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration import test_secrets
from tests.integration.test_secrets import NO_RETRIES, _Lines, client, env_of, run_task, wait_status

# test_secrets' fixtures, reused: one cluster of one real-Docker agent, structlog lines kept in _Lines.
wire, cluster, keys = test_secrets.wire, test_secrets.cluster, test_secrets.keys

pytestmark = pytest.mark.docker


def _execution_session(cluster: LocalCluster, arn: str) -> dict[str, Any]:
    """The agent's session of the task's execution role (what it signed the secret reads with)."""
    agent = next(iter(cluster.agents.values())).agent
    assert agent.worker is not None and agent.worker._execution is not None
    return agent.worker._execution.session(arn)


def test_a_task_reads_its_secrets_as_its_execution_role(cluster: LocalCluster, keys: dict[str, Any]) -> None:
    db_pass, api_key = "pw-" + secrets.token_hex(8), "ak-" + secrets.token_hex(8)
    ssm = client(cluster, keys, "ssm")
    ssm.put_parameter(Name="/exec/db-pass", Value=db_pass, Type="SecureString")
    ssm.put_parameter(Name="/exec/not-yours", Value="nope", Type="SecureString")
    sm = client(cluster, keys, "secretsmanager")
    created = sm.create_secret(Name="exec/api", SecretString=json.dumps({"key": api_key}))
    td = cluster.api(
        "POST",
        "/v1/task-definitions",
        {
            "family": "exec-role",
            "executionRoleArn": "ecsTaskExecutionRole",
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "orch/busybox:latest",
                    "essential": True,
                    "memory": 32,
                    "cpu": 64,
                    "command": ["sleep", "3600"],
                    "secrets": [
                        {"name": "DB_PASS", "valueFrom": "/exec/db-pass"},
                        {"name": "API_KEY", "valueFrom": f"{created['ARN']}:key::"},
                    ],
                }
            ],
        },
    )["taskDefinition"]
    assert td["executionRoleArn"] == "ecsTaskExecutionRole"
    arn = run_task(cluster, f"exec-role:{td['revision']}")
    wait_status(cluster, arn, "RUNNING")
    env = env_of(cluster, arn)
    assert env["DB_PASS"] == db_pass and env["API_KEY"] == api_key

    tid = arn.rsplit("/", 1)[-1]
    principal = f"arn:aws:sts::000000000000:assumed-role/ecsTaskExecutionRole/{tid}"
    # The server's own record of the reads: one "aws request" line per call, naming the principal.
    reads = [
        json.loads(line)
        for line in list(_Lines.lines)
        if '"aws request"' in line and principal in line and "assumed-role" in line
    ]
    assert {(r["service"], r["operation"]) for r in reads} >= {
        ("ssm", "GetParameters"),
        ("secretsmanager", "GetSecretValue"),
    }, reads
    assert not any(db_pass in line or api_key in line for line in _Lines.lines)

    # The session by hand: its own parameter yes, another no, in AWS's words.
    s = _execution_session(cluster, arn)
    by_hand = boto3.client(
        "ssm",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=s["accessKeyId"],
        aws_secret_access_key=s["secretAccessKey"],
        aws_session_token=s["sessionToken"],
        config=NO_RETRIES,
    )
    got = by_hand.get_parameters(Names=["/exec/db-pass"], WithDecryption=True)
    assert [p["Value"] for p in got["Parameters"]] == [db_pass]
    with pytest.raises(ClientError) as denied:
        by_hand.get_parameters(Names=["/exec/not-yours"], WithDecryption=True)
    err = denied.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].startswith(
        f"User: {principal} is not authorized to perform: ssm:GetParameters on resource: "
        "arn:aws:ssm:us-east-1:000000000000:parameter/exec/not-yours"
    )


def test_a_denied_or_missing_reference_stops_the_task_with_ecs_reason(cluster: LocalCluster) -> None:
    td = cluster.api(
        "POST",
        "/v1/task-definitions",
        {
            "family": "exec-missing",
            "executionRoleArn": "arn:aws:iam::000000000000:role/exec",
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "orch/busybox:latest",
                    "memory": 32,
                    "command": ["sleep", "3600"],
                    "secrets": [{"name": "X", "valueFrom": "/exec/no-such"}],
                }
            ],
        },
    )["taskDefinition"]
    arn = run_task(cluster, f"exec-missing:{td['revision']}")
    stopped = wait_status(cluster, arn, "STOPPED")
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"] == (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
        "failed: unable to retrieve secrets from ssm: invalid parameters: /exec/no-such"
    )


def test_logs_of_an_execution_role_task_ship_with_its_session(cluster: LocalCluster) -> None:
    td = cluster.api(
        "POST",
        "/v1/task-definitions",
        {
            "family": "exec-logs",
            "executionRoleArn": "exec",
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "orch/busybox:latest",
                    "memory": 32,
                    "command": ["sh", "-c", "echo hello-from-exec; sleep 3600"],
                }
            ],
        },
    )["taskDefinition"]
    arn = run_task(cluster, f"exec-logs:{td['revision']}")
    wait_status(cluster, arn, "RUNNING")
    tid = arn.rsplit("/", 1)[-1]

    def shipped() -> bool:
        out = cluster.api("GET", f"/v1/clusters/default/tasks/{tid}/logs")
        return any("hello-from-exec" in json.dumps(e) for e in out.get("events", []))

    wait_for(shipped, 30, what="the task's line shipped with its execution role's key id")
    assert not any("log stream refused" in line and tid in line for line in _Lines.lines)
