"""TLS over real HTTP on loopback: a server process that made its own CA at first start answers
only HTTPS; an agent joins with the pinned join token alone (no copied file) and refuses a control
plane whose CA does not match the pin; the CLI verifies against the CA; and a non-loopback listen
address gets TLS unless plain HTTP is explicitly allowed."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.executor.fake import FakeExecutor
from agent.main import Agent, AgentConfig
from agent.session import AgentRequestError, Registration, Session
from orchestrator.cli.run import _certificates
from orchestrator.security.tls import fingerprint, split_pin
from tests.harness import wait_for
from tests.reliability.server_process import ServerProcess, server_process

CLI = str(Path(sys.executable).parent / "orchestrator")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(tmp_path_factory.mktemp("tls"), "--tls", scheme="https") as s:
        yield s


def _ca(server: ServerProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.data_dir / "tls" / "ca.pem"))


def _pinned(server: ServerProcess) -> str:
    return f"{server.join_token}@sha256:{fingerprint((server.data_dir / 'tls' / 'ca.pem').read_text())}"


def test_only_https_is_served_and_it_verifies_against_the_ca(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/healthz", verify=_ca(server)).status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/healthz")  # the system CAs do not know ours
    plain = server.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(plain + "/healthz")
    for name in ("ca.key", "server.key", "ca.pem", "server.pem"):
        assert stat.S_IMODE((server.data_dir / "tls" / name).stat().st_mode) == 0o600


def test_an_agent_joins_with_the_pinned_token_alone(server: ServerProcess, tmp_path: Path) -> None:
    token, pin = split_pin(_pinned(server))
    assert token == server.join_token and pin and len(pin) == 64
    stop = threading.Event()
    config = AgentConfig(
        server=server.url,
        join_token=_pinned(server),
        registration=Registration(zone="us-east-1a", cpu=1024, memory=1024, name="tls-agent"),
        state_file=tmp_path / "agent" / "state.json",
    )
    agent = Agent(config, FakeExecutor(), stop)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        assert agent.registered.wait(timeout=30)
        admin = {"authorization": f"Bearer {server.admin_token}"}
        instances = wait_for(
            lambda: httpx.get(
                server.url + "/v1/clusters/default/container-instances", headers=admin, verify=_ca(server)
            ).json()["containerInstances"],
            what="the agent's instance",
        )
        assert instances[0]["agentConnected"] is True
        assert (tmp_path / "agent" / "ca.pem").read_text() == (server.data_dir / "tls" / "ca.pem").read_text()
    finally:
        agent.shutdown()
        thread.join(timeout=15)


def test_an_agent_refuses_a_control_plane_whose_ca_does_not_match(server: ServerProcess, tmp_path: Path) -> None:
    wrong = server.join_token + "@sha256:" + "0" * 64
    session = Session(
        server.url, wrong, Registration(zone="us-east-1a", cpu=1024, memory=1024, name="mitm"), tmp_path / "s.json"
    )
    with pytest.raises(AgentRequestError, match="CAFingerprintMismatch"):
        session.register()
    session.close()
    assert not (tmp_path / "s.json").exists()  # nothing was sent or kept


def test_the_cli_verifies_against_the_data_dirs_ca(server: ServerProcess) -> None:
    env = {**os.environ, "ORCH_SERVER": server.url, "ORCH_DATA_DIR": str(server.data_dir), "XDG_CONFIG_HOME": "/x"}
    ok = subprocess.run([CLI, "cluster", "list"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    env["ORCH_CA_CERT"] = "/etc/ssl/certs/ca-certificates.crt"  # the system CAs: ours is not among them
    refused = subprocess.run([CLI, "cluster", "list"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert refused.returncode != 0


def test_a_join_token_issued_under_tls_carries_the_pin(server: ServerProcess) -> None:
    admin = {"authorization": f"Bearer {server.admin_token}"}
    issued = httpx.post(server.url + "/v1/tokens", json={"ttlSeconds": 60}, headers=admin, verify=_ca(server)).json()
    assert issued["joinToken"].endswith("@sha256:" + fingerprint((server.data_dir / "tls" / "ca.pem").read_text()))


def test_plain_http_off_loopback_needs_an_explicit_allowance(tmp_path: Path) -> None:
    made = _certificates(tmp_path / "a", "0.0.0.0:0", None, None, generate=False, allow_plain_http=False)
    assert made is not None and made.ca is not None and made.ca.exists()
    assert _certificates(tmp_path / "b", "0.0.0.0:0", None, None, generate=False, allow_plain_http=True) is None
    assert _certificates(tmp_path / "c", "127.0.0.1:0", None, None, generate=False, allow_plain_http=False) is None
