"""A scheduled action carried out by the control plane's own job scheduler, driven through boto3.

A real control plane over HTTP (agents on the fake executor: this is about timing and records,
not containers): an `at()` action a few seconds ahead raises the service's minimum capacity, and
the service's desired count follows, recorded as scaling activities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from tests.harness import wait_for
from tests.integration.ecs_wire import TASK_DEFINITION


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "data", executor_factory=FakeExecutor)
    try:
        c.start_agents(1)
        yield c
    finally:
        c.close()


def clients(cluster: LocalCluster) -> tuple[Any, Any]:
    keys = AccessKeys(cluster.plane.store, cluster.data_dir / MASTER_KEY_FILE, cluster.plane.clock)
    created, _ = keys.create("scheduled action tests")
    kw = {
        "endpoint_url": cluster.url,
        "region_name": "us-east-1",
        "aws_access_key_id": created.access_key_id,
        "aws_secret_access_key": created.secret_access_key,
    }
    return boto3.client("ecs", **kw), boto3.client("application-autoscaling", **kw)


def test_an_at_schedule_raises_the_minimum_and_the_desired_count(cluster: LocalCluster) -> None:
    ecs, scaling = clients(cluster)
    ecs.register_task_definition(**TASK_DEFINITION)
    ecs.create_service(cluster="default", serviceName="web", taskDefinition="sleeper", desiredCount=1)
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": "service/default/web",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=5)
    # Paris time, a few seconds from now: the time zone must be honoured for it to fire at all soon.
    when = (dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=3)).astimezone(ZoneInfo("Europe/Paris"))
    scaling.put_scheduled_action(
        **target,
        ScheduledActionName="peak",
        Schedule=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
        Timezone="Europe/Paris",
        ScalableTargetAction={"MinCapacity": 3},
    )
    described = scaling.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"]
    assert [a["ScheduledActionName"] for a in described] == ["peak"]
    wait_for(
        lambda: ecs.describe_services(cluster="default", services=["web"])["services"][0]["desiredCount"] == 3,
        timeout=30,
        what="the scheduled action to raise the desired count to the new minimum",
    )
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]["MinCapacity"] == 3
    activities = scaling.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]
    assert any("scheduled action name peak was triggered" in a["Cause"] for a in activities)
