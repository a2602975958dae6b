"""Metric alarms without CloudWatch: naming, the two target-tracking alarms, and "M out of N".

Rules (CloudWatch's, with the choices it leaves to configuration made here):
- The datapoints are one per metric period, oldest first; the period length is the caller's
  business. An alarm looks at the last `evaluation_periods` of them.
- It is ALARM when at least `datapoints_to_alarm` of those breach the threshold.
- Missing data (a datapoint whose value is None, or fewer datapoints than the window holds) counts
  as not breaching, CloudWatch's `TreatMissingData=notBreaching`: a service that stops reporting
  never scales on stale numbers.
- Except when no datapoint of the window carries a value at all: then the state is
  INSUFFICIENT_DATA, which the engine reads as "this policy has no opinion".

Target tracking gets two alarms per policy, as ECS creates them: high is `high_datapoints` of
`high_datapoints` datapoints above the target (default 3 of 3), low is `low_datapoints` of
`low_datapoints` below 90 % of the target (default 15 of 15). Their names copy AWS's form,
`TargetTracking-<resource id>-AlarmHigh-<uuid>`, with a uuid derived from the resource and the policy
name so that the same policy always owns the same alarm names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.autoscaling.model import (
    AlarmSpec,
    AlarmStateValue,
    ComparisonOperator,
    Datapoint,
    ScalingPolicy,
    TargetTrackingConfig,
)

DEFAULT_HIGH_DATAPOINTS = 3
DEFAULT_LOW_DATAPOINTS = 15
LOW_ALARM_FRACTION = 0.9  # the low alarm fires below 90 % of the target value

# uuid5 namespace for alarm-name suffixes; any fixed uuid works, this one must never change or
# stored alarm states would lose their names.
_ALARM_NAMESPACE = uuid.UUID("6f1d0c6e-5b0a-4d5e-9a47-2f7c3b8e1a90")

_SYMBOL: dict[str, str] = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class AlarmEvaluation:
    """One alarm's verdict on the current datapoints, with the numbers behind it."""

    name: str
    spec: AlarmSpec
    state: AlarmStateValue
    values: tuple[float, ...]  # the window's values that exist, oldest first
    breaching_values: tuple[float, ...]  # those of them that breach, oldest first
    reason: str


def is_greater_comparison(comparison: ComparisonOperator) -> bool:
    return comparison in ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")


def breaches(value: float, comparison: ComparisonOperator, threshold: float) -> bool:
    if comparison == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if comparison == "GreaterThanThreshold":
        return value > threshold
    if comparison == "LessThanThreshold":
        return value < threshold
    return value <= threshold


def _suffix(resource_id: str, policy_name: str, kind: str) -> str:
    return str(uuid.uuid5(_ALARM_NAMESPACE, f"{resource_id}\n{policy_name}\n{kind}"))


def target_tracking_alarm_names(resource_id: str, policy_name: str) -> tuple[str, str]:
    """(high, low) alarm names for a target-tracking policy."""
    prefix = f"TargetTracking-{resource_id}"
    return (
        f"{prefix}-AlarmHigh-{_suffix(resource_id, policy_name, 'AlarmHigh')}",
        f"{prefix}-AlarmLow-{_suffix(resource_id, policy_name, 'AlarmLow')}",
    )


def step_alarm_name(resource_id: str, policy_name: str, alarm: AlarmSpec) -> str:
    """The user's alarm name, or a derived one when the step policy's alarm has none."""
    if alarm.alarm_name:
        return alarm.alarm_name
    return f"StepScaling-{resource_id}-{policy_name}-{_suffix(resource_id, policy_name, 'Alarm')[:8]}"


def target_tracking_alarms(
    resource_id: str,
    policy_name: str,
    config: TargetTrackingConfig,
    *,
    high_datapoints: int = DEFAULT_HIGH_DATAPOINTS,
    low_datapoints: int = DEFAULT_LOW_DATAPOINTS,
) -> tuple[AlarmSpec, AlarmSpec]:
    """The (high, low) alarms ECS would create for this target-tracking policy."""
    high_name, low_name = target_tracking_alarm_names(resource_id, policy_name)
    high = AlarmSpec(
        metric=config.metric,
        comparison_operator="GreaterThanThreshold",
        threshold=config.target_value,
        evaluation_periods=high_datapoints,
        datapoints_to_alarm=high_datapoints,
        alarm_name=high_name,
        resource_label=config.resource_label,
    )
    low = AlarmSpec(
        metric=config.metric,
        comparison_operator="LessThanThreshold",
        threshold=config.target_value * LOW_ALARM_FRACTION,
        evaluation_periods=low_datapoints,
        datapoints_to_alarm=low_datapoints,
        alarm_name=low_name,
        resource_label=config.resource_label,
    )
    return high, low


def policy_alarm_names(policy: ScalingPolicy) -> list[str]:
    """Names of the alarms a policy owns, in the order DescribeScalingPolicies lists them."""
    if policy.target_tracking is not None:
        return list(target_tracking_alarm_names(policy.resource_id, policy.policy_name))
    if policy.alarm is not None:
        return [step_alarm_name(policy.resource_id, policy.policy_name, policy.alarm)]
    return []


def alarms_to_dict(policy: ScalingPolicy, region: str, account_id: str) -> list[dict[str, Any]]:
    """The `Alarms` member of a ScalingPolicy / PutScalingPolicy response."""
    return [
        {"AlarmName": name, "AlarmARN": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{name}"}
        for name in policy_alarm_names(policy)
    ]


def _fmt(value: float) -> str:
    return f"{value:g}"


def evaluate_alarm(name: str, spec: AlarmSpec, datapoints: Sequence[Datapoint]) -> AlarmEvaluation:
    """Evaluate one alarm over `datapoints` (oldest first); see the module docstring for the rules."""
    window = list(datapoints[-spec.evaluation_periods :]) if spec.evaluation_periods > 0 else []
    values = tuple(v for v in (p.value(spec.metric, spec.resource_label) for p in window) if v is not None)
    breaching = tuple(v for v in values if breaches(v, spec.comparison_operator, spec.threshold))
    symbol = _SYMBOL[spec.comparison_operator]
    shown = ", ".join(_fmt(v) for v in values)
    state: AlarmStateValue
    if not values:
        state = "INSUFFICIENT_DATA"
        reason = f"no {spec.metric} data in the last {spec.evaluation_periods} datapoints"
    else:
        # At least one breaching datapoint, whatever the spec says: an alarm with nothing breaching
        # has no breach to size a step by.
        state = "ALARM" if len(breaching) >= max(1, spec.datapoints_to_alarm) else "OK"
        reason = (
            f"{len(breaching)} of the last {spec.evaluation_periods} datapoints [{shown}] {symbol} "
            f"{_fmt(spec.threshold)} ({spec.datapoints_to_alarm} needed)"
        )
    return AlarmEvaluation(name=name, spec=spec, state=state, values=values, breaching_values=breaching, reason=reason)
