"""executionRoleArn: registration, the execution role session route, its grant (a table), logs that carry
its key id, and the agent reading secrets as it. Requests are signed by botocore's own signer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from agent.execution_role import REASON_PREFIX, ExecutionRoles
from agent.session import AgentRequestError
from orchestrator.core.errors import ApiError
from orchestrator.security.task_credentials import DOC_KIND, LIFETIME_S
from tests.builders import container, instance, report_running
from tests.unit.test_ecs_adapter import signed
from tests.unit.test_task_role_credentials import World, session

EXEC_ROLE = "arn:aws:iam::000000000000:role/exec-role"
ACCOUNT_REGION = "us-east-1:000000000000"


class ExecWorld(World):
    """World's cluster, plus parameters and secrets, and a task whose definition names some of them."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        created, _ = self.keys.create("admin")
        self.admin = Credentials(created.access_key_id, created.secret_access_key)
        for name in ("/app/db-pass", "plain", "/other/pass"):
            assert (
                self.call_as("ssm", "PutParameter", {"Name": name, "Value": f"v-{name}", "Type": "SecureString"})[0]
                == 200
            )
        self.secret = self.call_as(
            "secretsmanager", "CreateSecret", {"Name": "prod/db", "SecretString": '{"password": "pw"}'}
        )[1]
        self.registry = self.call_as("secretsmanager", "CreateSecret", {"Name": "registry", "SecretString": "{}"})[1]
        self.foreign = self.call_as("secretsmanager", "CreateSecret", {"Name": "foreign", "SecretString": "x"})[1]
        self.ops.register_task_definition(
            {
                "family": "exec",
                "executionRoleArn": EXEC_ROLE,
                "containerDefinitions": [
                    container(
                        name="app",
                        secrets=[
                            {"name": "A", "valueFrom": "/app/db-pass"},
                            {"name": "B", "valueFrom": f"arn:aws:ssm:{ACCOUNT_REGION}:parameter/plain"},
                            {"name": "C", "valueFrom": f"{self.secret['ARN']}:password::"},
                        ],
                        repositoryCredentials={"credentialsParameter": "registry"},
                    )
                ],
            }
        )
        self.exec_task = self.ops.run_task({"taskDefinition": "exec"})["tasks"][0]

    def call_as(
        self, service: str, operation: str, body: dict[str, Any], creds: Credentials | None = None
    ) -> tuple[int, Any]:
        response = self.endpoint.handle(
            *signed(operation, body, creds or self.admin, service=service, at=self.clock.now())
        )
        return response.status, json.loads(response.body)

    def issue_exec(self) -> dict[str, Any]:
        return self.ops.issue_execution_credentials(self.exec_task["containerInstanceArn"], self.exec_task["taskArn"])


@pytest.fixture
def xw(tmp_path: Path) -> ExecWorld:
    return ExecWorld(tmp_path)


REGISTRATIONS = [
    # (what, task members, None if it registers else words the error must contain)
    ("an ARN", {"executionRoleArn": EXEC_ROLE}, None),
    ("a role name, as ECS takes it", {"executionRoleArn": "ecsTaskExecutionRole"}, None),
    ("empty is none", {"executionRoleArn": ""}, None),
    ("any network mode (the agent uses it)", {"executionRoleArn": EXEC_ROLE, "networkMode": "none"}, None),
    ("not a role ARN", {"executionRoleArn": "arn:aws:iam::000000000000:user/bob"},
     ["executionRoleArn", "IAM role ARN"]),
    ("not a string", {"executionRoleArn": 7}, ["executionRoleArn"]),
    ("a bad name", {"executionRoleArn": "has space"}, ["executionRoleArn"]),
]  # fmt: skip


