"""Secrets on real containers: SSM parameters and Secrets Manager secrets reach a task's environment,
through boto3 as unchanged, and the value appears nowhere else (no API response, no log line).

Every log line of the module (structlog at debug, stdlib logging) and every response the tests
receive are kept and searched for the secret values at the end of each test.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from agent.container_spec import container_name
from agent.executor.docker import DockerExecutor
from orchestrator.core.logs import configure
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.ecs_wire import SETTINGS, WireLog
from tests.integration.test_aws_cli import Aws

ORCH = str(Path(sys.executable).parent / "orchestrator")
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def wire() -> Iterator[WireLog]:
    log = WireLog()
    with log.recording():
        yield log


class _Lines:
    """A structlog logger factory keeping every rendered line (the control plane's and the agent's)."""

    lines: list[str] = []

    def __call__(self, *_: Any) -> Any:
        return self

    def msg(self, line: str) -> None:
        self.lines.append(line)

    log = debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


@pytest.fixture(scope="module")
def cluster(
    wire: WireLog, docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    configure("debug", json_output=True)
    structlog.configure(logger_factory=_Lines(), cache_logger_on_first_use=False)
    c = LocalCluster(
        Path(tmp_path_factory.mktemp("secrets")) / "data", executor_factory=DockerExecutor, settings=SETTINGS
    )
    try:
        c.start_agents(1)
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def keys(cluster: LocalCluster) -> dict[str, Any]:
    return cluster.api("POST", "/v1/credentials", {"description": "secrets tests"})


def client(cluster: LocalCluster, keys: dict[str, Any], service: str) -> BaseClient:
    return boto3.client(
        service,
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
        config=NO_RETRIES,
    )


def env_of(cluster: LocalCluster, task_arn: str, name: str = "app") -> dict[str, str]:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .Config.Env}}", container_name(task_arn, name)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(e.split("=", 1) for e in json.loads(out.stdout))


def run_task(cluster: LocalCluster, taskdef: str) -> str:
    out = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": taskdef})
    assert out["tasks"], out
    return str(out["tasks"][0]["taskArn"])


def task(cluster: LocalCluster, arn: str) -> dict[str, Any]:
    return dict(cluster.api("GET", f"/v1/clusters/default/tasks/{arn.rsplit('/', 1)[-1]}")["tasks"][0])


def wait_status(cluster: LocalCluster, arn: str, status: str) -> dict[str, Any]:
    return wait_for(lambda: (t := task(cluster, arn))["lastStatus"] == status and t, 60, what=f"task {status}")


def assert_nowhere(value: str, texts: list[str], where: str) -> None:
    hits = [t[:200] for t in texts if value in t]
    assert not hits, f"the secret value leaked into {where}: {hits}"


def test_a_secure_string_reaches_the_container_and_nothing_else(
    cluster: LocalCluster,
    keys: dict[str, Any],
    wire: WireLog,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    value = "pw-" + secrets.token_hex(12)
    ssm = client(cluster, keys, "ssm")
    put = ssm.put_parameter(Name="/app/db-pass", Value=value, Type="SecureString")
    assert put["Version"] == 1 and put["Tier"] == "Standard"
    # Without WithDecryption a SecureString comes back sealed, as SSM returns ciphertext.
    sealed = ssm.get_parameter(Name="/app/db-pass")["Parameter"]
    assert sealed["Type"] == "SecureString" and sealed["Value"] != value
    got = ssm.get_parameter(Name="/app/db-pass", WithDecryption=True)["Parameter"]
    assert got["Value"] == value and got["Version"] == 1
    assert got["ARN"] == "arn:aws:ssm:us-east-1:000000000000:parameter/app/db-pass"
    responses: list[str] = [json.dumps(put), json.dumps(sealed, default=str)]

    taskdef = cluster.register(
        "with-secret",
        secrets=[
            {"name": "DB_PASS", "valueFrom": "/app/db-pass"},
            {"name": "BY_ARN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/app/db-pass"},
        ],
    )
    arn = run_task(cluster, taskdef)
    running = wait_status(cluster, arn, "RUNNING")
    env = env_of(cluster, arn)
    assert env["DB_PASS"] == value and env["BY_ARN"] == value

    ecs = client(cluster, keys, "ecs")
    described = ecs.describe_tasks(tasks=[arn])
    definition = ecs.describe_task_definition(taskDefinition=taskdef)
    listed = cluster.api("GET", "/v1/secrets")
    assert [p["Name"] for p in listed["Parameters"]] == ["/app/db-pass"]
    responses += [json.dumps(running), json.dumps(described, default=str), json.dumps(definition, default=str)]
    responses += [json.dumps(listed), json.dumps(cluster.api("GET", "/v1/clusters/default/tasks"))]
    responses += [json.dumps(e.body) for e in wire.exchanges if e.operation != "GetParameter"]
    assert_nowhere(value, responses, "an API response")
    captured = capfd.readouterr()
    # The control plane and the agent log structlog JSON lines, debug included.
    assert any("task secrets resolved" in line for line in _Lines.lines), "logs not captured: this would prove nothing"
    assert_nowhere(value, [captured.out, captured.err, *_Lines.lines], "the log output")
    # The test's own boto3 client logs what it sends and receives (the value, of course): not ours.
    ours = [r for r in caplog.records if not r.name.startswith(("botocore", "boto3", "urllib3"))]
    assert_nowhere(value, [r.getMessage() + repr(r.__dict__) for r in ours], "a log record")
    # Sealed at rest: the database holds no plain copy.
    data = Path(cluster.data_dir)
    assert_nowhere(value, [p.read_bytes().decode("latin-1") for p in data.rglob("*") if p.is_file()], "the data dir")


def test_a_missing_parameter_stops_the_task_with_ecs_reason(cluster: LocalCluster) -> None:
    taskdef = cluster.register("missing-secret", secrets=[{"name": "X", "valueFrom": "no-such-param"}])
    arn = run_task(cluster, taskdef)
    stopped = wait_status(cluster, arn, "STOPPED")
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"] == (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
        "failed: unable to retrieve secrets from ssm: invalid parameters: no-such-param"
    )


def test_a_secrets_manager_json_key_reaches_the_container(cluster: LocalCluster, keys: dict[str, Any]) -> None:
    password = "sm-" + secrets.token_hex(12)
    sm = client(cluster, keys, "secretsmanager")
    created = sm.create_secret(Name="prod/db", SecretString=json.dumps({"username": "app", "password": password}))
    assert created["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-")
    assert json.loads(sm.get_secret_value(SecretId="prod/db")["SecretString"])["password"] == password
    taskdef = cluster.register(
        "sm-secret",
        secrets=[
            {"name": "DB_PASSWORD", "valueFrom": f"{created['ARN']}:password::"},
            {"name": "DB_JSON", "valueFrom": created["ARN"]},
        ],
        repositoryCredentials={"credentialsParameter": created["ARN"]},
    )
    arn = run_task(cluster, taskdef)
    wait_status(cluster, arn, "RUNNING")
    env = env_of(cluster, arn)
    assert env["DB_PASSWORD"] == password
    assert json.loads(env["DB_JSON"]) == {"username": "app", "password": password}

    missing_key = cluster.register("sm-nokey", secrets=[{"name": "K", "valueFrom": f"{created['ARN']}:nokey::"}])
    stopped = wait_status(cluster, run_task(cluster, missing_key), "STOPPED")
    assert stopped["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth")
    assert "did not contain json key nokey" in stopped["stoppedReason"] and password not in json.dumps(stopped)


def test_boto3_parameter_and_secret_round_trips_and_errors(cluster: LocalCluster, keys: dict[str, Any]) -> None:
    ssm = client(cluster, keys, "ssm")
    ssm.put_parameter(Name="plain", Value="v1", Type="String")
    with pytest.raises(ClientError) as exists:
        ssm.put_parameter(Name="plain", Value="v2", Type="String")
    assert exists.value.response["Error"]["Code"] == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name="plain", Value="v2", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name="plain")["Parameter"]["Value"] == "v2"
    assert ssm.get_parameter(Name="plain:1")["Parameter"]["Value"] == "v1"
    both = ssm.get_parameters(Names=["plain", "nope"], WithDecryption=True)
    assert [p["Name"] for p in both["Parameters"]] == ["plain"] and both["InvalidParameters"] == ["nope"]
    names = [p["Name"] for p in ssm.describe_parameters()["Parameters"]]
    assert "plain" in names
    ssm.delete_parameter(Name="plain")
    with pytest.raises(ClientError) as gone:
        ssm.delete_parameter(Name="plain")
    assert gone.value.response["Error"]["Code"] == "ParameterNotFound"
    with pytest.raises(ClientError) as advanced:
        ssm.put_parameter(Name="big", Value="v", Type="String", Tier="Advanced")
    assert advanced.value.response["Error"]["Code"] == "ValidationException"
    assert "Tier" in advanced.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as kms:
        ssm.put_parameter(Name="k", Value="v", Type="SecureString", KeyId="alias/mine")
    assert kms.value.response["Error"]["Code"] == "InvalidKeyId"

    sm = client(cluster, keys, "secretsmanager")
    sm.create_secret(Name="api-key", SecretString="first")
    with pytest.raises(ClientError) as dup:
        sm.create_secret(Name="api-key", SecretString="again")
    assert dup.value.response["Error"]["Code"] == "ResourceExistsException"
    put = sm.put_secret_value(SecretId="api-key", SecretString="second")
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId="api-key")["SecretString"] == "second"
    assert sm.get_secret_value(SecretId="api-key", VersionStage="AWSPREVIOUS")["SecretString"] == "first"
    deleted = sm.delete_secret(SecretId="api-key", ForceDeleteWithoutRecovery=True)
    assert deleted["Name"] == "api-key"
    with pytest.raises(ClientError) as missing:
        sm.get_secret_value(SecretId="api-key")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def orch(cluster: LocalCluster, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir), "COLUMNS": "200"}
    env["XDG_CONFIG_HOME"] = str(cluster.data_dir / "config")
    env.pop("ORCH_TOKEN", None)
    return subprocess.run([ORCH, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_the_cli_puts_lists_and_deletes_without_printing_values(
    cluster: LocalCluster, keys: dict[str, Any], tmp_path: Path
) -> None:
    from_file, from_stdin = "file-" + secrets.token_hex(8), "stdin-" + secrets.token_hex(8)
    path = tmp_path / "value"
    path.write_text(from_file)  # no newline: stored exactly as the file holds it
    put = orch(cluster, "secrets", "put", "cli-file", "--from-file", str(path))
    assert put.returncode == 0 and put.stdout == "cli-file: version 1\n", put.stderr
    piped = orch(cluster, "secrets", "put", "/cli/stdin", stdin=from_stdin + "\n")  # echo's newline is dropped
    assert piped.returncode == 0, piped.stderr
    ssm = client(cluster, keys, "ssm")
    assert ssm.get_parameter(Name="cli-file", WithDecryption=True)["Parameter"]["Value"] == from_file
    assert ssm.get_parameter(Name="/cli/stdin", WithDecryption=True)["Parameter"]["Value"] == from_stdin
    listed = orch(cluster, "secrets", "list")
    assert "cli-file" in listed.stdout and "/cli/stdin" in listed.stdout and "SecureString" in listed.stdout
    as_json = orch(cluster, "secrets", "list", "-o", "json")
    for out in (put, piped, listed, as_json):
        assert from_file not in out.stdout + out.stderr and from_stdin not in out.stdout + out.stderr
    assert orch(cluster, "secrets", "delete", "/cli/stdin").returncode == 0
    again = orch(cluster, "secrets", "delete", "/cli/stdin")
    assert again.returncode == 1 and "ParameterNotFound" in again.stderr


def test_the_aws_cli_puts_and_gets_parameters_and_secrets(
    cluster: LocalCluster, keys: dict[str, Any], tmp_path: Path
) -> None:
    home = tmp_path / "aws-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys["accessKeyId"],
            "AWS_SECRET_ACCESS_KEY": keys["secretAccessKey"],
        }
    )
    aws = Aws(cluster.url, env)
    put = aws("ssm", "put-parameter", "--name", "/cli/aws", "--value", "from-aws", "--type", "SecureString").out
    assert put == {"Version": 1, "Tier": "Standard"}
    got = aws("ssm", "get-parameter", "--name", "/cli/aws", "--with-decryption").out["Parameter"]
    assert (got["Value"], got["Type"]) == ("from-aws", "SecureString")
    assert "ParameterAlreadyExists" in aws.fails("ssm", "put-parameter", "--name", "/cli/aws", "--value", "x")
    created = aws("secretsmanager", "create-secret", "--name", "cli-secret", "--secret-string", "s3cr3t").out
    assert created["Name"] == "cli-secret"
    value = aws("secretsmanager", "get-secret-value", "--secret-id", created["ARN"]).out
    assert value["SecretString"] == "s3cr3t" and value["VersionStages"] == ["AWSCURRENT"]


def test_every_response_on_the_wire_matches_the_botocore_model(wire: WireLog) -> None:
    assert {"PutParameter", "GetParameter", "CreateSecret", "GetSecretValue"} <= wire.operations()
    assert wire.problems() == []
