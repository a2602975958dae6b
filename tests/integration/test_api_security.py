"""Who may call what, over real HTTP on loopback: the admin token, the join token, and agent
credentials confined to their own instance; malformed requests get a 4xx, never a 500."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from agent.executor.fake import FakeExecutor
from orchestrator.core.logs import configure
from orchestrator.local import LocalCluster
from tests.harness import wait_for


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "data", executor_factory=FakeExecutor)
    c.start_agents(2)
    yield c
    c.close()


def test_tokens_are_private_files(cluster: LocalCluster) -> None:
    for name in ("admin.token", "join.token"):
        mode = stat.S_IMODE(os.stat(cluster.data_dir / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),  # no token at all
        ("Bearer oat_not-the-token", 401),  # a wrong token
        ("Basic YWRtaW46YWRtaW4=", 401),  # not a bearer token
    ],
)
def test_the_api_needs_the_admin_token(cluster: LocalCluster, header: str | None, status: int) -> None:
    headers = {"authorization": header} if header else {}
    resp = httpx.get(cluster.url + "/v1/clusters", headers=headers)
    assert resp.status_code == status
    assert resp.json()["code"] == "UnrecognizedClientException"


def test_a_wrong_join_token_registers_nothing(cluster: LocalCluster) -> None:
    before = len(cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"])
    resp = httpx.post(
        cluster.url + "/v1/agent/register",
        json={"joinToken": "ojt_wrong", "zone": "us-east-1a", "cpu": 1024, "memory": 1024},
    )
    assert resp.status_code == 401
    after = len(cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"])
    assert after == before == 2


def test_an_agent_credential_reaches_only_its_own_instance(cluster: LocalCluster) -> None:
    td = cluster.register("web")
    cluster.api(
        "POST", "/v1/clusters/default/services", {"serviceName": "web", "taskDefinition": td, "desiredCount": 2}
    )
    wait_for(lambda: len(cluster.running("web")) == 2, 20, what="2 RUNNING")
    state = json.loads((cluster.data_dir / "agents" / "agent-1.json").read_text())
    auth = {"authorization": f"Bearer {state['credential']}"}
    mine = state["containerInstanceArn"]
    # Its own assignments: only tasks placed on its own instance.
    assigned = httpx.get(cluster.url + "/v1/agent/assignments", params={"wait": 0}, headers=auth).json()
    assert assigned["tasks"] and all(t["containerInstanceArn"] == mine for t in assigned["tasks"])
    # Reporting a task of the other instance is refused and changes nothing.
    other = next(t for t in cluster.tasks("web") if t["containerInstanceArn"] != mine)
    resp = httpx.post(
        cluster.url + "/v1/agent/task-states",
        headers=auth,
        json={"tasks": [{"taskArn": other["taskArn"], "lastStatus": "STOPPED"}]},
    )
    assert resp.status_code == 403 and resp.json()["code"] == "AccessDeniedException"
    assert (
        cluster.api("GET", "/v1/clusters/default/tasks/" + other["taskArn"].rsplit("/", 1)[-1])["tasks"][0][
            "lastStatus"
        ]
        == "RUNNING"
    )
    # The agent credential is not an admin token.
    assert httpx.get(cluster.url + "/v1/clusters", headers=auth).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "content", "code"),
    [
        ("POST", "/v1/task-definitions", b"{not json", "InvalidParameterException"),
        ("POST", "/v1/task-definitions", b"[1, 2]", "InvalidParameterException"),
        (
            "POST",
            "/v1/clusters/default/services",
            b'{"serviceName": 5, "taskDefinition": "x:1"}',
            "InvalidParameterException",
        ),
        ("PATCH", "/v1/clusters/default/services/nope", b'{"desiredCount": 1}', "ServiceNotFoundException"),
        ("GET", "/v1/clusters/nope/tasks", b"", "ClusterNotFoundException"),
    ],
)
def test_malformed_requests_get_a_named_4xx(
    cluster: LocalCluster, method: str, path: str, content: bytes, code: str
) -> None:
    resp = cluster.http.request(method, path, content=content, headers={"content-type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["code"] == code


def test_logs_never_carry_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", json_output=True)
    log = structlog.get_logger("test")
    log.info("registered", credential="oic_abc.secret", note="joined with ojt_SECRETVALUE", instance="i-1")
    out = capsys.readouterr().err
    line = json.loads(out.strip().splitlines()[-1])
    assert line["credential"] == "[redacted]"
    assert "SECRETVALUE" not in out and "oic_abc" not in out
    assert line["instance"] == "i-1"
    structlog.reset_defaults()
