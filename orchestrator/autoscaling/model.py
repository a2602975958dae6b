"""Application Auto Scaling's objects for ECS services, as immutable values, and their JSON shapes.

Owns the vocabulary of the autoscaling engine: scalable targets, target-tracking and step-scaling
policies, the alarm a step policy carries, metric datapoints, the engine's remembered state and the
scaling activities it produces. Field names follow the botocore model
(`application-autoscaling/2016-02-06`) in snake_case; the `*_to_dict` / `*_from_dict` functions
speak the API's PascalCase JSON, because the runner stores these objects as JSON and the API
returns them.

`*_from_dict` trusts its input: run `validation` on anything a user sent first. It fills in the
documented defaults (cooldowns of 300 s, DisableScaleIn false, Average aggregation).

Local extension: there is no CloudWatch here, so a step policy carries its own `AlarmSpec`. Its
JSON form uses CloudWatch PutMetricAlarm's names (AlarmName, MetricName, ComparisonOperator,
Threshold, EvaluationPeriods, DatapointsToAlarm) under the policy key `StepScalingAlarm`. A step
policy without one is inert, exactly as an AWS step policy that no alarm points at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

ServiceNamespace = Literal["ecs"]
ScalableDimension = Literal["ecs:service:DesiredCount"]
PolicyType = Literal["TargetTrackingScaling", "StepScaling"]
PredefinedMetricType = Literal[
    "ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget"
]
AdjustmentType = Literal["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]
MetricAggregationType = Literal["Average", "Minimum", "Maximum"]
MetricName = Literal["CPUUtilization", "MemoryUtilization", "RequestCountPerTarget"]
ComparisonOperator = Literal[
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
AlarmStateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
ActivityStatusCode = Literal["Pending", "InProgress", "Successful", "Overridden", "Unfulfilled", "Failed"]
NotScaledCode = Literal[
    "AlreadyAtMaxCapacity",
    "AlreadyAtMinCapacity",
    "AlreadyAtDesiredCapacity",
    "AutoScalingAnticipatedFlapping",
    "TargetServicePutResourceAsUnscalable",
]

ECS_NAMESPACE: ServiceNamespace = "ecs"
ECS_DIMENSION: ScalableDimension = "ecs:service:DesiredCount"
DEFAULT_COOLDOWN = 300  # seconds; Application Auto Scaling's default for ECS services

SERVICE_NAMESPACES: tuple[str, ...] = ("ecs",)
SCALABLE_DIMENSIONS: tuple[str, ...] = ("ecs:service:DesiredCount",)
POLICY_TYPES: tuple[str, ...] = ("TargetTrackingScaling", "StepScaling")
PREDEFINED_METRIC_TYPES: tuple[str, ...] = (
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
)
REQUEST_COUNT_TYPE = "ALBRequestCountPerTarget"
ADJUSTMENT_TYPES: tuple[str, ...] = ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity")
METRIC_AGGREGATION_TYPES: tuple[str, ...] = ("Average", "Minimum", "Maximum")
# What a step policy's alarm may watch. RequestCountPerTarget is a target group's metric, which
# needs a TargetGroup dimension that this alarm shape has no member for: target tracking only.
METRIC_NAMES: tuple[str, ...] = ("CPUUtilization", "MemoryUtilization")
COMPARISON_OPERATORS: tuple[str, ...] = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)

# The ECS service metric each predefined target-tracking metric type reads.
METRIC_OF_TYPE: Mapping[str, MetricName] = {
    "ECSServiceAverageCPUUtilization": "CPUUtilization",
    "ECSServiceAverageMemoryUtilization": "MemoryUtilization",
    "ALBRequestCountPerTarget": "RequestCountPerTarget",
}


def parse_resource_id(resource_id: str) -> tuple[str, str]:
    """Split `service/<cluster>/<service>` into (cluster, service); ValueError otherwise."""
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        raise ValueError(f"resource id {resource_id!r} is not of the form service/<cluster>/<service>")
    return parts[1], parts[2]


def resource_id_for(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


@dataclass(frozen=True)
class SuspendedState:
    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


@dataclass(frozen=True)
class ScalableTarget:
    resource_id: str
    min_capacity: int
    max_capacity: int
    service_namespace: ServiceNamespace = ECS_NAMESPACE
    scalable_dimension: ScalableDimension = ECS_DIMENSION
    suspended_state: SuspendedState = field(default_factory=SuspendedState)
    role_arn: str | None = None
    creation_time: float | None = None
    scalable_target_arn: str | None = None

    @property
    def cluster(self) -> str:
        return parse_resource_id(self.resource_id)[0]

    @property
    def service(self) -> str:
        return parse_resource_id(self.resource_id)[1]


@dataclass(frozen=True)
class TargetTrackingConfig:
    target_value: float
    predefined_metric_type: PredefinedMetricType = "ECSServiceAverageCPUUtilization"
    scale_out_cooldown: int = DEFAULT_COOLDOWN
    scale_in_cooldown: int = DEFAULT_COOLDOWN
    disable_scale_in: bool = False
    # ALBRequestCountPerTarget only: app/<lb name>/<lb id>/targetgroup/<group name>/<group id>.
    resource_label: str | None = None

    @property
    def metric(self) -> MetricName:
        return METRIC_OF_TYPE[self.predefined_metric_type]


@dataclass(frozen=True)
class StepAdjustment:
    """Bounds are relative to the alarm threshold; None means minus or plus infinity."""

    scaling_adjustment: int
    metric_interval_lower_bound: float | None = None
    metric_interval_upper_bound: float | None = None


@dataclass(frozen=True)
class StepScalingConfig:
    adjustment_type: AdjustmentType
    step_adjustments: tuple[StepAdjustment, ...]
    min_adjustment_magnitude: int | None = None
    cooldown: int = DEFAULT_COOLDOWN
    metric_aggregation_type: MetricAggregationType = "Average"


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch-like metric alarm: ALARM when `datapoints_to_alarm` of the last
    `evaluation_periods` datapoints breach `threshold`. `alarm_name` None means "derive one"
    (see `alarms.alarm_name_for`)."""

    metric: MetricName
    comparison_operator: ComparisonOperator
    threshold: float
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    alarm_name: str | None = None
    resource_label: str | None = None  # RequestCountPerTarget: which target group


