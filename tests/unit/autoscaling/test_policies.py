"""Tables for the autoscaling arithmetic: rounding, steps, target tracking, cooldowns, clamping."""

from __future__ import annotations

from fractions import Fraction

import pytest

from orchestrator.autoscaling.model import (
    AdjustmentType,
    MetricAggregationType,
    ScaleOutRecord,
    StepAdjustment,
    StepScalingConfig,
)
from orchestrator.autoscaling.policies import (
    aggregate,
    apply_adjustment,
    clamp,
    cooldown_remaining,
    find_step,
    percent_change,
    proportional_capacity,
    round_percent_change,
    scale_in_blocked,
    scale_out_cooldown_active,
    step_is_scale_out,
    step_scaling_capacity,
    target_tracking_scale_in,
    target_tracking_scale_out,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(27, 10), 2),  # 2.7 > 1: round down -> 2
        (Fraction(3, 2), 1),  # 1.5 > 1: round down -> 1 (this is +150 % of 1)
        (Fraction(1), 1),  # exactly 1 stays 1
        (Fraction(1, 2), 1),  # 0 < 0.5 < 1 -> 1
        (Fraction(1, 100), 1),  # 0 < 0.01 < 1 -> 1
        (Fraction(0), 0),  # nothing to change
        (Fraction(-1, 2), -1),  # -1 < -0.5 < 0 -> -1
        (Fraction(-1), -1),  # exactly -1 stays -1
        (Fraction(-3, 2), -1),  # -1.5 < -1: toward zero -> -1
        (Fraction(-27, 10), -2),  # -2.7 < -1: toward zero -> -2
        (Fraction(33, 10), 3),  # 3.3 -> 3 (the 11 x 30 % case)
        (2.7, 2),  # floats are accepted too
    ],
)
def test_percent_rounding_follows_aws(value: Fraction | float, expected: int) -> None:
    assert round_percent_change(value) == expected


@pytest.mark.parametrize(
    ("current", "percent", "magnitude", "expected"),
    [
        (4, 25, 2, 2),  # 25 % of 4 = 1, MinAdjustmentMagnitude 2 -> +2 (AWS's example)
        (4, 25, None, 1),  # 25 % of 4 = 1, no magnitude -> +1
        (4, 50, 2, 2),  # 50 % of 4 = 2, already at the magnitude -> +2
        (10, 50, 2, 5),  # 50 % of 10 = 5 >= 2 -> +5
        (1, 150, None, 1),  # 150 % of 1 = 1.5 -> round down -> +1
        (1, 10, None, 1),  # 10 % of 1 = 0.1 -> between 0 and 1 -> +1
        (1, -10, None, -1),  # -10 % of 1 = -0.1 -> between -1 and 0 -> -1
        (3, -50, None, -1),  # -50 % of 3 = -1.5 -> toward zero -> -1
        (4, -25, 2, -2),  # -25 % of 4 = -1, magnitude 2 applies both ways -> -2
        (10, 0, 3, 0),  # a 0 % step stays 0 whatever the magnitude
        (0, 50, None, 0),  # 50 % of 0 tasks = 0 -> 0
        (0, 50, 2, 2),  # 50 % of 0 = 0, widened to the magnitude -> +2
        (11, 30, None, 3),  # 30 % of 11 = 3.3 exactly (no float 3.2999) -> 3
    ],
)
def test_percent_change(current: int, percent: int, magnitude: int | None, expected: int) -> None:
    assert percent_change(current, percent, magnitude) == expected


def _config(adjustment_type: AdjustmentType, *steps: StepAdjustment, magnitude: int | None = None) -> StepScalingConfig:
    return StepScalingConfig(
        adjustment_type=adjustment_type, step_adjustments=tuple(steps), min_adjustment_magnitude=magnitude
    )


@pytest.mark.parametrize(
    ("adjustment_type", "adjustment", "current", "expected"),
    [
        ("ChangeInCapacity", 3, 4, 7),  # 4 + 3
        ("ChangeInCapacity", -2, 4, 2),  # 4 - 2
        ("ChangeInCapacity", -10, 4, 0),  # 4 - 10 = -6 -> never below 0
        ("ExactCapacity", 6, 4, 6),  # set to 6
        ("ExactCapacity", 0, 4, 0),  # set to 0
        ("ExactCapacity", 2, 9, 2),  # set to 2, whatever the current count
        ("PercentChangeInCapacity", 10, 10, 11),  # 10 + 10 % of 10 = 10 + 1
        ("PercentChangeInCapacity", -50, 5, 3),  # 5 + (-2.5 -> -2) = 3
    ],
)
def test_apply_adjustment(adjustment_type: AdjustmentType, adjustment: int, current: int, expected: int) -> None:
    config = _config(adjustment_type, StepAdjustment(adjustment, 0.0, None))
    assert apply_adjustment(current, config, adjustment) == expected


