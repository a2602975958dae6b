"""Network modes on real containers: an awsvpc task's containers share the sandbox's namespace and
talk over 127.0.0.1, its attachment shows the sandbox's Docker IP, a load balancer reaches it at that
IP, and the sandbox never outlives the task (stop, agent restart, orphan); host and none show in
`docker inspect`. One cluster (one agent) for the module, so the whole file takes seconds."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.container_spec import AWSVPC_NETWORK
from agent.executor.base import LABEL_INSTANCE, LABEL_MANAGED, LABEL_SANDBOX, LABEL_TASK, ContainerSpec
from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.harness import wait_for

pytestmark = pytest.mark.docker

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# server answers on 127.0.0.1:8080 of the task's namespace; client fetches it from there.
VPC_TASK = {
    "family": "net-vpc",
    "networkMode": "awsvpc",
    "containerDefinitions": [
        {"name": "server", "image": "orch/web:latest", "memory": 32, "stopTimeout": 1,
         "command": ["httpd", "-f", "-p", "8080", "-h", "/www"], "portMappings": [{"containerPort": 8080}]},
        {"name": "client", "image": "orch/busybox:latest", "memory": 32, "stopTimeout": 1,
         "dependsOn": [{"containerName": "server", "condition": "START"}],
         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do wget -q -O /tmp/page http://127.0.0.1:8080/; "
                     "sleep 0.5; done"]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(
        tmp_path_factory.mktemp("net") / "data",
        executor_factory=DockerExecutor,
        settings=Settings(health_grace_s=1.0, heartbeat_interval_s=1.0, allow=frozenset({"host-network"})),
    )
    c.start_agents(1)
    yield c
    c.close()


def docker_inspect(container_id: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", container_id], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)[0]
    return result


def run_task(cluster: LocalCluster, body: dict[str, Any]) -> str:
    td = cluster.api("POST", "/v1/task-definitions", body)["taskDefinition"]
    # No networkConfiguration: the REST API (and so the CLI) gives awsvpc tasks the local subnet.
    tasks = cluster.api("POST", "/v1/clusters/default/tasks", {"taskDefinition": f"{td['family']}:{td['revision']}"})
    arn: str = tasks["tasks"][0]["taskArn"]
    return arn.rsplit("/", 1)[-1]


def describe(cluster: LocalCluster, tid: str) -> dict[str, Any]:
    task: dict[str, Any] = cluster.api("GET", f"/v1/clusters/default/tasks/{tid}")["tasks"][0]
    return task


def of_task(executor: DockerExecutor, tid: str) -> dict[str, str]:
    """The task's containers by name, the sandbox as "(sandbox)"."""
    return {
        ("(sandbox)" if s.labels.get(LABEL_SANDBOX) else s.labels["orch.container"]): s.id
        for s in executor.list({LABEL_TASK: tid})
    }


def attachment_ip(task: dict[str, Any]) -> str | None:
    for a in task.get("attachments") or []:
        for d in a.get("details") or []:
            if d["name"] == "privateIPv4Address":
                return str(d["value"])
    return None


def running_with_ip(cluster: LocalCluster, tid: str) -> dict[str, Any]:
    wait_for(
        lambda: describe(cluster, tid)["lastStatus"] == "RUNNING" and attachment_ip(describe(cluster, tid)),
        60,
        what="the awsvpc task RUNNING with its address reported",
    )
    return describe(cluster, tid)


def stop(cluster: LocalCluster, tid: str) -> None:
    cluster.api("POST", f"/v1/clusters/default/tasks/{tid}/stop", {"reason": "test done"})


