"""Alarm evaluation ("M out of N", missing data) and the target-tracking alarm pair."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator.autoscaling.alarms import (
    alarms_to_dict,
    evaluate_alarm,
    policy_alarm_names,
    step_alarm_name,
    target_tracking_alarm_names,
    target_tracking_alarms,
)
from orchestrator.autoscaling.model import (
    AlarmSpec,
    ComparisonOperator,
    Datapoint,
    ScalingPolicy,
    StepAdjustment,
    StepScalingConfig,
    TargetTrackingConfig,
)

RESOURCE = "service/default/web"


def cpu(*values: float | None) -> list[Datapoint]:
    """One datapoint a minute, oldest first."""
    return [Datapoint(timestamp=60.0 * i, cpu_utilization=v) for i, v in enumerate(values)]


TT = TargetTrackingConfig(target_value=50.0)
HIGH, LOW = target_tracking_alarms(RESOURCE, "cpu50", TT)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([60.0, 70.0, 80.0], "ALARM"),  # 3 of 3 above 50
        ([40.0, 60.0, 70.0, 80.0], "ALARM"),  # only the last 3 count: 60, 70, 80
        ([60.0, 70.0, 80.0, 40.0], "OK"),  # last 3 = 70, 80, 40: 2 of 3
        ([60.0, 50.0, 80.0], "OK"),  # 50 is not above 50 (GreaterThanThreshold)
        ([70.0, 80.0], "OK"),  # 2 datapoints: the missing third is not breaching
        ([70.0, None, 80.0], "OK"),  # a gap counts as not breaching
        ([None, None, None], "INSUFFICIENT_DATA"),  # no value in the window at all
        ([], "INSUFFICIENT_DATA"),
    ],
)
def test_high_alarm_needs_3_of_3(values: list[float | None], expected: str) -> None:
    assert evaluate_alarm("high", HIGH, cpu(*values)).state == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([44.9] * 15, "ALARM"),  # 15 of 15 below 0.9 x 50 = 45
        ([44.9] * 14, "OK"),  # 14 datapoints only: the 15th is missing, not breaching
        ([44.9] * 14 + [45.0], "OK"),  # 45 is not below 45
        ([45.0] + [44.9] * 15, "ALARM"),  # the 45 has left the 15-datapoint window
        ([10.0] * 7 + [None] + [10.0] * 7, "OK"),  # one gap in 15 spoils it
    ],
)
def test_low_alarm_needs_15_of_15_below_90_percent(values: list[float | None], expected: str) -> None:
    assert LOW.threshold == pytest.approx(45.0)  # 0.9 x 50
    assert evaluate_alarm("low", LOW, cpu(*values)).state == expected


def test_datapoint_counts_are_parameters() -> None:
    high, low = target_tracking_alarms(RESOURCE, "cpu50", TT, high_datapoints=2, low_datapoints=4)
    # high: 2 of 2 above 50; low: 4 of 4 below 45
    assert evaluate_alarm("h", high, cpu(60.0, 60.0)).state == "ALARM"
    assert evaluate_alarm("l", low, cpu(40.0, 40.0, 40.0, 40.0)).state == "ALARM"
    assert (high.evaluation_periods, high.datapoints_to_alarm, low.evaluation_periods) == (2, 2, 4)


@pytest.mark.parametrize(
    ("comparison", "threshold", "periods", "to_alarm", "values", "expected"),
    [
        ("GreaterThanOrEqualToThreshold", 50.0, 1, 1, [50.0], "ALARM"),  # 50 >= 50
        ("GreaterThanThreshold", 50.0, 1, 1, [50.0], "OK"),  # 50 > 50 is false
        ("LessThanThreshold", 20.0, 1, 1, [20.0], "OK"),  # 20 < 20 is false
        ("LessThanOrEqualToThreshold", 20.0, 1, 1, [20.0], "ALARM"),  # 20 <= 20
        ("GreaterThanThreshold", 50.0, 5, 3, [60.0, 10.0, 60.0, 10.0, 60.0], "ALARM"),  # 3 of 5 breach
        ("GreaterThanThreshold", 50.0, 5, 3, [60.0, 10.0, 60.0, 10.0, None], "OK"),  # 2 of 5
        ("GreaterThanThreshold", 50.0, 5, 3, [60.0, 60.0, 60.0, None, None], "ALARM"),  # missing tail: 3 of 5
    ],
)
def test_m_out_of_n(
    comparison: ComparisonOperator,
    threshold: float,
    periods: int,
    to_alarm: int,
    values: Sequence[float | None],
    expected: str,
) -> None:
    spec = AlarmSpec("CPUUtilization", comparison, threshold, periods, to_alarm)
    assert evaluate_alarm("a", spec, cpu(*values)).state == expected


def test_evaluation_reports_values_and_reason() -> None:
    spec = AlarmSpec("CPUUtilization", "GreaterThanThreshold", 50.0, 3, 2)
    result = evaluate_alarm("a", spec, cpu(40.0, None, 70.0, 80.0))
    # window = last 3 = None, 70, 80: values 70, 80, both breach
    assert result.values == (70.0, 80.0)
    assert result.breaching_values == (70.0, 80.0)
    assert result.reason == "2 of the last 3 datapoints [70, 80] > 50 (2 needed)"


def test_memory_alarm_reads_memory() -> None:
    spec = AlarmSpec("MemoryUtilization", "GreaterThanThreshold", 50.0)
    point = [Datapoint(0.0, cpu_utilization=10.0, memory_utilization=90.0)]
    assert evaluate_alarm("m", spec, point).state == "ALARM"


def test_non_finite_values_count_as_missing() -> None:
    spec = AlarmSpec("CPUUtilization", "GreaterThanThreshold", 50.0)
    assert evaluate_alarm("a", spec, cpu(float("nan"))).state == "INSUFFICIENT_DATA"
    assert evaluate_alarm("a", spec, cpu(float("inf"))).state == "INSUFFICIENT_DATA"


def test_target_tracking_alarm_names_look_like_aws_and_are_stable() -> None:
    high, low = target_tracking_alarm_names(RESOURCE, "cpu50")
    assert high.startswith("TargetTracking-service/default/web-AlarmHigh-")
    assert low.startswith("TargetTracking-service/default/web-AlarmLow-")
    assert len(high.rsplit("-AlarmHigh-", 1)[1]) == 36  # a uuid
    assert (high, low) == target_tracking_alarm_names(RESOURCE, "cpu50")  # deterministic
    assert high != target_tracking_alarm_names(RESOURCE, "mem70")[0]  # per policy
    assert (HIGH.alarm_name, LOW.alarm_name) == (high, low)


def test_policy_alarm_names_and_dicts() -> None:
    tt = ScalingPolicy("cpu50", RESOURCE, "TargetTrackingScaling", target_tracking=TT)
    step_config = StepScalingConfig("ChangeInCapacity", (StepAdjustment(1, 0.0, None),))
    named = ScalingPolicy(
        "out",
        RESOURCE,
        "StepScaling",
        step_scaling=step_config,
        alarm=AlarmSpec("CPUUtilization", "GreaterThanThreshold", 75.0, alarm_name="web-cpu-gt-75"),
    )
    unnamed_alarm = AlarmSpec("CPUUtilization", "GreaterThanThreshold", 75.0)
    unnamed = ScalingPolicy("out", RESOURCE, "StepScaling", step_scaling=step_config, alarm=unnamed_alarm)
    inert = ScalingPolicy("out", RESOURCE, "StepScaling", step_scaling=step_config)

    assert policy_alarm_names(tt) == list(target_tracking_alarm_names(RESOURCE, "cpu50"))
    assert policy_alarm_names(named) == ["web-cpu-gt-75"]
    assert policy_alarm_names(unnamed) == [step_alarm_name(RESOURCE, "out", unnamed_alarm)]
    assert policy_alarm_names(unnamed)[0].startswith("StepScaling-service/default/web-out-")
    assert policy_alarm_names(inert) == []
    assert alarms_to_dict(named, "us-east-1", "123456789012") == [
        {
            "AlarmName": "web-cpu-gt-75",
            "AlarmARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-cpu-gt-75",
        }
    ]
