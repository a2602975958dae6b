"""JSON shapes of the autoscaling objects: PascalCase as in the botocore model, and round trips."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.autoscaling.model import (
    Activity,
    AlarmSpec,
    AutoscalingState,
    Datapoint,
    NotScaledReason,
    ScalableTarget,
    ScaleOutRecord,
    ScalingPolicy,
    StepAdjustment,
    StepScalingConfig,
    SuspendedState,
    TargetTrackingConfig,
    activity_from_dict,
    activity_to_dict,
    datapoint_from_dict,
    datapoint_to_dict,
    parse_resource_id,
    policy_from_dict,
    policy_to_dict,
    state_from_dict,
    state_to_dict,
    target_from_dict,
    target_to_dict,
)

RESOURCE = "service/prod/web"


def test_target_tracking_policy_json_shape() -> None:
    policy = ScalingPolicy(
        "cpu50",
        RESOURCE,
        "TargetTrackingScaling",
        target_tracking=TargetTrackingConfig(50.0, "ECSServiceAverageMemoryUtilization", 60, 120, True),
        policy_arn="arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x",
        creation_time=1700000000.0,
    )
    data = policy_to_dict(policy)
    assert data == {
        "PolicyARN": "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x",
        "PolicyName": "cpu50",
        "ServiceNamespace": "ecs",
        "ResourceId": RESOURCE,
        "ScalableDimension": "ecs:service:DesiredCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"},
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 120,
            "DisableScaleIn": True,
        },
        "CreationTime": 1700000000.0,
    }
    assert policy_from_dict(data) == policy


def test_step_policy_json_shape_and_round_trip() -> None:
    policy = ScalingPolicy(
        "out",
        RESOURCE,
        "StepScaling",
        step_scaling=StepScalingConfig(
            "PercentChangeInCapacity",
            (StepAdjustment(10, 10.0, 20.0), StepAdjustment(30, 20.0, None)),
            min_adjustment_magnitude=2,
            cooldown=120,
            metric_aggregation_type="Maximum",
        ),
        alarm=AlarmSpec("CPUUtilization", "GreaterThanOrEqualToThreshold", 50.0, 3, 2, "web-cpu"),
    )
    data = policy_to_dict(policy)
    assert data["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "PercentChangeInCapacity",
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 10.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 10},
            {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 30},  # a null bound is omitted
        ],
        "Cooldown": 120,
        "MetricAggregationType": "Maximum",
        "MinAdjustmentMagnitude": 2,
    }
    assert data["StepScalingAlarm"] == {
        "AlarmName": "web-cpu",
        "MetricName": "CPUUtilization",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 50.0,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
    }
    assert "PolicyARN" not in data  # None fields are omitted, as AWS omits them
    assert policy_from_dict(data) == policy


def test_request_defaults_are_filled_in() -> None:
    policy = policy_from_dict(
        {
            "PolicyName": "p",
            "ResourceId": RESOURCE,
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        }
    )
    assert policy.step_scaling == StepScalingConfig(
        "ChangeInCapacity", (StepAdjustment(1, 0.0, None),), None, 300, "Average"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy_type": "TargetTrackingScaling"}, "target-tracking"),  # no configuration
        (
            {"policy_type": "StepScaling", "target_tracking": TargetTrackingConfig(50.0)},
            "step-scaling",
        ),
        ({"policy_type": "Predictive"}, "unknown policy type"),
    ],
)
def test_policy_needs_the_matching_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScalingPolicy("p", RESOURCE, **kwargs)


def test_target_round_trip_and_shape() -> None:
    target = ScalableTarget(
        RESOURCE, 0, 5, suspended_state=SuspendedState(dynamic_scaling_in_suspended=True), creation_time=1.0
    )
    data = target_to_dict(target)
    assert data == {
        "ServiceNamespace": "ecs",
        "ResourceId": RESOURCE,
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": 0,
        "MaxCapacity": 5,
        "SuspendedState": {
            "DynamicScalingInSuspended": True,
            "DynamicScalingOutSuspended": False,
            "ScheduledScalingSuspended": False,
        },
        "CreationTime": 1.0,
    }
    assert target_from_dict(data) == target
    assert (target.cluster, target.service) == ("prod", "web")


@pytest.mark.parametrize("bad", ["service/web", "task/prod/web", "service//web", "service/prod/", "service/a/b/c"])
def test_parse_resource_id_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="service/<cluster>/<service>"):
        parse_resource_id(bad)


def test_activity_round_trip_and_shape() -> None:
    activity = Activity(
        resource_id=RESOURCE,
        description="Attempting to scale due to alarm triggered",
        cause="monitor alarm a in state ALARM triggered policy p",
        start_time=10.0,
        status_code="Failed",
        activity_id="4d759079",
        status_message="Failed to set desired count to 30",
        not_scaled_reasons=(NotScaledReason("AlreadyAtMaxCapacity", max_capacity=4, current_capacity=4),),
    )
    data = activity_to_dict(activity)
    assert data["NotScaledReasons"] == [{"Code": "AlreadyAtMaxCapacity", "MaxCapacity": 4, "CurrentCapacity": 4}]
    assert (data["ActivityId"], data["StatusCode"], data["StartTime"]) == ("4d759079", "Failed", 10.0)
    assert "EndTime" not in data
    assert activity_from_dict(data) == activity


def test_state_round_trip() -> None:
    state = AutoscalingState(
        alarm_states={"b": "OK", "a": "ALARM"},
        last_scaling_at=100.0,
        last_scale_out=ScaleOutRecord(100.0, 2, 4, "cpu50"),
    )
    data = state_to_dict(state)
    assert list(data["AlarmStates"]) == ["a", "b"]  # sorted, so stored JSON is stable
    assert state_from_dict(data) == state
    assert state_from_dict(None) == AutoscalingState()
    assert state_from_dict(state_to_dict(AutoscalingState())) == AutoscalingState()


def test_datapoint_round_trip() -> None:
    point = Datapoint(60.0, 120.5, None)  # utilization may exceed 100; None = no data
    assert datapoint_to_dict(point) == {"Timestamp": 60.0, "CPUUtilization": 120.5, "MemoryUtilization": None}
    assert datapoint_from_dict(datapoint_to_dict(point)) == point
    assert point.value("CPUUtilization") == 120.5
    assert point.value("MemoryUtilization") is None