@pytest.mark.parametrize(("task", "words"), [r[1:] for r in REGISTRATIONS], ids=[r[0] for r in REGISTRATIONS])
def test_registration(xw: ExecWorld, task: dict[str, Any], words: list[str] | None) -> None:
    world = xw
    req = {"family": "r", "containerDefinitions": [container(name="app")], **task}
    if words is None:
        td = world.ops.register_task_definition(req)["taskDefinition"]
        assert td.get("executionRoleArn") == (task["executionRoleArn"] or None)
        described = world.ops.describe_task_definition({"taskDefinition": td["taskDefinitionArn"]})
        assert described["taskDefinition"].get("executionRoleArn") == td.get("executionRoleArn")
        return
    with pytest.raises(ApiError) as caught:
        world.ops.register_task_definition(req)
    for w in words:
        assert w in caught.value.message


def test_the_route_issues_to_the_tasks_own_agent_with_parsed_references(xw: ExecWorld) -> None:
    issued = xw.issue_exec()
    assert issued["accessKeyId"].startswith("ASIA") and issued["roleArn"] == EXEC_ROLE
    assert issued["expiration"] == xw.clock.now() + LIFETIME_S and issued["region"] == "us-east-1"
    [app] = issued["containers"]
    assert [(s["name"], s["source"], s["ref"], s["jsonKey"]) for s in app["secrets"]] == [
        ("A", "ssm", "/app/db-pass", None),
        ("B", "ssm", f"arn:aws:ssm:{ACCOUNT_REGION}:parameter/plain", None),
        ("C", "secretsmanager", xw.secret["ARN"], "password"),
    ]
    assert app["repositoryCredentials"] == {"ref": "registry"}
    other = instance(xw.ops, "i-2", "us-east-1b")
    with pytest.raises(ApiError, match="tasks placed on its own instance"):
        xw.ops.issue_execution_credentials(other, xw.exec_task["taskArn"])
    # World's task has a taskRoleArn only
    with pytest.raises(ApiError, match="has no executionRoleArn"):
        xw.ops.issue_execution_credentials(xw.instance, xw.task["taskArn"])
    with xw.store.read() as s:
        doc = s.get_doc(DOC_KIND, issued["accessKeyId"])
    assert doc is not None and doc["purpose"] == "execution-role"
    assert issued["secretAccessKey"] not in json.dumps(doc) and issued["sessionToken"] not in json.dumps(doc)


def _secret_arn(xw: ExecWorld, which: str) -> str:
    return str({"own": xw.secret, "registry": xw.registry, "foreign": xw.foreign}[which]["ARN"])


GRANT = [
    # (what, service, operation, body, allowed); {own}/{registry}/{foreign} are the secrets' full ARNs
    ("own parameter by name", "ssm", "GetParameters", {"Names": ["/app/db-pass"], "WithDecryption": True}, True),
    ("own parameter by ARN (granted by name)", "ssm", "GetParameters",
     {"Names": [f"arn:aws:ssm:{ACCOUNT_REGION}:parameter/app/db-pass"]}, True),
    ("own parameter by name (granted by ARN)", "ssm", "GetParameter", {"Name": "plain"}, True),
    ("own parameter, a version of it", "ssm", "GetParameter", {"Name": "/app/db-pass:1"}, True),
    ("someone else's parameter", "ssm", "GetParameters", {"Names": ["/other/pass"]}, False),
    ("one of two is someone else's", "ssm", "GetParameters", {"Names": ["plain", "/other/pass"]}, False),
    ("a write", "ssm", "PutParameter", {"Name": "/app/db-pass", "Value": "x", "Overwrite": True}, False),
    ("listing parameters", "ssm", "DescribeParameters", {}, False),
    ("own secret by full ARN", "secretsmanager", "GetSecretValue", {"SecretId": "{own}"}, True),
    ("own secret by ARN without suffix", "secretsmanager", "GetSecretValue",
     {"SecretId": f"arn:aws:secretsmanager:{ACCOUNT_REGION}:secret:prod/db"}, True),
    ("own secret by name", "secretsmanager", "GetSecretValue", {"SecretId": "prod/db"}, True),
    ("registry secret (granted by name) by ARN", "secretsmanager", "GetSecretValue", {"SecretId": "{registry}"}, True),
    ("someone else's secret", "secretsmanager", "GetSecretValue", {"SecretId": "{foreign}"}, False),
    ("a secret write", "secretsmanager", "PutSecretValue", {"SecretId": "prod/db", "SecretString": "x"}, False),
    ("ecs:ListTasks", "ecs", "ListTasks", {}, False),
    ("ecs:RunTask", "ecs", "RunTask", {"taskDefinition": "plain"}, False),
]  # fmt: skip


