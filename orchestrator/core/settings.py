"""Tunable timings of the control plane, with ECS's values as defaults where ECS has one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


@dataclass
class Settings:
    # A task with no health check counts as healthy after RUNNING this long (ECS waits 40 s).
    health_grace_s: float = 40.0
    # Agents heartbeat this often; an instance is disconnected after `disconnected_after_s` of
    # silence and its tasks are given up as lost after `lost_after_s` (ECS never gives up).
    heartbeat_interval_s: float = 5.0
    disconnected_after_s: float = 15.0
    lost_after_s: float = 60.0
    # The longest an agent's assignment long-poll waits before it is answered anyway (each poll
    # is a heartbeat: keep it well under `disconnected_after_s`).
    agent_poll_max_s: float = 20.0
    # A long-poll woken by a change answers once the store has had no commit for
    # `agent_answer_quiet_s`, or after `agent_answer_gather_s` at most: the placements of a burst
    # of passes reach an agent in one answer instead of one each (api/answer_gather.py). 0: at once.
    agent_answer_quiet_s: float = 0.2
    agent_answer_gather_s: float = 2.0
    # Tasks that keep failing to start are retried after base x 2^(failures - 3), at most 15 min.
    start_retry_base_s: float = 5.0
    start_retry_max_s: float = 900.0
    # Stopped tasks stay describable this long (ECS: at least an hour).
    stopped_task_retention_s: float = 3600.0
    # Autoscaling metric period (CloudWatch uses 60 s); shorter in demos and tests.
    metric_period_s: float = 60.0
    # Target tracking's alarms: high = this many of this many datapoints above the target, low =
    # this many below 90 % of it (ECS creates 3-of-3 and 15-of-15 alarms on one-minute periods).
    autoscaling_high_datapoints: int = 3
    autoscaling_low_datapoints: int = 15
    # The service controller reconciles a service when a commit touches it; a service that is not
    # steady (a rollout, a grace period, a throttled retry) is also looked at this often for its
    # timers, and every service this often whatever happened.
    service_timer_s: float = 1.0
    service_sweep_s: float = 5.0
    # Where load balancers listen (their DNSName): loopback unless the host is meant to be reached.
    lb_address: str = "127.0.0.1"
    # Seed for the scheduler's tie-breaking, so a run can be reproduced.
    placement_seed: int = 0
    # Workload policy rules this server allows (`--allow`); see operations/workload_policy.py.
    allow: frozenset[str] = field(default_factory=frozenset)
    # Host path prefixes a bind mount may come from without rule host-bind-mounts (`--allow-host-path`),
    # normalised (operations/workload_policy.py parse_host_paths).
    allow_host_paths: tuple[str, ...] = ()
    # Container log events kept per cluster: at most this many, and none older than this (by the
    # event's own timestamp); the oldest go first.
    log_retention_events: int = 1_000_000
    log_retention_s: float = 7 * 24 * 3600.0
    # The region this control plane serves: in every ARN, and the only one requests may be signed for.
    region: str = field(default_factory=default_region)
