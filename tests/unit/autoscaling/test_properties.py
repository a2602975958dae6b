"""Properties of `evaluate` over random targets, policies, datapoints and state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.autoscaling.evaluate import evaluate
from orchestrator.autoscaling.model import (
    AdjustmentType,
    AlarmSpec,
    AutoscalingState,
    Datapoint,
    MetricAggregationType,
    ScalableTarget,
    ScaleOutRecord,
    ScalingPolicy,
    StepAdjustment,
    StepScalingConfig,
    SuspendedState,
    TargetTrackingConfig,
)

RESOURCE = "service/default/web"
NOW = 100_000.0
ADJUSTMENTS: list[AdjustmentType] = ["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]
AGGREGATIONS: list[MetricAggregationType] = ["Average", "Minimum", "Maximum"]


@st.composite
def targets(draw: st.DrawFn) -> ScalableTarget:
    low = draw(st.integers(0, 20))
    high = draw(st.integers(low, 40))
    suspended = SuspendedState(draw(st.booleans()), draw(st.booleans()), False)
    return ScalableTarget(RESOURCE, low, high, suspended_state=suspended)


@st.composite
def tt_policies(draw: st.DrawFn, index: int) -> ScalingPolicy:
    config = TargetTrackingConfig(
        target_value=draw(st.floats(min_value=1.0, max_value=100.0)),
        predefined_metric_type=draw(
            st.sampled_from(["ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"])
        ),
        scale_out_cooldown=draw(st.integers(0, 600)),
        scale_in_cooldown=draw(st.integers(0, 600)),
        disable_scale_in=draw(st.booleans()),
    )
    return ScalingPolicy(f"tt{index}", RESOURCE, "TargetTrackingScaling", target_tracking=config)


@st.composite
def step_policies(draw: st.DrawFn, index: int) -> ScalingPolicy:
    adjustment_type = draw(st.sampled_from(ADJUSTMENTS))
    greater = draw(st.booleans())
    low_adj = 0 if adjustment_type == "ExactCapacity" else -200
    adjustments = draw(st.lists(st.integers(low_adj, 200), min_size=1, max_size=3))
    # Contiguous bounds 0, 10, 20, ... on the breach side, open at the far end.
    steps = []
    for i, adjustment in enumerate(adjustments):
        far = i == len(adjustments) - 1
        if greater:
            steps.append(StepAdjustment(adjustment, 10.0 * i, None if far else 10.0 * (i + 1)))
        else:
            steps.append(StepAdjustment(adjustment, None if far else -10.0 * (i + 1), -10.0 * i))
    magnitude = draw(st.one_of(st.none(), st.integers(1, 5))) if adjustment_type == "PercentChangeInCapacity" else None
    config = StepScalingConfig(
        adjustment_type,
        tuple(steps),
        magnitude,
        draw(st.integers(0, 600)),
        draw(st.sampled_from(AGGREGATIONS)),
    )
    periods = draw(st.integers(1, 5))
    alarm = AlarmSpec(
        draw(st.sampled_from(["CPUUtilization", "MemoryUtilization"])),
        draw(
            st.sampled_from(["GreaterThanOrEqualToThreshold", "GreaterThanThreshold"])
            if greater
            else st.sampled_from(["LessThanThreshold", "LessThanOrEqualToThreshold"])
        ),
        draw(st.floats(min_value=0.0, max_value=150.0)),
        periods,
        draw(st.integers(1, periods)),
    )
    return ScalingPolicy(f"step{index}", RESOURCE, "StepScaling", step_scaling=config, alarm=alarm)


@st.composite
def policy_lists(draw: st.DrawFn) -> list[ScalingPolicy]:
    count = draw(st.integers(1, 4))
    return [draw(st.one_of(tt_policies(i), step_policies(i))) for i in range(count)]


@st.composite
def series(draw: st.DrawFn, count: int) -> list[float | None]:
    # A level with a little noise and rare gaps, so that 3-of-3 and 15-of-15 alarms do fire.
    level = draw(st.floats(min_value=0.0, max_value=300.0))
    values: list[float | None] = []
    for _ in range(count):
        if draw(st.integers(0, 9)) == 0:
            values.append(None)
        else:
            values.append(max(0.0, level + draw(st.floats(min_value=-5.0, max_value=5.0))))
    return values


@st.composite
def datapoint_lists(draw: st.DrawFn) -> list[Datapoint]:
    count = draw(st.integers(0, 20))
    cpu, memory = draw(series(count)), draw(series(count))
    return [Datapoint(NOW - 60.0 * (count - 1 - i), cpu[i], memory[i]) for i in range(count)]


@st.composite
def states(draw: st.DrawFn) -> AutoscalingState:
    last = draw(st.one_of(st.none(), st.floats(min_value=NOW - 1000, max_value=NOW)))
    record = None
    if last is not None and draw(st.booleans()):
        start = draw(st.integers(0, 40))
        record = ScaleOutRecord(last, start, draw(st.integers(start, 60)), "tt0")
    return AutoscalingState(last_scaling_at=last, last_scale_out=record)


@st.composite
def services(draw: st.DrawFn) -> tuple[ScalableTarget, int, int]:
    """A target with a desired count mostly inside its range and a running count near it."""
    target = draw(targets())
    desired = draw(st.integers(max(0, target.min_capacity - 2), target.max_capacity + 2))
    running = draw(st.integers(max(0, desired - 3), desired + 3))
    return target, desired, running


@settings(max_examples=400, deadline=None)
@given(
    service=services(),
    policies=policy_lists(),
    datapoints=datapoint_lists(),
    state=states(),
    deployment=st.booleans(),
)
def test_result_is_always_within_min_and_max(
    service: tuple[ScalableTarget, int, int],
    policies: list[ScalingPolicy],
    datapoints: list[Datapoint],
    state: AutoscalingState,
    deployment: bool,
) -> None:
    target, desired, running = service
    result = evaluate(NOW, target, policies, datapoints, state, desired, running, deployment)
    final = desired if result.new_desired_count is None else result.new_desired_count
    assert target.min_capacity <= final <= target.max_capacity
    # Every "Setting desired count to N." names a count within the range, the last one the result.
    settings_made = [a for a in result.activities if a.status_code == "Pending"]
    for activity in settings_made:
        count = int(activity.description.removeprefix("Setting desired count to ").removesuffix("."))
        assert target.min_capacity <= count <= target.max_capacity
    if settings_made:
        assert settings_made[-1].description == f"Setting desired count to {final}."
    # None means unchanged, so a reported new count always differs from the old one.
    assert result.new_desired_count != desired


@settings(max_examples=200, deadline=None)
@given(service=services(), policies=policy_lists(), datapoints=datapoint_lists(), state=states())
def test_no_scale_in_below_the_clamped_desired_count_during_a_deployment(
    service: tuple[ScalableTarget, int, int],
    policies: list[ScalingPolicy],
    datapoints: list[Datapoint],
    state: AutoscalingState,
) -> None:
    target, desired, running = service
    result = evaluate(NOW, target, policies, datapoints, state, desired, running, True)
    clamped = max(target.min_capacity, min(target.max_capacity, desired))
    final = desired if result.new_desired_count is None else result.new_desired_count
    assert final >= clamped