def test_an_awsvpc_task_talks_over_localhost_and_its_attachment_is_the_sandboxs_ip(
    cluster: LocalCluster, docker_executor: DockerExecutor
) -> None:
    tid = run_task(cluster, VPC_TASK)
    task = running_with_ip(cluster, tid)
    ids = of_task(docker_executor, tid)
    assert set(ids) == {"server", "client", "(sandbox)"}
    sandbox = docker_inspect(ids["(sandbox)"])
    ip = sandbox["NetworkSettings"]["Networks"][AWSVPC_NETWORK]["IPAddress"]
    assert ip and attachment_ip(task) == ip
    [attachment] = task["attachments"]
    assert (attachment["type"], attachment["status"]) == ("ElasticNetworkInterface", "ATTACHED")
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert details["macAddress"] == sandbox["NetworkSettings"]["Networks"][AWSVPC_NETWORK]["MacAddress"]
    assert details["subnetId"] == "subnet-local"
    for c in task["containers"]:
        assert c["networkInterfaces"] == [{"attachmentId": attachment["id"], "privateIpv4Address": ip}]
        # each container joined the sandbox's namespace and publishes nothing
        hc = docker_inspect(ids[c["name"]])["HostConfig"]
        assert hc["NetworkMode"] == f"container:{ids['(sandbox)']}"
        assert not hc.get("PortBindings")
    assert sandbox["HostConfig"]["Init"] is True
    network = json.loads(
        subprocess.run(
            ["docker", "network", "inspect", AWSVPC_NETWORK], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert (network["Driver"], network["Labels"].get("orch.managed")) == ("bridge", "true")
    assert docker_inspect(ids["(sandbox)"])["Config"]["Labels"][LABEL_TASK] == tid

    def fetched() -> bool:
        out = subprocess.run(["docker", "exec", ids["client"], "cat", "/tmp/page"], capture_output=True, text=True)
        return "Hello from orch/web" in out.stdout

    wait_for(fetched, 20, what="the client fetching http://127.0.0.1:8080/ from the server of its task")
    # The task's own IP answers from the host too: ports are on the task's address, not the host's.
    with OPENER.open(f"http://{ip}:8080/", timeout=5) as resp:
        assert "Hello from orch/web" in resp.read().decode()

    stop(cluster, tid)
    wait_for(lambda: not of_task(docker_executor, tid), 30, what="the task's containers and sandbox removed")
    assert describe(cluster, tid)["attachments"][0]["status"] == "DELETED"


def test_the_sandbox_is_adopted_after_an_agent_restart_and_goes_with_the_task(
    cluster: LocalCluster, docker_executor: DockerExecutor
) -> None:
    tid = run_task(cluster, VPC_TASK)
    ip = attachment_ip(running_with_ip(cluster, tid))
    before = of_task(docker_executor, tid)
    cluster.stop_agent("agent-1")
    stop(cluster, tid)  # while no agent runs: the restarted one has to finish it
    cluster.start_agent("agent-1", "us-east-1a")
    wait_for(lambda: describe(cluster, tid)["lastStatus"] == "STOPPED", 30, what="the task STOPPED")
    wait_for(lambda: not of_task(docker_executor, tid), 30, what="containers and sandbox removed")
    assert before["(sandbox)"] and ip  # it had one, and it is gone


def test_a_load_balancer_reaches_awsvpc_tasks_at_their_own_ip(
    cluster: LocalCluster, docker_executor: DockerExecutor
) -> None:
    from tests.integration.test_load_balancing import free_port

    ops = cluster.plane.ops
    td = cluster.api("POST", "/v1/task-definitions", {**VPC_TASK, "family": "net-lb"})["taskDefinition"]
    lb = ops.create_load_balancer({"Name": "net-lb"})["LoadBalancers"][0]["LoadBalancerArn"]
    tg = ops.create_target_group(
        {"Name": "net-lb-tg", "Protocol": "HTTP", "Port": 8080, "TargetType": "ip", "HealthCheckIntervalSeconds": 5,
         "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2}
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    ops.modify_target_group_attributes(
        {"TargetGroupArn": tg, "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]}
    )
    port = free_port()
    ops.create_listener(
        {"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": port,
         "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}
    )  # fmt: skip
    cluster.api(
        "POST",
        "/v1/clusters/default/services",
        {"serviceName": "net-lb", "taskDefinition": f"{td['family']}:{td['revision']}", "desiredCount": 2,
         "loadBalancers": [{"targetGroupArn": tg, "containerName": "server", "containerPort": 8080}]},
    )  # fmt: skip

    def healthy() -> list[dict[str, Any]]:
        found = ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"]
        return found if len(found) == 2 and all(d["TargetHealth"]["State"] == "healthy" for d in found) else []

    wait_for(healthy, 60, what="both awsvpc tasks healthy targets")
    ips = {attachment_ip(t) for t in cluster.running("net-lb")}
    assert {d["Target"]["Id"] for d in healthy()} == ips  # registered at the tasks' own IPs
    assert {d["Target"]["Port"] for d in healthy()} == {8080}  # and the container port
    address = ops.describe_load_balancers({"LoadBalancerArns": [lb]})["LoadBalancers"][0]["DNSName"]
    for _ in range(4):
        with OPENER.open(f"http://{address}:{port}/", timeout=5) as resp:
            assert "Hello from orch/web" in resp.read().decode()
    cluster.api("PATCH", "/v1/clusters/default/services/net-lb", {"desiredCount": 0})
    wait_for(lambda: not cluster.running("net-lb"), 60, what="the service scaled in")


def test_an_orphan_sandbox_is_removed(cluster: LocalCluster, docker_executor: DockerExecutor) -> None:
    instance = cluster.instance_id("agent-1")
    labels = {LABEL_INSTANCE: instance, LABEL_MANAGED: "true", LABEL_TASK: "orphan-net-test", LABEL_SANDBOX: "true"}
    spec = ContainerSpec(
        name=f"orch-orphan-net-test-{instance[:8]}.sandbox",
        image="orch/busybox:latest",
        labels=labels,
        command=("sleep", "300"),
        init=True,
        network_mode=AWSVPC_NETWORK,
    )
    docker_executor.ensure_network(cluster_network())
    state = docker_executor.run(spec)
    try:
        assert state.running, state.error
        wait_for(lambda: docker_executor.inspect(state.id) is None, 30, what="the orphan sandbox removed")
    finally:
        docker_executor.remove(state.id)


def cluster_network() -> Any:
    from agent.container_spec import awsvpc_network

    return awsvpc_network()


def test_host_and_none_show_in_docker_inspect(cluster: LocalCluster, docker_executor: DockerExecutor) -> None:
    host = run_task(
        cluster,
        {"family": "net-host", "networkMode": "host", "containerDefinitions": [
            {"name": "app", "image": "orch/busybox:latest", "memory": 32, "stopTimeout": 1,
             "command": ["sleep", "300"], "linuxParameters": {"initProcessEnabled": True},
             "portMappings": [{"containerPort": 18471}]}]},
    )  # fmt: skip
    none = run_task(
        cluster,
        {"family": "net-none", "networkMode": "none", "containerDefinitions": [
            {"name": "app", "image": "orch/busybox:latest", "memory": 32, "stopTimeout": 1,
             "command": ["sleep", "300"], "linuxParameters": {"initProcessEnabled": True}}]},
    )  # fmt: skip
    for tid in (host, none):
        wait_for(lambda t=tid: describe(cluster, t)["lastStatus"] == "RUNNING", 60, what="the task RUNNING")
    host_c = docker_inspect(of_task(docker_executor, host)["app"])
    none_c = docker_inspect(of_task(docker_executor, none)["app"])
    assert host_c["HostConfig"]["NetworkMode"] == "host"
    assert none_c["HostConfig"]["NetworkMode"] == "none"

    # inside: host mode sees the host's interfaces, none only loopback
    def inside(cid: str, *argv: str) -> str:
        return subprocess.run(["docker", "exec", cid, *argv], capture_output=True, text=True, check=True).stdout

    assert inside(none_c["Id"], "ls", "/sys/class/net").split() == ["lo"]
    host_iface = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")[0]
    mac = (Path("/sys/class/net") / host_iface / "address").read_text().strip()
    assert inside(host_c["Id"], "cat", f"/sys/class/net/{host_iface}/address").strip() == mac  # the host's own
    bindings = describe(cluster, host)["containers"][0]["networkBindings"]
    assert bindings == [{"bindIP": "0.0.0.0", "containerPort": 18471, "hostPort": 18471, "protocol": "tcp"}]
    for tid in (host, none):
        stop(cluster, tid)
    for tid in (host, none):
        wait_for(lambda t=tid: not of_task(docker_executor, t), 30, what="the task's containers removed")
