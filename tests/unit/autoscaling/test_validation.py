"""RegisterScalableTarget and PutScalingPolicy validation: each rule's message names the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.autoscaling.model import ScalableTarget, SuspendedState
from orchestrator.autoscaling.validation import (
    validate_put_scaling_policy,
    validate_register_scalable_target,
    validate_resource,
)
from orchestrator.core.errors import ValidationException

RESOURCE = {
    "ServiceNamespace": "ecs",
    "ResourceId": "service/default/web",
    "ScalableDimension": "ecs:service:DesiredCount",
}


def register(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {**RESOURCE, "MinCapacity": 1, "MaxCapacity": 10}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


def tt_request(**config: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "TargetValue": 50.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    }
    base.update(config)
    return {
        **RESOURCE,
        "PolicyName": "cpu50",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {k: v for k, v in base.items() if v is not None},
    }


def step_request(steps: Any, **config: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": steps}
    base.update(config)
    return {
        **RESOURCE,
        "PolicyName": "out",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {k: v for k, v in base.items() if v is not None},
    }


# --- RegisterScalableTarget ------------------------------------------------------------------


def test_register_returns_the_target() -> None:
    target = validate_register_scalable_target(register(MinCapacity=0, MaxCapacity=4))
    assert target == ScalableTarget("service/default/web", 0, 4)  # min 0 is allowed for ECS


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (register(MinCapacity=5, MaxCapacity=2), "MinCapacity (5) cannot be greater than MaxCapacity (2)"),
        (register(MinCapacity=-1), "MinCapacity must be >= 0 (got -1)"),
        (register(MaxCapacity=-3, MinCapacity=0), "MaxCapacity must be >= 0 (got -3)"),
        (register(MinCapacity=1.5), "MinCapacity must be an integer"),
        (register(MinCapacity=True), "MinCapacity must be an integer"),
        (register(MinCapacity=None), "MinCapacity is required when registering a new scalable target"),
        (register(MaxCapacity=None), "MaxCapacity is required when registering a new scalable target"),
        (register(ServiceNamespace="dynamodb"), "ServiceNamespace 'dynamodb' is not supported here"),
        (register(ServiceNamespace=None), "ServiceNamespace is required"),
        (
            register(ResourceId="service/web"),
            "ResourceId 'service/web' must be of the form service/<cluster>/<service>",
        ),
        (register(ResourceId="table/x/y"), "must be of the form service/<cluster>/<service>"),
        (register(ResourceId="service/c/" + "s" * 1600), "ResourceId must be at most 1600 characters"),
        (register(ScalableDimension="ecs:service:Cpu"), "ScalableDimension 'ecs:service:Cpu' is not valid"),
        (
            register(SuspendedState={"DynamicScalingInSuspended": "yes"}),
            "SuspendedState.DynamicScalingInSuspended",
        ),
        (register(SuspendedState=[]), "SuspendedState must be an object"),
        (register(RoleARN=""), "RoleARN must be a string"),
    ],
)
def test_register_errors(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as error:
        validate_register_scalable_target(request_)
    assert message in error.value.message
    assert error.value.code == "ValidationException"


def test_register_updates_an_existing_target() -> None:
    existing = ScalableTarget(
        "service/default/web", 2, 8, suspended_state=SuspendedState(dynamic_scaling_in_suspended=True)
    )
    updated = validate_register_scalable_target(
        {**RESOURCE, "MaxCapacity": 12, "SuspendedState": {"DynamicScalingOutSuspended": True}}, existing
    )
    # min kept at 2, max now 12; the in-suspension flag kept, out-suspension added
    assert (updated.min_capacity, updated.max_capacity) == (2, 12)
    assert updated.suspended_state == SuspendedState(True, True, False)
    with pytest.raises(ValidationException, match=r"MinCapacity \(9\) cannot be greater than MaxCapacity \(8\)"):
        validate_register_scalable_target({**RESOURCE, "MinCapacity": 9}, existing)


def test_validate_resource_alone() -> None:
    assert validate_resource(RESOURCE) == "service/default/web"


# --- PutScalingPolicy: target tracking -------------------------------------------------------


def test_target_tracking_defaults() -> None:
    policy = validate_put_scaling_policy(tt_request())
    assert policy.target_tracking is not None
    assert (policy.target_tracking.scale_out_cooldown, policy.target_tracking.scale_in_cooldown) == (300, 300)
    assert policy.target_tracking.disable_scale_in is False


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (tt_request(TargetValue=0), "TargetTrackingScalingPolicyConfiguration.TargetValue must be between"),
        (tt_request(TargetValue=-5), "between 8.515920e-109 and 1.174271e+108 (got -5)"),
        (tt_request(TargetValue=1e-109), "TargetValue must be between"),
        (tt_request(TargetValue=2e108), "TargetValue must be between"),
        (tt_request(TargetValue=float("nan")), "TargetValue must be a finite number"),
        (tt_request(TargetValue="50"), "TargetValue must be a finite number"),
        (tt_request(TargetValue=None), "TargetTrackingScalingPolicyConfiguration.TargetValue is required"),
        (
            tt_request(PredefinedMetricSpecification={"PredefinedMetricType": "ALBRequestCountPerTarget"}),
            "ResourceLabel is required for ALBRequestCountPerTarget",
        ),
        (
            tt_request(
                PredefinedMetricSpecification={
                    "PredefinedMetricType": "ALBRequestCountPerTarget",
                    "ResourceLabel": "targetgroup/web-tg/00000000000000bb",
                }
            ),
            "ResourceLabel must be app/<load-balancer-name>/<load-balancer-id>/targetgroup/",
        ),
        (
            tt_request(PredefinedMetricSpecification={"PredefinedMetricType": "CPU"}),
            "PredefinedMetricSpecification.PredefinedMetricType 'CPU' is not valid",
        ),
        (tt_request(PredefinedMetricSpecification=None), "PredefinedMetricSpecification is required"),
        (
            tt_request(
                PredefinedMetricSpecification={
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization",
                    "ResourceLabel": "x",
                }
            ),
            "ResourceLabel is only valid for ALBRequestCountPerTarget",
        ),
        (
            tt_request(CustomizedMetricSpecification={"MetricName": "x"}),
            "CustomizedMetricSpecification is not",
        ),
        (tt_request(ScaleOutCooldown=-1), "ScaleOutCooldown must be >= 0 (got -1)"),
        (tt_request(ScaleInCooldown=-60), "ScaleInCooldown must be >= 0 (got -60)"),
        (tt_request(ScaleInCooldown=1.5), "ScaleInCooldown must be an integer"),
        (tt_request(DisableScaleIn="no"), "DisableScaleIn must be true or false"),
    ],
)
def test_target_tracking_errors(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as error:
        validate_put_scaling_policy(request_)
    assert message in error.value.message


def test_smallest_and_largest_target_values_pass() -> None:
    assert validate_put_scaling_policy(tt_request(TargetValue=8.515920e-109)).target_tracking is not None
    assert validate_put_scaling_policy(tt_request(TargetValue=1.174271e108)).target_tracking is not None


# --- PutScalingPolicy: common fields ---------------------------------------------------------


def _with(request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(request)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


STEPS = "StepScalingPolicyConfiguration.StepAdjustments"
GOOD_STEPS = [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_with(tt_request(), PolicyName=None), "PolicyName is required"),
        (_with(tt_request(), PolicyName=""), "PolicyName must be 1 to 256 printable characters"),
        (_with(tt_request(), PolicyName="a" * 257), "PolicyName must be 1 to 256 printable characters"),
        (_with(tt_request(), PolicyName="bad\nname"), "PolicyName must be 1 to 256 printable characters"),
        (_with(tt_request(), PolicyType=None), "PolicyType is required"),
        (_with(tt_request(), PolicyType="Magic"), "PolicyType 'Magic' is not valid"),
        (_with(tt_request(), PolicyType="PredictiveScaling"), "PredictiveScaling is not supported here"),
        (_with(tt_request(), ResourceId="service/x"), "ResourceId 'service/x' must be of the form"),
        (
            _with(tt_request(), TargetTrackingScalingPolicyConfiguration=None),
            "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy",
        ),
        (
            _with(tt_request(), StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity"}),
            "StepScalingPolicyConfiguration is not allowed for a TargetTrackingScaling policy",
        ),
        (
            _with(step_request(GOOD_STEPS), StepScalingPolicyConfiguration=None),
            "StepScalingPolicyConfiguration is required for a StepScaling policy",
        ),
        (
            _with(step_request(GOOD_STEPS), TargetTrackingScalingPolicyConfiguration={"TargetValue": 5}),
            "TargetTrackingScalingPolicyConfiguration is not allowed for a StepScaling policy",
        ),
        (
            _with(tt_request(), StepScalingAlarm={"MetricName": "CPUUtilization"}),
            "StepScalingAlarm is not allowed for a TargetTrackingScaling policy",
        ),
    ],
)
def test_policy_common_errors(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as error:
        validate_put_scaling_policy(request_)
    assert message in error.value.message


# --- PutScalingPolicy: step scaling ----------------------------------------------------------


def lo_hi(lower: float | None, upper: float | None, adjustment: int = 1) -> dict[str, Any]:
    step: dict[str, Any] = {"ScalingAdjustment": adjustment}
    if lower is not None:
        step["MetricIntervalLowerBound"] = lower
    if upper is not None:
        step["MetricIntervalUpperBound"] = upper
    return step


@pytest.mark.parametrize(
    "steps",
    [
        [lo_hi(0, None)],  # [0, inf)
        [lo_hi(0, 10), lo_hi(10, 20, 2), lo_hi(20, None, 3)],  # contiguous above the threshold
        [lo_hi(20, None, 3), lo_hi(0, 10), lo_hi(10, 20, 2)],  # order in the request does not matter
        [lo_hi(10, 20), lo_hi(20, None, 3)],  # starts at +10: allowed, [0, 10) simply does nothing
        [lo_hi(None, -10, -2), lo_hi(-10, 0, -1)],  # below the threshold
        [lo_hi(None, 0, -1), lo_hi(0, None, 1)],  # both sides in one policy
        [lo_hi(None, -5, -1)],  # (-inf, -5]: a negative upper bound needs no null upper bound
    ],
)
def test_valid_step_adjustments(steps: list[dict[str, Any]]) -> None:
    policy = validate_put_scaling_policy(step_request(steps))
    assert policy.step_scaling is not None
    assert len(policy.step_scaling.step_adjustments) == len(steps)
    assert (policy.step_scaling.cooldown, policy.step_scaling.metric_aggregation_type) == (300, "Average")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (step_request([]), "StepScalingPolicyConfiguration.StepAdjustments must contain at least one"),
        (step_request(None), "StepAdjustments must contain at least one"),
        (step_request("x"), "StepAdjustments must be a list"),
        (step_request([{"MetricIntervalLowerBound": 0}]), "StepAdjustments[0].ScalingAdjustment is required"),
        (
            step_request([{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1.5}]),
            "StepAdjustments[0].ScalingAdjustment must be an integer",
        ),
        (step_request([{"ScalingAdjustment": 1}]), "StepAdjustments[0]: MetricIntervalLowerBound and"),
        (
            step_request([lo_hi(10, 5)]),
            "StepAdjustments[0].MetricIntervalUpperBound (5) must be greater than",
        ),
        (step_request([lo_hi(10, 10)]), "MetricIntervalUpperBound (10) must be greater than"),
        (
            step_request([{"MetricIntervalLowerBound": "a", "ScalingAdjustment": 1}]),
            "StepAdjustments[0].MetricIntervalLowerBound must be a finite number",
        ),
        (step_request([lo_hi(0, 10), lo_hi(5, None)]), "StepAdjustments[0] and " + STEPS + "[1] overlap"),
        (step_request([lo_hi(0, 10), lo_hi(15, None)]), "gap between"),
        (
            step_request([lo_hi(0, None), lo_hi(10, None)]),
            "at most one step can have a null MetricIntervalUpperBound",
        ),
        (
            step_request([lo_hi(None, 0), lo_hi(None, -10)]),
            "at most one step can have a null MetricIntervalLowerBound",
        ),
        (step_request([lo_hi(-10, 0, -1)]), "a negative lower bound requires a step with a null lower bound"),
        (step_request([lo_hi(0, 10)]), "a positive upper bound requires a step with a null upper bound"),
        (
            step_request(GOOD_STEPS, AdjustmentType=None),
            "StepScalingPolicyConfiguration.AdjustmentType is required",
        ),
        (step_request(GOOD_STEPS, AdjustmentType="Double"), "AdjustmentType 'Double' is not valid"),
        (
            step_request([lo_hi(0, None, -1)], AdjustmentType="ExactCapacity"),
            "StepAdjustments[0].ScalingAdjustment must be >= 0 with ExactCapacity (got -1)",
        ),
        (
            step_request(GOOD_STEPS, MinAdjustmentMagnitude=2),
            "MinAdjustmentMagnitude is only valid with AdjustmentType PercentChangeInCapacity",
        ),
        (
            step_request(GOOD_STEPS, AdjustmentType="PercentChangeInCapacity", MinAdjustmentMagnitude=0),
            "MinAdjustmentMagnitude must be >= 1 (got 0)",
        ),
        (
            step_request(GOOD_STEPS, Cooldown=-1),
            "StepScalingPolicyConfiguration.Cooldown must be >= 0 (got -1)",
        ),
        (step_request(GOOD_STEPS, MetricAggregationType="Sum"), "MetricAggregationType 'Sum' is not valid"),
    ],
)
def test_step_errors(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as error:
        validate_put_scaling_policy(request_)
    assert message in error.value.message


def test_min_adjustment_magnitude_with_percent_is_kept() -> None:
    request = step_request(GOOD_STEPS, AdjustmentType="PercentChangeInCapacity", MinAdjustmentMagnitude=2)
    policy = validate_put_scaling_policy(request)
    assert policy.step_scaling is not None and policy.step_scaling.min_adjustment_magnitude == 2


ALARM = {"MetricName": "CPUUtilization", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 75}


def test_step_alarm_accepted_with_cloudwatch_default() -> None:
    policy = validate_put_scaling_policy(
        {**step_request(GOOD_STEPS), "StepScalingAlarm": {**ALARM, "EvaluationPeriods": 3}}
    )
    assert policy.alarm is not None
    # DatapointsToAlarm defaults to EvaluationPeriods, as in CloudWatch: 3 of 3
    assert (policy.alarm.threshold, policy.alarm.evaluation_periods, policy.alarm.datapoints_to_alarm) == (
        75.0,
        3,
        3,
    )


@pytest.mark.parametrize(
    ("alarm", "message"),
    [
        (
            {**ALARM, "MetricName": "DiskUtilization"},
            "StepScalingAlarm.MetricName 'DiskUtilization' is not valid",
        ),
        (
            {**ALARM, "ComparisonOperator": "Equal"},
            "StepScalingAlarm.ComparisonOperator 'Equal' is not valid",
        ),
        ({k: v for k, v in ALARM.items() if k != "Threshold"}, "StepScalingAlarm.Threshold is required"),
        ({**ALARM, "Threshold": float("inf")}, "StepScalingAlarm.Threshold must be a finite number"),
        ({**ALARM, "EvaluationPeriods": 0}, "StepScalingAlarm.EvaluationPeriods must be >= 1 (got 0)"),
        (
            {**ALARM, "EvaluationPeriods": 2, "DatapointsToAlarm": 3},
            "DatapointsToAlarm (3) cannot exceed EvaluationPeriods (2)",
        ),
        ({**ALARM, "AlarmName": ""}, "StepScalingAlarm.AlarmName must be a string"),
        ([], "StepScalingAlarm must be an object"),
    ],
)
def test_step_alarm_errors(alarm: Any, message: str) -> None:
    with pytest.raises(ValidationException) as error:
        validate_put_scaling_policy({**step_request(GOOD_STEPS), "StepScalingAlarm": alarm})
    assert message in error.value.message