@dataclass(frozen=True)
class ScalingPolicy:
    policy_name: str
    resource_id: str
    policy_type: PolicyType
    target_tracking: TargetTrackingConfig | None = None
    step_scaling: StepScalingConfig | None = None
    alarm: AlarmSpec | None = None  # step scaling only; see the module docstring
    service_namespace: ServiceNamespace = ECS_NAMESPACE
    scalable_dimension: ScalableDimension = ECS_DIMENSION
    policy_arn: str | None = None
    creation_time: float | None = None

    def __post_init__(self) -> None:
        # A policy with the wrong configuration is a programming error here: user input goes
        # through `validation`, which names the offending field.
        if self.policy_type == "TargetTrackingScaling":
            if self.target_tracking is None or self.step_scaling is not None or self.alarm is not None:
                raise ValueError("a TargetTrackingScaling policy needs exactly a target-tracking configuration")
        elif self.policy_type == "StepScaling":
            if self.step_scaling is None or self.target_tracking is not None:
                raise ValueError("a StepScaling policy needs exactly a step-scaling configuration")
        else:
            raise ValueError(f"unknown policy type {self.policy_type!r}")


@dataclass(frozen=True)
class Datapoint:
    """One metric period of a service: utilizations in percent (may exceed 100), None = no data."""

    timestamp: float
    cpu_utilization: float | None = None
    memory_utilization: float | None = None
    # Per target group of the service (by ResourceLabel): requests per healthy target per minute.
    request_count_per_target: Mapping[str, float | None] = field(default_factory=dict)

    def value(self, metric: MetricName, resource_label: str | None = None) -> float | None:
        raw: float | None
        if metric == "RequestCountPerTarget":
            raw = self.request_count_per_target.get(resource_label or "")
        else:
            raw = self.cpu_utilization if metric == "CPUUtilization" else self.memory_utilization
        # NaN or infinity from a broken sample would poison every comparison; count it as missing.
        if raw is None or not math.isfinite(raw):
            return None
        return raw


@dataclass(frozen=True)
class ScaleOutRecord:
    """The scale-out whose cooldown may still be running: when, from which capacity, to which."""

    at: float
    from_capacity: int
    to_capacity: int
    policy_name: str


