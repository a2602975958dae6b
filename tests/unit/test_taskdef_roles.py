"""taskRoleArn at registration, and on the agent: the worker gives a task's containers the endpoint's
variables, serves the endpoint in their namespace, and fails the start, naming why, when it cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.executor.fake import FakeExecutor
from agent.session import AgentRequestError
from agent.task_credentials import AUTH_TOKEN, FULL_URI, CredentialsEndpoint, listen_on_loopback
from agent.worker import Worker
from orchestrator.core.errors import ApiError
from tests.builders import container, control_plane
from tests.unit.test_worker import CLUSTER, INSTANCE, TD_ARN, Clock

ROLE = "arn:aws:iam::000000000000:role/app-role"

REGISTRATIONS = [
    # (what, task members, container members, None if it registers else words the error must contain)
    ("an ARN", {"taskRoleArn": ROLE}, {}, None),
    ("a role name, as ECS takes it", {"taskRoleArn": "app-role"}, {}, None),
    ("a role with a path", {"taskRoleArn": "arn:aws:iam::000000000000:role/team/app"}, {}, None),
    ("empty is none", {"taskRoleArn": ""}, {}, None),
    ("not a role ARN", {"taskRoleArn": "arn:aws:iam::000000000000:user/bob"}, {}, ["taskRoleArn", "IAM role ARN"]),
    ("account of 1 digit", {"taskRoleArn": "arn:aws:iam::1:role/r"}, {}, ["taskRoleArn"]),
    ("our variables", {"taskRoleArn": ROLE}, {"environment": [{"name": FULL_URI, "value": "http://x"}]},
     [FULL_URI, "set by the agent"]),
    ("the relative URI would shadow ours", {"taskRoleArn": ROLE},
     {"environment": [{"name": "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "value": "/x"}]},
     ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]),
    ("without a role the variables are the user's", {}, {"environment": [{"name": FULL_URI, "value": "http://x"}]},
     None),
    ("the endpoint's port", {"taskRoleArn": ROLE}, {"portMappings": [{"containerPort": 51679}]},
     ["containerPort 51679", "reserved"]),
]  # fmt: skip


@pytest.mark.parametrize(("task", "cdef", "words"), [r[1:] for r in REGISTRATIONS], ids=[r[0] for r in REGISTRATIONS])
def test_registration(tmp_path: Path, task: dict[str, Any], cdef: dict[str, Any], words: list[str] | None) -> None:
    ops = control_plane(tmp_path)
    req = {"family": "x", "containerDefinitions": [container(**cdef)], **task}
    if words is None:
        td = ops.register_task_definition(req)["taskDefinition"]
        assert td.get("taskRoleArn") == (task.get("taskRoleArn") or None)
        return
    with pytest.raises(ApiError) as info:
        ops.register_task_definition(req)
    assert info.value.code == "ClientException"
    for word in words:
        assert word in info.value.message, info.value.message


class Rig:
    def __init__(self, fetch: Any) -> None:
        self.clock = Clock()
        self.fake = FakeExecutor(clock=self.clock)
        self.sent: list[list[dict[str, Any]]] = []
        self.endpoint = CredentialsEndpoint(fetch, b"k" * 32, opener=listen_on_loopback, clock=self.clock)
        self.worker = Worker(
            self.fake, self.sent.append, CLUSTER, INSTANCE, clock=self.clock, inline=True, credentials=self.endpoint
        )
        self.arn = f"arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{'c' * 32}"
        td = {"taskRoleArn": ROLE, "containerDefinitions": [{"name": "app", "image": "orch/app", "memory": 32}]}
        task = {"taskArn": self.arn, "taskDefinitionArn": TD_ARN, "desiredStatus": "RUNNING", "lastStatus": "PENDING"}
        self.worker.assign({"tasks": [task], "taskDefinitions": {TD_ARN: td}})


def pair(_arn: str) -> dict[str, Any]:
    return {"accessKeyId": "ASIA1", "secretAccessKey": "s", "sessionToken": "t", "expiration": 1e9, "roleArn": ROLE}


def test_the_worker_gives_the_variables_and_serves_the_endpoint() -> None:
    rig = Rig(pair)
    try:
        rig.worker.reconcile()
        spec = rig.fake.runs[0]
        assert spec.environment[FULL_URI].startswith("http://127.0.0.1:51679/v2/credentials/")
        assert spec.environment[AUTH_TOKEN] == rig.endpoint.token(rig.arn)
        cid = rig.fake.list({})[0].id
        assert rig.endpoint.serving(cid)
        rig.fake.exit(cid, 0)
        rig.worker.reconcile()  # the container is gone: its listener closes
        assert not rig.endpoint.serving(cid)
    finally:
        rig.endpoint.close()


def test_no_credentials_no_start_and_the_reason_says_why() -> None:
    def refuse(_arn: str) -> dict[str, Any]:
        raise AgentRequestError("AccessDeniedException", "Task c has stopped; its role's credentials are revoked.")

    rig = Rig(refuse)
    try:
        rig.worker.reconcile()
        rig.worker.reconcile()
        assert rig.fake.runs == []
        stopped = [r for batch in rig.sent for r in batch if r["lastStatus"] == "STOPPED"]
        assert stopped and stopped[-1]["stopCode"] == "TaskFailedToStart"
        assert "ResourceInitializationError: unable to get the task role's credentials" in stopped[-1]["stoppedReason"]
    finally:
        rig.endpoint.close()