@pytest.mark.parametrize(("service", "operation", "body", "allowed"), [g[1:] for g in GRANT], ids=[g[0] for g in GRANT])
def test_what_an_execution_role_session_may_call(
    xw: ExecWorld, service: str, operation: str, body: dict[str, Any], allowed: bool
) -> None:
    creds = session(xw.issue_exec())
    body = json.loads(
        json.dumps(body)
        .replace("{own}", _secret_arn(xw, "own"))
        .replace("{registry}", _secret_arn(xw, "registry"))
        .replace("{foreign}", _secret_arn(xw, "foreign"))
    )
    status, answer = xw.call_as(service, operation, body, creds)
    if allowed:
        assert status == 200, answer
        return
    tid = xw.exec_task["taskArn"].rsplit("/", 1)[-1]
    message = answer.get("message") or answer.get("Message")
    assert (status, answer["__type"]) == (403, "AccessDeniedException"), answer
    assert message.startswith(
        f"User: arn:aws:sts::000000000000:assumed-role/exec-role/{tid} is not authorized to perform: "
        f"{service}:{operation} on resource: "
    ), message


def test_a_denial_names_the_resource_as_aws_does(xw: ExecWorld) -> None:
    creds = session(xw.issue_exec())
    _, answer = xw.call_as("ssm", "GetParameters", {"Names": ["/other/pass"]}, creds)
    assert f"ssm:GetParameters on resource: arn:aws:ssm:{ACCOUNT_REGION}:parameter/other/pass" in answer["message"]
    _, answer = xw.call_as("secretsmanager", "GetSecretValue", {"SecretId": "foreign"}, creds)
    assert f"on resource: {xw.foreign['ARN']}" in answer["Message"]


def test_a_stopping_task_reads_nothing_but_its_session_lives_its_hour(xw: ExecWorld) -> None:
    creds = session(xw.issue_exec())
    arn = xw.exec_task["taskArn"]
    xw.ops.stop_task({"task": arn})
    status, answer = xw.call_as("ssm", "GetParameters", {"Names": ["/app/db-pass"]}, creds)
    assert (status, answer["__type"]) == (403, "AccessDeniedException")
    with xw.store.read() as s:
        assert any(d.get("taskArn") == arn for _, d in s.list_docs(DOC_KIND))  # not revoked: it expires


def test_task_role_and_admin_grants_unchanged(xw: ExecWorld) -> None:
    task_role = session(xw.issue())
    assert xw.call_as("ecs", "ListTasks", {}, task_role)[0] == 200
    status, answer = xw.call_as("ssm", "GetParameters", {"Names": ["/app/db-pass"]}, task_role)
    assert (status, answer["__type"]) == (403, "AccessDeniedException")
    assert xw.call_as("ssm", "GetParameters", {"Names": ["/other/pass"]})[0] == 200  # the admin key
    assert xw.call_as("ecs", "RunTask", {"taskDefinition": "plain"})[0] == 200


# -- logs ------------------------------------------------------------------------------------


def _stream(task: dict[str, Any], key: str | None, ts: int) -> dict[str, Any]:
    s: dict[str, Any] = {
        "taskId": task["taskArn"].rsplit("/", 1)[-1],
        "containerName": "app",
        "containerId": "c1",
        "events": [[ts, 0, "line"]],
    }
    if key is not None:
        s["executionKeyId"] = key
    return s


