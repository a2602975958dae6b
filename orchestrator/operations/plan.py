"""The request of `svc plan` (our addition, like `nomad job plan`): validated, written nowhere.

A plan request is an UpdateService request (the same members, the same validation, see
`ServiceOps.proposed_update`) plus `drainInstances`: container instances to preview as DRAINING.
The plan itself, the service controller's decision run pass after pass, is `reconcile/plan.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.operations.common import Context, id_list, instance_ref_matches
from orchestrator.operations.services import ProposedUpdate, ServiceOps

# The deployment a plan opens has no ECS id yet; its tasks name it by this.
PLANNED_DEPLOYMENT = "ecs-svc/planned"
MAX_DRAINED = 10


@dataclass
class PlanRequest:
    change: ProposedUpdate
    draining: frozenset[str]  # container instance ARNs previewed as DRAINING


class PlanOps(ServiceOps):
    ctx: Context

    def plan_request(self, req: dict[str, Any]) -> PlanRequest:
        update = {k: v for k, v in req.items() if k != "drainInstances"}
        change = self.proposed_update(update, deployment_id=PLANNED_DEPLOYMENT)
        if change.service.schedulingStrategy == "DAEMON":
            # The plan replays the REPLICA controller; a daemon's passes are reconcile/daemons.py's.
            raise InvalidParameterException(
                f"Service {change.service.serviceName} uses the DAEMON scheduling strategy; plans preview REPLICA "
                "services only."
            )
        draining: set[str] = set()
        if req.get("drainInstances") is not None:
            refs = id_list(req, "drainInstances", MAX_DRAINED, "container instances")
            with self.ctx.store.read() as s:
                instances = s.list_instances(change.cluster)
            for ref in refs:
                inst = next((i for i in instances if instance_ref_matches(i, ref)), None)
                if inst is None or inst.status != "ACTIVE":
                    state = "not registered" if inst is None else inst.status
                    raise InvalidParameterException(
                        f"drainInstances: {ref} is {state} in {change.cluster}; name ACTIVE container instances."
                    )
                draining.add(inst.containerInstanceArn)
        return PlanRequest(change, frozenset(draining))
