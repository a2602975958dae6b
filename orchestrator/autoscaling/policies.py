"""The arithmetic of Application Auto Scaling, as plain functions of numbers.

Owns: new-capacity formulas (target tracking, step scaling with its three adjustment types and
AWS's percent rounding), the step lookup, metric aggregation, cooldown tests and clamping. Nothing
here knows about alarms' names, state storage or time other than the `now` it is handed.

Rules, with where each comes from:

Current capacity. ECS-NOTES: "scaling starts from the running count", so every formula's
`current` is the service's RUNNING task count, not its desired count. The caller (evaluate)
compares the result with the desired count: a scale-out never lowers it and a scale-in never
raises it.

Target tracking (AWS publishes no formula; ECS-NOTES asks for the proportional one):
- proportional capacity = ceil(current x metric / target), where metric is the average of the
  firing alarm's datapoints. The quotient is rounded to 9 decimals before the ceiling, so that
  float noise (1 x 16.8 / 5.6 = 3.0000000000000004) does not add a task.
- scale out (high alarm): max(proportional, current + 1). The high alarm means "above target",
  so the proportional capacity is already above current; the +1 only guards the rounding above.
- scale in (low alarm), gently: remove half of the surplus, rounded up, so
  new = current - ceil((current - proportional) / 2). It removes at least one task whenever the
  proportional capacity is below current, converges on the proportional capacity geometrically
  (20 -> 12 -> 8 -> 6 -> 5 -> 4 at a proportional 4, one step per scale-in cooldown), and when
  the linear load model is wrong it has removed only half of what it would have. If the
  proportional capacity is not below current, nothing is removed. DisableScaleIn is applied by
  the caller: such a policy never scales in and has no vote on scale-in.

Step scaling (StepAdjustment and StepScalingPolicyConfiguration in the botocore model):
- breach delta = aggregated metric - alarm threshold; bounds are relative to the threshold.
- On the "above" side (alarms comparing greater-than), a step matches when
  lower <= delta < upper (lower inclusive, upper exclusive); on the "below" side (less-than
  alarms) when lower < delta <= upper. None is minus / plus infinity. The side comes from the
  alarm's comparison, so a delta of exactly 0 is judged the way the alarm judged it.
- ChangeInCapacity adds the adjustment; ExactCapacity sets it; PercentChangeInCapacity adds
  current x pct / 100 rounded as AWS documents: above 1 round down; between 0 and 1 becomes 1;
  between -1 and 0 becomes -1; below -1 round toward zero (-1.5 -> -1). The product is computed
  exactly (fractions), so 11 x 30 / 100 is 3.3, never 3.2999.
- MinAdjustmentMagnitude (percent only) is a minimum size in either direction: a smaller non-zero
  change is widened to it (+25 % of 4 = 1 with magnitude 2 -> +2; -25 % of 4 = -1 -> -2). A 0 %
  step stays 0; a non-zero percent of 0 tasks rounds to 0 and is then widened to the magnitude.
- A result below 0 becomes 0 (a service cannot run fewer than zero tasks); clamping to the
  target's [min, max] is the caller's last step.

Cooldowns (AWS, "Cooldown period" for step scaling and ScaleOutCooldown/ScaleInCooldown for target
tracking). They are tracked per scalable target and the window length is the deciding policy's:
- scale-out: within `cooldown` seconds of the last scale-out, a policy may scale out again only to
  a larger capacity than that scale-out set ("won't increase the desired capacity again unless a
  larger scale out is triggered"), and then only by the difference. Step scaling computes the new
  capacity from the capacity before that scale-out, because "capacity added by the initiating
  scale-out activity is calculated as part of the desired capacity for the next" (AWS's example:
  +2 then, during the cooldown, a +3 step adds only 1). Target tracking recomputes from the running
  count, since its metric already reflects the added tasks.
- scale-in: blocked until `cooldown` seconds after the last scaling activity in either direction.
- a scale-out is never blocked by a scale-in's cooldown, and it ends that cooldown ("scales out
  immediately; the scale-in cooldown stops"), which is why a scale-in forgets the last scale-out.

Clamping: results are clamped to [min, max]; the caller records AlreadyAtMaxCapacity /
AlreadyAtMinCapacity when the clamp leaves the desired count unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from orchestrator.autoscaling.model import (
    MetricAggregationType,
    ScaleOutRecord,
    StepAdjustment,
    StepScalingConfig,
)

_QUOTIENT_DECIMALS = 9


def clamp(value: int, min_capacity: int, max_capacity: int) -> int:
    return max(min_capacity, min(max_capacity, value))


# --- target tracking -------------------------------------------------------------------------


def proportional_capacity(current: int, metric: float, target: float) -> int:
    """ceil(current x metric / target): the capacity that would bring the metric to the target."""
    if target <= 0:
        raise ValueError("target value must be positive")
    return max(0, math.ceil(round(current * metric / target, _QUOTIENT_DECIMALS)))


def target_tracking_scale_out(current: int, metric: float, target: float) -> int:
    return max(proportional_capacity(current, metric, target), current + 1)


def target_tracking_scale_in(current: int, metric: float, target: float) -> int:
    proportional = proportional_capacity(current, metric, target)
    if proportional >= current:
        return current
    surplus = current - proportional
    return current - math.ceil(surplus / 2)


# --- step scaling ----------------------------------------------------------------------------


def round_percent_change(value: Fraction | float) -> int:
    """AWS's rounding of a percent change in capacity (see the module docstring)."""
    exact = Fraction(value)
    if 0 < exact < 1:
        return 1
    if -1 < exact < 0:
        return -1
    # For |value| >= 1 both "round down above 1" and "toward zero below -1" are truncation.
    return math.trunc(exact)