@dataclass(frozen=True)
class AutoscalingState:
    """What the engine remembers between evaluations of one scalable target.

    Cooldowns are tracked per scalable target (the window length is the deciding policy's), so
    that a second policy cannot undo or double what the first just did.
    """

    alarm_states: Mapping[str, AlarmStateValue] = field(default_factory=dict)
    last_scaling_at: float | None = None  # last scale-out or scale-in by a policy
    last_scale_out: ScaleOutRecord | None = None  # cleared by a scale-in


@dataclass(frozen=True)
class NotScaledReason:
    code: NotScaledCode
    max_capacity: int | None = None
    min_capacity: int | None = None
    current_capacity: int | None = None


@dataclass(frozen=True)
class Activity:
    """A scaling activity. `activity_id` is the caller's to assign (the engine has no randomness)."""

    resource_id: str
    description: str
    cause: str
    start_time: float
    status_code: ActivityStatusCode
    service_namespace: ServiceNamespace = ECS_NAMESPACE
    scalable_dimension: ScalableDimension = ECS_DIMENSION
    activity_id: str | None = None
    end_time: float | None = None
    status_message: str | None = None
    details: str | None = None
    not_scaled_reasons: tuple[NotScaledReason, ...] = ()


# ---------------------------------------------------------------------------------------------
# JSON shapes. Optional fields that are None are omitted, as the AWS API omits them.


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def suspended_state_to_dict(state: SuspendedState) -> dict[str, Any]:
    return {
        "DynamicScalingInSuspended": state.dynamic_scaling_in_suspended,
        "DynamicScalingOutSuspended": state.dynamic_scaling_out_suspended,
        "ScheduledScalingSuspended": state.scheduled_scaling_suspended,
    }


def suspended_state_from_dict(data: Mapping[str, Any] | None) -> SuspendedState:
    data = data or {}
    return SuspendedState(
        dynamic_scaling_in_suspended=bool(data.get("DynamicScalingInSuspended", False)),
        dynamic_scaling_out_suspended=bool(data.get("DynamicScalingOutSuspended", False)),
        scheduled_scaling_suspended=bool(data.get("ScheduledScalingSuspended", False)),
    )


def target_to_dict(target: ScalableTarget) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ServiceNamespace": target.service_namespace,
        "ResourceId": target.resource_id,
        "ScalableDimension": target.scalable_dimension,
        "MinCapacity": target.min_capacity,
        "MaxCapacity": target.max_capacity,
        "SuspendedState": suspended_state_to_dict(target.suspended_state),
    }
    _put(out, "RoleARN", target.role_arn)
    _put(out, "CreationTime", target.creation_time)
    _put(out, "ScalableTargetARN", target.scalable_target_arn)
    return out


def target_from_dict(data: Mapping[str, Any]) -> ScalableTarget:
    return ScalableTarget(
        resource_id=data["ResourceId"],
        min_capacity=int(data["MinCapacity"]),
        max_capacity=int(data["MaxCapacity"]),
        service_namespace=data.get("ServiceNamespace", ECS_NAMESPACE),
        scalable_dimension=data.get("ScalableDimension", ECS_DIMENSION),
        suspended_state=suspended_state_from_dict(data.get("SuspendedState")),
        role_arn=data.get("RoleARN"),
        creation_time=data.get("CreationTime"),
        scalable_target_arn=data.get("ScalableTargetARN"),
    )


