"""The autoscaler at work: once per metric period, close the metrics and evaluate every target.

Owns the loop around the pure engine (`evaluate`): for each scalable target it loads the policies,
the engine's state and the service's recent datapoints, calls `evaluate`, applies a new desired
count through the operations' `update_service` (the same path as UpdateService, so validation,
deployments and the service controller behave exactly as for a user's update), records the
scaling activities and a service event, and stores the state back. `tick` is what the control
plane's periodic job calls; tests call it directly on a fake clock.

Choices made here:
- One transaction per target: the desired count, the activities, the event and the state commit
  together or not at all, so a crash never leaves a scale-out without its cooldown.
- If applying fails (the service went away between the read and the write), the activity is
  Failed with the error and the old state is kept, so no cooldown starts.
- Deployment in progress: the service's PRIMARY deployment is IN_PROGRESS and an older one still
  has tasks (more than one deployment). A lone IN_PROGRESS deployment is a scale-out in flight,
  not a rollout.
- Not-scaled activities (AlreadyAtMaxCapacity and friends) come back from the engine on every
  period the limit is hit; one is recorded per episode, i.e. again only after something changed
  (a scaling activity, or a different cause or reason).
- Datapoints older than the longest alarm window (plus one period) are not passed in: after a
  control-plane restart, alarms start from fresh data rather than from before the gap.
- A target whose service is missing or not ACTIVE is skipped (and said so once in the log).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

import structlog

from orchestrator.autoscaling import records
from orchestrator.autoscaling.evaluate import Evaluation, evaluate
from orchestrator.autoscaling.metrics import MetricsCollector, stored_datapoints
from orchestrator.autoscaling.model import (
    Activity,
    ScalableTarget,
    ScalingPolicy,
    state_from_dict,
    state_to_dict,
)
from orchestrator.core.clock import Clock
from orchestrator.core.errors import ApiError
from orchestrator.core.models import Service
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store

log = structlog.get_logger("orchestrator.autoscaling")


class ServiceUpdater(Protocol):
    def update_service(self, req: dict[str, Any]) -> dict[str, Any]: ...


def deployment_in_progress(svc: Service) -> bool:
    return len(svc.deployments) > 1 and svc.deployments[0].rolloutState == "IN_PROGRESS"


def _window(policies: Sequence[ScalingPolicy], high: int, low: int) -> int:
    """How many datapoints the longest alarm of these policies looks at."""
    longest = 1
    for p in policies:
        if p.target_tracking is not None:
            longest = max(longest, high, low)
        if p.alarm is not None:
            longest = max(longest, p.alarm.evaluation_periods)
    return longest


def _not_scaled_key(activity: Activity) -> str:
    # Not the status message: it names the capacity wanted, which moves with the metric while
    # the episode ("at the maximum because of this alarm") stays the same.
    codes = ",".join(r.code for r in activity.not_scaled_reasons)
    return f"{activity.cause}|{codes}"


class AutoscalingRunner:
    def __init__(
        self, store: Store, clock: Clock, settings: Settings, ops: ServiceUpdater, collector: MetricsCollector
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.ops = ops
        self.collector = collector
        self._skipped: set[str] = set()

    def tick(self) -> None:
        """One metric period: a datapoint for every service, then every scalable target evaluated."""
        self.collector.close_period()
        self.tick_targets()

    def tick_targets(self) -> None:
        """Every scalable target evaluated on the datapoints stored so far."""
        with self.store.read() as s:
            targets = records.list_targets(s)
        for target in targets:
            try:
                self.evaluate_target(target.resource_id)
            except Exception:
                # One broken target must not stop the others from scaling.
                log.exception("autoscaling evaluation failed", resource_id=target.resource_id)

    def evaluate_target(self, resource_id: str) -> Evaluation | None:
        """Evaluate one target now and apply the result; None when it was skipped."""
        high = self.settings.autoscaling_high_datapoints
        low = self.settings.autoscaling_low_datapoints
        with self.store.write() as s:
            target = records.get_target(s, resource_id)
            if target is None:
                return None
            svc = s.get_service(target.cluster, target.service)
            if svc is None or svc.status != "ACTIVE":
                if resource_id not in self._skipped:
                    log.warning("scalable target has no ACTIVE service; skipped", resource_id=resource_id)
                    self._skipped.add(resource_id)
                return None
            self._skipped.discard(resource_id)
            policies = records.list_policies(s, resource_id)
            state_doc = records.get_state_doc(s, resource_id)
            state = state_from_dict(state_doc)
            now = self.clock.now()
            since = now - (_window(policies, high, low) + 1) * self.settings.metric_period_s
            points = stored_datapoints(s, target.cluster, target.service, since=since)
            result = evaluate(
                now,
                target,
                policies,
                points,
                state,
                svc.desiredCount,
                svc.runningCount,
                deployment_in_progress(svc),
                high_datapoints=high,
                low_datapoints=low,
            )
            for line in result.explanations:
                log.debug("autoscaling", resource_id=resource_id, explanation=line)
            self._apply(s, target, svc, result, state_doc, now)
        return result

    def _apply(
        self, s: Store, target: ScalableTarget, svc: Service, result: Evaluation, state_doc: dict[str, Any], now: float
    ) -> None:
        applied_ok = True
        message: str | None = None
        if result.new_desired_count is not None:
            n = result.new_desired_count
            try:
                self.ops.update_service({"cluster": target.cluster, "service": target.service, "desiredCount": n})
                message = f"Successfully set desired count to {n}. Change successfully fulfilled by ecs."
            except ApiError as err:
                applied_ok = False
                message = f"Failed to set desired count to {n}. {err.code}: {err.message}"
                log.warning(
                    "autoscaling could not update the service", resource_id=target.resource_id, error=err.message
                )
        recorded: list[Activity] = []
        last_not_scaled = state_doc.get("LastNotScaled")
        for activity in result.activities:
            if activity.status_code == "Pending":
                activity = replace(
                    activity,
                    status_code="Successful" if applied_ok else "Failed",
                    status_message=message,
                    end_time=now,
                )
                last_not_scaled = None
            elif activity.not_scaled_reasons:
                key = _not_scaled_key(activity)
                if key == last_not_scaled:
                    continue
                last_not_scaled = key
                activity = replace(activity, end_time=now)
            recorded.append(replace(activity, activity_id=str(uuid.uuid4())))
        records.add_activities(s, target.resource_id, recorded)
        for activity in recorded:
            if activity.status_code == "Successful":
                s.add_event(
                    target.cluster,
                    target.service,
                    f"(service {target.service}) Application Auto Scaling: {activity.description} "
                    f"Cause: {activity.cause}.",
                    now,
                )
                log.info(
                    "autoscaling",
                    resource_id=target.resource_id,
                    activity=activity.description,
                    cause=activity.cause,
                    running=svc.runningCount,
                )
        new_doc = state_to_dict(result.state) if applied_ok else dict(state_doc)
        new_doc["LastNotScaled"] = last_not_scaled
        if new_doc != state_doc:
            records.put_state_doc(s, target.resource_id, new_doc)
