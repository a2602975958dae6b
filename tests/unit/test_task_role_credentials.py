"""Task role sessions on the control plane: issued to the task's own agent, accepted by SigV4 only with
their session token, before they expire and while the task has not stopped, and only for the
read-only calls of the task's own cluster. Requests are signed by botocore's own signer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from orchestrator.api.aws.ecs import EcsEndpoint
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import ApiError
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from orchestrator.security.task_credentials import DOC_KIND, LIFETIME_S, SigningKeys, TaskCredentials
from tests.builders import container, instance, report_running
from tests.unit.test_ecs_adapter import START, signed

ROLE = "arn:aws:iam::000000000000:role/app-role"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(START)
        self.store = Store(tmp_path / "orchestrator.db")
        self.store.ensure_cluster("default")
        self.store.ensure_cluster("other")
        key = tmp_path / MASTER_KEY_FILE
        self.ops = Operations(Context(store=self.store, clock=self.clock, master_key_path=key))
        self.keys = AccessKeys(self.store, key, self.clock)
        self.endpoint = EcsEndpoint(
            self.ops, SigningKeys(self.keys, TaskCredentials(self.store, key, self.clock)), self.clock
        )
        self.instance = instance(self.ops, "i-1", "us-east-1a")
        self.ops.register_task_definition(
            {"family": "app", "taskRoleArn": ROLE, "containerDefinitions": [container(name="app")]}
        )
        self.ops.register_task_definition({"family": "plain", "containerDefinitions": [container(name="app")]})
        self.task = self.ops.run_task({"taskDefinition": "app"})["tasks"][0]
        report_running(self.ops, self.task)

    def issue(self) -> dict[str, Any]:
        return self.ops.issue_task_credentials(self.instance, self.task["taskArn"])

    def call(
        self, operation: str, body: dict[str, Any], creds: Credentials, at: float | None = None
    ) -> tuple[int, Any]:
        response = self.endpoint.handle(*signed(operation, body, creds, at=at or self.clock.now()))
        return response.status, json.loads(response.body)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def session(issued: dict[str, Any], token: str | None = "given") -> Credentials:
    return Credentials(
        issued["accessKeyId"], issued["secretAccessKey"], issued["sessionToken"] if token == "given" else token
    )


def test_issued_to_the_tasks_own_agent_only(world: World) -> None:
    issued = world.issue()
    assert issued["accessKeyId"].startswith("ASIA") and issued["roleArn"] == ROLE
    assert issued["expiration"] == START + LIFETIME_S  # 1 h
    other = instance(world.ops, "i-2", "us-east-1b")
    with pytest.raises(ApiError, match="tasks placed on its own instance"):
        world.ops.issue_task_credentials(other, world.task["taskArn"])
    plain = world.ops.run_task({"taskDefinition": "plain"})["tasks"][0]
    with pytest.raises(ApiError, match="has no taskRoleArn"):
        world.ops.issue_task_credentials(plain["containerInstanceArn"], plain["taskArn"])
    # the store keeps the secret sealed and the token as a hash only
    with world.store.read() as s:
        doc = s.get_doc(DOC_KIND, issued["accessKeyId"])
    assert doc is not None
    assert issued["secretAccessKey"] not in json.dumps(doc) and issued["sessionToken"] not in json.dumps(doc)
    # nor does DescribeTasks show either
    shown = json.dumps(world.ops.describe_tasks({"tasks": [world.task["taskArn"]]}))
    assert issued["secretAccessKey"] not in shown and issued["sessionToken"] not in shown


CALLS = [
    # (what, operation, body, token: "given" | None | a wrong one, seconds later, expected error code or None)
    ("own cluster", "DescribeTasks", {"cluster": "default", "tasks": ["0" * 32]}, "given", 0, None),
    ("cluster omitted is default", "ListTasks", {}, "given", 0, None),
    ("own cluster by ARN", "ListServices", {"cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/default"},
     "given", 0, None),
    ("describe own cluster", "DescribeClusters", {"clusters": ["default"]}, "given", 0, None),
    ("another cluster", "ListTasks", {"cluster": "other"}, "given", 0, "AccessDeniedException"),
    ("describe another cluster too", "DescribeClusters", {"clusters": ["default", "other"]}, "given", 0,
     "AccessDeniedException"),
    ("a write", "RunTask", {"taskDefinition": "app"}, "given", 0, "AccessDeniedException"),
    ("task definitions", "DescribeTaskDefinition", {"taskDefinition": "app"}, "given", 0, "AccessDeniedException"),
    ("no session token", "ListTasks", {}, None, 0, "UnrecognizedClientException"),
    ("wrong session token", "ListTasks", {}, "not-the-token", 0, "UnrecognizedClientException"),
    # 3599 s after issue: still valid; 3600 s: expired (the lifetime is 3600 s)
    ("just before expiry", "ListTasks", {}, "given", LIFETIME_S - 1, None),
    ("expired", "ListTasks", {}, "given", LIFETIME_S, "ExpiredTokenException"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "body", "token", "later", "code"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS]
)
def test_what_a_task_role_session_may_call(
    world: World, operation: str, body: dict[str, Any], token: str | None, later: float, code: str | None
) -> None:
    creds = session(world.issue(), token)
    world.clock.advance(later)
    status, answer = world.call(operation, body, creds)
    if code is None:
        assert status == 200, answer
    else:
        assert (status, answer["__type"]) == (400 if code != "AccessDeniedException" else 403, code), answer


def test_denial_names_the_role_session_and_the_action(world: World) -> None:
    status, answer = world.call("RunTask", {"taskDefinition": "app"}, session(world.issue()))
    tid = world.task["taskArn"].rsplit("/", 1)[-1]
    assert status == 403
    assert answer["message"].startswith(
        f"User: arn:aws:sts::000000000000:assumed-role/app-role/{tid} is not authorized to perform: ecs:RunTask"
    )


def test_revoked_when_the_task_stops(world: World) -> None:
    creds = session(world.issue())
    assert world.call("ListTasks", {}, creds)[0] == 200
    arn = world.task["taskArn"]
    world.ops.report_task_states(world.instance, [{"taskArn": arn, "lastStatus": "STOPPED", "containers": []}])
    status, answer = world.call("ListTasks", {}, creds)
    assert (status, answer["__type"]) == (400, "UnrecognizedClientException")
    with world.store.read() as s:
        assert s.list_docs(DOC_KIND) == []  # the task's credentials are gone from the store
    with pytest.raises(ApiError, match="has stopped"):
        world.issue()


def test_a_permanent_key_with_a_session_token_is_refused(world: World) -> None:
    created, _ = world.keys.create("admin")
    plain = Credentials(created.access_key_id, created.secret_access_key)
    assert world.call("ListTasks", {}, plain)[0] == 200
    with_token = Credentials(created.access_key_id, created.secret_access_key, "some-token")
    status, answer = world.call("ListTasks", {}, with_token)
    assert (status, answer["__type"]) == (400, "UnrecognizedClientException")
    # and a permanent key keeps the admin's rights: a write goes through
    assert world.call("RunTask", {"taskDefinition": "plain"}, plain)[0] == 200


def test_a_refresh_issues_a_new_pair_and_the_old_one_lasts_its_hour(world: World) -> None:
    first = world.issue()
    world.clock.advance(LIFETIME_S / 2)
    second = world.issue()
    assert second["accessKeyId"] != first["accessKeyId"]
    assert world.call("ListTasks", {}, session(first))[0] == 200
    world.clock.advance(LIFETIME_S / 2)  # the first is an hour old now
    assert world.call("ListTasks", {}, session(first))[1]["__type"] == "ExpiredTokenException"
    assert world.call("ListTasks", {}, session(second))[0] == 200
    world.issue()  # issuing sweeps the expired documents
    with world.store.read() as s:
        assert first["accessKeyId"] not in {k for k, _ in s.list_docs(DOC_KIND)}