# Threshold 50; scale-out steps relative to it: [0, 10) +1, [10, 20) +2, [20, +inf) +3.
OUT_STEPS = (
    StepAdjustment(1, 0.0, 10.0),
    StepAdjustment(2, 10.0, 20.0),
    StepAdjustment(3, 20.0, None),
)
# Scale-in steps below a threshold: (-10, 0] -1, (-inf, -10] -2.
IN_STEPS = (
    StepAdjustment(-1, -10.0, 0.0),
    StepAdjustment(-2, None, -10.0),
)


@pytest.mark.parametrize(
    ("steps", "delta", "above", "expected"),
    [
        (OUT_STEPS, 0.0, True, 1),  # metric 50: lower bound 0 inclusive above the threshold
        (OUT_STEPS, 9.99, True, 1),  # metric 59.99: below the upper bound 10
        (OUT_STEPS, 10.0, True, 2),  # metric 60: exactly on 10, upper of step 1 exclusive -> step 2
        (OUT_STEPS, 19.5, True, 2),  # metric 69.5
        (OUT_STEPS, 20.0, True, 3),  # metric 70: lower 20 inclusive -> step 3
        (OUT_STEPS, 500.0, True, 3),  # metric 550: no upper bound
        (OUT_STEPS, -1.0, True, None),  # metric 49: below every step
        (IN_STEPS, 0.0, False, -1),  # metric 50 below-side: upper 0 inclusive -> step (-10, 0]
        (IN_STEPS, -10.0, False, -2),  # metric 40: lower -10 exclusive, so (-inf, -10] holds it
        (IN_STEPS, -9.99, False, -1),  # metric 40.01 -> (-10, 0]
        (IN_STEPS, -40.0, False, -2),  # metric 10: no lower bound
        (IN_STEPS, 1.0, False, None),  # metric 51: above every step
        # AWS's documented pair on one threshold of 50: [0, 10) and (-10, 0] both touch 0; the side decides.
        ((StepAdjustment(1, 0.0, 10.0), StepAdjustment(-1, -10.0, 0.0)), 0.0, True, 1),
        ((StepAdjustment(1, 0.0, 10.0), StepAdjustment(-1, -10.0, 0.0)), 0.0, False, -1),
    ],
)
def test_find_step_bounds(steps: tuple[StepAdjustment, ...], delta: float, above: bool, expected: int | None) -> None:
    step = find_step(steps, delta, above=above)
    assert (None if step is None else step.scaling_adjustment) == expected


def test_published_step_example_10_then_11_then_14() -> None:
    # Threshold 50; +10 % for metric in [60, 70) (bounds 10..20), +30 % from 70 (lower bound 20).
    config = _config(
        "PercentChangeInCapacity",
        StepAdjustment(10, 10.0, 20.0),
        StepAdjustment(30, 20.0, None),
    )
    first = step_scaling_capacity(10, config, 65.0, 50.0, above=True)
    # delta 65 - 50 = 15 -> step [10, 20): 10 % of 10 = 1 -> 10 + 1 = 11
    assert (first.delta, first.new_capacity) == (15.0, 11)
    second = step_scaling_capacity(11, config, 75.0, 50.0, above=True)
    # delta 75 - 50 = 25 -> step [20, +inf): 30 % of 11 = 3.3 -> floor 3 -> 11 + 3 = 14
    assert (second.delta, second.new_capacity) == (25.0, 14)


def test_step_with_no_matching_bound_changes_nothing() -> None:
    config = _config("ChangeInCapacity", StepAdjustment(2, 10.0, None))
    outcome = step_scaling_capacity(4, config, 55.0, 50.0, above=True)
    # delta 5 is below the only step's lower bound 10
    assert (outcome.step, outcome.new_capacity) == (None, None)


@pytest.mark.parametrize(
    ("adjustment_type", "adjustment", "current", "expected"),
    [
        ("ChangeInCapacity", 1, 4, True),  # adds
        ("ChangeInCapacity", -1, 4, False),  # removes
        ("PercentChangeInCapacity", 20, 4, True),
        ("PercentChangeInCapacity", -20, 4, False),
        ("ExactCapacity", 6, 4, True),  # 6 > 4
        ("ExactCapacity", 2, 4, False),  # 2 < 4
        ("ExactCapacity", 4, 4, False),  # 4 == 4: not a scale-out
    ],
)
def test_step_direction(adjustment_type: AdjustmentType, adjustment: int, current: int, expected: bool) -> None:
    step = StepAdjustment(adjustment, 0.0, None)
    assert step_is_scale_out(_config(adjustment_type, step), step, current) is expected


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("Average", 60.0),  # (50 + 60 + 70) / 3
        ("Minimum", 50.0),
        ("Maximum", 70.0),
    ],
)
def test_aggregate(how: MetricAggregationType, expected: float) -> None:
    assert aggregate([50.0, 60.0, 70.0], how) == expected