def target_tracking_to_dict(config: TargetTrackingConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {"PredefinedMetricType": config.predefined_metric_type}
    _put(spec, "ResourceLabel", config.resource_label)
    return {
        "TargetValue": config.target_value,
        "PredefinedMetricSpecification": spec,
        "ScaleOutCooldown": config.scale_out_cooldown,
        "ScaleInCooldown": config.scale_in_cooldown,
        "DisableScaleIn": config.disable_scale_in,
    }


def target_tracking_from_dict(data: Mapping[str, Any]) -> TargetTrackingConfig:
    spec = data.get("PredefinedMetricSpecification") or {}
    return TargetTrackingConfig(
        target_value=float(data["TargetValue"]),
        predefined_metric_type=spec.get("PredefinedMetricType", "ECSServiceAverageCPUUtilization"),
        scale_out_cooldown=int(data.get("ScaleOutCooldown", DEFAULT_COOLDOWN)),
        scale_in_cooldown=int(data.get("ScaleInCooldown", DEFAULT_COOLDOWN)),
        disable_scale_in=bool(data.get("DisableScaleIn", False)),
        resource_label=spec.get("ResourceLabel"),
    )


def step_adjustment_to_dict(step: StepAdjustment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "MetricIntervalLowerBound", step.metric_interval_lower_bound)
    _put(out, "MetricIntervalUpperBound", step.metric_interval_upper_bound)
    out["ScalingAdjustment"] = step.scaling_adjustment
    return out


def step_adjustment_from_dict(data: Mapping[str, Any]) -> StepAdjustment:
    lower = data.get("MetricIntervalLowerBound")
    upper = data.get("MetricIntervalUpperBound")
    return StepAdjustment(
        scaling_adjustment=int(data["ScalingAdjustment"]),
        metric_interval_lower_bound=None if lower is None else float(lower),
        metric_interval_upper_bound=None if upper is None else float(upper),
    )


def step_scaling_to_dict(config: StepScalingConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AdjustmentType": config.adjustment_type,
        "StepAdjustments": [step_adjustment_to_dict(s) for s in config.step_adjustments],
        "Cooldown": config.cooldown,
        "MetricAggregationType": config.metric_aggregation_type,
    }
    _put(out, "MinAdjustmentMagnitude", config.min_adjustment_magnitude)
    return out


def step_scaling_from_dict(data: Mapping[str, Any]) -> StepScalingConfig:
    magnitude = data.get("MinAdjustmentMagnitude")
    return StepScalingConfig(
        adjustment_type=data["AdjustmentType"],
        step_adjustments=tuple(step_adjustment_from_dict(s) for s in data.get("StepAdjustments", ())),
        min_adjustment_magnitude=None if magnitude is None else int(magnitude),
        cooldown=int(data.get("Cooldown", DEFAULT_COOLDOWN)),
        metric_aggregation_type=data.get("MetricAggregationType", "Average"),
    )


def alarm_spec_to_dict(alarm: AlarmSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "AlarmName", alarm.alarm_name)
    out.update(
        {
            "MetricName": alarm.metric,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
        }
    )
    return out


def alarm_spec_from_dict(data: Mapping[str, Any]) -> AlarmSpec:
    periods = int(data.get("EvaluationPeriods", 1))
    return AlarmSpec(
        metric=data["MetricName"],
        comparison_operator=data["ComparisonOperator"],
        threshold=float(data["Threshold"]),
        evaluation_periods=periods,
        # CloudWatch's default for DatapointsToAlarm is EvaluationPeriods ("N out of N").
        datapoints_to_alarm=int(data.get("DatapointsToAlarm", periods)),
        alarm_name=data.get("AlarmName"),
    )


def policy_to_dict(policy: ScalingPolicy) -> dict[str, Any]:
    """The DescribeScalingPolicies shape, minus `Alarms` (see `alarms.alarms_to_dict`), plus the
    local `StepScalingAlarm` extension when the policy has one."""
    out: dict[str, Any] = {}
    _put(out, "PolicyARN", policy.policy_arn)
    out.update(
        {
            "PolicyName": policy.policy_name,
            "ServiceNamespace": policy.service_namespace,
            "ResourceId": policy.resource_id,
            "ScalableDimension": policy.scalable_dimension,
            "PolicyType": policy.policy_type,
        }
    )
    if policy.target_tracking is not None:
        out["TargetTrackingScalingPolicyConfiguration"] = target_tracking_to_dict(policy.target_tracking)
    if policy.step_scaling is not None:
        out["StepScalingPolicyConfiguration"] = step_scaling_to_dict(policy.step_scaling)
    if policy.alarm is not None:
        out["StepScalingAlarm"] = alarm_spec_to_dict(policy.alarm)
    _put(out, "CreationTime", policy.creation_time)
    return out


def policy_from_dict(data: Mapping[str, Any]) -> ScalingPolicy:
    """From a PutScalingPolicy request or a stored policy (both have the same keys)."""
    tt = data.get("TargetTrackingScalingPolicyConfiguration")
    step = data.get("StepScalingPolicyConfiguration")
    alarm = data.get("StepScalingAlarm")
    return ScalingPolicy(
        policy_name=data["PolicyName"],
        resource_id=data["ResourceId"],
        policy_type=data["PolicyType"],
        target_tracking=None if tt is None else target_tracking_from_dict(tt),
        step_scaling=None if step is None else step_scaling_from_dict(step),
        alarm=None if alarm is None else alarm_spec_from_dict(alarm),
        service_namespace=data.get("ServiceNamespace", ECS_NAMESPACE),
        scalable_dimension=data.get("ScalableDimension", ECS_DIMENSION),
        policy_arn=data.get("PolicyARN"),
        creation_time=data.get("CreationTime"),
    )


def datapoint_to_dict(point: Datapoint) -> dict[str, Any]:
    return {
        "Timestamp": point.timestamp,
        "CPUUtilization": point.cpu_utilization,
        "MemoryUtilization": point.memory_utilization,
    }


def datapoint_from_dict(data: Mapping[str, Any]) -> Datapoint:
    cpu = data.get("CPUUtilization")
    memory = data.get("MemoryUtilization")
    requests = data.get("RequestCountPerTarget") or {}
    return Datapoint(
        timestamp=float(data["Timestamp"]),
        cpu_utilization=None if cpu is None else float(cpu),
        memory_utilization=None if memory is None else float(memory),
        request_count_per_target={k: None if v is None else float(v) for k, v in requests.items()},
    )


def not_scaled_reason_to_dict(reason: NotScaledReason) -> dict[str, Any]:
    out: dict[str, Any] = {"Code": reason.code}
    _put(out, "MaxCapacity", reason.max_capacity)
    _put(out, "MinCapacity", reason.min_capacity)
    _put(out, "CurrentCapacity", reason.current_capacity)
    return out


def not_scaled_reason_from_dict(data: Mapping[str, Any]) -> NotScaledReason:
    return NotScaledReason(
        code=data["Code"],
        max_capacity=data.get("MaxCapacity"),
        min_capacity=data.get("MinCapacity"),
        current_capacity=data.get("CurrentCapacity"),
    )


def activity_to_dict(activity: Activity) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "ActivityId", activity.activity_id)
    out.update(
        {
            "ServiceNamespace": activity.service_namespace,
            "ResourceId": activity.resource_id,
            "ScalableDimension": activity.scalable_dimension,
            "Description": activity.description,
            "Cause": activity.cause,
            "StartTime": activity.start_time,
        }
    )
    _put(out, "EndTime", activity.end_time)
    out["StatusCode"] = activity.status_code
    _put(out, "StatusMessage", activity.status_message)
    _put(out, "Details", activity.details)
    if activity.not_scaled_reasons:
        out["NotScaledReasons"] = [not_scaled_reason_to_dict(r) for r in activity.not_scaled_reasons]
    return out


