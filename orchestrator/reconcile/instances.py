"""The instance controller: notices agents that went quiet and gives up their tasks when lost.

ECS keeps a disconnected instance's tasks counted forever; we mark them STOPPED after
`lost_after_s` so services replace them elsewhere (the agent stops the superseded containers if
it ever comes back). Silence before this control plane started does not count: a restarted
control plane gives every agent a fresh `lost_after_s` to reconnect.

As for services, the decision (`decide_instances`) is pure over the instance rows, their last
heartbeats and the time; `InstanceController.reconcile` applies it in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from orchestrator.core.context import Context
from orchestrator.core.lifecycle import give_up_lost, judge_silence, silence
from orchestrator.core.models import ContainerInstance, arn_id
from orchestrator.core.settings import Settings
from orchestrator.core.store import instance_key

log = structlog.get_logger("orchestrator.reconcile.instances")


@dataclass
class InstanceActions:
    """What one pass writes: rows now disconnected, instances whose tasks are given up, and the
    time before which stopped tasks are forgotten."""

    disconnected: list[ContainerInstance] = field(default_factory=list)  # rows with agentConnected False
    silent_s: dict[str, float] = field(default_factory=dict)  # instance ARN -> seconds of silence, for the log
    lost: list[str] = field(default_factory=list)  # instance ARNs
    purge_before: float = 0.0


def decide_instances(
    instances: Sequence[ContainerInstance],
    heartbeats: Mapping[str, float],
    now: float,
    started_at: float,
    settings: Settings,
) -> InstanceActions:
    out = InstanceActions(purge_before=now - settings.stopped_task_retention_s)
    for inst in instances:
        arn = inst.containerInstanceArn
        silent = silence(now, heartbeats.get(arn), started_at)
        verdict = judge_silence(inst.agentConnected, silent, settings)
        if verdict.disconnect:
            row = inst.model_copy(deep=True)
            row.agentConnected = False  # the store bumps its version when it is written
            out.disconnected.append(row)
            out.silent_s[arn] = silent
        if verdict.lost:
            out.lost.append(arn)
    return out


class InstanceController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.started_at = ctx.clock.now()

    def reconcile(self) -> None:
        now, settings = self.ctx.clock.now(), self.ctx.settings
        # Only an agent quiet for longer than the shorter limit can get a verdict, and silence
        # before start-up does not count: nobody needs reading until then.
        heard_before = now - min(settings.disconnected_after_s, settings.lost_after_s)
        with self.ctx.store.write() as s:
            beats = s.last_heartbeats() if heard_before > self.started_at else {}
            # An agent waiting in its long-poll right now is connected, however long ago it asked;
            # only the others, quiet for long enough, are read in full.
            candidates = sorted(arn for arn, at in beats.items() if at < heard_before)
            polling = s.waited_on([instance_key(arn) for arn in candidates])
            rows = (s.get_instance(arn) for arn in candidates if instance_key(arn) not in polling)
            quiet = [i for i in rows if i is not None and i.status != "INACTIVE"]
            actions = decide_instances(quiet, beats, now, self.started_at, settings)
            for row in actions.disconnected:
                s.update_instance(row)
                log.warning(
                    "agent disconnected",
                    instance=arn_id(row.containerInstanceArn),
                    silent_s=round(actions.silent_s[row.containerInstanceArn]),
                )
            for arn in actions.lost:
                lost = give_up_lost(s, arn, now)
                if lost:
                    log.warning("instance lost; its tasks are stopped", instance=arn_id(arn), tasks=lost)
            s.purge_stopped_tasks(actions.purge_before)
