"""Application Auto Scaling operations and the runner, on a real store and a fake clock.

The operations: shapes checked against botocore's model, validation errors that change nothing,
ObjectNotFoundException for what is not there, pagination. The runner: one `evaluate_target` or
`tick` at a time, with datapoints written straight into the metrics history or reported through
the collector, and the service row standing in for what the service controller maintains.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.autoscaling import records
from orchestrator.autoscaling.metrics import MetricsCollector
from orchestrator.autoscaling.runner import AutoscalingRunner, deployment_in_progress
from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import ApiError, ObjectNotFoundException, ServiceNotFoundException, ValidationException
from orchestrator.core.models import Deployment, Task, arn_id, instance_arn, task_arn
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.operations.autoscaling import ECS_SERVICE_LINKED_ROLE, InvalidNextTokenException
from tests.botocore_shapes import check_output

AAS = "application-autoscaling"
WEB = "service/default/web"
RESOURCE = {"ServiceNamespace": "ecs", "ResourceId": WEB, "ScalableDimension": "ecs:service:DesiredCount"}
PERIOD = 60.0
INSTANCE = instance_arn("default", "c" * 32)


def tt_policy(name: str = "cpu50", target: float = 50.0, **config: Any) -> dict[str, Any]:
    return {
        **RESOURCE,
        "PolicyName": name,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            **config,
        },
    }


class World:
    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.clock = FakeClock()
        self.store = Store(path)
        self.store.ensure_cluster("default")
        self.settings = settings or Settings(metric_period_s=PERIOD)
        self.collector = MetricsCollector(self.store, self.clock, self.settings.metric_period_s)
        self.ctx = Context(store=self.store, clock=self.clock, settings=self.settings, metrics_sink=self.collector.sink)
        self.ops = Operations(self.ctx)
        self.runner = AutoscalingRunner(self.store, self.clock, self.settings, self.ops, self.collector)
        self.ops.register_task_definition(
            {
                "family": "web",
                "containerDefinitions": [{"name": "app", "image": "orch/cpu-web:latest", "cpu": 256, "memory": 64}],
            }
        )

    def create_service(self, name: str = "web", desired: int = 1) -> None:
        self.ops.create_service({"serviceName": name, "taskDefinition": "web", "desiredCount": desired})

    def set_service(self, name: str = "web", **fields: Any) -> None:
        """Stand in for the service controller: set counts or deployments on the row."""
        with self.store.write() as s:
            svc = s.get_service("default", name)
            assert svc is not None
            for key, value in fields.items():
                setattr(svc, key, value)
            s.put_service(svc)

    def desired(self, name: str = "web") -> int:
        svc = self.store.get_service("default", name)
        assert svc is not None
        return svc.desiredCount

    def datapoints(self, *cpu: float | None, name: str = "web") -> None:
        """Write the metrics history directly: one datapoint per period, the last one now."""
        now = self.clock.now()
        records_ = [
            {"Timestamp": now - (len(cpu) - 1 - i) * PERIOD, "CPUUtilization": v, "MemoryUtilization": 10.0}
            for i, v in enumerate(cpu)
        ]
        with self.store.write() as s:
            s.forget_metric_records(services=[("default", name)])
            for period, record in enumerate(records_, start=1):
                s.add_metric_records(period, [("default", name, record)])

    def activities(self, include_not_scaled: bool = True) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ops.describe_scaling_activities(
            {"ServiceNamespace": "ecs", "ResourceId": WEB, "IncludeNotScaledActivities": include_not_scaled}
        )["ScalingActivities"]
        return result

    def state(self) -> dict[str, Any]:
        with self.store.read() as s:
            return records.get_state_doc(s, WEB)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "orchestrator.db")
    w.create_service()
    yield w
    w.store.close()


def register(w: World, min_capacity: int = 1, max_capacity: int = 10, **extra: Any) -> dict[str, Any]:
    return w.ops.register_scalable_target(
        {**RESOURCE, "MinCapacity": min_capacity, "MaxCapacity": max_capacity, **extra}
    )


# -- scalable targets ----------------------------------------------------------------------------


def test_register_and_describe_a_target_in_the_api_shapes(world: World) -> None:
    out = register(world, 1, 10)
    assert check_output(AAS, "RegisterScalableTarget", out) == []
    assert re.fullmatch(
        r"arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/0e[0-9a-f]{32}",
        out["ScalableTargetARN"],
    )
    described = world.ops.describe_scalable_targets({"ServiceNamespace": "ecs"})
    assert check_output(AAS, "DescribeScalableTargets", described) == []
    [target] = described["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (WEB, 1, 10)
    assert target["RoleARN"] == ECS_SERVICE_LINKED_ROLE
    assert target["CreationTime"] == world.clock.now()
    assert target["ScalableTargetARN"] == out["ScalableTargetARN"]


def test_registering_again_updates_in_place(world: World) -> None:
    first = register(world, 1, 10)
    created = world.clock.now()
    world.clock.advance(30)
    # Only MaxCapacity given: MinCapacity keeps 1, as in AWS.
    again = world.ops.register_scalable_target({**RESOURCE, "MaxCapacity": 4})
    assert again == first
    [target] = world.ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"], target["CreationTime"]) == (1, 4, created)


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (
            {**RESOURCE, "ResourceId": "service/default/nope", "MinCapacity": 1, "MaxCapacity": 2},
            ValidationException,
            "ECS service doesn't exist: service/default/nope",
        ),
        ({**RESOURCE, "MinCapacity": 5, "MaxCapacity": 2}, ValidationException, "MinCapacity (5) cannot be greater"),
        ({**RESOURCE, "MaxCapacity": 2}, ValidationException, "MinCapacity is required"),
        (
            {**RESOURCE, "ResourceId": "web", "MinCapacity": 1, "MaxCapacity": 2},
            ValidationException,
            "service/<cluster>/<service>",
        ),
        (
            {**RESOURCE, "ServiceNamespace": "ec2", "MinCapacity": 1, "MaxCapacity": 2},
            ValidationException,
            "only 'ecs'",
        ),
        (
            {**RESOURCE, "ScalableDimension": "ecs:service:Cpu", "MinCapacity": 1, "MaxCapacity": 2},
            ValidationException,
            "ecs:service:DesiredCount",
        ),
        ({**RESOURCE, "MinCapacity": -1, "MaxCapacity": 2}, ValidationException, "MinCapacity must be >= 0"),
        ({**RESOURCE, "MinCapacity": 1, "MaxCapacity": 2, "Tags": ["a"]}, ValidationException, "Tags"),
    ],
)
def test_bad_registrations_are_refused_and_change_nothing(
    world: World, request_: dict[str, Any], error: type[ApiError], words: str
) -> None:
    with pytest.raises(error) as err:
        world.ops.register_scalable_target(request_)
    assert words in err.value.message
    assert world.ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"] == []


def test_deregister_removes_the_target_and_its_policies_but_keeps_activities(world: World) -> None:
    register(world, 2, 10)
    world.ops.put_scaling_policy(tt_policy())
    world.runner.evaluate_target(WEB)  # desired 1 < min 2: a clamp activity
    assert world.ops.deregister_scalable_target(dict(RESOURCE)) == {}
    assert world.ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"] == []
    assert world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})["ScalingPolicies"] == []
    assert len(world.activities()) == 1
    with pytest.raises(ObjectNotFoundException, match="No scalable target found"):
        world.ops.deregister_scalable_target(dict(RESOURCE))


def test_describe_targets_filters_and_pages(world: World) -> None:
    world.create_service("api")
    register(world)
    world.ops.register_scalable_target(
        {**RESOURCE, "ResourceId": "service/default/api", "MinCapacity": 0, "MaxCapacity": 3}
    )
    everything = world.ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"]
    assert [t["ResourceId"] for t in everything] == ["service/default/api", WEB]
    only_web = world.ops.describe_scalable_targets({"ServiceNamespace": "ecs", "ResourceIds": [WEB]})
    assert [t["ResourceId"] for t in only_web["ScalableTargets"]] == [WEB]
    first = world.ops.describe_scalable_targets({"ServiceNamespace": "ecs", "MaxResults": 1})
    assert len(first["ScalableTargets"]) == 1 and first["NextToken"]
    second = world.ops.describe_scalable_targets(
        {"ServiceNamespace": "ecs", "MaxResults": 1, "NextToken": first["NextToken"]}
    )
    assert [t["ResourceId"] for t in first["ScalableTargets"] + second["ScalableTargets"]] == [
        "service/default/api",
        WEB,
    ]
    assert "NextToken" not in second


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        ({}, ValidationException, "ServiceNamespace is required"),
        ({"ServiceNamespace": "ecs", "MaxResults": 51}, ValidationException, "MaxResults must be an integer from 1"),
        ({"ServiceNamespace": "ecs", "MaxResults": 0}, ValidationException, "MaxResults"),
        ({"ServiceNamespace": "ecs", "NextToken": "abc"}, InvalidNextTokenException, "NextToken"),
        ({"ServiceNamespace": "ecs", "ResourceIds": "service/default/web"}, ValidationException, "list"),
        ({"ServiceNamespace": "ecs", "ScalableDimension": "x"}, ValidationException, "ScalableDimension"),
    ],
)
def test_describe_targets_validates_its_request(
    world: World, request_: dict[str, Any], error: type[ApiError], words: str
) -> None:
    with pytest.raises(error, match=re.escape(words)):
        world.ops.describe_scalable_targets(request_)


# -- scaling policies ----------------------------------------------------------------------------


def test_put_policy_returns_an_aws_style_arn_and_two_alarms(world: World) -> None:
    register(world)
    out = world.ops.put_scaling_policy(tt_policy())
    assert check_output(AAS, "PutScalingPolicy", out) == []
    assert re.fullmatch(
        r"arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:[0-9a-f-]{36}:"
        r"resource/ecs/service/default/web:policyName/cpu50",
        out["PolicyARN"],
    )
    names = [a["AlarmName"] for a in out["Alarms"]]
    assert len(names) == 2
    assert names[0].startswith("TargetTracking-service/default/web-AlarmHigh-")
    assert names[1].startswith("TargetTracking-service/default/web-AlarmLow-")
    described = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs", "ResourceId": WEB})
    assert check_output(AAS, "DescribeScalingPolicies", described) == []
    [policy] = described["ScalingPolicies"]
    assert policy["PolicyARN"] == out["PolicyARN"]
    assert policy["Alarms"] == out["Alarms"]
    # The documented defaults are filled in: 300 s cooldowns, scale-in enabled.
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"], config["DisableScaleIn"]) == (300, 300, False)


def test_putting_a_policy_again_keeps_its_arn_and_creation_time(world: World) -> None:
    register(world)
    first = world.ops.put_scaling_policy(tt_policy(target=50.0))
    created = world.clock.now()
    world.clock.advance(10)
    second = world.ops.put_scaling_policy(tt_policy(target=70.0, ScaleOutCooldown=30))
    assert second["PolicyARN"] == first["PolicyARN"]
    [policy] = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})["ScalingPolicies"]
    assert policy["CreationTime"] == created
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0
    assert policy["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"] == 30


def test_a_step_policy_keeps_its_local_alarm(world: World) -> None:
    register(world)
    step = {
        **RESOURCE,
        "PolicyName": "steps",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "Cooldown": 60,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}],
        },
        "StepScalingAlarm": {
            "AlarmName": "cpu-high",
            "MetricName": "CPUUtilization",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 70,
        },
    }
    out = world.ops.put_scaling_policy(step)
    assert [a["AlarmName"] for a in out["Alarms"]] == ["cpu-high"]
    described = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})
    # Our StepScalingAlarm extension is the only member botocore does not know (and drops).
    problems = check_output(AAS, "DescribeScalingPolicies", described)
    assert len(problems) == 1 and "unknown member 'StepScalingAlarm'" in problems[0]
    assert described["ScalingPolicies"][0]["StepScalingAlarm"]["Threshold"] == 70


@pytest.mark.parametrize(
    ("mutate", "error", "words"),
    [
        (
            lambda r: r["TargetTrackingScalingPolicyConfiguration"].pop("TargetValue"),
            ValidationException,
            "TargetValue is required",
        ),
        (lambda r: r.update(PolicyType="PredictiveScaling"), ValidationException, "PredictiveScaling"),
        (
            lambda r: r.update(ResourceId="service/default/api"),
            ObjectNotFoundException,
            "No scalable target registered",
        ),
        (lambda r: r.pop("PolicyName"), ValidationException, "PolicyName is required"),
        (
            lambda r: r["TargetTrackingScalingPolicyConfiguration"].update(ScaleInCooldown=-1),
            ValidationException,
            "ScaleInCooldown must be >= 0",
        ),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(
    world: World, mutate: Any, error: type[ApiError], words: str
) -> None:
    register(world)
    request_ = tt_policy()
    mutate(request_)
    with pytest.raises(error, match=re.escape(words)):
        world.ops.put_scaling_policy(request_)
    assert world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})["ScalingPolicies"] == []


def test_a_policy_needs_a_registered_target(world: World) -> None:
    with pytest.raises(ObjectNotFoundException, match="orchestrator autoscale register"):
        world.ops.put_scaling_policy(tt_policy())


def test_delete_policy(world: World) -> None:
    register(world)
    world.ops.put_scaling_policy(tt_policy("a"))
    world.ops.put_scaling_policy(tt_policy("b"))
    assert world.ops.delete_scaling_policy({**RESOURCE, "PolicyName": "a"}) == {}
    names = [
        p["PolicyName"] for p in world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})["ScalingPolicies"]
    ]
    assert names == ["b"]
    with pytest.raises(ObjectNotFoundException, match="policy name: a"):
        world.ops.delete_scaling_policy({**RESOURCE, "PolicyName": "a"})


def test_describe_policies_filters_by_name_and_pages_by_ten(world: World) -> None:
    register(world)
    for i in range(12):
        world.ops.put_scaling_policy(tt_policy(f"p{i:02d}"))
    first = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs"})
    # 12 policies, 10 per page by default: 10 + 2.
    assert len(first["ScalingPolicies"]) == 10
    rest = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs", "NextToken": first["NextToken"]})
    assert len(rest["ScalingPolicies"]) == 2
    named = world.ops.describe_scaling_policies({"ServiceNamespace": "ecs", "PolicyNames": ["p03", "p11"]})
    assert [p["PolicyName"] for p in named["ScalingPolicies"]] == ["p03", "p11"]
    with pytest.raises(ValidationException, match="MaxResults must be an integer from 1 to 10"):
        world.ops.describe_scaling_policies({"ServiceNamespace": "ecs", "MaxResults": 11})


# -- the runner ----------------------------------------------------------------------------------


def test_high_cpu_scales_out_through_update_service(world: World) -> None:
    register(world, 1, 10)
    world.ops.put_scaling_policy(tt_policy())
    world.set_service(runningCount=1)
    world.datapoints(150.0, 150.0, 150.0)
    world.runner.evaluate_target(WEB)
    # High alarm: 3 of 3 above 50. ceil(1 running x 150 / 50) = 3.
    assert world.desired() == 3
    [activity] = world.activities()
    assert check_output(AAS, "DescribeScalingActivities", {"ScalingActivities": [activity]}) == []
    assert activity["Description"] == "Setting desired count to 3."
    assert re.fullmatch(
        r"monitor alarm TargetTracking-service/default/web-AlarmHigh-[0-9a-f-]{36} in state ALARM "
        r"triggered policy cpu50",
        activity["Cause"],
    )
    assert activity["StatusCode"] == "Successful"
    assert activity["StatusMessage"] == "Successfully set desired count to 3. Change successfully fulfilled by ecs."
    assert activity["EndTime"] == world.clock.now()
    svc = world.store.get_service("default", "web")
    assert svc is not None and svc.deployments[0].desiredCount == 3  # the UpdateService path, deployment included
    events = [e["message"] for e in world.store.list_events("default", "web")]
    assert any(m.startswith("(service web) Application Auto Scaling: Setting desired count to 3.") for m in events)
    assert world.state()["LastScaleOut"]["ToCapacity"] == 3


def test_at_max_capacity_one_not_scaled_activity_per_episode(world: World) -> None:
    register(world, 1, 2)
    world.ops.put_scaling_policy(tt_policy())
    world.set_service(runningCount=2, desiredCount=2)
    for cpu in (150.0, 300.0, 600.0):
        world.clock.advance(PERIOD)
        world.datapoints(cpu, cpu, cpu)
        world.runner.evaluate_target(WEB)
    assert world.desired() == 2
    everything = world.activities()
    # Three evaluations at the maximum wanting ceil(2 x 150 / 50) = 6, then 12, then 24: one
    # activity, since the same cause and reason is one episode whatever capacity it wants.
    assert len(everything) == 1
    assert everything[0]["StatusMessage"] == "Failed to set desired count to 6"
    assert everything[0]["StatusCode"] == "Failed"
    assert everything[0]["NotScaledReasons"] == [
        {"Code": "AlreadyAtMaxCapacity", "MaxCapacity": 2, "CurrentCapacity": 2}
    ]
    assert world.activities(include_not_scaled=False) == []


def test_a_desired_count_outside_the_range_is_clamped_without_policies(world: World) -> None:
    register(world, 2, 5)
    world.runner.evaluate_target(WEB)
    assert world.desired() == 2
    [activity] = world.activities()
    assert activity["Description"] == "Setting desired count to 2."
    assert activity["Cause"] == "desired count 1 is below the minimum capacity 2"


def test_scale_in_waits_for_a_deployment_to_finish(world: World) -> None:
    register(world, 1, 10)
    world.ops.put_scaling_policy(tt_policy())
    now = world.clock.now()
    rollout = [
        Deployment(id="ecs-svc/2", taskDefinition="td:2", createdAt=now, updatedAt=now),
        Deployment(
            id="ecs-svc/1",
            status="ACTIVE",
            taskDefinition="td:1",
            rolloutState="COMPLETED",
            createdAt=now,
            updatedAt=now,
        ),
    ]
    world.set_service(runningCount=4, desiredCount=4, deployments=rollout)
    world.datapoints(*[5.0] * 15)
    world.runner.evaluate_target(WEB)
    # Low alarm: 15 of 15 below 45. ceil(4 x 5 / 50) = 1; the gentle step would go to 4 - ceil(3 / 2) = 2,
    # but the deployment in progress pauses scale-in.
    assert world.desired() == 4
    [activity] = world.activities()
    assert activity["NotScaledReasons"][0]["Code"] == "TargetServicePutResourceAsUnscalable"
    world.set_service(deployments=rollout[:1])
    world.clock.advance(PERIOD)
    world.datapoints(*[5.0] * 15)
    world.runner.evaluate_target(WEB)
    assert world.desired() == 2


@pytest.mark.parametrize(
    ("deployments", "expected"),
    [
        ([("IN_PROGRESS", "PRIMARY")], False),  # a lone deployment scaling out is not a rollout
        ([("IN_PROGRESS", "PRIMARY"), ("COMPLETED", "ACTIVE")], True),
        ([("COMPLETED", "PRIMARY"), ("COMPLETED", "ACTIVE")], False),
        ([("FAILED", "PRIMARY"), ("COMPLETED", "ACTIVE")], False),
    ],
)
def test_deployment_in_progress(world: World, deployments: list[tuple[str, str]], expected: bool) -> None:
    now = world.clock.now()
    built = [
        Deployment.model_validate(
            {
                "id": f"ecs-svc/{i}",
                "taskDefinition": "td:1",
                "rolloutState": state,
                "status": status,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        for i, (state, status) in enumerate(deployments)
    ]
    world.set_service(deployments=built)
    svc = world.store.get_service("default", "web")
    assert svc is not None and deployment_in_progress(svc) is expected


class RefusingOps:
    def update_service(self, req: dict[str, Any]) -> dict[str, Any]:
        raise ServiceNotFoundException(f"Service not found: {req['service']}.")


def test_a_failed_update_records_a_failed_activity_and_starts_no_cooldown(world: World) -> None:
    register(world, 1, 10)
    world.ops.put_scaling_policy(tt_policy())
    world.set_service(runningCount=1)
    world.datapoints(150.0, 150.0, 150.0)
    runner = AutoscalingRunner(world.store, world.clock, world.settings, RefusingOps(), world.collector)
    runner.evaluate_target(WEB)
    assert world.desired() == 1
    [activity] = world.activities()
    assert activity["StatusCode"] == "Failed"
    assert activity["StatusMessage"] == (
        "Failed to set desired count to 3. ServiceNotFoundException: Service not found: web."
    )
    assert world.state().get("LastScaleOut") is None  # the next period may try again at once


def test_a_target_whose_service_is_gone_is_skipped(world: World) -> None:
    register(world, 1, 10)
    world.ops.put_scaling_policy(tt_policy())
    world.ops.update_service({"service": "web", "desiredCount": 0})
    world.ops.delete_service({"service": "web"})
    assert world.runner.evaluate_target(WEB) is None
    assert world.activities() == []


def test_stale_datapoints_from_before_a_gap_are_ignored(world: World) -> None:
    register(world, 1, 10)
    world.ops.put_scaling_policy(tt_policy())
    world.set_service(runningCount=1)
    world.datapoints(150.0, 150.0, 150.0)
    # The control plane was down for an hour: the longest alarm window is 15 periods (+1), so
    # datapoints 60 periods old say nothing about now.
    world.clock.advance(60 * PERIOD)
    result = world.runner.evaluate_target(WEB)
    assert result is not None and result.new_desired_count is None
    assert world.desired() == 1


def test_tick_closes_metrics_and_scales_from_reported_samples(tmp_path: Path) -> None:
    settings = Settings(metric_period_s=PERIOD, autoscaling_high_datapoints=2, autoscaling_low_datapoints=3)
    w = World(tmp_path / "orchestrator.db", settings)
    w.create_service()
    register(w, 1, 4)
    w.ops.put_scaling_policy(tt_policy(ScaleOutCooldown=0))
    task = Task(
        taskArn=task_arn("default", "t1"),
        clusterArn="arn:aws:ecs:us-east-1:000000000000:cluster/default",
        taskDefinitionArn="td:1",
        containerInstanceArn=INSTANCE,
        group="service:web",
        cpu="256",
        memory="64",
        lastStatus="RUNNING",
        createdAt=w.clock.now(),
    )
    with w.store.write() as s:
        s.insert_task(task)
    w.set_service(runningCount=1)
    for _ in range(2):
        # One busy core on 256 reserved units: 100 x 1024 / 256 = 400 %.
        w.ctx.metrics_sink(INSTANCE, [{"taskId": arn_id(task.taskArn), "cpuUnits": 1024, "memoryMiB": 16}])  # type: ignore[misc]
        w.clock.advance(PERIOD)
        w.runner.tick()
    # The high alarm is 2 of 2 above 50 after the second tick: ceil(1 x 400 / 50) = 8, max 4.
    assert w.desired() == 4
    assert [a["Description"] for a in w.activities()] == ["Setting desired count to 4."]
    w.store.close()


# -- service metrics (our addition) --------------------------------------------------------------


def test_service_metrics_returns_the_newest_datapoints_and_the_target(world: World) -> None:
    world.datapoints(10.0, 20.0, 30.0)
    out = world.ops.service_metrics({"cluster": "default", "service": "web", "limit": 2})
    assert [p["CPUUtilization"] for p in out["datapoints"]] == [20.0, 30.0]
    assert out["metricPeriodSeconds"] == PERIOD
    assert "scalableTarget" not in out
    register(world, 1, 4)
    out = world.ops.service_metrics({"service": "web"})
    assert out["scalableTarget"]["MaxCapacity"] == 4
    assert len(out["datapoints"]) == 3
    with pytest.raises(ServiceNotFoundException, match="nope"):
        world.ops.service_metrics({"service": "nope"})