def activity_from_dict(data: Mapping[str, Any]) -> Activity:
    return Activity(
        resource_id=data["ResourceId"],
        description=data["Description"],
        cause=data["Cause"],
        start_time=float(data["StartTime"]),
        status_code=data["StatusCode"],
        service_namespace=data.get("ServiceNamespace", ECS_NAMESPACE),
        scalable_dimension=data.get("ScalableDimension", ECS_DIMENSION),
        activity_id=data.get("ActivityId"),
        end_time=data.get("EndTime"),
        status_message=data.get("StatusMessage"),
        details=data.get("Details"),
        not_scaled_reasons=tuple(not_scaled_reason_from_dict(r) for r in data.get("NotScaledReasons", ())),
    )


def state_to_dict(state: AutoscalingState) -> dict[str, Any]:
    """Not an AWS shape: the runner's storage form of the engine's memory."""
    out: dict[str, Any] = {
        "AlarmStates": dict(sorted(state.alarm_states.items())),
        "LastScalingAt": state.last_scaling_at,
        "LastScaleOut": None,
    }
    if state.last_scale_out is not None:
        record = state.last_scale_out
        out["LastScaleOut"] = {
            "At": record.at,
            "FromCapacity": record.from_capacity,
            "ToCapacity": record.to_capacity,
            "PolicyName": record.policy_name,
        }
    return out


def state_from_dict(data: Mapping[str, Any] | None) -> AutoscalingState:
    if not data:
        return AutoscalingState()
    record = data.get("LastScaleOut")
    last_at = data.get("LastScalingAt")
    return AutoscalingState(
        alarm_states={str(k): cast(AlarmStateValue, v) for k, v in (data.get("AlarmStates") or {}).items()},
        last_scaling_at=None if last_at is None else float(last_at),
        last_scale_out=None
        if not record
        else ScaleOutRecord(
            at=float(record["At"]),
            from_capacity=int(record["FromCapacity"]),
            to_capacity=int(record["ToCapacity"]),
            policy_name=str(record["PolicyName"]),
        ),
    )
