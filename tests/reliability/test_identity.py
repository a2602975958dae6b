"""Tokens and identity over real HTTP and the real CLI: join tokens expire and can be revoked,
deregistering an instance revokes its credential, a registered name cannot be taken, the data dir
and every file in it are private, and no token appears in any log line of a run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.hostile import plane, register
from tests.reliability.server_process import ServerProcess, server_process

CLI = str(Path(sys.executable).parent / "orchestrator")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(tmp_path_factory.mktemp("identity")) as s:
        yield s


def cli(server: ServerProcess, *args: str, expect: int = 0) -> str:
    env = {**os.environ, "ORCH_SERVER": server.url, "ORCH_TOKEN": server.admin_token, "XDG_CONFIG_HOME": "/nonexistent"}
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc.stdout


def _register(server: ServerProcess, token: str, name: str) -> httpx.Response:
    body = {"joinToken": token, "zone": "us-east-1a", "cpu": 1024, "memory": 1024, "name": name}
    return httpx.post(server.url + "/v1/agent/register", json=body)


def test_join_tokens_are_created_listed_and_revoked_with_the_cli(server: ServerProcess) -> None:
    token = cli(server, "token", "create", "--ttl", "1h", "-d", "vm-7").strip()
    assert token.startswith("ojt_")
    assert _register(server, token, "vm-7").status_code == 200
    listed = json.loads(cli(server, "token", "list", "-o", "json"))["joinTokens"]
    mine = next(t for t in listed if t["description"] == "vm-7")
    assert mine["state"] == "valid" and "hash" not in mine and token not in json.dumps(listed)
    assert {t["id"] for t in listed} >= {"bootstrap", mine["id"]}
    cli(server, "token", "revoke", mine["id"])
    resp = _register(server, token, "vm-8")
    assert resp.status_code == 401
    listed = json.loads(cli(server, "token", "list", "-o", "json"))["joinTokens"]
    assert next(t for t in listed if t["id"] == mine["id"])["state"] == "revoked"
    assert "ID" in cli(server, "token", "list")  # the table form


def test_a_join_token_expires(tmp_path: Path) -> None:
    with plane(tmp_path / "data") as c:
        issued = c.api("POST", "/v1/tokens", {"ttlSeconds": 60})
        resp = register(c, "early", joinToken=issued["joinToken"])
        assert resp.status_code == 200
        c.plane.clock.now = lambda: issued["expiresAt"] + 1  # type: ignore[method-assign]
        resp = register(c, "late", joinToken=issued["joinToken"])
        assert resp.status_code == 401 and "expired" in resp.json()["message"]
        assert register(c, "bootstrap-still-works").status_code == 200


@pytest.mark.parametrize("ttl", [0, -5, 10**9, "1h", True])
def test_a_bad_ttl_is_refused(server: ServerProcess, ttl: object) -> None:
    resp = httpx.post(
        server.url + "/v1/tokens", json={"ttlSeconds": ttl}, headers={"authorization": f"Bearer {server.admin_token}"}
    )
    assert resp.status_code == 400 and "ttlSeconds" in resp.json()["message"]


def test_revoking_the_bootstrap_token(tmp_path: Path) -> None:
    with plane(tmp_path / "data") as c:
        c.api("DELETE", "/v1/tokens/bootstrap")
        assert register(c, "x").status_code == 401


def test_deregistering_revokes_the_credential_and_frees_the_name(server: ServerProcess) -> None:
    first = _register(server, server.join_token, "vm-1")
    assert first.status_code == 200
    credential = first.json()["credential"]
    headers = {"authorization": f"Bearer {credential}"}
    assert httpx.get(server.url + "/v1/agent/assignments?wait=0", headers=headers).status_code == 200
    # The name is taken while vm-1 is registered, even with a valid join token.
    taken = _register(server, server.join_token, "vm-1")
    assert taken.status_code == 400 and "vm-1" in taken.json()["message"]
    assert "name" in taken.json()["message"]
    cli(server, "instance", "deregister", "vm-1", "--force")
    resp = httpx.get(server.url + "/v1/agent/assignments?wait=0", headers=headers)
    assert resp.status_code in (401, 403)
    # Re-registering with the old credential makes a new instance, not the old one back.
    body = {"containerInstanceArn": first.json()["containerInstanceArn"], "credential": credential}
    again = httpx.post(
        server.url + "/v1/agent/register",
        json={
            "joinToken": server.join_token,
            "zone": "us-east-1a",
            "cpu": 1024,
            "memory": 1024,
            "name": "vm-1",
            **body,
        },
    )
    assert again.status_code == 200
    assert again.json()["containerInstanceArn"] != first.json()["containerInstanceArn"]


def test_an_agent_with_its_state_comes_back_under_its_own_name(tmp_path: Path) -> None:
    with plane(tmp_path / "data") as c:
        c.start_agent("agent-1", "us-east-1a")
        arn = c.agents["agent-1"].agent.session.instance_arn
        c.stop_agent("agent-1")
        c.start_agent("agent-1", "us-east-1a")  # the same state dir: resumes, so the name is its own
        assert c.agents["agent-1"].agent.session.instance_arn == arn


def test_the_data_dir_and_every_file_in_it_are_private(server: ServerProcess) -> None:
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    # Let the server write (so the -wal and -shm files exist), then look at everything.
    assert _register(server, server.join_token, "perm-check").status_code == 200
    httpx.post(
        server.url + "/v1/credentials",
        json={"description": "x"},
        headers={"authorization": f"Bearer {server.admin_token}"},
    )
    names = set()
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            names.add(path.name)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(stat.S_IMODE(path.stat().st_mode))}"
    assert {"orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm", "admin.token", "join.token"} <= names
    assert "master.key" in names


def test_an_old_data_dir_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with plane(data):
        pass
    data.chmod(0o755)
    (data / "orchestrator.db").chmod(0o644)
    with plane(data):
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "orchestrator.db").stat().st_mode) == 0o600


RUN = """
import json, sys
from pathlib import Path
import httpx
from agent.executor.fake import FakeExecutor
from orchestrator.core.logs import configure
from orchestrator.local import LocalCluster
from tests.harness import wait_for

