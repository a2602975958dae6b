"""The agent's container credentials endpoint: what it answers, when it fetches a new key pair, and
botocore's own ContainerProvider loading credentials from it (on the host's loopback here, as the
fake executor has no network namespaces; tests/integration/test_task_role.py does it in a real one)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import botocore.credentials
import pytest

from agent.task_credentials import (
    AUTH_TOKEN,
    FULL_URI,
    CredentialsEndpoint,
    credentials_path,
    listen_on_loopback,
)

TASK_A = "arn:aws:ecs:us-east-1:000000000000:task/default/" + "a" * 32
TASK_B = "arn:aws:ecs:us-east-1:000000000000:task/default/" + "b" * 32
NOW = 1_700_000_000.0


class Plane:
    """The control plane's side: a new pair of 1 h per fetch, counted."""

    def __init__(self) -> None:
        self.fetches: list[str] = []
        self.now = NOW

    def fetch(self, task_arn: str) -> dict[str, Any]:
        self.fetches.append(task_arn)
        n = len(self.fetches)
        return {
            "accessKeyId": f"ASIA{n:016d}",
            "secretAccessKey": f"secret-{n}",
            "sessionToken": f"token-{n}",
            "expiration": self.now + 3600,
            "roleArn": "arn:aws:iam::000000000000:role/r",
        }


@pytest.fixture
def plane() -> Plane:
    return Plane()


@pytest.fixture
def endpoint(plane: Plane) -> Iterator[CredentialsEndpoint]:
    e = CredentialsEndpoint(plane.fetch, b"k" * 32, opener=listen_on_loopback, clock=lambda: plane.now)
    yield e
    e.close()


def request(path: str, token: str | None, method: str = "GET") -> bytes:
    auth = f"Authorization: {token}\r\n" if token is not None else ""
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


def test_what_the_endpoint_answers(endpoint: CredentialsEndpoint) -> None:
    endpoint.serve(TASK_A, "c-a", "fake-netns:a")
    endpoint.serve(TASK_B, "c-b", "fake-netns:b")
    a, b = endpoint.token(TASK_A), endpoint.token(TASK_B)
    assert a != b and endpoint.token(TASK_A) == a  # one per task, the same every time (agent restarts too)
    path = credentials_path(TASK_A)
    cases = [
        # (request, status)
        (request(path, a), 200),
        (request(path, None), 401),  # no token
        (request(path, "x" + a[1:]), 401),  # not a token of any task
        (request(path, b), 401),  # B's token on A's listener: a listener serves only its own tasks
        (request("/v2/credentials/other", a), 404),
        (request(path, a, "POST"), 405),
        (b"garbage", 400),
    ]
    for raw, status in cases:
        assert endpoint.answer(raw, "fake-netns:a")[0] == status, raw
    body = endpoint.answer(request(path, a), "fake-netns:a")[1]
    assert set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
    assert body["Expiration"] == "2023-11-14T23:13:20Z"  # NOW + 3600 s


def test_a_new_pair_once_less_than_30_minutes_remain(endpoint: CredentialsEndpoint, plane: Plane) -> None:
    endpoint.environment(TASK_A)
    first = endpoint.credentials(TASK_A)["AccessKeyId"]
    plane.now += 29 * 60  # 31 min left: the cached pair
    assert endpoint.credentials(TASK_A)["AccessKeyId"] == first
    plane.now += 2 * 60  # 29 min left: fetched again
    assert endpoint.credentials(TASK_A)["AccessKeyId"] != first
    assert plane.fetches == [TASK_A, TASK_A]


def test_a_control_plane_that_refuses_is_a_500_without_secrets(plane: Plane) -> None:
    def refuse(_arn: str) -> dict[str, Any]:
        raise RuntimeError("AccessDenied")

    e = CredentialsEndpoint(refuse, b"k" * 32, opener=listen_on_loopback)
    try:
        e.serve(TASK_A, "c-a", "fake-netns:a")
        status, body = e.answer(request(credentials_path(TASK_A), e.token(TASK_A)), "fake-netns:a")
        assert (status, body["code"]) == (500, "CredentialsUnavailable")
    finally:
        e.close()


def test_botocores_container_provider_loads_from_it(endpoint: CredentialsEndpoint, plane: Plane) -> None:
    plane.now = time.time()  # botocore checks the expiry against the real clock
    endpoint.serve(TASK_A, "c-a", "fake-netns:a")
    address = endpoint.address_of("c-a")
    assert address is not None
    env = endpoint.environment(TASK_A)
    assert env[FULL_URI] == f"http://127.0.0.1:51679{credentials_path(TASK_A)}"  # what a container is given
    # on the host's loopback the fake's listener has a port of its own
    env[FULL_URI] = f"http://{address[0]}:{address[1]}{credentials_path(TASK_A)}"
    creds = botocore.credentials.ContainerProvider(environ=env).load()
    frozen = creds.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("ASIA0000000000000001", "secret-1", "token-1")
    assert creds.method == "container-role" and env[AUTH_TOKEN] == endpoint.token(TASK_A)


def test_a_listener_closes_when_its_containers_are_gone(endpoint: CredentialsEndpoint) -> None:
    endpoint.serve(TASK_A, "c-a", "fake-netns:a")
    address = endpoint.address_of("c-a")
    assert address is not None
    endpoint.sync({"c-a": TASK_A})
    assert endpoint.serving("c-a")
    endpoint.sync({}, starting={TASK_A})  # a start in flight keeps it
    assert endpoint.serving("c-a")
    endpoint.sync({})
    assert not endpoint.serving("c-a") and endpoint.address_of("c-a") is None
    with pytest.raises(OSError), socket.create_connection(address, timeout=2):
        pass
