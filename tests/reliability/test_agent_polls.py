"""The assignment long-poll served ahead of FastAPI's router (api/agent_polls.py) answers, and
refuses, as the route did: over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.api.agent_polls import poll_parameters
from orchestrator.core.errors import InvalidParameterException
from orchestrator.server import ControlPlane


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {"since": 0, "wait": 5.0}),  # the route's defaults
        (b"since=12&wait=0.5", {"since": 12, "wait": 0.5}),
        (b"wait=2&since=3&other=x", {"since": 3, "wait": 2.0}),  # a parameter it does not name is not read
        (b"since=1&since=4", {"since": 4, "wait": 5.0}),  # the last of a repeated one
    ],
)
def test_the_query_string_gives_since_and_wait(query: bytes, expected: dict[str, float]) -> None:
    assert poll_parameters(query) == expected


@pytest.mark.parametrize(("query", "named"), [(b"since=abc", "query.since"), (b"wait=soon", "query.wait")])
def test_a_malformed_parameter_is_refused_by_name(query: bytes, named: str) -> None:
    with pytest.raises(InvalidParameterException, match=named):
        poll_parameters(query)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[tuple[ControlPlane, str]]:
    plane = ControlPlane(tmp_path / "data")
    url = plane.start_in_thread("127.0.0.1:0")
    yield plane, url
    plane.stop()


def test_polls_answer_and_refuse_over_http(plane: tuple[ControlPlane, str]) -> None:
    cp, url = plane
    body = {"joinToken": cp.join_token, "zone": "us-east-1a", "cpu": 1024, "memory": 1024, "name": "poller"}
    credential = httpx.post(url + "/v1/agent/register", json=body, timeout=30).json()["credential"]
    agent = {"authorization": f"Bearer {credential}"}
    first = httpx.get(url + "/v1/agent/assignments?wait=0", headers=agent, timeout=30)
    assert first.status_code == 200 and first.json()["tasks"] == [] and first.json()["seq"] >= 0
    # Nothing changed since: after the wait, "unchanged" at the same change number.
    again = httpx.get(url + f"/v1/agent/assignments?since={first.json()['seq']}&wait=0.2", headers=agent, timeout=30)
    assert again.status_code == 200 and again.json()["unchanged"] is True
    admin = {"authorization": f"Bearer {cp.admin_token}"}
    refusals = [
        (httpx.get(url + "/v1/agent/assignments?since=abc", headers=agent), 400, "query.since"),
        (httpx.get(url + "/v1/agent/assignments?since=-1", headers=agent), 400, "since must be"),
        (httpx.get(url + "/v1/agent/assignments?wait=nan", headers=agent), 400, "wait must be"),
        (httpx.get(url + "/v1/agent/assignments?wait=0"), 401, ""),  # no credential
        (httpx.get(url + "/v1/agent/assignments?wait=0", headers=admin), 401, ""),  # not an instance's
    ]
    for response, status, says in refusals:
        assert response.status_code == status, response.text
        assert response.json()["__type"] and says in response.json()["message"]
        assert response.headers["x-amzn-requestid"]
    # Anything but GET is FastAPI's as before: the route answers 405.
    assert httpx.post(url + "/v1/agent/assignments", headers=agent).status_code == 405
