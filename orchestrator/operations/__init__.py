"""The ECS actions, one method each, shared by the REST API, the AWS JSON 1.1 endpoint and the CLI.

Each method takes an ECS-shaped request dict and returns an ECS-shaped response dict, validates
everything before it writes, and raises `orchestrator.core.errors.ApiError` subclasses on bad input.
"""

from __future__ import annotations

from orchestrator.core.context import Context
from orchestrator.operations.account_settings import AccountSettingOps
from orchestrator.operations.agents import AgentOps
from orchestrator.operations.attributes import AttributeOps
from orchestrator.operations.autoscaling import AutoscalingOps
from orchestrator.operations.autoscaling_tags import AutoscalingTagOps
from orchestrator.operations.cloudwatch_logs import CloudWatchLogsOps
from orchestrator.operations.clusters import ClusterOps
from orchestrator.operations.elbv2 import Elbv2Ops
from orchestrator.operations.exec import ExecOps
from orchestrator.operations.instances import InstanceOps
from orchestrator.operations.logs import LogOps
from orchestrator.operations.plan import PlanOps
from orchestrator.operations.scheduled_actions import ScheduledActionOps
from orchestrator.operations.secrets import TaskSecretOps
from orchestrator.operations.services import ServiceOps
from orchestrator.operations.tags import TagOps
from orchestrator.operations.taskdef_families import TaskDefinitionFamilyOps
from orchestrator.operations.taskdef_roles import TaskRoleOps
from orchestrator.operations.taskdefs import TaskDefinitionOps
from orchestrator.operations.tasks import TaskOps


class Operations(
    ClusterOps,
    TaskDefinitionOps,
    PlanOps,
    ServiceOps,
    TaskOps,
    InstanceOps,
    AgentOps,
    AutoscalingOps,
    AutoscalingTagOps,
    TagOps,
    TaskDefinitionFamilyOps,
    AccountSettingOps,
    AttributeOps,
    ScheduledActionOps,
    Elbv2Ops,
    LogOps,
    CloudWatchLogsOps,
    TaskSecretOps,
    ExecOps,
    TaskRoleOps,
):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx


__all__ = ["Context", "Operations"]