configure("debug", json_output=True)
out = Path(sys.argv[1])
c = LocalCluster(out / "data", executor_factory=FakeExecutor)
try:
    c.start_agents(2)
    td = c.register("logged", memory=64)
    c.api("POST", "/v1/clusters/default/services", {"serviceName": "s", "taskDefinition": td, "desiredCount": 2})
    wait_for(lambda: len(c.running("s")) == 2, what="2 running")
    keys = c.api("POST", "/v1/credentials", {"description": "k"})
    join = c.api("POST", "/v1/tokens", {"ttlSeconds": 600})["joinToken"]
    credentials = [a.agent.session._credential for a in c.agents.values()]
    # Refusals that quote what was sent: wrong tokens, a malformed SigV4 header.
    httpx.get(c.url + "/v1/clusters", headers={"authorization": f"Bearer {c.plane.admin_token}x"})
    httpx.post(c.url + "/v1/agent/register", json={"joinToken": join + "x", "zone": "a", "cpu": 1, "memory": 1})
    httpx.post(
        c.url + "/",
        content=b"{}",
        headers={
            "authorization": f"AWS4-HMAC-SHA256 {keys['secretAccessKey']}",
            "x-amz-target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        },
    )
    secrets = [c.plane.admin_token, c.plane.join_token, join, keys["secretAccessKey"], *credentials]
    (out / "secrets.json").write_text(json.dumps(secrets))
finally:
    c.close()
"""


def test_no_log_line_of_a_run_holds_a_token_or_secret(tmp_path: Path) -> None:
    """A cluster run in a process of its own at debug level (registrations, placements, refusals
    that quote what was sent): every line it logs is searched for every token and secret it
    handed out."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert "registered" in text  # the capture saw the run
    secrets = json.loads((tmp_path / "secrets.json").read_text())
    for secret in secrets:
        assert secret and secret not in text
        assert secret.split(".")[-1][-20:] not in text  # nor the random part of one
