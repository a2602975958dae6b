"""Application Auto Scaling for ECS services: a pure engine (no I/O, no clock, no scheduler).

`model` holds the objects and their JSON shapes, `validation` checks requests, `alarms` evaluates
metric alarms, `policies` holds the arithmetic and `evaluate` decides one metric period. The runner
that loads state, calls `evaluate` each period and applies the result lives elsewhere.
"""

from orchestrator.autoscaling.evaluate import Evaluation, Proposal, evaluate
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
)
from orchestrator.autoscaling.validation import validate_put_scaling_policy, validate_register_scalable_target

__all__ = [
    "Activity",
    "AlarmSpec",
    "AutoscalingState",
    "Datapoint",
    "Evaluation",
    "NotScaledReason",
    "Proposal",
    "ScalableTarget",
    "ScaleOutRecord",
    "ScalingPolicy",
    "StepAdjustment",
    "StepScalingConfig",
    "SuspendedState",
    "TargetTrackingConfig",
    "evaluate",
    "validate_put_scaling_policy",
    "validate_register_scalable_target",
]
