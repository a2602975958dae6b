"""Helpers for the hostile-client tests: a control plane on loopback, an instance registered by
hand (so no agent reports over what the test sends), raw bodies, and SigV4-signed ECS calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from agent.executor.fake import FakeExecutor
from orchestrator.api.aws.awsjson import CONTENT_TYPE, target_for
from orchestrator.local import LocalCluster

REGION = "us-east-1"


@dataclass
class Hand:
    """A container instance registered over HTTP with the join token, driven by the test."""

    arn: str
    credential: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.credential}"}


@contextmanager
def plane(data_dir: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(data_dir, executor_factory=FakeExecutor)
    if c.http.get("/v1/clusters/default").json().get("clusters") == []:
        c.api("POST", "/v1/clusters", {"clusterName": "default"})
    try:
        yield c
    finally:
        c.close()


def register(c: LocalCluster, name: str = "hand-1", **extra: Any) -> httpx.Response:
    body = {"joinToken": c.plane.join_token, "zone": "us-east-1a", "cpu": 1024, "memory": 1024, "name": name, **extra}
    return httpx.post(
        c.url + "/v1/agent/register", content=json.dumps(body), headers={"content-type": "application/json"}
    )


def hand(c: LocalCluster, name: str = "hand-1") -> Hand:
    resp = register(c, name)
    assert resp.status_code == 200, resp.text
    return Hand(resp.json()["containerInstanceArn"], resp.json()["credential"])


def raw(
    c: LocalCluster, method: str, path: str, body: bytes | str, admin: bool = True, **headers: str
) -> httpx.Response:
    if admin:
        headers = {"authorization": f"Bearer {c.plane.admin_token}", **headers}
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return httpx.request(
        method, c.url + path, content=content, headers={"content-type": "application/json", **headers}, timeout=60
    )


@dataclass
class Ecs:
    """SigV4-signed AWS JSON 1.1 calls with a raw body, so the body can be anything a client could send."""

    url: str
    key_id: str
    secret: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def call(self, operation: str, body: bytes | str | dict[str, Any], service: str = "ecs") -> httpx.Response:
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target_for(service, operation)}
        request = AWSRequest(method="POST", url=self.url + "/", data=data, headers=headers)
        signing = "ecs" if service == "ecs" else "application-autoscaling"
        SigV4Auth(Credentials(self.key_id, self.secret), signing, REGION).add_auth(request)
        return self.http.post(self.url + "/", content=data, headers=dict(request.headers.items()))


def ecs(c: LocalCluster) -> Ecs:
    keys = c.api("POST", "/v1/credentials", {"description": "hostile tests"})
    return Ecs(c.url, keys["accessKeyId"], keys["secretAccessKey"])


def healthy_reads(c: LocalCluster, h: Hand | None = None) -> dict[str, int]:
    """The status of the reads that broke for good when a bad row reached the store."""
    statuses = {
        "ListTasks": c.http.get("/v1/clusters/default/tasks").status_code,
        "ListContainerInstances": c.http.get("/v1/clusters/default/container-instances").status_code,
        "ListClusters": c.http.get("/v1/clusters").status_code,
        "ListTaskDefinitions": c.http.get("/v1/task-definitions").status_code,
        "ListCredentials": c.http.get("/v1/credentials").status_code,
    }
    if h is not None:
        statuses["assignments"] = httpx.get(c.url + "/v1/agent/assignments?wait=0", headers=h.headers).status_code
    return statuses
