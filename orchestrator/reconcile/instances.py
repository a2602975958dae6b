"""The instance controller: notices agents that went quiet and gives up their tasks when lost.

ECS keeps a disconnected instance's tasks counted forever; we mark them STOPPED after
`lost_after_s` so services replace them elsewhere (the agent stops the superseded containers if
it ever comes back). Silence before this control plane started does not count: a restarted
control plane gives every agent a fresh `lost_after_s` to reconnect.
"""

from __future__ import annotations

import structlog

from orchestrator.core.context import Context
from orchestrator.core.lifecycle import stop_tasks_on
from orchestrator.core.models import arn_id

log = structlog.get_logger("orchestrator.reconcile.instances")

LOST_REASON = "Task stopped due to container instance lost"


class InstanceController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.started_at = ctx.clock.now()

    def reconcile(self) -> None:
        settings = self.ctx.settings
        store = self.ctx.store
        now = self.ctx.clock.now()
        with store.write() as s:
            heartbeats = s.last_heartbeats()
            for inst in s.list_instances():
                silent = now - max(heartbeats.get(inst.containerInstanceArn, now), self.started_at)
                if inst.agentConnected and silent > settings.disconnected_after_s:
                    inst.agentConnected = False
                    inst.version += 1
                    s.put_instance(inst)
                    log.warning(
                        "agent disconnected", instance=arn_id(inst.containerInstanceArn), silent_s=round(silent)
                    )
                if silent <= settings.lost_after_s:
                    continue
                lost = stop_tasks_on(s, inst.containerInstanceArn, now, "ServiceSchedulerInitiated", LOST_REASON)
                if lost:
                    log.warning(
                        "instance lost; its tasks are stopped", instance=arn_id(inst.containerInstanceArn), tasks=lost
                    )
            s.purge_stopped_tasks(now - settings.stopped_task_retention_s)