def test_aggregate_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="nothing"):
        aggregate([], "Average")


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (2, 90.0, 50.0, 4),  # ceil(2 x 90 / 50) = ceil(3.6) = 4
        (4, 50.0, 50.0, 4),  # ceil(4 x 50 / 50) = 4 exactly
        (1, 16.8, 5.6, 3),  # 1 x 16.8 / 5.6 is 3.0000000000000004 in floats; rounded first -> 3
        (15, 129.8, 11.0, 177),  # 15 x 129.8 / 11 = 177 exactly, 177.00000000000003 in floats -> 177
        (10, 20.0, 50.0, 4),  # ceil(10 x 20 / 50) = 4
        (5, 0.0, 50.0, 0),  # no load at all -> 0
        (1, 250.0, 50.0, 5),  # utilization can exceed 100: ceil(1 x 250 / 50) = 5
    ],
)
def test_proportional_capacity(current: int, metric: float, target: float, expected: int) -> None:
    assert proportional_capacity(current, metric, target) == expected


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (2, 90.0, 50.0, 4),  # max(ceil(3.6) = 4, 2 + 1) = 4
        (10, 50.000000001, 50.0, 11),  # ceil rounds to 10, but the high alarm fired: at least 10 + 1
        (0, 90.0, 50.0, 1),  # no running task but the alarm fired: 0 + 1
    ],
)
def test_target_tracking_scale_out(current: int, metric: float, target: float, expected: int) -> None:
    assert target_tracking_scale_out(current, metric, target) == expected


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (10, 20.0, 50.0, 7),  # proportional ceil(4.0) = 4; surplus 6; remove ceil(6/2) = 3 -> 7
        (20, 10.0, 50.0, 12),  # proportional 4; surplus 16; remove 8 -> 12
        (12, 16.0, 50.0, 8),  # proportional ceil(3.84) = 4; surplus 8; remove 4 -> 8
        (4, 30.0, 50.0, 3),  # proportional ceil(2.4) = 3; surplus 1; remove ceil(0.5) = 1 -> 3
        (1, 10.0, 50.0, 1),  # proportional ceil(0.2) = 1: nothing to remove -> 1
        (2, 0.0, 50.0, 1),  # proportional 0; surplus 2; remove 1 -> 1
        (1, 0.0, 50.0, 0),  # proportional 0; surplus 1; remove 1 -> 0 (min capacity clamps later)
    ],
)
def test_target_tracking_scale_in_is_gentle(current: int, metric: float, target: float, expected: int) -> None:
    assert target_tracking_scale_in(current, metric, target) == expected


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (5, 1, 10, 5),  # inside
        (0, 1, 10, 1),  # below min -> min
        (30, 1, 4, 4),  # above max -> max
        (3, 3, 3, 3),  # min == max
    ],
)
def test_clamp(value: int, low: int, high: int, expected: int) -> None:
    assert clamp(value, low, high) == expected


@pytest.mark.parametrize(
    ("now", "since", "cooldown", "remaining", "in_blocked"),
    [
        (100.0, None, 300, 0.0, False),  # nothing happened yet
        (100.0, 0.0, 300, 200.0, True),  # 0 + 300 - 100 = 200 s left
        (299.0, 0.0, 300, 1.0, True),  # 1 s left
        (300.0, 0.0, 300, 0.0, False),  # exactly at the end: over
        (50.0, 0.0, 0, 0.0, False),  # a zero cooldown never blocks
    ],
)
def test_cooldown_windows(now: float, since: float | None, cooldown: int, remaining: float, in_blocked: bool) -> None:
    assert cooldown_remaining(now, since, cooldown) == remaining
    assert scale_in_blocked(now, since, cooldown) is in_blocked


def test_scale_out_cooldown_active_only_within_window() -> None:
    record = ScaleOutRecord(at=1000.0, from_capacity=2, to_capacity=4, policy_name="p")
    assert scale_out_cooldown_active(1299.0, record, 300)  # 1000 + 300 > 1299
    assert not scale_out_cooldown_active(1300.0, record, 300)  # 1000 + 300 = 1300: over
    assert not scale_out_cooldown_active(1299.0, None, 300)  # no scale-out recorded
