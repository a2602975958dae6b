"""Load balancing on real containers and a real HAProxy, driven through boto3's elbv2 client.

One address in front of a service: requests reach every task; a rolling update of 6 tasks under a
constant load drops no request (100/200 and 50/100); a stopped task's target drains before its
container stops; HAProxy killed comes back with the same targets; a task failing its load
balancer health check is replaced. Health checks run every 5 s (ELB's minimum) and need 2
passes; the deregistration delay is 2 s, so each case takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.deployment_checks import revision

SVC = "/v1/clusters/default/services"
BIN = Path(sys.executable).parent
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
# Each task answers / with its container's hostname (the container id), /health with "ok", and
# /cgi-bin/slow with its hostname after 0.3 s. The container ends within 0.1 s of SIGTERM (its
# shell traps it), taking the requests it is answering with it: the load uses /cgi-bin/slow so
# that requests are in flight when a task stops, which only draining the target first can save.
SCRIPT = (
    'mkdir -p /www/cgi-bin; { echo "#!/bin/sh"; echo "sleep 0.3"; echo "echo Content-Type: text/plain"; '
    "echo echo; echo hostname; } > /www/cgi-bin/slow; chmod 755 /www/cgi-bin/slow; "
    "hostname > /www/index.html; echo ok > /www/health; httpd -f -p 80 -h /www & "
    "trap 'exit 0' TERM; while true; do sleep 0.1; done"
)
WEB = {
    "image": "orch/web:latest",
    "command": ["sh", "-c", SCRIPT],
    "portMappings": [{"containerPort": 80, "hostPort": 0}],
    "stopTimeout": 2,
}


@pytest.fixture
def cluster(docker_cluster: LocalCluster) -> LocalCluster:
    docker_cluster.start_agents(3)
    return docker_cluster


@pytest.fixture
def elbv2(cluster: LocalCluster) -> BaseClient:
    key = cluster.api("POST", "/v1/credentials", {})
    return boto3.client(
        "elbv2",
        endpoint_url=cluster.url,
        region_name="us-east-1",
        aws_access_key_id=key["accessKeyId"],
        aws_secret_access_key=key["secretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with OPENER.open(url, timeout=5) as resp:
        return str(resp.read().decode().strip())


def service_behind_lb(
    c: LocalCluster, elb: BaseClient, name: str, desired: int, deployment: dict[str, int] | None = None
) -> tuple[str, str]:
    """Service `name` of `desired` web tasks behind a new load balancer; (URL, target group ARN)."""
    td = c.register(name, **WEB)
    lb = elb.create_load_balancer(Name=f"{name}-lb", Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name=f"{name}-tg",
        Protocol="HTTP",
        Port=80,
        TargetType="instance",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}]
    )
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    body: dict[str, Any] = {
        "serviceName": name,
        "taskDefinition": td,
        "desiredCount": desired,
        "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}],
    }
    if deployment:
        body["deploymentConfiguration"] = deployment
    svc = c.api("POST", SVC, body)["service"]
    assert svc["loadBalancers"] == body["loadBalancers"]
    wait_for(lambda: len(healthy(elb, tg)) == desired, 90, what=f"{desired} healthy targets")
    return f"http://{lb['DNSName']}:{port}/", tg


def health(elb: BaseClient, tg: str) -> list[dict[str, Any]]:
    return list(elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"])


def healthy(elb: BaseClient, tg: str) -> list[int]:
    return sorted(d["Target"]["Port"] for d in health(elb, tg) if d["TargetHealth"]["State"] == "healthy")


def host_ports(tasks: list[dict[str, Any]]) -> list[int]:
    return sorted(t["containers"][0]["networkBindings"][0]["hostPort"] for t in tasks)


class Load:
    """New-connection GETs at a steady rate until stopped; counts what failed (non-2xx or no answer)."""

    def __init__(self, url: str, rate: float = 40.0) -> None:
        self.url, self.rate = url, rate
        self.requests = self.failed = 0
        self.examples: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> None:
        why = None
        try:
            get(self.url)
        except urllib.error.HTTPError as e:
            why = f"HTTP {e.code}"
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
        with self._lock:
            self.requests += 1
            if why:
                self.failed += 1
                self.examples.append(why)

    def _run(self) -> None:
        t0, n = time.monotonic(), 0
        with ThreadPoolExecutor(32) as pool:
            while not self._stop.is_set():
                pool.submit(self._one)
                n += 1
                time.sleep(max(0.0, t0 + n / self.rate - time.monotonic()))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_requests_to_the_load_balancer_reach_every_task(cluster: LocalCluster, elbv2: BaseClient) -> None:
    url, _ = service_behind_lb(cluster, elbv2, "web", 3)
    hostnames = {t["containers"][0]["runtimeId"][:12] for t in cluster.running("web")}
    # Round robin over 3 healthy servers: 30 requests give each of them 10.
    answered = {get(url) for _ in range(30)}
    assert answered == hostnames


@pytest.mark.parametrize(("maximum", "minimum"), [(200, 100), (100, 50)])
def test_rolling_update_under_load_drops_no_request(
    cluster: LocalCluster, elbv2: BaseClient, maximum: int, minimum: int
) -> None:
    url, tg = service_behind_lb(cluster, elbv2, "web", 6, {"maximumPercent": maximum, "minimumHealthyPercent": minimum})
    v2 = cluster.register("web", **WEB, environment=[{"name": "REVISION", "value": "2"}])
    with Load(url + "cgi-bin/slow") as load:
        time.sleep(2)  # traffic flows before the rollout ...
        svc = cluster.api("PATCH", f"{SVC}/web", {"taskDefinition": v2})["service"]
        new = svc["deployments"][0]["id"]
        wait_for(
            lambda: (
                [d["id"] for d in cluster.service("web")["deployments"]] == [new]
                and cluster.service("web")["deployments"][0]["rolloutState"] == "COMPLETED"
            ),
            150,
            interval=0.5,
            what="the rollout to complete",
        )
        time.sleep(2)  # ... and after it
    assert load.requests > 0
    assert load.failed == 0, f"{load.failed} of {load.requests} failed, e.g. {load.examples[:5]}"
    running = cluster.running("web")
    assert {revision(t) for t in running} == {v2}
    assert len(running) == 6
    wait_for(lambda: healthy(elbv2, tg) == host_ports(running), 30, what="the 6 new tasks as the healthy targets")


def _container_running(runtime_id: str) -> bool:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", runtime_id], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() == "true"


def test_a_stopped_tasks_target_drains_before_its_container_stops(cluster: LocalCluster, elbv2: BaseClient) -> None:
    url, tg = service_behind_lb(cluster, elbv2, "web", 2)
    victim = cluster.running("web")[0]
    port = victim["containers"][0]["networkBindings"][0]["hostPort"]
    runtime_id = victim["containers"][0]["runtimeId"]
    cluster.api("POST", f"/v1/clusters/default/tasks/{victim['taskArn'].rsplit('/', 1)[-1]}/stop", {})
    samples: list[tuple[str, bool]] = []  # (target state, container running)

    def sample() -> bool:
        states = [d["TargetHealth"]["State"] for d in health(elbv2, tg) if d["Target"]["Port"] == port]
        running = _container_running(runtime_id)
        samples.append((states[0] if states else "gone", running))
        return not states and not running

    wait_for(sample, 60, interval=0.1, what="the target gone and the container stopped")
    assert ("draining", True) in samples, samples
    # While the target was registered or draining, the container ran; it stopped only after.
    assert all(running for state, running in samples if state != "gone"), samples
    assert get(url) != runtime_id[:12]


def test_killed_haproxy_comes_back_with_the_same_targets(cluster: LocalCluster, elbv2: BaseClient) -> None:
    url, tg = service_behind_lb(cluster, elbv2, "web", 3)
    before = healthy(elbv2, tg)
    dataplane = cluster.plane.targets.dataplane
    assert dataplane._proc is not None
    old = dataplane._proc.pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: dataplane.restarts >= 1 and dataplane.running(), 30, what="HAProxy restarted")
    assert dataplane._proc is not None and dataplane._proc.pid != old
    servers = {(s.backend, s.server) for s in dataplane.stats()}
    assert len(servers) == 3
    assert get(url)
    assert healthy(elbv2, tg) == before


def test_a_task_failing_its_load_balancer_health_check_is_replaced(cluster: LocalCluster, elbv2: BaseClient) -> None:
    _, tg = service_behind_lb(cluster, elbv2, "web", 2)
    victim = cluster.running("web")[0]
    port = victim["containers"][0]["networkBindings"][0]["hostPort"]
    subprocess.run(["docker", "exec", victim["containers"][0]["runtimeId"], "rm", "/www/health"], check=True)
    stopped = wait_for(
        lambda: next((t for t in cluster.tasks("web", desired="STOPPED") if t["taskArn"] == victim["taskArn"]), None),
        60,
        what="the failing task stopped",
    )
    assert stopped["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg})"
    events = [e["message"] for e in cluster.service("web")["events"]]
    why = "due to (reason Health checks failed with these codes: [404])"
    assert any(f"(port {port}) is unhealthy in (target-group {tg}) {why}" in m for m in events), events
    wait_for(lambda: len(healthy(elbv2, tg)) == 2 and port not in healthy(elbv2, tg), 90, what="a healthy replacement")


def test_elbv2_errors_are_elbs(cluster: LocalCluster, elbv2: BaseClient) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(Names=["missing"])
    assert err.value.response["Error"]["Code"] == "LoadBalancerNotFound"
    with pytest.raises(ClientError) as err:
        elbv2.describe_target_health(
            TargetGroupArn="arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/x/1"
        )
    assert err.value.response["Error"]["Code"] == "TargetGroupNotFound"
    elbv2.create_load_balancer(Name="dup", Type="network")
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(Name="dup", Type="application")
    assert err.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(
            Name="tg", Protocol="HTTP", Port=80, HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "HealthCheckTimeoutSeconds (5) must be smaller" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(Name="vpc", Subnets=["subnet-1", "subnet-2"])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Subnets" in err.value.response["Error"]["Message"]
    # Refused requests changed nothing.
    assert [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == ["dup"]
    assert elbv2.describe_target_groups()["TargetGroups"] == []


def test_aws_cli_elbv2_and_the_orchestrator_cli(cluster: LocalCluster, tmp_path: Path) -> None:
    """`aws elbv2` unchanged, and `orchestrator lb create/targets/list/delete` for a service."""
    key = cluster.api("POST", "/v1/credentials", {})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=key["accessKeyId"],
        AWS_SECRET_ACCESS_KEY=key["secretAccessKey"],
        ORCH_SERVER=cluster.url,
        ORCH_TOKEN=cluster.plane.admin_token,
        COLUMNS="200",
    )

    def run(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=env)
        assert (proc.returncode == 0) == ok, f"{' '.join(argv)} -> {proc.returncode}: {proc.stdout}{proc.stderr}"
        return proc

    aws = [str(BIN / "aws"), "elbv2", "--endpoint-url", cluster.url, "--output", "json"]
    orch = [str(BIN / "orchestrator")]
    td = cluster.register("web", **WEB)
    cluster.api("POST", SVC, {"serviceName": "web", "taskDefinition": td, "desiredCount": 2})
    wait_for(lambda: len(cluster.running("web")) == 2, 60, what="2 running tasks")
    port = free_port()
    out = run(*orch, "lb", "create", "web-lb", "--port", str(port), "--service", "web").stdout
    assert f"http://127.0.0.1:{port}/" in out
    [lb] = json.loads(run(*aws, "describe-load-balancers", "--names", "web-lb").stdout)["LoadBalancers"]
    assert lb["DNSName"] == "127.0.0.1"
    [tg] = json.loads(run(*aws, "describe-target-groups", "--load-balancer-arn", lb["LoadBalancerArn"]).stdout)[
        "TargetGroups"
    ]
    assert cluster.service("web")["loadBalancers"] == [
        {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 80}
    ]
    run(
        *aws,
        "modify-target-group",
        "--target-group-arn",
        tg["TargetGroupArn"],
        "--health-check-interval-seconds",
        "5",
        "--health-check-timeout-seconds",
        "2",
        "--healthy-threshold-count",
        "2",
    )

    def cli_healthy() -> list[int]:
        data = json.loads(run(*orch, "lb", "targets", "web-lb", "-o", "json").stdout)
        return sorted(
            r["Target"]["Port"] for r in data["TargetHealthDescriptions"] if r["TargetHealth"]["State"] == "healthy"
        )

    wait_for(lambda: cli_healthy() == host_ports(cluster.running("web")), 90, what="both tasks healthy by the CLI")
    health = json.loads(run(*aws, "describe-target-health", "--target-group-arn", tg["TargetGroupArn"]).stdout)
    assert [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]] == ["healthy", "healthy"]
    assert get(f"http://127.0.0.1:{port}/")
    table = run(*orch, "lb", "targets", "web-lb").stdout
    assert "healthy" in table
    assert "web-lb" in run(*orch, "lb", "list").stdout
    err = run(*aws, "describe-load-balancers", "--names", "nope", ok=False).stderr
    assert "LoadBalancerNotFound" in err
    run(*orch, "lb", "delete", "web-lb")
    assert json.loads(run(*aws, "describe-load-balancers").stdout)["LoadBalancers"] == []
    assert cluster.service("web").get("loadBalancers", []) == []
