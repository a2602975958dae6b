"""Validation of RegisterScalableTarget and PutScalingPolicy requests, with AWS's rules.

Owns the check of every user-supplied autoscaling request before anything is stored: each rule
raises `ValidationException` with a message naming the field (dotted path, list index in
brackets), and a request that passes comes back as the model object, defaults filled in.

Rules beyond the botocore shapes, each from the Application Auto Scaling API reference:
- only `ecs` / `service/<cluster>/<service>` / `ecs:service:DesiredCount` are served here;
- MinCapacity and MaxCapacity are integers >= 0 (0 is allowed for ECS) with min <= max, both
  required when a target is first registered;
- TargetValue lies in [8.515920e-109, 1.174271e+108] (2^-359 .. 2^359, the range CloudWatch
  accepts; the botocore documentation rounds it to "2^360"), so for these utilization metrics it
  is always positive; only the two predefined ECS metric types are accepted (no customized
  metrics: there is no CloudWatch to read them from);
- cooldowns are integers >= 0;
- step adjustments: at least one; upper > lower; not both bounds null in one step; at most one
  null lower and one null upper bound; no overlaps and no gaps between consecutive steps; a
  negative lower bound requires a step with a null lower bound and a positive upper bound one
  with a null upper bound; ExactCapacity adjustments are >= 0; MinAdjustmentMagnitude (>= 1) only
  with PercentChangeInCapacity.
- PolicyType is required: a PutScalingPolicy here always (re)creates the whole policy.
- The local `StepScalingAlarm` (see `model`) is optional on step policies and refused on
  target-tracking ones, whose alarms are made for them.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.autoscaling.model import (
    ADJUSTMENT_TYPES,
    COMPARISON_OPERATORS,
    METRIC_AGGREGATION_TYPES,
    METRIC_NAMES,
    POLICY_TYPES,
    PREDEFINED_METRIC_TYPES,
    REQUEST_COUNT_TYPE,
    SCALABLE_DIMENSIONS,
    SERVICE_NAMESPACES,
    ScalableTarget,
    ScalingPolicy,
    SuspendedState,
    parse_resource_id,
    policy_from_dict,
)
from orchestrator.core.errors import ValidationException

TARGET_VALUE_MIN = 8.515920e-109
TARGET_VALUE_MAX = 1.174271e108
RESOURCE_ID_MAX = 1600
POLICY_NAME_MAX = 256
ALARM_NAME_MAX = 255
# ResourceLabel as AWS forms it from the two ARNs: app/<lb>/<lb id>/targetgroup/<group>/<group id>.
RESOURCE_LABEL = re.compile(r"app/[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}/targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}")


def _fail(message: str) -> ValidationException:
    return ValidationException(message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    # JSON decoders may hand 3.0 for 3; accept integral floats, refuse 2.5.
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{name} must be an object")
    return value


def _string(request: Mapping[str, Any], key: str, name: str, *, max_len: int) -> str:
    value = request.get(key)
    if value is None:
        raise _fail(f"{name} is required")
    if not isinstance(value, str) or not value:
        raise _fail(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise _fail(f"{name} must be at most {max_len} characters")
    return value


def _optional_int(data: Mapping[str, Any], key: str, name: str, *, minimum: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise _fail(f"{name} must be an integer")
    if value < minimum:
        raise _fail(f"{name} must be >= {minimum} (got {int(value)})")
    return int(value)


def _optional_number(data: Mapping[str, Any], key: str, name: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value):
        raise _fail(f"{name} must be a finite number")
    return float(value)


def _optional_bool(data: Mapping[str, Any], key: str, name: str) -> None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise _fail(f"{name} must be true or false")


def _choice(data: Mapping[str, Any], key: str, name: str, choices: Sequence[str], *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _fail(f"{name} is required")
        return None
    if value not in choices:
        raise _fail(f"{name} {value!r} is not valid; valid values: {', '.join(choices)}")
    return str(value)


def validate_resource(request: Mapping[str, Any]) -> str:
    """ServiceNamespace, ResourceId and ScalableDimension; returns the resource id."""
    namespace = _string(request, "ServiceNamespace", "ServiceNamespace", max_len=64)
    if namespace not in SERVICE_NAMESPACES:
        raise _fail(f"ServiceNamespace {namespace!r} is not supported here; only 'ecs' services scale")
    resource_id = _string(request, "ResourceId", "ResourceId", max_len=RESOURCE_ID_MAX)
    try:
        parse_resource_id(resource_id)
    except ValueError:
        raise _fail(f"ResourceId {resource_id!r} must be of the form service/<cluster>/<service>") from None
    dimension = _string(request, "ScalableDimension", "ScalableDimension", max_len=64)
    if dimension not in SCALABLE_DIMENSIONS:
        raise _fail(f"ScalableDimension {dimension!r} is not valid for ecs; use ecs:service:DesiredCount")
    return resource_id


def validate_register_scalable_target(
    request: Mapping[str, Any], existing: ScalableTarget | None = None
) -> ScalableTarget:
    """The target after this RegisterScalableTarget: a new one, or `existing` updated."""
    resource_id = validate_resource(request)
    min_cap = _optional_int(request, "MinCapacity", "MinCapacity", minimum=0)
    max_cap = _optional_int(request, "MaxCapacity", "MaxCapacity", minimum=0)
    if existing is None:
        if min_cap is None:
            raise _fail("MinCapacity is required when registering a new scalable target")
        if max_cap is None:
            raise _fail("MaxCapacity is required when registering a new scalable target")
    else:
        min_cap = existing.min_capacity if min_cap is None else min_cap
        max_cap = existing.max_capacity if max_cap is None else max_cap
    assert min_cap is not None and max_cap is not None
    if min_cap > max_cap:
        raise _fail(f"MinCapacity ({min_cap}) cannot be greater than MaxCapacity ({max_cap})")

    suspended = existing.suspended_state if existing is not None else SuspendedState()
    raw_suspended = request.get("SuspendedState")
    if raw_suspended is not None:
        data = _mapping(raw_suspended, "SuspendedState")
        for key in ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended"):
            _optional_bool(data, key, f"SuspendedState.{key}")
        # Flags left out keep their current value, as in AWS.
        suspended = SuspendedState(
            dynamic_scaling_in_suspended=data.get("DynamicScalingInSuspended", suspended.dynamic_scaling_in_suspended),
            dynamic_scaling_out_suspended=data.get(
                "DynamicScalingOutSuspended", suspended.dynamic_scaling_out_suspended
            ),
            scheduled_scaling_suspended=data.get("ScheduledScalingSuspended", suspended.scheduled_scaling_suspended),
        )
    role_arn = request.get("RoleARN")
    if role_arn is not None and (not isinstance(role_arn, str) or not 1 <= len(role_arn) <= RESOURCE_ID_MAX):
        raise _fail(f"RoleARN must be a string of 1 to {RESOURCE_ID_MAX} characters")
    return ScalableTarget(
        resource_id=resource_id,
        min_capacity=min_cap,
        max_capacity=max_cap,
        suspended_state=suspended,
        role_arn=role_arn if role_arn is not None else (existing.role_arn if existing else None),
        creation_time=existing.creation_time if existing else None,
        scalable_target_arn=existing.scalable_target_arn if existing else None,
    )


def _validate_target_tracking(config: Mapping[str, Any]) -> None:
    prefix = "TargetTrackingScalingPolicyConfiguration"
    if config.get("TargetValue") is None:
        raise _fail(f"{prefix}.TargetValue is required")
    target = _optional_number(config, "TargetValue", f"{prefix}.TargetValue")
    assert target is not None
    if not TARGET_VALUE_MIN <= target <= TARGET_VALUE_MAX:
        raise _fail(
            f"{prefix}.TargetValue must be between {TARGET_VALUE_MIN:e} and {TARGET_VALUE_MAX:e} (got {target:g})"
        )
    if config.get("CustomizedMetricSpecification") is not None:
        raise _fail(f"{prefix}.CustomizedMetricSpecification is not supported here; use PredefinedMetricSpecification")
    spec = config.get("PredefinedMetricSpecification")
    if spec is None:
        raise _fail(f"{prefix}.PredefinedMetricSpecification is required")
    spec = _mapping(spec, f"{prefix}.PredefinedMetricSpecification")
    _choice(
        spec,
        "PredefinedMetricType",
        f"{prefix}.PredefinedMetricSpecification.PredefinedMetricType",
        PREDEFINED_METRIC_TYPES,
        required=True,
    )
    label = spec.get("ResourceLabel")
    label_name = f"{prefix}.PredefinedMetricSpecification.ResourceLabel"
    if spec["PredefinedMetricType"] == REQUEST_COUNT_TYPE:
        if label is None:
            raise _fail(f"{label_name} is required for ALBRequestCountPerTarget")
        if not isinstance(label, str) or not RESOURCE_LABEL.fullmatch(label):
            raise _fail(
                f"{label_name} must be app/<load-balancer-name>/<load-balancer-id>/targetgroup/"
                f"<target-group-name>/<target-group-id> (got {str(label)[:200]!r})"
            )
    elif label is not None:
        raise _fail(f"{label_name} is only valid for ALBRequestCountPerTarget")
    _optional_int(config, "ScaleOutCooldown", f"{prefix}.ScaleOutCooldown", minimum=0)
    _optional_int(config, "ScaleInCooldown", f"{prefix}.ScaleInCooldown", minimum=0)
    _optional_bool(config, "DisableScaleIn", f"{prefix}.DisableScaleIn")


def _validate_step_adjustments(steps: Any, adjustment_type: str, prefix: str) -> None:
    name = f"{prefix}.StepAdjustments"
    if steps is None or (isinstance(steps, Sequence) and not isinstance(steps, str) and len(steps) == 0):
        raise _fail(f"{name} must contain at least one step adjustment")
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise _fail(f"{name} must be a list")

    bounds: list[tuple[int, float | None, float | None]] = []
    for i, raw in enumerate(steps):
        item = f"{name}[{i}]"
        step = _mapping(raw, item)
        if step.get("ScalingAdjustment") is None:
            raise _fail(f"{item}.ScalingAdjustment is required")
        adjustment = step["ScalingAdjustment"]
        if not _is_int(adjustment):
            raise _fail(f"{item}.ScalingAdjustment must be an integer")
        if adjustment_type == "ExactCapacity" and adjustment < 0:
            raise _fail(f"{item}.ScalingAdjustment must be >= 0 with ExactCapacity (got {int(adjustment)})")
        lower = _optional_number(step, "MetricIntervalLowerBound", f"{item}.MetricIntervalLowerBound")
        upper = _optional_number(step, "MetricIntervalUpperBound", f"{item}.MetricIntervalUpperBound")
        if lower is None and upper is None:
            raise _fail(f"{item}: MetricIntervalLowerBound and MetricIntervalUpperBound cannot both be null")
        if lower is not None and upper is not None and upper <= lower:
            raise _fail(
                f"{item}.MetricIntervalUpperBound ({upper:g}) must be greater than MetricIntervalLowerBound ({lower:g})"
            )
        bounds.append((i, lower, upper))

    null_lower = [i for i, lower, _ in bounds if lower is None]
    null_upper = [i for i, _, upper in bounds if upper is None]
    if len(null_lower) > 1:
        raise _fail(f"{name}: at most one step can have a null MetricIntervalLowerBound (steps {null_lower})")
    if len(null_upper) > 1:
        raise _fail(f"{name}: at most one step can have a null MetricIntervalUpperBound (steps {null_upper})")

    ordered = sorted(bounds, key=lambda b: -math.inf if b[1] is None else b[1])
    for (i, _, upper), (j, lower, _) in itertools.pairwise(ordered):
        assert lower is not None  # only the first in order can have a null lower bound
        if upper is None or upper > lower:
            raise _fail(f"{name}[{i}] and {name}[{j}] overlap")
        if upper < lower:
            raise _fail(f"{name}: gap between {name}[{i}] (upper bound {upper:g}) and {name}[{j}] (lower {lower:g})")

    if not null_lower and any(lower is not None and lower < 0 for _, lower, _ in bounds):
        raise _fail(f"{name}: a step with a negative lower bound requires a step with a null lower bound")
    if not null_upper and any(upper is not None and upper > 0 for _, _, upper in bounds):
        raise _fail(f"{name}: a step with a positive upper bound requires a step with a null upper bound")


def _validate_step_scaling(config: Mapping[str, Any]) -> None:
    prefix = "StepScalingPolicyConfiguration"
    adjustment_type = _choice(config, "AdjustmentType", f"{prefix}.AdjustmentType", ADJUSTMENT_TYPES, required=True)
    assert adjustment_type is not None
    _validate_step_adjustments(config.get("StepAdjustments"), adjustment_type, prefix)
    magnitude = _optional_int(config, "MinAdjustmentMagnitude", f"{prefix}.MinAdjustmentMagnitude", minimum=1)
    if magnitude is not None and adjustment_type != "PercentChangeInCapacity":
        raise _fail(f"{prefix}.MinAdjustmentMagnitude is only valid with AdjustmentType PercentChangeInCapacity")
    _optional_int(config, "Cooldown", f"{prefix}.Cooldown", minimum=0)
    _choice(
        config,
        "MetricAggregationType",
        f"{prefix}.MetricAggregationType",
        METRIC_AGGREGATION_TYPES,
        required=False,
    )


def _validate_alarm(alarm: Mapping[str, Any]) -> None:
    prefix = "StepScalingAlarm"
    name = alarm.get("AlarmName")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= ALARM_NAME_MAX):
        raise _fail(f"{prefix}.AlarmName must be a string of 1 to {ALARM_NAME_MAX} characters")
    _choice(alarm, "MetricName", f"{prefix}.MetricName", METRIC_NAMES, required=True)
    _choice(alarm, "ComparisonOperator", f"{prefix}.ComparisonOperator", COMPARISON_OPERATORS, required=True)
    if alarm.get("Threshold") is None:
        raise _fail(f"{prefix}.Threshold is required")
    _optional_number(alarm, "Threshold", f"{prefix}.Threshold")
    periods = _optional_int(alarm, "EvaluationPeriods", f"{prefix}.EvaluationPeriods", minimum=1) or 1
    to_alarm = _optional_int(alarm, "DatapointsToAlarm", f"{prefix}.DatapointsToAlarm", minimum=1)
    if to_alarm is not None and to_alarm > periods:
        raise _fail(f"{prefix}.DatapointsToAlarm ({to_alarm}) cannot exceed EvaluationPeriods ({periods})")


def validate_put_scaling_policy(request: Mapping[str, Any]) -> ScalingPolicy:
    """The policy a valid PutScalingPolicy request describes; ValidationException otherwise."""
    name = request.get("PolicyName")
    if name is None:
        raise _fail("PolicyName is required")
    if not isinstance(name, str) or not 1 <= len(name) <= POLICY_NAME_MAX or not name.isprintable():
        raise _fail(f"PolicyName must be 1 to {POLICY_NAME_MAX} printable characters")
    validate_resource(request)
    policy_type = request.get("PolicyType")
    if policy_type == "PredictiveScaling":
        raise _fail("PolicyType PredictiveScaling is not supported here")
    _choice(request, "PolicyType", "PolicyType", POLICY_TYPES, required=True)

    tt = request.get("TargetTrackingScalingPolicyConfiguration")
    step = request.get("StepScalingPolicyConfiguration")
    alarm = request.get("StepScalingAlarm")
    if request.get("PredictiveScalingPolicyConfiguration") is not None:
        raise _fail("PredictiveScalingPolicyConfiguration is not supported here")
    if policy_type == "TargetTrackingScaling":
        if tt is None:
            raise _fail("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy")
        if step is not None:
            raise _fail("StepScalingPolicyConfiguration is not allowed for a TargetTrackingScaling policy")
        if alarm is not None:
            raise _fail("StepScalingAlarm is not allowed for a TargetTrackingScaling policy")
        _validate_target_tracking(_mapping(tt, "TargetTrackingScalingPolicyConfiguration"))
    else:
        if step is None:
            raise _fail("StepScalingPolicyConfiguration is required for a StepScaling policy")
        if tt is not None:
            raise _fail("TargetTrackingScalingPolicyConfiguration is not allowed for a StepScaling policy")
        _validate_step_scaling(_mapping(step, "StepScalingPolicyConfiguration"))
        if alarm is not None:
            _validate_alarm(_mapping(alarm, "StepScalingAlarm"))
    return policy_from_dict(request)