def percent_change(current: int, percent: int, min_adjustment_magnitude: int | None = None) -> int:
    """The change in tasks that `percent` % of `current` means, with MinAdjustmentMagnitude."""
    change = round_percent_change(Fraction(current * percent, 100))
    if percent != 0 and min_adjustment_magnitude is not None and abs(change) < min_adjustment_magnitude:
        change = min_adjustment_magnitude if percent > 0 else -min_adjustment_magnitude
    return change


def apply_adjustment(current: int, config: StepScalingConfig, scaling_adjustment: int) -> int:
    """New capacity (not yet clamped to the target's range, never below 0)."""
    if config.adjustment_type == "ExactCapacity":
        new = scaling_adjustment
    elif config.adjustment_type == "ChangeInCapacity":
        new = current + scaling_adjustment
    else:
        new = current + percent_change(current, scaling_adjustment, config.min_adjustment_magnitude)
    return max(0, new)


def step_contains(step: StepAdjustment, delta: float, *, above: bool) -> bool:
    lower = step.metric_interval_lower_bound
    upper = step.metric_interval_upper_bound
    if above:
        return (lower is None or delta >= lower) and (upper is None or delta < upper)
    return (lower is None or delta > lower) and (upper is None or delta <= upper)


def find_step(steps: Sequence[StepAdjustment], delta: float, *, above: bool) -> StepAdjustment | None:
    """The step whose bounds contain `delta`, judged on the `above` or below side of the threshold."""
    for step in steps:
        if step_contains(step, delta, above=above):
            return step
    return None


def aggregate(values: Sequence[float], how: MetricAggregationType) -> float:
    if not values:
        raise ValueError("nothing to aggregate")
    if how == "Minimum":
        return min(values)
    if how == "Maximum":
        return max(values)
    return sum(values) / len(values)


@dataclass(frozen=True)
class StepOutcome:
    delta: float  # aggregated metric - threshold
    step: StepAdjustment | None  # None: no step covers the delta, nothing to do
    new_capacity: int | None


def step_scaling_capacity(
    current: int, config: StepScalingConfig, metric: float, threshold: float, *, above: bool
) -> StepOutcome:
    delta = metric - threshold
    step = find_step(config.step_adjustments, delta, above=above)
    if step is None:
        return StepOutcome(delta=delta, step=None, new_capacity=None)
    return StepOutcome(delta=delta, step=step, new_capacity=apply_adjustment(current, config, step.scaling_adjustment))


def step_is_scale_out(config: StepScalingConfig, step: StepAdjustment, current: int) -> bool:
    """Which way a step pushes: the sign of its adjustment, or for ExactCapacity, its value
    against the current capacity."""
    if config.adjustment_type == "ExactCapacity":
        return step.scaling_adjustment > current
    return step.scaling_adjustment > 0


# --- cooldowns -------------------------------------------------------------------------------


def cooldown_remaining(now: float, since: float | None, cooldown: float) -> float:
    """Seconds left of a cooldown that started at `since` (0 when none is running)."""
    if since is None:
        return 0.0
    return max(0.0, since + cooldown - now)


def scale_in_blocked(now: float, last_scaling_at: float | None, cooldown: float) -> bool:
    return cooldown_remaining(now, last_scaling_at, cooldown) > 0


def scale_out_cooldown_active(now: float, last_scale_out: ScaleOutRecord | None, cooldown: float) -> bool:
    return last_scale_out is not None and cooldown_remaining(now, last_scale_out.at, cooldown) > 0