def test_logs_of_a_task_with_an_execution_role_need_a_live_session_of_that_task(xw: ExecWorld) -> None:
    inst = xw.exec_task["containerInstanceArn"]
    issued = xw.issue_exec()
    taken = xw.ops.ingest_logs(inst, [_stream(xw.exec_task, issued["accessKeyId"], 1)])
    assert taken["stored"] == 1 and "refused" not in taken
    for key in (None, "ASIANOTAKEYATALL000", xw.issue()["accessKeyId"]):  # none, unknown, a task role's key
        got = xw.ops.ingest_logs(inst, [_stream(xw.exec_task, key, 2)])
        assert got["stored"] == 0 and "executionRoleArn" in got["refused"][0]["message"]
    # another task's execution session does not do
    other = xw.ops.run_task({"taskDefinition": "exec"})["tasks"][0]
    theirs = xw.ops.issue_execution_credentials(other["containerInstanceArn"], other["taskArn"])
    assert xw.ops.ingest_logs(inst, [_stream(xw.exec_task, theirs["accessKeyId"], 3)])["refused"]
    # a task without an execution role ships as before, in the same batch
    mixed = xw.ops.ingest_logs(inst, [_stream(xw.task, None, 4), _stream(xw.exec_task, None, 4)])
    assert mixed["stored"] == 1 and len(mixed["refused"]) == 1
    # once the session has expired, its key no longer does
    xw.clock.advance(LIFETIME_S)
    assert xw.ops.ingest_logs(inst, [_stream(xw.exec_task, issued["accessKeyId"], 5)])["refused"]


# -- the agent, acting as it -----------------------------------------------------------------


def _agent_roles(xw: ExecWorld) -> ExecutionRoles:
    """ExecutionRoles over the control plane in process: the route, and AWS calls signed with the session."""

    def fetch(arn: str) -> dict[str, Any]:
        try:
            return xw.ops.issue_execution_credentials(xw.exec_task["containerInstanceArn"], arn)
        except ApiError as err:
            raise AgentRequestError(err.code, err.message) from None

    def call(service: str, target: str, body: dict[str, Any], s: Any, region: str) -> tuple[int, dict[str, Any]]:
        assert region == "us-east-1"
        creds = Credentials(s["accessKeyId"], s["secretAccessKey"], s["sessionToken"])
        return xw.call_as(service, target.rpartition(".")[2], body, creds)

    return ExecutionRoles(fetch, call, clock=xw.clock.now)


def test_the_agent_resolves_what_task_secrets_would(xw: ExecWorld) -> None:
    xw.call_as(
        "secretsmanager",
        "PutSecretValue",
        {"SecretId": "registry", "SecretString": '{"username": "u", "password": "p"}'},
    )
    roles = _agent_roles(xw)
    got = roles.resolve(xw.exec_task["taskArn"])
    assert got["app"]["secrets"] == {"A": "v-/app/db-pass", "B": "v-plain", "C": "pw"}
    assert got["app"]["repositoryCredentials"] == {"username": "u", "password": "p"}
    # the same as the instance credential's path returns for it
    plain = xw.ops.resolve_task_secrets(xw.exec_task["containerInstanceArn"], xw.exec_task["taskArn"])
    assert [got["app"]] == plain["containers"]
    tid = xw.exec_task["taskArn"].rsplit("/", 1)[-1]
    assert roles.key_id(tid) == roles.session(xw.exec_task["taskArn"])["accessKeyId"]


def test_the_agent_names_a_reference_that_does_not_resolve(xw: ExecWorld) -> None:
    roles = _agent_roles(xw)
    # the registry secret holds {} (no username): ECS's words, naming the reference, no value
    with pytest.raises(Exception) as caught:
        roles.resolve(xw.exec_task["taskArn"])
    reason = str(caught.value)
    assert reason.startswith(REASON_PREFIX) and "registry auth secret registry" in reason
    # stopping (desired STOPPED, still RUNNING): a session is had, but the grant reads nothing
    report_running(xw.ops, xw.exec_task)
    xw.ops.stop_task({"task": xw.exec_task["taskArn"]})
    with pytest.raises(Exception) as denied:
        roles.resolve(xw.exec_task["taskArn"])
    tid = xw.exec_task["taskArn"].rsplit("/", 1)[-1]
    assert (
        f"unable to retrieve secrets from ssm: AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/"
        f"exec-role/{tid} is not authorized to perform: ssm:GetParameters" in str(denied.value)
    )
    assert "v-/app/db-pass" not in str(denied.value)
