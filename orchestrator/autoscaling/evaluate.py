"""One evaluation of a scalable target: alarms, every policy's proposal, the combined decision.

`evaluate` is what the runner calls once per metric period with the newest datapoints (oldest
first). It is pure: it returns the new desired count (None when unchanged), the scaling activities
to record, the state to store for next time, and a list of plain-words explanations for logs and
the CLI. The returned state assumes the runner applies the new desired count; if applying fails,
keep the old state so that the cooldowns do not start.

Order of work and the rules that are ours to pick (the arithmetic is in `policies`):
1. A desired count outside [min, max] is first clamped (ECS-NOTES), with its own activity. This
   clamp ignores suspension, deployments and cooldowns and starts no cooldown: it enforces the
   range the user set rather than reacting to load.
2. Every policy's alarms are evaluated over the datapoints (`alarms`).
3. Each policy makes a proposal or has no opinion:
   - target tracking: high alarm in ALARM -> scale out; low alarm in ALARM -> scale in (unless
     DisableScaleIn); both alarms with data and neither firing -> "hold" (keep the capacity);
     no data at all -> no opinion. A DisableScaleIn policy never votes on scale-in.
   - step scaling: its alarm in ALARM and a step covering the breach -> scale out or in by the
     step's sign. The metric compared with the threshold is MetricAggregationType (Average,
     Minimum, Maximum) over the datapoints of the alarm's window that breach, i.e. the ones that
     put it in ALARM, so the breach delta is always on the alarm's side of the threshold (with
     the default 1-of-1 alarm it is simply the newest datapoint). Otherwise no opinion: a quiet
     step policy does not veto others, as in AWS, where a step policy only acts when its alarm
     invokes it. A step policy with no alarm is inert.
   Cooldowns block proposals (see `policies`).
4. Combination (AWS: "scale out if any target tracking policy is ready for scale out, scale in
   only if all of them with scale-in enabled are ready"; the largest capacity wins):
   - if any policy wants to scale out, no policy scales in; the largest effective scale-out wins;
   - otherwise scale in only when no policy holds and no scale-in is blocked by its cooldown, and
     then to the largest proposed capacity (the gentlest scale-in).
   - A scale-out never lowers the desired count (it counts as done when the desired count is
     already there, e.g. while started tasks are not yet running) and a scale-in never raises it.
5. Suspended dynamic scaling (SuspendedState) blocks that direction. While a deployment is in
   progress scale-in is paused (ECS-NOTES) and a not-scaled activity with
   TargetServicePutResourceAsUnscalable says so (AWS's code for "the target service has put the
   resource in an unscalable state"); scale-out still runs.
6. The result is clamped to [min, max]; if that leaves the desired count where it was, the
   activity is a not-scaled one (StatusCode Failed, as in AWS's published example) with
   AlreadyAtMaxCapacity or AlreadyAtMinCapacity. Not-scaled activities are produced on every
   evaluation that hits the limit, as AWS does; de-duplicating them is the runner's choice.

Activities come back with StatusCode Pending and no ActivityId: the runner assigns the id and
moves them to InProgress / Successful / Failed as it applies the desired count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.autoscaling.alarms import (
    DEFAULT_HIGH_DATAPOINTS,
    DEFAULT_LOW_DATAPOINTS,
    AlarmEvaluation,
    evaluate_alarm,
    is_greater_comparison,
    step_alarm_name,
    target_tracking_alarms,
)
from orchestrator.autoscaling.model import (
    Activity,
    ActivityStatusCode,
    AlarmStateValue,
    AutoscalingState,
    Datapoint,
    NotScaledReason,
    ScalableTarget,
    ScaleOutRecord,
    ScalingPolicy,
    StepScalingConfig,
    TargetTrackingConfig,
)
from orchestrator.autoscaling.policies import (
    aggregate,
    apply_adjustment,
    clamp,
    cooldown_remaining,
    proportional_capacity,
    scale_in_blocked,
    scale_out_cooldown_active,
    step_is_scale_out,
    step_scaling_capacity,
    target_tracking_scale_in,
    target_tracking_scale_out,
)

Direction = Literal["out", "in", "hold"]


@dataclass(frozen=True)
class Proposal:
    """What one policy wants this period."""

    policy_name: str
    direction: Direction
    capacity: int  # the capacity it asks for ("hold": the running count)
    alarm_name: str | None = None  # the alarm that triggered it (None for "hold")
    blocked: str | None = None  # why a cooldown blocks it, None when free to act
    from_capacity: int = 0  # the capacity the scale-out started from, for its cooldown record


@dataclass(frozen=True)
class Evaluation:
    new_desired_count: int | None  # None when the desired count stays as it is
    activities: list[Activity]
    state: AutoscalingState
    explanations: list[str]
    alarms: list[AlarmEvaluation] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _cause(alarm_name: str, policy_name: str) -> str:
    return f"monitor alarm {alarm_name} in state ALARM triggered policy {policy_name}"


@dataclass
class _Context:
    now: float
    state: AutoscalingState
    running: int
    explanations: list[str]
    alarm_evaluations: list[AlarmEvaluation]
    new_alarm_states: dict[str, AlarmStateValue]

    def record_alarm(self, evaluation: AlarmEvaluation) -> None:
        self.alarm_evaluations.append(evaluation)
        before = self.state.alarm_states.get(evaluation.name, "INSUFFICIENT_DATA")
        self.new_alarm_states[evaluation.name] = evaluation.state
        change = f"{before} -> {evaluation.state}" if before != evaluation.state else evaluation.state
        self.explanations.append(f"alarm {evaluation.name}: {change}: {evaluation.reason}")


def _target_tracking_proposal(
    ctx: _Context,
    policy: ScalingPolicy,
    config: TargetTrackingConfig,
    high_datapoints: int,
    low_datapoints: int,
    datapoints: Sequence[Datapoint],
) -> Proposal | None:
    name = policy.policy_name
    high_spec, low_spec = target_tracking_alarms(
        policy.resource_id, name, config, high_datapoints=high_datapoints, low_datapoints=low_datapoints
    )
    high = evaluate_alarm(high_spec.alarm_name or "", high_spec, datapoints)
    low = evaluate_alarm(low_spec.alarm_name or "", low_spec, datapoints)
    ctx.record_alarm(high)
    ctx.record_alarm(low)
    current = ctx.running
    target = config.target_value

    if high.state == "ALARM":
        metric = _mean(high.values)
        wanted = target_tracking_scale_out(current, metric, target)
        proportional = proportional_capacity(current, metric, target)
        ctx.explanations.append(
            f"policy {name}: scale out: average {config.metric} {_fmt(metric)} over {len(high.values)} "
            f"datapoints; ceil({current} x {_fmt(metric)} / {_fmt(target)}) = {proportional}, "
            f"at least {current} + 1 -> {wanted}"
        )
        blocked = None
        last = ctx.state.last_scale_out
        if last is not None and scale_out_cooldown_active(ctx.now, last, config.scale_out_cooldown):
            left = cooldown_remaining(ctx.now, last.at, config.scale_out_cooldown)
            if wanted <= last.to_capacity:
                blocked = (
                    f"scale-out cooldown ({_fmt(left)} s left): {wanted} is not larger than the "
                    f"{last.to_capacity} set by the scale-out in progress"
                )
        return Proposal(name, "out", wanted, high.name, blocked, from_capacity=current)

    if low.state == "ALARM":
        if config.disable_scale_in:
            ctx.explanations.append(f"policy {name}: low alarm fires but DisableScaleIn is set: no scale-in vote")
            return None
        metric = _mean(low.values)
        proportional = proportional_capacity(current, metric, target)
        wanted = target_tracking_scale_in(current, metric, target)
        if wanted >= current:
            ctx.explanations.append(
                f"policy {name}: low alarm fires but ceil({current} x {_fmt(metric)} / {_fmt(target)}) = "
                f"{proportional} is not below the running count {current}: hold"
            )
            return Proposal(name, "hold", current)
        ctx.explanations.append(
            f"policy {name}: scale in: average {config.metric} {_fmt(metric)} over {len(low.values)} "
            f"datapoints; ceil({current} x {_fmt(metric)} / {_fmt(target)}) = {proportional}; "
            f"remove half the surplus of {current - proportional}, rounded up -> {wanted}"
        )
        blocked = None
        if scale_in_blocked(ctx.now, ctx.state.last_scaling_at, config.scale_in_cooldown):
            left = cooldown_remaining(ctx.now, ctx.state.last_scaling_at, config.scale_in_cooldown)
            blocked = f"scale-in cooldown ({_fmt(left)} s left since the last scaling activity)"
        return Proposal(name, "in", wanted, low.name, blocked)

    if high.state == "INSUFFICIENT_DATA" and low.state == "INSUFFICIENT_DATA":
        ctx.explanations.append(f"policy {name}: no {config.metric} data: no opinion")
        return None
    if config.disable_scale_in:
        ctx.explanations.append(f"policy {name}: {config.metric} near the target; DisableScaleIn: no scale-in vote")
        return None
    ctx.explanations.append(f"policy {name}: {config.metric} near the target {_fmt(target)}: hold")
    return Proposal(name, "hold", current)


def _step_proposal(
    ctx: _Context, policy: ScalingPolicy, config: StepScalingConfig, datapoints: Sequence[Datapoint]
) -> Proposal | None:
    name = policy.policy_name
    spec = policy.alarm
    if spec is None:
        ctx.explanations.append(f"policy {name}: step scaling with no alarm: inert")
        return None
    alarm_name = step_alarm_name(policy.resource_id, name, spec)
    alarm = evaluate_alarm(alarm_name, spec, datapoints)
    ctx.record_alarm(alarm)
    if alarm.state != "ALARM":
        return None

    current = ctx.running
    above = is_greater_comparison(spec.comparison_operator)
    metric = aggregate(alarm.breaching_values, config.metric_aggregation_type)
    outcome = step_scaling_capacity(current, config, metric, spec.threshold, above=above)
    arithmetic = (
        f"{config.metric_aggregation_type} of breaching [{', '.join(map(_fmt, alarm.breaching_values))}] "
        f"= {_fmt(metric)}; delta {_fmt(metric)} - {_fmt(spec.threshold)} = {_fmt(outcome.delta)}"
    )
    if outcome.step is None or outcome.new_capacity is None:
        ctx.explanations.append(f"policy {name}: {arithmetic}; no step adjustment covers it: nothing to do")
        return None
    step = outcome.step
    lower = "-inf" if step.metric_interval_lower_bound is None else _fmt(step.metric_interval_lower_bound)
    upper = "+inf" if step.metric_interval_upper_bound is None else _fmt(step.metric_interval_upper_bound)
    described = f"step [{lower}, {upper}] {config.adjustment_type} {step.scaling_adjustment}"

    if step_is_scale_out(config, step, current):
        base = current
        wanted = outcome.new_capacity
        blocked = None
        last = ctx.state.last_scale_out
        if last is not None and scale_out_cooldown_active(ctx.now, last, config.cooldown):
            # The capacity the scale-out in progress added counts as already there: start from
            # where that scale-out started, and go on only if this asks for more.
            base = last.from_capacity
            wanted = apply_adjustment(base, config, step.scaling_adjustment)
            left = cooldown_remaining(ctx.now, last.at, config.cooldown)
            if wanted <= last.to_capacity:
                blocked = (
                    f"cooldown ({_fmt(left)} s left): {described} from {base} gives {wanted}, not larger "
                    f"than the {last.to_capacity} set by the scale-out in progress"
                )
        ctx.explanations.append(f"policy {name}: scale out: {arithmetic}; {described} on {base} -> {wanted}")
        return Proposal(name, "out", wanted, alarm_name, blocked, from_capacity=base)

    wanted = outcome.new_capacity
    if wanted >= current:
        ctx.explanations.append(f"policy {name}: {arithmetic}; {described} on {current} -> {wanted}: no change")
        return None
    ctx.explanations.append(f"policy {name}: scale in: {arithmetic}; {described} on {current} -> {wanted}")
    blocked = None
    if scale_in_blocked(ctx.now, ctx.state.last_scaling_at, config.cooldown):
        left = cooldown_remaining(ctx.now, ctx.state.last_scaling_at, config.cooldown)
        blocked = f"cooldown ({_fmt(left)} s left since the last scaling activity)"
    return Proposal(name, "in", wanted, alarm_name, blocked)


def _winner(candidates: Sequence[Proposal]) -> Proposal:
    # Largest capacity wins; on a tie the earlier policy, so the result does not depend on sorting.
    best = candidates[0]
    for proposal in candidates[1:]:
        if proposal.capacity > best.capacity:
            best = proposal
    return best


def evaluate(
    now: float,
    target: ScalableTarget,
    policies: Sequence[ScalingPolicy],
    datapoints: Sequence[Datapoint],
    state: AutoscalingState,
    desired_count: int,
    running_count: int,
    deployment_in_progress: bool,
    *,
    high_datapoints: int = DEFAULT_HIGH_DATAPOINTS,
    low_datapoints: int = DEFAULT_LOW_DATAPOINTS,
) -> Evaluation:
    """Decide this period's desired count for one scalable target. See the module docstring."""
    for policy in policies:
        if policy.resource_id != target.resource_id:
            raise ValueError(f"policy {policy.policy_name} belongs to {policy.resource_id}, not {target.resource_id}")
    explanations: list[str] = []
    activities: list[Activity] = []
    low_cap, high_cap = target.min_capacity, target.max_capacity
    points = sorted(datapoints, key=lambda p: p.timestamp)

    def activity(
        description: str,
        cause: str,
        status_code: ActivityStatusCode = "Pending",
        status_message: str | None = None,
        not_scaled_reasons: tuple[NotScaledReason, ...] = (),
    ) -> Activity:
        return Activity(
            resource_id=target.resource_id,
            description=description,
            cause=cause,
            start_time=now,
            status_code=status_code,
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            status_message=status_message,
            not_scaled_reasons=not_scaled_reasons,
        )

    # 1. Clamp first.
    desired = desired_count
    if not low_cap <= desired <= high_cap:
        clamped = clamp(desired, low_cap, high_cap)
        side = (
            f"above the maximum capacity {high_cap}" if desired > high_cap else f"below the minimum capacity {low_cap}"
        )
        cause = f"desired count {desired} is {side}"
        activities.append(activity(f"Setting desired count to {clamped}.", cause))
        explanations.append(f"{cause}: clamped to {clamped}")
        desired = clamped

    # 2 and 3. Alarms and proposals.
    ctx = _Context(
        now=now,
        state=state,
        running=running_count,
        explanations=explanations,
        alarm_evaluations=[],
        new_alarm_states={},
    )
    explanations.append(
        f"running {running_count}, desired {desired}, range [{low_cap}, {high_cap}]: "
        "scaling starts from the running count"
    )
    proposals: list[Proposal] = []
    for policy in policies:
        proposal: Proposal | None
        if policy.target_tracking is not None:
            proposal = _target_tracking_proposal(
                ctx, policy, policy.target_tracking, high_datapoints, low_datapoints, points
            )
        elif policy.step_scaling is not None:
            proposal = _step_proposal(ctx, policy, policy.step_scaling, points)
        else:
            proposal = None
        if proposal is not None:
            proposals.append(proposal)
            if proposal.blocked:
                explanations.append(f"policy {proposal.policy_name}: blocked by {proposal.blocked}")

    # 4 and 5. Combine, then apply suspension and the deployment pause.
    winner: Proposal | None = None
    outs = [p for p in proposals if p.direction == "out"]
    if outs:
        effective = [p for p in outs if p.blocked is None and p.capacity > desired]
        for p in outs:
            if p.blocked is None and p.capacity <= desired:
                explanations.append(
                    f"policy {p.policy_name}: desired count is already {desired} >= {p.capacity}: nothing to add"
                )
        if effective and target.suspended_state.dynamic_scaling_out_suspended:
            explanations.append("scale-out wanted but dynamic scaling out is suspended")
        elif effective:
            winner = _winner(effective)
        if len(outs) < len(proposals):
            explanations.append("a policy wants to scale out: no scale-in this period")
    else:
        ins = [p for p in proposals if p.direction == "in"]
        effective = [p for p in ins if p.blocked is None and p.capacity < desired]
        vetoes = [p for p in proposals if p.direction == "hold" or (p.direction == "in" and p.blocked)]
        if effective and vetoes:
            names = ", ".join(p.policy_name for p in vetoes)
            explanations.append(f"scale-in needs every policy with an opinion to agree; not ready: {names}")
        elif effective and target.suspended_state.dynamic_scaling_in_suspended:
            explanations.append("scale-in wanted but dynamic scaling in is suspended")
        elif effective and deployment_in_progress:
            paused = _winner(effective)
            explanations.append(
                f"scale-in to {paused.capacity} wanted by policy {paused.policy_name}, "
                "but scale-in is paused while a deployment is in progress"
            )
            activities.append(
                activity(
                    "Attempting to scale due to alarm triggered",
                    _cause(paused.alarm_name or "", paused.policy_name),
                    status_code="Failed",
                    status_message="Scale-in is paused while a deployment is in progress.",
                    not_scaled_reasons=(
                        NotScaledReason(code="TargetServicePutResourceAsUnscalable", current_capacity=desired),
                    ),
                )
            )
        elif effective:
            winner = _winner(effective)
        for p in ins:
            if p.blocked is None and p.capacity >= desired:
                explanations.append(
                    f"policy {p.policy_name}: desired count is already {desired} <= {p.capacity}: nothing to remove"
                )

    # 6. Clamp the result and record it.
    last_scaling_at = state.last_scaling_at
    last_scale_out = state.last_scale_out
    if winner is not None:
        assert winner.alarm_name is not None
        cause = _cause(winner.alarm_name, winner.policy_name)
        new = clamp(winner.capacity, low_cap, high_cap)
        if new == desired:
            at_max = winner.direction == "out"
            reason = (
                NotScaledReason(code="AlreadyAtMaxCapacity", max_capacity=high_cap, current_capacity=desired)
                if at_max
                else NotScaledReason(code="AlreadyAtMinCapacity", min_capacity=low_cap, current_capacity=desired)
            )
            limit = f"maximum capacity {high_cap}" if at_max else f"minimum capacity {low_cap}"
            explanations.append(
                f"policy {winner.policy_name} wants {winner.capacity}, but the desired count is already at the {limit}"
            )
            activities.append(
                activity(
                    "Attempting to scale due to alarm triggered",
                    cause,
                    status_code="Failed",
                    status_message=f"Failed to set desired count to {winner.capacity}",
                    not_scaled_reasons=(reason,),
                )
            )
        else:
            clamp_note = f" (clamped from {winner.capacity})" if new != winner.capacity else ""
            explanations.append(
                f"scale {winner.direction} from {desired} to {new}{clamp_note}: policy {winner.policy_name} wins"
            )
            activities.append(activity(f"Setting desired count to {new}.", cause))
            desired = new
            last_scaling_at = now
            if winner.direction == "out":
                last_scale_out = ScaleOutRecord(
                    at=now,
                    from_capacity=winner.from_capacity,
                    to_capacity=new,
                    policy_name=winner.policy_name,
                )
            else:
                last_scale_out = None

    new_state = AutoscalingState(
        alarm_states=ctx.new_alarm_states, last_scaling_at=last_scaling_at, last_scale_out=last_scale_out
    )
    return Evaluation(
        new_desired_count=None if desired == desired_count else desired,
        activities=activities,
        state=new_state,
        explanations=explanations,
        alarms=ctx.alarm_evaluations,
        proposals=proposals,
    )
