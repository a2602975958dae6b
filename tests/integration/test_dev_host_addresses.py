"""`orchestrator dev`'s instances each publish on their own loopback address, as EC2 instances would.

Several dev instances share one Docker engine; with every port published on 0.0.0.0 only one of
them could hold a static host port. With `host_addresses` (dev's default) agent N publishes on
127.0.1.N and reports it (attribute orch.host-address, each binding's bindIP), so a service of 3
tasks on static host port P runs 3 tasks, one per instance, each answering on its instance's
address.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "data", executor_factory=DockerExecutor, host_addresses=True)
    c.start_agents(3)
    yield c
    c.close()


def test_three_instances_each_run_a_task_on_the_same_static_port(cluster: LocalCluster) -> None:
    c = cluster
    port = free_port()
    td = c.register(
        "static",
        image="orch/web:latest",
        command=["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 80 -h /www"],
        portMappings=[{"containerPort": 80, "hostPort": port}],
    )
    c.api("POST", "/v1/clusters/default/services", {"serviceName": "static", "taskDefinition": td, "desiredCount": 3})
    wait_for(lambda: len(c.running("static")) == 3, 90, what="3 RUNNING tasks on one static host port")
    tasks = c.running("static")
    instances = {
        i["containerInstanceArn"]: {a["name"]: a.get("value") for a in i["attributes"]}
        for i in c.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    }
    addresses = sorted(attrs["orch.host-address"] for attrs in instances.values())
    assert addresses == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    answers = set()
    for t in tasks:
        [binding] = t["containers"][0]["networkBindings"]
        # Each task's binding is its instance's address and the one static port.
        assert binding["bindIP"] == instances[t["containerInstanceArn"]]["orch.host-address"]
        assert binding["hostPort"] == port
        with OPENER.open(f"http://{binding['bindIP']}:{port}/", timeout=5) as resp:
            answers.add(resp.read().decode().strip())
    assert len({t["containerInstanceArn"] for t in tasks}) == 3
    assert len(answers) == 3  # three different containers answered, one per address


@pytest.mark.parametrize("bad", ["not-an-address", "0.0.0.0", "::1", 7])
def test_a_host_address_that_is_not_an_ipv4_address_of_a_host_is_refused(cluster: LocalCluster, bad: object) -> None:
    body = {
        "joinToken": cluster.plane.join_token,
        "zone": "us-east-1a",
        "cpu": 1024,
        "memory": 1024,
        "hostAddress": bad,
    }
    resp = httpx.post(f"{cluster.url}/v1/agent/register", json=body, timeout=10)
    assert resp.status_code == 400, resp.text
    assert "hostAddress must be an IPv4 address" in resp.text
    assert len(cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]) == 3
