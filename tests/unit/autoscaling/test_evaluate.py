"""`evaluate`: one metric period of a scalable target, end to end through alarms and policies."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator.autoscaling.alarms import step_alarm_name, target_tracking_alarm_names
from orchestrator.autoscaling.evaluate import Evaluation, evaluate
from orchestrator.autoscaling.model import (
    AdjustmentType,
    AlarmSpec,
    AutoscalingState,
    ComparisonOperator,
    Datapoint,
    MetricAggregationType,
    NotScaledReason,
    PredefinedMetricType,
    ScalableTarget,
    ScaleOutRecord,
    ScalingPolicy,
    StepAdjustment,
    StepScalingConfig,
    SuspendedState,
    TargetTrackingConfig,
)

RESOURCE = "service/default/web"
NOW = 10_000.0


def target(min_capacity: int = 1, max_capacity: int = 20, **suspended: bool) -> ScalableTarget:
    return ScalableTarget(RESOURCE, min_capacity, max_capacity, suspended_state=SuspendedState(**suspended))


def tt(
    name: str = "cpu50",
    target_value: float = 50.0,
    memory: bool = False,
    disable_scale_in: bool = False,
    scale_out_cooldown: int = 300,
    scale_in_cooldown: int = 300,
) -> ScalingPolicy:
    metric: PredefinedMetricType = "ECSServiceAverageMemoryUtilization" if memory else "ECSServiceAverageCPUUtilization"
    config = TargetTrackingConfig(
        target_value, metric, scale_out_cooldown, scale_in_cooldown, disable_scale_in=disable_scale_in
    )
    return ScalingPolicy(name, RESOURCE, "TargetTrackingScaling", target_tracking=config)


def step(
    name: str,
    adjustment_type: AdjustmentType,
    steps: Sequence[StepAdjustment],
    comparison: ComparisonOperator = "GreaterThanOrEqualToThreshold",
    threshold: float = 50.0,
    cooldown: int = 300,
    alarm: bool = True,
) -> ScalingPolicy:
    config = StepScalingConfig(adjustment_type, tuple(steps), cooldown=cooldown)
    spec = AlarmSpec("CPUUtilization", comparison, threshold, alarm_name=f"{name}-alarm") if alarm else None
    return ScalingPolicy(name, RESOURCE, "StepScaling", step_scaling=config, alarm=spec)


def points(cpu: Sequence[float | None], memory: Sequence[float | None] | None = None) -> list[Datapoint]:
    """One datapoint a minute ending at NOW, oldest first."""
    memory = memory if memory is not None else [None] * len(cpu)
    n = len(cpu)
    return [Datapoint(NOW - 60.0 * (n - 1 - i), c, m) for i, (c, m) in enumerate(zip(cpu, memory, strict=True))]


def run(
    policies: Sequence[ScalingPolicy],
    cpu: Sequence[float | None],
    *,
    running: int,
    desired: int | None = None,
    memory: Sequence[float | None] | None = None,
    state: AutoscalingState | None = None,
    scalable: ScalableTarget | None = None,
    deployment: bool = False,
    now: float = NOW,
) -> Evaluation:
    return evaluate(
        now,
        scalable or target(),
        policies,
        points(cpu, memory),
        state or AutoscalingState(),
        running if desired is None else desired,
        running,
        deployment,
    )


HIGH, LOW = target_tracking_alarm_names(RESOURCE, "cpu50")


# --- target tracking -------------------------------------------------------------------------


def test_target_tracking_scales_out_proportionally() -> None:
    result = run([tt()], [90.0, 90.0, 90.0], running=2)
    # ceil(2 x 90 / 50) = ceil(3.6) = 4
    assert result.new_desired_count == 4
    [activity] = result.activities
    assert activity.description == "Setting desired count to 4."
    assert activity.cause == f"monitor alarm {HIGH} in state ALARM triggered policy cpu50"
    assert (activity.status_code, activity.start_time, activity.activity_id) == ("Pending", NOW, None)
    assert result.state.last_scaling_at == NOW
    assert result.state.last_scale_out == ScaleOutRecord(NOW, 2, 4, "cpu50")
    assert result.state.alarm_states == {HIGH: "ALARM", LOW: "OK"}
    assert any("ceil(2 x 90 / 50) = 4" in line for line in result.explanations)


def test_target_tracking_averages_the_high_alarm_datapoints() -> None:
    result = run([tt()], [10.0, 60.0, 70.0, 110.0], running=5)
    # last 3 = 60, 70, 110, all above 50; average 80; ceil(5 x 80 / 50) = 8
    assert result.new_desired_count == 8


def test_target_tracking_needs_3_of_3_high() -> None:
    result = run([tt()], [90.0, 90.0, 40.0], running=2)
    # 2 of 3 above 50: no alarm, and 40 is not below 45 everywhere: hold
    assert result.new_desired_count is None
    assert result.activities == []


@pytest.mark.parametrize(
    ("running", "cpu", "expected"),
    [
        (10, 20.0, 7),  # ceil(10 x 20 / 50) = 4; surplus 6, remove 3 -> 7
        (4, 30.0, 3),  # ceil(4 x 30 / 50) = ceil(2.4) = 3; surplus 1, remove 1 -> 3
        (2, 40.0, None),  # ceil(2 x 40 / 50) = ceil(1.6) = 2: nothing to remove
    ],
)
def test_target_tracking_scales_in_gently_after_15_low(running: int, cpu: float, expected: int | None) -> None:
    result = run([tt()], [cpu] * 15, running=running)
    assert result.new_desired_count == expected


def test_target_tracking_low_needs_15_of_15() -> None:
    result = run([tt()], [20.0] * 14, running=10)
    # only 14 datapoints: the 15th is missing and does not breach
    assert result.new_desired_count is None


def test_disable_scale_in_stops_scale_in_but_not_scale_out() -> None:
    policy = tt(disable_scale_in=True)
    low = run([policy], [20.0] * 15, running=10)
    assert low.new_desired_count is None
    assert any("DisableScaleIn" in line for line in low.explanations)
    high = run([policy], [90.0] * 3, running=2)
    assert high.new_desired_count == 4  # ceil(3.6)


def test_no_data_no_change() -> None:
    result = run([tt()], [None, None, None], running=3)
    assert result.new_desired_count is None
    assert result.state.alarm_states == {HIGH: "INSUFFICIENT_DATA", LOW: "INSUFFICIENT_DATA"}


def test_scaling_starts_from_the_running_count() -> None:
    # desired 4 but only 3 running: ceil(3 x 90 / 50) = ceil(5.4) = 6
    assert run([tt()], [90.0] * 3, running=3, desired=4).new_desired_count == 6
    # desired 10, 8 running (2 still starting): ceil(8 x 60 / 50) = ceil(9.6) = 10 = desired already
    lagging = run([tt()], [60.0] * 3, running=8, desired=10)
    assert lagging.new_desired_count is None
    assert any("already 10" in line for line in lagging.explanations)


# --- step scaling ----------------------------------------------------------------------------

PERCENT_STEPS = (StepAdjustment(10, 10.0, 20.0), StepAdjustment(30, 20.0, None))


def test_published_step_example_through_evaluate() -> None:
    policy = step("pct", "PercentChangeInCapacity", PERCENT_STEPS, threshold=50.0)
    first = run([policy], [65.0], running=10)
    # delta 65 - 50 = 15 in [10, 20): +10 % of 10 = 1 -> 11
    assert first.new_desired_count == 11
    assert first.activities[0].cause == "monitor alarm pct-alarm in state ALARM triggered policy pct"
    # after the 300 s cooldown: delta 75 - 50 = 25 in [20, inf): +30 % of 11 = 3.3 -> 3 -> 14
    second = run([policy], [75.0], running=11, state=first.state, now=NOW + 300)
    assert second.new_desired_count == 14


def test_step_delta_with_no_step_does_nothing() -> None:
    policy = step("pct", "PercentChangeInCapacity", PERCENT_STEPS, threshold=50.0)
    result = run([policy], [55.0], running=10)
    # alarm fires (55 >= 50) but delta 5 is below the first step's lower bound 10
    assert result.new_desired_count is None
    assert any("no step adjustment covers it" in line for line in result.explanations)


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (35.0, None),  # delta 35 - 40 = -5: alarm fires but no step covers (-10, 0)
        (30.0, 9),  # delta -10: on the upper bound of (-20, -10], inclusive below the threshold -> 10 - 1
        (25.0, 9),  # delta -15 in (-20, -10] -> 10 - 1
        (20.0, 8),  # delta -20: lower -20 of the first step is exclusive; (-inf, -20] -> 10 - 2
        (5.0, 8),  # delta -35 in (-inf, -20] -> 10 - 2
    ],
)
def test_step_scale_in_below_threshold(cpu: float, expected: int | None) -> None:
    steps = (StepAdjustment(-1, -20.0, -10.0), StepAdjustment(-2, None, -20.0))
    policy = step("in", "ChangeInCapacity", steps, comparison="LessThanThreshold", threshold=40.0)
    result = run([policy], [cpu], running=10)
    assert result.new_desired_count == expected


def test_step_exact_capacity() -> None:
    policy = step("exact", "ExactCapacity", (StepAdjustment(6, 0.0, None),), threshold=80.0)
    assert run([policy], [85.0], running=2).new_desired_count == 6  # set to 6
    assert run([policy], [85.0], running=6).new_desired_count is None  # already 6
    assert run([policy], [79.0], running=2).new_desired_count is None  # alarm OK


def test_step_policy_without_alarm_is_inert() -> None:
    policy = step("inert", "ChangeInCapacity", (StepAdjustment(5, 0.0, None),), alarm=False)
    result = run([policy], [99.0], running=2)
    assert result.new_desired_count is None
    assert any("inert" in line for line in result.explanations)


# --- cooldowns -------------------------------------------------------------------------------

CHANGE_STEPS = (StepAdjustment(2, 0.0, 10.0), StepAdjustment(3, 10.0, None))


def test_step_cooldown_blocks_the_same_scale_out() -> None:
    policy = step("out", "ChangeInCapacity", CHANGE_STEPS, threshold=50.0)
    first = run([policy], [55.0], running=4)
    assert first.new_desired_count == 6  # delta 5 in [0, 10): 4 + 2
    again = run([policy], [55.0], running=6, state=first.state, now=NOW + 60)
    # within the cooldown: from 4 (before the scale-out), +2 = 6, not larger than 6 -> blocked
    assert again.new_desired_count is None
    assert any("cooldown" in line for line in again.explanations)


def test_step_cooldown_lets_a_larger_scale_out_add_the_difference() -> None:
    # AWS's example: +2 starts a cooldown; the alarm fires at the +3 step: only 1 more is added.
    policy = step("out", "ChangeInCapacity", CHANGE_STEPS, threshold=50.0)
    first = run([policy], [55.0], running=4)
    larger = run([policy], [65.0], running=6, state=first.state, now=NOW + 60)
    # delta 15 in [10, inf): from 4, +3 = 7 > 6 -> 7, i.e. 6 + 1
    assert larger.new_desired_count == 7
    # the cooldown restarts, still counted from the 4 the first scale-out started from
    assert larger.state.last_scale_out == ScaleOutRecord(NOW + 60, 4, 7, "out")


def test_step_cooldown_expires() -> None:
    policy = step("out", "ChangeInCapacity", CHANGE_STEPS, threshold=50.0)
    first = run([policy], [55.0], running=4)
    later = run([policy], [55.0], running=6, state=first.state, now=NOW + 300)
    assert later.new_desired_count == 8  # 300 s later the cooldown is over: 6 + 2


def test_step_scale_in_waits_for_the_cooldown_after_any_scaling() -> None:
    policy = step("in", "ChangeInCapacity", (StepAdjustment(-1, None, 0.0),), "LessThanThreshold", 20.0)
    state = AutoscalingState(last_scaling_at=NOW - 100)
    blocked = run([policy], [10.0], running=5, state=state)
    assert blocked.new_desired_count is None  # 100 s after the last scaling, cooldown 300
    assert blocked.state.last_scaling_at == NOW - 100  # nothing new started
    free = run([policy], [10.0], running=5, state=AutoscalingState(last_scaling_at=NOW - 300))
    assert free.new_desired_count == 4  # 5 - 1


def test_scale_out_during_a_scale_in_cooldown_runs_and_ends_it() -> None:
    # a scale-in happened 10 s ago (so no scale-out record): the high alarm scales out at once
    state = AutoscalingState(last_scaling_at=NOW - 10)
    result = run([tt()], [90.0] * 3, running=2, state=state)
    assert result.new_desired_count == 4  # ceil(3.6)
    assert result.state.last_scale_out == ScaleOutRecord(NOW, 2, 4, "cpu50")


def test_target_tracking_scale_out_cooldown() -> None:
    first = run([tt()], [90.0] * 3, running=2)
    assert first.new_desired_count == 4
    # 60 s later the new tasks are not running yet: ceil(2 x 90 / 50) = 4, not larger than 4 -> blocked
    waiting = run([tt()], [90.0] * 3, running=2, desired=4, state=first.state, now=NOW + 60)
    assert waiting.new_desired_count is None
    assert any("scale-out cooldown" in line for line in waiting.explanations)
    # the 4 run and load keeps rising: ceil(4 x 90 / 50) = ceil(7.2) = 8 > 4 -> a larger scale-out
    larger = run([tt()], [90.0] * 3, running=4, desired=4, state=first.state, now=NOW + 60)
    assert larger.new_desired_count == 8


def test_target_tracking_scale_in_waits_scale_in_cooldown() -> None:
    state = AutoscalingState(last_scaling_at=NOW - 299)
    blocked = run([tt()], [20.0] * 15, running=10, state=state)
    assert blocked.new_desired_count is None  # 1 s of the 300 s scale-in cooldown left
    state = AutoscalingState(last_scaling_at=NOW - 300)
    assert run([tt()], [20.0] * 15, running=10, state=state).new_desired_count == 7


def test_a_scale_in_forgets_the_scale_out_cooldown() -> None:
    state = AutoscalingState(last_scaling_at=NOW - 400, last_scale_out=ScaleOutRecord(NOW - 400, 2, 10, "cpu50"))
    result = run([tt(scale_out_cooldown=3600)], [20.0] * 15, running=10, state=state)
    assert result.new_desired_count == 7
    assert result.state.last_scale_out is None


# --- several policies ------------------------------------------------------------------------


def test_out_if_any_policy_wants_out() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True)
    # cpu high: ceil(2 x 90 / 50) = 4; memory low for 15 periods would scale in, but out wins
    result = run([cpu, mem], [10.0] * 12 + [90.0] * 3, running=2, memory=[10.0] * 15)
    assert result.new_desired_count == 4
    assert any("no scale-in" in line for line in result.explanations)


def test_largest_scale_out_wins() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True)
    # cpu: ceil(2 x 90 / 50) = 4; memory: ceil(2 x 150 / 50) = 6 -> 6, caused by mem50
    result = run([cpu, mem], [90.0] * 3, running=2, memory=[150.0] * 3)
    assert result.new_desired_count == 6
    assert result.activities[0].cause.endswith("triggered policy mem50")


def test_in_only_if_every_policy_agrees() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True)
    # cpu low for 15 periods, memory at 48 (near target): memory holds
    result = run([cpu, mem], [20.0] * 15, running=10, memory=[48.0] * 15)
    assert result.new_desired_count is None
    assert any("not ready: mem50" in line for line in result.explanations)


def test_in_when_all_agree_largest_capacity_wins() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True)
    # cpu: proportional 4, 10 -> 7; memory at 40: proportional 8, surplus 2, remove 1 -> 9; largest is 9
    result = run([cpu, mem], [20.0] * 15, running=10, memory=[40.0] * 15)
    assert result.new_desired_count == 9
    assert result.activities[0].cause.endswith("triggered policy mem50")


def test_disable_scale_in_policy_has_no_vote_on_scale_in() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True, disable_scale_in=True)
    # memory near target, but it has DisableScaleIn: only cpu votes -> 10 -> 7
    result = run([cpu, mem], [20.0] * 15, running=10, memory=[48.0] * 15)
    assert result.new_desired_count == 7


def test_policy_without_data_has_no_opinion() -> None:
    cpu, mem = tt("cpu50"), tt("mem50", memory=True)
    result = run([cpu, mem], [20.0] * 15, running=10, memory=[None] * 15)
    assert result.new_desired_count == 7


def test_scale_in_blocked_by_one_policys_cooldown_holds_the_others() -> None:
    cpu = tt("cpu50", scale_in_cooldown=600)
    mem = tt("mem50", memory=True, scale_in_cooldown=60)
    state = AutoscalingState(last_scaling_at=NOW - 120)
    # mem's 60 s are over, cpu's 600 s are not: cpu is not ready, so nobody scales in
    result = run([cpu, mem], [20.0] * 15, running=10, memory=[20.0] * 15, state=state)
    assert result.new_desired_count is None


def test_step_scale_in_is_vetoed_by_a_holding_target_tracking_policy() -> None:
    scale_in = step("in", "ChangeInCapacity", (StepAdjustment(-1, None, 0.0),), "LessThanThreshold", 60.0)
    # cpu 48: the step alarm (< 60) fires, target tracking at 50 holds (48 is within [45, 50])
    result = run([tt(), scale_in], [48.0] * 15, running=5)
    assert result.new_desired_count is None


def test_quiet_step_policy_does_not_veto() -> None:
    scale_out = step("out", "ChangeInCapacity", (StepAdjustment(1, 0.0, None),), threshold=80.0)
    result = run([tt(), scale_out], [20.0] * 15, running=10)
    # the step alarm (>= 80) is OK: no opinion; target tracking scales in 10 -> 7
    assert result.new_desired_count == 7


def test_step_and_target_tracking_largest_out_wins() -> None:
    scale_out = step("out", "ChangeInCapacity", (StepAdjustment(5, 0.0, None),), threshold=80.0)
    # tt: ceil(2 x 90 / 50) = 4; step: 2 + 5 = 7 -> 7
    result = run([tt(), scale_out], [90.0] * 3, running=2)
    assert result.new_desired_count == 7


# --- clamping, suspension, deployments -------------------------------------------------------


def test_desired_outside_range_is_first_clamped() -> None:
    result = run([tt()], [48.0] * 3, running=12, desired=12, scalable=target(1, 10))
    assert result.new_desired_count == 10
    [activity] = result.activities
    assert (activity.description, activity.cause) == (
        "Setting desired count to 10.",
        "desired count 12 is above the maximum capacity 10",
    )
    assert result.state.last_scaling_at is None  # a clamp starts no cooldown
    below = run([], [], running=0, desired=0, scalable=target(2, 10))
    assert below.new_desired_count == 2
    assert below.activities[0].cause == "desired count 0 is below the minimum capacity 2"


def test_clamp_then_policy() -> None:
    result = run([tt()], [90.0] * 3, running=2, desired=0, scalable=target(3, 10))
    # clamp 0 -> 3, then ceil(2 x 90 / 50) = 4 > 3 -> 4
    assert result.new_desired_count == 4
    assert [a.description for a in result.activities] == [
        "Setting desired count to 3.",
        "Setting desired count to 4.",
    ]


def test_scale_out_is_clamped_to_max() -> None:
    result = run([tt()], [90.0] * 3, running=4, scalable=target(1, 5))
    # ceil(4 x 90 / 50) = ceil(7.2) = 8 -> clamped to 5
    assert result.new_desired_count == 5
    assert result.activities[0].description == "Setting desired count to 5."


@pytest.mark.parametrize(
    ("cpu", "running", "scalable", "reason"),
    [
        # ceil(4 x 90 / 50) = 8 but desired 4 is already the max 4
        (
            [90.0] * 3,
            4,
            target(1, 4),
            NotScaledReason("AlreadyAtMaxCapacity", max_capacity=4, current_capacity=4),
        ),
        # 10 -> 7 wanted but desired 10 is already the min 10
        (
            [20.0] * 15,
            10,
            target(10, 20),
            NotScaledReason("AlreadyAtMinCapacity", min_capacity=10, current_capacity=10),
        ),
    ],
)
def test_not_scaled_at_the_limits(
    cpu: list[float], running: int, scalable: ScalableTarget, reason: NotScaledReason
) -> None:
    result = run([tt()], cpu, running=running, scalable=scalable)
    assert result.new_desired_count is None
    [activity] = result.activities
    assert activity.status_code == "Failed"
    assert activity.not_scaled_reasons == (reason,)
    assert activity.cause.startswith("monitor alarm TargetTracking-service/default/web-Alarm")
    assert result.state.last_scaling_at is None


def test_no_scale_in_during_a_deployment() -> None:
    result = run([tt()], [20.0] * 15, running=10, deployment=True)
    assert result.new_desired_count is None
    [activity] = result.activities
    assert activity.status_code == "Failed"
    assert activity.not_scaled_reasons[0].code == "TargetServicePutResourceAsUnscalable"
    assert any("deployment is in progress" in line for line in result.explanations)


def test_scale_out_during_a_deployment_runs() -> None:
    assert run([tt()], [90.0] * 3, running=2, deployment=True).new_desired_count == 4


def test_suspended_directions() -> None:
    out_off = target(dynamic_scaling_out_suspended=True)
    assert run([tt()], [90.0] * 3, running=2, scalable=out_off).new_desired_count is None
    in_off = target(dynamic_scaling_in_suspended=True)
    assert run([tt()], [20.0] * 15, running=10, scalable=in_off).new_desired_count is None
    assert run([tt()], [90.0] * 3, running=2, scalable=in_off).new_desired_count == 4


# --- state and inputs ------------------------------------------------------------------------


def test_alarm_state_transitions_are_explained_and_stale_alarms_dropped() -> None:
    state = AutoscalingState(alarm_states={HIGH: "OK", "gone-alarm": "ALARM"})
    result = run([tt()], [90.0] * 3, running=2, state=state)
    assert any(line.startswith(f"alarm {HIGH}: OK -> ALARM") for line in result.explanations)
    assert "gone-alarm" not in result.state.alarm_states


def test_datapoints_are_sorted_by_time() -> None:
    shuffled = [Datapoint(NOW, 40.0), Datapoint(NOW - 120, 90.0), Datapoint(NOW - 60, 90.0)]
    # in time order 90, 90, 40: the high alarm sees 2 of 3 -> no scale-out
    result = evaluate(NOW, target(), [tt()], shuffled, AutoscalingState(), 2, 2, False)
    assert result.new_desired_count is None


def test_custom_datapoint_counts() -> None:
    result = evaluate(NOW, target(), [tt()], points([20.0] * 5), AutoscalingState(), 10, 10, False, low_datapoints=5)
    assert result.new_desired_count == 7  # 5 of 5 low is enough now


def test_step_alarm_name_in_state_when_unnamed() -> None:
    config = StepScalingConfig("ChangeInCapacity", (StepAdjustment(1, 0.0, None),))
    spec = AlarmSpec("CPUUtilization", "GreaterThanThreshold", 50.0)
    policy = ScalingPolicy("out", RESOURCE, "StepScaling", step_scaling=config, alarm=spec)
    result = run([policy], [60.0], running=2)
    assert result.new_desired_count == 3
    assert result.state.alarm_states == {step_alarm_name(RESOURCE, "out", spec): "ALARM"}


def test_policies_of_another_target_are_refused() -> None:
    other = ScalingPolicy("x", "service/other/api", "TargetTrackingScaling", target_tracking=TargetTrackingConfig(50.0))
    with pytest.raises(ValueError, match="belongs to service/other/api"):
        evaluate(NOW, target(), [other], [], AutoscalingState(), 1, 1, False)


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        # window 55, 40, 75 against >= 50: breaching 55 and 75 (2 of 3 needed)
        ("Average", 7),  # (55 + 75) / 2 = 65, delta 15 in [10, inf): 4 + 3
        ("Minimum", 6),  # 55, delta 5 in [0, 10): 4 + 2
        ("Maximum", 7),  # 75, delta 25 in [10, inf): 4 + 3
    ],
)
def test_step_metric_aggregates_the_breaching_datapoints(aggregation: MetricAggregationType, expected: int) -> None:
    config = StepScalingConfig("ChangeInCapacity", CHANGE_STEPS, metric_aggregation_type=aggregation)
    spec = AlarmSpec("CPUUtilization", "GreaterThanOrEqualToThreshold", 50.0, 3, 2, "a")
    policy = ScalingPolicy("out", RESOURCE, "StepScaling", step_scaling=config, alarm=spec)
    assert run([policy], [55.0, 40.0, 75.0], running=4).new_desired_count == expected
