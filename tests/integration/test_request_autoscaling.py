"""ALBRequestCountPerTarget target tracking on real containers and a real HAProxy.

A service of one web task behind an application load balancer, a scalable target of 1..3 and a
policy of 100 requests per target per minute set with `orchestrator autoscale put-policy
--target-tracking requests=100` (the CLI finds the ResourceLabel itself). A client on loopback
sends 20 requests/s through the load balancer: 1,200 a minute on one target, far above 100, so
the service scales out to 3; with the load stopped no request arrives, 0 is below the low alarm's
90, and it scales back in to 1. Metric periods of 1 s, high alarm 2 of 2, low alarm 3 of 3.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from agent.executor.docker import DockerExecutor
from orchestrator.core.settings import Settings
from orchestrator.local import LocalCluster
from tests.harness import wait_for
from tests.integration.test_load_balancing import Load, service_behind_lb

BIN = Path(sys.executable).parent
BASE = "/v1/clusters/default/services/web"


@pytest.fixture
def cluster(docker_executor: DockerExecutor, tmp_path: Path) -> Iterator[LocalCluster]:
    settings = Settings(
        health_grace_s=1.0,
        heartbeat_interval_s=1.0,
        metric_period_s=1.0,
        autoscaling_high_datapoints=2,
        autoscaling_low_datapoints=3,
    )
    c = LocalCluster(tmp_path / "data", executor_factory=DockerExecutor, settings=settings)
    c.start_agents(2)
    yield c
    c.close()


def test_request_count_per_target_scales_out_under_load_and_back_in(cluster: LocalCluster, tmp_path: Path) -> None:
    c = cluster
    key = c.api("POST", "/v1/credentials", {})
    elbv2 = boto3.client(
        "elbv2",
        endpoint_url=c.url,
        region_name="us-east-1",
        aws_access_key_id=key["accessKeyId"],
        aws_secret_access_key=key["secretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    url, tg = service_behind_lb(c, elbv2, "web", 1)
    [lb_arn] = elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"]
    # AWS's form: the part of each ARN after its resource type, joined.
    label = lb_arn.split(":loadbalancer/")[1] + "/" + tg.split(":")[-1]
    assert label.startswith("app/web-lb/") and "/targetgroup/web-tg/" in label
    assert c.api("GET", f"{BASE}/metrics")["resourceLabels"] == {label: tg}

    env = {**os.environ, "HOME": str(tmp_path), "ORCH_SERVER": c.url, "ORCH_TOKEN": c.plane.admin_token}
    orch = [str(BIN / "orchestrator"), "autoscale"]

    def run(*argv: str) -> str:
        proc = subprocess.run([*orch, *argv], capture_output=True, text=True, timeout=60, check=False, env=env)
        assert proc.returncode == 0, f"{argv} -> {proc.returncode}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    run("register", "web", "--min", "1", "--max", "3")
    run(
        "put-policy",
        "web",
        "--name",
        "requests100",
        "--target-tracking",
        "requests=100",
        "--scale-out-cooldown",
        "2",
        "--scale-in-cooldown",
        "3",
    )
    [policy] = c.api("GET", f"{BASE}/scaling-policies")["ScalingPolicies"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec == {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}

    with Load(url, rate=20.0) as load:
        wait_for(lambda: c.service("web")["desiredCount"] == 3, 90, what="scale-out to the maximum of 3")
    assert load.requests > 0
    points = c.api("GET", f"{BASE}/metrics")["datapoints"]
    peak = max((p.get("RequestCountPerTarget", {}).get(label) or 0) for p in points)
    assert peak > 100, f"the busiest period had {peak} requests per target per minute"

    wait_for(lambda: c.service("web")["desiredCount"] == 1, 90, what="scale-in to the minimum of 1 with no load")
    activities = c.api("GET", f"{BASE}/scaling-activities", includeNotScaled=False)["ScalingActivities"]
    assert activities[0]["Description"] == "Setting desired count to 1."
    assert "-AlarmLow-" in activities[0]["Cause"]
    assert any(a["Description"] == "Setting desired count to 3." and "-AlarmHigh-" in a["Cause"] for a in activities)


def test_a_request_policy_must_name_a_target_group_of_its_service(cluster: LocalCluster) -> None:
    c = cluster
    td = c.register("plain", image="orch/web:latest", portMappings=[{"containerPort": 80}])
    c.api("POST", "/v1/clusters/default/services", {"serviceName": "plain", "taskDefinition": td, "desiredCount": 0})
    base = "/v1/clusters/default/services/plain"
    c.api("PUT", f"{base}/scalable-target", {"MinCapacity": 0, "MaxCapacity": 2})

    def refused(spec: dict[str, str]) -> str:
        body = {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100.0, "PredefinedMetricSpecification": spec},
        }
        resp = c.http.request("PUT", f"{base}/scaling-policies/r", json=body)
        assert resp.status_code == 400, resp.text
        return str(resp.json())

    assert "ResourceLabel is required" in refused({"PredefinedMetricType": "ALBRequestCountPerTarget"})
    malformed = refused({"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "web-tg"})
    assert "app/<load-balancer-name>" in malformed
    label = "app/other/0123456789abcdef/targetgroup/other-tg/0123456789abcdef"
    foreign = refused({"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label})
    assert "is not a target group of service plain" in foreign
    # Refused requests changed nothing.
    assert c.api("GET", f"{base}/scaling-policies")["ScalingPolicies"] == []
