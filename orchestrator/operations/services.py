"""Service actions: CreateService, ListServices, DescribeServices, UpdateService, DeleteService.

These only record what the user wants (desired count, task definition, deployment settings) and
open deployments; the service controller (`reconcile/services.py`) makes the tasks follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from orchestrator.core import tags
from orchestrator.core.errors import (
    SERVICE_NOT_ACTIVE,
    SERVICE_NOT_FOUND,
    InvalidParameterException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from orchestrator.core.models import (
    Deployment,
    DeploymentConfiguration,
    Service,
    ServiceEvent,
    arn_id,
    service_arn,
)
from orchestrator.core.placement_input import checked, constraints_from, strategies_from
from orchestrator.core.service_state import ServiceState
from orchestrator.operations import launch_types, service_lb
from orchestrator.operations import service_members as members
from orchestrator.operations.common import (
    Context,
    id_list,
    opt_bool,
    opt_int,
    opt_str,
    paginate,
    read_page,
    req_str,
    require_cluster,
)
from orchestrator.operations.tags import wants_tags, with_tags
from orchestrator.operations.taskdefs import launchable_task_definition, pydantic_message, resolve_task_definition

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
PROFILES = ("ecs", "kubernetes")
MAX_DESCRIBE = 10


@dataclass
class ProposedUpdate:
    """What an UpdateService request makes of a service: its row, its state, and whether it
    opened a new deployment."""

    cluster: str
    service: Service
    state: ServiceState
    new_deployment: bool


def service_name(ref: str) -> str:
    return arn_id(ref) if ref.startswith("arn:") else ref


def _deployment_configuration(raw: Any, current: DeploymentConfiguration | None = None) -> DeploymentConfiguration:
    base = (current or DeploymentConfiguration()).model_dump()
    if raw is None:
        return DeploymentConfiguration.model_validate(base)
    if not isinstance(raw, dict):
        raise InvalidParameterException("deploymentConfiguration must be an object.")
    members.check_deployment_configuration_members(raw)
    merged = {**base, **{k: v for k, v in raw.items() if v is not None}}
    if isinstance(raw.get("deploymentCircuitBreaker"), dict):
        merged["deploymentCircuitBreaker"] = {**base["deploymentCircuitBreaker"], **raw["deploymentCircuitBreaker"]}
    try:
        config = DeploymentConfiguration.model_validate(merged)
    except ValidationError as err:
        raise InvalidParameterException(pydantic_message(err, "deploymentConfiguration")) from None
    if config.maximumPercent < 100:
        raise InvalidParameterException(
            f"deploymentConfiguration.maximumPercent must be at least 100, got {config.maximumPercent}."
        )
    if config.minimumHealthyPercent > 100:
        raise InvalidParameterException(
            f"deploymentConfiguration.minimumHealthyPercent must be at most 100, got {config.minimumHealthyPercent}."
        )
    return config


def _profile(req: dict[str, Any], default: str) -> str:
    profile = opt_str(req, "schedulerProfile", default) or default
    if profile not in PROFILES:
        raise InvalidParameterException(f"schedulerProfile must be one of {', '.join(PROFILES)}, got {profile!r}.")
    return profile


class ServiceOps:
    ctx: Context

    def _new_deployment_id(self) -> str:
        return "ecs-svc/" + self.ctx.ids.digits("deployment", 19)

    def _get_service(self, cluster: str, ref: Any) -> Service:
        if not isinstance(ref, str) or not ref:
            raise InvalidParameterException("service is required (a service name or ARN).")
        svc = self.ctx.store.get_service(cluster, service_name(ref))
        if svc is None:
            raise ServiceNotFoundException(SERVICE_NOT_FOUND)
        return svc

    def _with_events(self, svc: Service, include_tags: bool = False) -> dict[str, Any]:
        cluster = arn_id(svc.clusterArn)
        events = self.ctx.store.list_events(cluster, svc.serviceName)
        out = svc.model_copy(update={"events": [ServiceEvent(**e) for e in events]}).wire()
        if svc.networkConfiguration is not None:
            # ECS shows the network configuration each deployment runs with.
            for d in out["deployments"]:
                d.setdefault("networkConfiguration", svc.networkConfiguration)
        return with_tags(self.ctx.store, svc.serviceArn, out) if include_tags else out

    def create_service(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req_str(req, "serviceName")
        if not NAME_RE.match(name):
            raise InvalidParameterException(
                "serviceName may contain up to 255 letters, numbers, hyphens and underscores."
            )
        desired = opt_int(req, "desiredCount", 0, lo=0, hi=10000) or 0
        daemon = req.get("schedulingStrategy") == "DAEMON"
        if daemon:
            members.check_daemon(req)
        # ECS's defaults for a daemon: nothing kept running during a rollout, no surge.
        base = DeploymentConfiguration(maximumPercent=100, minimumHealthyPercent=0) if daemon else None
        config = _deployment_configuration(req.get("deploymentConfiguration"), base)
        strategies = strategies_from(req.get("placementStrategy"))
        constraints = constraints_from(req.get("placementConstraints"))
        checked(strategies, constraints)
        profile = _profile(req, "ecs")
        grace = opt_int(req, "healthCheckGracePeriodSeconds", None, lo=0, hi=2147483647)
        launch = launch_types.launch_type(req)
        platform = launch_types.platform_version(req, launch)
        launch_types.refuse_placement(req, launch)
        if daemon and launch == launch_types.FARGATE:
            raise InvalidParameterException("The DAEMON scheduling strategy is not supported with launch type FARGATE.")
        members.refuse_unsupported(req, members.NOT_SUPPORTED)
        members.availability_zone_rebalancing(req)
        scheduling = members.scheduling_strategy(req)
        controller = members.deployment_controller(req.get("deploymentController"))
        propagate = members.propagate_tags(req, ("TASK_DEFINITION", "SERVICE", "NONE"))
        managed = members.managed_tags(req)
        execute = members.execute_command(req)
        registries = members.service_registries(req)
        service_tags = tags.check_tags(req.get("tags"))
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            td = launchable_task_definition(self.ctx, req_str(req, "taskDefinition"))
            balancers = service_lb.validated(self.ctx, req.get("loadBalancers"), td)
            launch_types.check_task_definition(td, launch)
            network = members.network_configuration(req, td.network_mode)
            role = members.role_arn(req, bool(balancers), td.network_mode)
            existing = s.get_service(cluster.clusterName, name)
            if existing is not None and existing.status != "INACTIVE":
                raise InvalidParameterException(
                    f"Creation of service was not idempotent: a service named {name} already exists in "
                    f"{cluster.clusterName}."
                )
            now = self.ctx.clock.now()
            deployment = Deployment(
                id=self._new_deployment_id(),
                taskDefinition=td.taskDefinitionArn,
                desiredCount=desired,
                createdAt=now,
                updatedAt=now,
                **launch_types.launch_fields(launch, platform),
            )
            svc = Service(
                serviceArn=service_arn(cluster.clusterName, name),
                serviceName=name,
                clusterArn=cluster.clusterArn,
                desiredCount=desired,
                taskDefinition=td.taskDefinitionArn,
                deploymentConfiguration=config,
                deployments=[deployment],
                placementStrategy=strategies,
                placementConstraints=constraints,
                healthCheckGracePeriodSeconds=grace,
                schedulingStrategy=scheduling,
                deploymentController=controller,
                loadBalancers=balancers,
                serviceRegistries=registries,
                roleArn=role,
                networkConfiguration=network,
                propagateTags=propagate,
                enableECSManagedTags=managed,
                enableExecuteCommand=execute,
                createdAt=now,
                **launch_types.launch_fields(launch, platform),
            )
            if existing is not None:
                # An INACTIVE service of that name is replaced, its old events with it.
                s.delete_service_row(cluster.clusterName, name)
            s.put_service(svc)
            tags.set_tags(s, svc.serviceArn, service_tags)
            ServiceState(profile=profile).save(s, cluster.clusterName, name)
        # CreateService answers with the tags it was given, as ECS does.
        return {"service": self._with_events(svc, include_tags=bool(service_tags))}

    def list_services(self, req: dict[str, Any]) -> dict[str, Any]:
        launch_type = opt_str(req, "launchType")
        if launch_type is not None and launch_type not in ("EC2", "FARGATE", "EXTERNAL"):
            raise InvalidParameterException(f"launchType must be EC2, FARGATE or EXTERNAL, got {launch_type!r}.")
        scheduling = opt_str(req, "schedulingStrategy")
        if scheduling is not None and scheduling not in ("REPLICA", "DAEMON"):
            raise InvalidParameterException(f"schedulingStrategy must be REPLICA or DAEMON, got {scheduling!r}.")
        members.refuse_unsupported(req, ("resourceManagementType",))
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            if launch_type is None and scheduling is None:
                # No filter on the rows' bodies: the page is read by SQLite alone (nothing parsed).
                name = cluster.clusterName
                return read_page(
                    req,
                    "serviceArns",
                    lambda offset, limit: [service_arn(name, n) for n in s.service_names(name, offset, limit)],
                    default_max=10,
                )
            else:
                arns = [
                    v.serviceArn
                    for v in s.list_services(cluster.clusterName)
                    if v.status != "INACTIVE"
                    and (launch_type is None or v.launchType == launch_type)
                    and (scheduling is None or v.schedulingStrategy == scheduling)
                ]
        page, nxt = paginate(arns, req, default_max=10, hi=100)
        out: dict[str, Any] = {"serviceArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def describe_services(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "services", MAX_DESCRIBE, "services")
        include_tags = wants_tags(req)
        found, failures = [], []
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            for ref in refs:
                svc = s.get_service(cluster.clusterName, service_name(str(ref)))
                if svc is None or (ref.startswith("arn:") and ref != svc.serviceArn):
                    # An ARN of another region or account is not ours; it comes back as given.
                    arn = ref if ref.startswith("arn:") else service_arn(cluster.clusterName, service_name(ref))
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(self._with_events(svc, include_tags))
        return {"services": found, "failures": failures}

    def update_service(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.write() as s:
            change = self.proposed_update(req)
            change.state.save(s, change.cluster, change.service.serviceName)
            s.put_service(change.service)
        return {"service": self._with_events(change.service)}

    def proposed_update(self, req: dict[str, Any], deployment_id: str | None = None) -> ProposedUpdate:
        """The service row and its state as UpdateService `req` would leave them, validated and
        written nowhere: UpdateService writes them, `svc plan` previews what follows from them.
        `deployment_id` names the new deployment, if one opens (default: a fresh ECS id)."""
        desired = opt_int(req, "desiredCount", None, lo=0, hi=10000)
        force = opt_bool(req, "forceNewDeployment")
        strategies = strategies_from(req.get("placementStrategy")) if "placementStrategy" in req else None
        constraints = constraints_from(req.get("placementConstraints")) if "placementConstraints" in req else None
        td_ref = opt_str(req, "taskDefinition")
        members.refuse_unsupported(req, members.NOT_SUPPORTED)
        members.availability_zone_rebalancing(req)
        controller = (
            members.deployment_controller(req["deploymentController"]) if "deploymentController" in req else None
        )
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            svc = self._get_service(cluster.clusterName, req.get("service"))
            if svc.status != "ACTIVE":
                raise ServiceNotActiveException(SERVICE_NOT_ACTIVE)
            platform = launch_types.platform_version(req, svc.launchType) if "platformVersion" in req else None
            launch_types.refuse_placement(req, svc.launchType)
            if svc.schedulingStrategy == "DAEMON":
                members.check_daemon(req)
            config = _deployment_configuration(req.get("deploymentConfiguration"), svc.deploymentConfiguration)
            checked(
                strategies if strategies is not None else svc.placementStrategy,
                constraints if constraints is not None else svc.placementConstraints,
            )
            state = ServiceState.load(s, cluster.clusterName, svc.serviceName)
            profile = _profile(req, state.profile)
            td = launchable_task_definition(self.ctx, td_ref) if td_ref else None
            target_td = td or s.get_task_definition_by_arn(svc.taskDefinition)
            mode = target_td.network_mode if target_td is not None else "bridge"
            kept = self._updated_members(req, svc, target_td, mode)
            if td is not None:
                launch_types.check_task_definition(td, svc.launchType)
            if platform is not None:
                kept["platformVersion"] = platform
            if controller is not None:
                kept["deploymentController"] = controller
        now = self.ctx.clock.now()
        new_deployment = force or (td is not None and td.taskDefinitionArn != svc.taskDefinition)
        new_deployment = new_deployment or strategies is not None or constraints is not None
        # As on ECS, a change to what tasks run with (network, load balancers, registries) rolls out.
        new_deployment = new_deployment or any(
            k in kept and kept[k] != getattr(svc, k)
            for k in (
                "networkConfiguration",
                "loadBalancers",
                "serviceRegistries",
                "enableExecuteCommand",
                "platformVersion",
            )
        )
        for key, value in kept.items():
            setattr(svc, key, value)
        if desired is not None:
            svc.desiredCount = desired
        svc.deploymentConfiguration = config
        if strategies is not None:
            svc.placementStrategy = strategies
        if constraints is not None:
            svc.placementConstraints = constraints
        if req.get("healthCheckGracePeriodSeconds") is not None:
            svc.healthCheckGracePeriodSeconds = opt_int(req, "healthCheckGracePeriodSeconds", lo=0)
        if new_deployment:
            for d in svc.deployments:
                d.status = "ACTIVE"
                d.updatedAt = now
            if td is not None:
                svc.taskDefinition = td.taskDefinitionArn
            svc.deployments.insert(
                0,
                Deployment(
                    id=deployment_id or self._new_deployment_id(),
                    taskDefinition=svc.taskDefinition,
                    desiredCount=svc.desiredCount,
                    createdAt=now,
                    updatedAt=now,
                    **launch_types.launch_fields(svc.launchType, svc.platformVersion),
                ),
            )
        svc.deployments[0].desiredCount = svc.desiredCount
        svc.deployments[0].updatedAt = now
        # A new generation tells the controller the service was updated (it then resets its
        # start-failure throttle, as ECS does); what the controller keeps is its own business.
        state.generation += 1
        state.profile = profile
        return ProposedUpdate(cluster.clusterName, svc, state, new_deployment)

    def _updated_members(self, req: dict[str, Any], svc: Service, td: Any, mode: str) -> dict[str, Any]:
        """The kept members UpdateService changes; those it omits stay as they are."""
        kept: dict[str, Any] = {}
        if "propagateTags" in req:
            kept["propagateTags"] = members.propagate_tags(req, ("TASK_DEFINITION", "SERVICE", "NONE"))
        if "enableECSManagedTags" in req:
            kept["enableECSManagedTags"] = members.managed_tags(req)
        if "enableExecuteCommand" in req:
            kept["enableExecuteCommand"] = members.execute_command(req)
        if "serviceRegistries" in req:
            kept["serviceRegistries"] = members.service_registries(req)
        if "loadBalancers" in req:
            kept["loadBalancers"] = service_lb.validated(
                self.ctx, req.get("loadBalancers"), td or resolve_task_definition(self.ctx, svc.taskDefinition)
            )
        if "networkConfiguration" in req:
            kept["networkConfiguration"] = members.network_configuration(req, mode)
        elif mode == "awsvpc" and svc.networkConfiguration is None:
            # A new awsvpc task definition: ECS wants the network named; REST and the CLI get the local one.
            kept["networkConfiguration"] = members.network_configuration(req, mode)
        elif mode != "awsvpc" and svc.networkConfiguration is not None and "taskDefinition" in req:
            if req.get(members.ECS_WIRE):
                raise InvalidParameterException(members.NETWORK_NOT_VALID)
            kept["networkConfiguration"] = None  # the local subnet REST filled in; it goes with awsvpc
        return kept

    def delete_service(self, req: dict[str, Any]) -> dict[str, Any]:
        force = opt_bool(req, "force")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            svc = self._get_service(cluster.clusterName, req.get("service"))
            if svc.status == "INACTIVE":
                raise ServiceNotActiveException(f"Service {svc.serviceName} is already deleted.")
            if svc.desiredCount > 0 and not force:
                raise InvalidParameterException(
                    f"The service cannot be stopped while it is scaled above 0 (desiredCount {svc.desiredCount}); "
                    "scale it to 0 first or pass force."
                )
            svc.desiredCount = 0
            for d in svc.deployments:
                d.desiredCount = 0
            svc.status = "DRAINING"
            s.put_service(svc)
        return {"service": self._with_events(svc)}

    def service_events(self, req: dict[str, Any]) -> dict[str, Any]:
        """Our addition: a service's events newest first, optionally only those after an id."""
        after = opt_int(req, "after", 0, lo=0) or 0
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            svc = self._get_service(cluster.clusterName, req.get("service"))
            events = s.list_events(cluster.clusterName, svc.serviceName, after_id=after)
        return {"events": events}
