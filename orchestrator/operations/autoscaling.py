"""Application Auto Scaling actions for ECS services, in the API's own PascalCase shapes.

RegisterScalableTarget, DescribeScalableTargets, DeregisterScalableTarget, PutScalingPolicy,
DescribeScalingPolicies, DeleteScalingPolicy and DescribeScalingActivities; the method names are
the snake_case operation names, which the AWS JSON 1.1 endpoint dispatches to. Validation of the
targets and policies themselves is `orchestrator.autoscaling.validation`'s; this module adds what
needs the store (the ECS service must exist, the target must be registered), pagination, ARNs and
storage (`orchestrator.autoscaling.records`). `service_metrics` is our addition: the stored
utilization history of a service, for `orchestrator svc metrics`.

Errors are ValidationException for bad input and ObjectNotFoundException for a missing target or
policy, with AWS's wording where AWS has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from orchestrator.autoscaling import records
from orchestrator.autoscaling.alarms import alarms_to_dict
from orchestrator.autoscaling.metrics import stored_records
from orchestrator.autoscaling.model import (
    ECS_DIMENSION,
    ECS_NAMESPACE,
    SCALABLE_DIMENSIONS,
    ScalableTarget,
    ScalingPolicy,
    parse_resource_id,
    policy_to_dict,
    target_to_dict,
)
from orchestrator.autoscaling.validation import (
    validate_put_scaling_policy,
    validate_register_scalable_target,
    validate_resource,
)
from orchestrator.core import elb, tags
from orchestrator.core.errors import ApiError, ObjectNotFoundException, ServiceNotFoundException, ValidationException
from orchestrator.core.models import ACCOUNT, region
from orchestrator.core.store import Store
from orchestrator.operations.autoscaling_tags import MAX_TAGS_PER_TARGET, check_tag_map, put_tag_map
from orchestrator.operations.common import Context, opt_int, req_str, require_cluster

# The service-linked role AWS uses for ECS services when RegisterScalableTarget names none.
ECS_SERVICE_LINKED_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService"
)
MAX_RESOURCE_IDS = 50
MAX_POLICY_NAMES = 50


class InvalidNextTokenException(ApiError):
    """Application Auto Scaling's name for a NextToken it did not hand out."""

    code = "InvalidNextTokenException"


def policy_arn(resource_id: str, policy_name: str) -> str:
    return (
        f"arn:aws:autoscaling:{region()}:{ACCOUNT}:scalingPolicy:{uuid.uuid4()}:"
        f"resource/ecs/{resource_id}:policyName/{policy_name}"
    )


def scalable_target_arn() -> str:
    # AWS's scalable-target ids are 34 lower-case hex-like characters starting with a digit.
    return f"arn:aws:application-autoscaling:{region()}:{ACCOUNT}:scalable-target/0e{uuid.uuid4().hex}"


def _not_found_target(resource_id: str) -> ObjectNotFoundException:
    return ObjectNotFoundException(
        f"No scalable target registered for service namespace: {ECS_NAMESPACE}, resource ID: {resource_id}, "
        f"scalable dimension: {ECS_DIMENSION}. Register it first (RegisterScalableTarget, or "
        "`orchestrator autoscale register`)."
    )


def _check_resource_label(s: Store, target: ScalableTarget, policy: ScalingPolicy) -> None:
    """An ALBRequestCountPerTarget policy must name a target group its service is behind."""
    config = policy.target_tracking
    if config is None or config.resource_label is None:
        return
    svc = s.get_service(target.cluster, target.service)
    labels = elb.service_resource_labels(s, svc) if svc is not None else {}
    if config.resource_label not in labels:
        known = ", ".join(sorted(labels)) or "none: the service has no target group behind an application load balancer"
        raise ValidationException(
            "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.ResourceLabel "
            f"{config.resource_label!r} is not a target group of service {target.service} behind an "
            f"application load balancer (its labels: {known})"
        )


def _namespace(req: Mapping[str, Any]) -> None:
    namespace = req.get("ServiceNamespace")
    if namespace is None:
        raise ValidationException("ServiceNamespace is required; use 'ecs'")
    if namespace != ECS_NAMESPACE:
        raise ValidationException(f"ServiceNamespace {namespace!r} is not supported here; only 'ecs' services scale")


def _dimension(req: Mapping[str, Any]) -> str | None:
    dimension = req.get("ScalableDimension")
    if dimension is not None and dimension not in SCALABLE_DIMENSIONS:
        raise ValidationException(f"ScalableDimension {dimension!r} is not valid for ecs; use ecs:service:DesiredCount")
    return None if dimension is None else str(dimension)


def _resource_id(req: Mapping[str, Any], key: str = "ResourceId") -> str | None:
    value = req.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationException(f"{key} must be a string of the form service/<cluster>/<service>")
    try:
        parse_resource_id(value)
    except ValueError:
        raise ValidationException(f"{key} {value!r} must be of the form service/<cluster>/<service>") from None
    return value


def _string_list(req: Mapping[str, Any], key: str, most: int) -> list[str] | None:
    value = req.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationException(f"{key} must be a list of non-empty strings")
    if len(value) > most:
        raise ValidationException(f"{key} may hold at most {most} entries, got {len(value)}")
    return list(value)


def _page(items: Sequence[Any], req: Mapping[str, Any], default_max: int, most: int) -> tuple[list[Any], str | None]:
    raw_max = req.get("MaxResults")
    if raw_max is None:
        max_results = default_max
    elif isinstance(raw_max, bool) or not isinstance(raw_max, int) or not 1 <= raw_max <= most:
        raise ValidationException(f"MaxResults must be an integer from 1 to {most}, got {raw_max!r}")
    else:
        max_results = raw_max
    token = req.get("NextToken")
    start = 0
    if token is not None:
        if not isinstance(token, str) or not token.isdigit():
            raise InvalidNextTokenException("NextToken is not valid; pass the NextToken of the previous response.")
        start = int(token)
    page = list(items[start : start + max_results])
    nxt = str(start + max_results) if start + max_results < len(items) else None
    return page, nxt


def _paged(key: str, items: Sequence[Any], req: Mapping[str, Any], default_max: int, most: int) -> dict[str, Any]:
    page, nxt = _page(items, req, default_max, most)
    out: dict[str, Any] = {key: page}
    if nxt is not None:
        out["NextToken"] = nxt
    return out


def _tags(req: Mapping[str, Any]) -> dict[str, str]:
    if req.get("Tags") is None:
        return {}
    given = check_tag_map(req["Tags"])
    if len(given) > MAX_TAGS_PER_TARGET:
        raise ValidationException(f"Tags may hold at most {MAX_TAGS_PER_TARGET} tags, got {len(given)}")
    return given


def policy_view(policy: ScalingPolicy) -> dict[str, Any]:
    """A ScalingPolicy as DescribeScalingPolicies lists it (plus the local StepScalingAlarm)."""
    return {**policy_to_dict(policy), "Alarms": alarms_to_dict(policy, region(), ACCOUNT)}


class AutoscalingOps:
    ctx: Context

    def _require_service(self, resource_id: str) -> None:
        cluster, service = parse_resource_id(resource_id)
        svc = self.ctx.store.get_service(cluster, service)
        if svc is None or svc.status != "ACTIVE":
            raise ValidationException(f"ECS service doesn't exist: {resource_id}. Create the service first.")

    def register_scalable_target(self, req: dict[str, Any]) -> dict[str, Any]:
        resource_id = validate_resource(req)
        new_tags = _tags(req)
        with self.ctx.store.write() as s:
            existing = records.get_target(s, resource_id)
            target = validate_register_scalable_target(req, existing)
            self._require_service(resource_id)
            if existing is None:
                target = replace(
                    target,
                    creation_time=self.ctx.clock.now(),
                    scalable_target_arn=scalable_target_arn(),
                    role_arn=target.role_arn or ECS_SERVICE_LINKED_ROLE,
                )
            records.put_target(s, target)
            if new_tags and target.scalable_target_arn:
                # Kept and listed by ListTagsForResource; on an existing target they are added, as TagResource would.
                put_tag_map(s, target.scalable_target_arn, new_tags)
        return {"ScalableTargetARN": target.scalable_target_arn}

    def describe_scalable_targets(self, req: dict[str, Any]) -> dict[str, Any]:
        _namespace(req)
        dimension = _dimension(req)
        ids = _string_list(req, "ResourceIds", MAX_RESOURCE_IDS)
        for rid in ids or []:
            _resource_id({"ResourceIds": rid}, "ResourceIds")
        with self.ctx.store.read() as s:
            targets = records.list_targets(s)
        if ids is not None:
            targets = [t for t in targets if t.resource_id in set(ids)]
        if dimension is not None:
            targets = [t for t in targets if t.scalable_dimension == dimension]
        return _paged("ScalableTargets", [target_to_dict(t) for t in targets], req, 50, 50)

    def deregister_scalable_target(self, req: dict[str, Any]) -> dict[str, Any]:
        resource_id = validate_resource(req)
        with self.ctx.store.write() as s:
            gone = records.get_target(s, resource_id)
            if gone is None:
                raise ObjectNotFoundException(
                    f"No scalable target found for service namespace: {ECS_NAMESPACE}, resource ID: {resource_id}, "
                    f"scalable dimension: {ECS_DIMENSION}"
                )
            records.delete_target(s, resource_id)
            if gone.scalable_target_arn:
                # Its tags go with it (a new registration gets a new ARN).
                tags.set_tags(s, gone.scalable_target_arn, [])
        return {}

    def put_scaling_policy(self, req: dict[str, Any]) -> dict[str, Any]:
        policy = validate_put_scaling_policy(req)
        with self.ctx.store.write() as s:
            target = records.get_target(s, policy.resource_id)
            if target is None:
                raise _not_found_target(policy.resource_id)
            _check_resource_label(s, target, policy)
            existing = records.get_policy(s, policy.resource_id, policy.policy_name)
            # Putting a policy of an existing name updates it in place: same ARN, same creation time.
            policy = replace(
                policy,
                policy_arn=existing.policy_arn if existing else policy_arn(policy.resource_id, policy.policy_name),
                creation_time=existing.creation_time if existing else self.ctx.clock.now(),
            )
            records.put_policy(s, policy)
        return {"PolicyARN": policy.policy_arn, "Alarms": alarms_to_dict(policy, region(), ACCOUNT)}

    def describe_scaling_policies(self, req: dict[str, Any]) -> dict[str, Any]:
        _namespace(req)
        dimension = _dimension(req)
        resource_id = _resource_id(req)
        names = _string_list(req, "PolicyNames", MAX_POLICY_NAMES)
        with self.ctx.store.read() as s:
            policies = records.list_policies(s, resource_id)
        if names is not None:
            policies = [p for p in policies if p.policy_name in set(names)]
        if dimension is not None:
            policies = [p for p in policies if p.scalable_dimension == dimension]
        return _paged("ScalingPolicies", [policy_view(p) for p in policies], req, 10, 10)

    def delete_scaling_policy(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req.get("PolicyName")
        if not isinstance(name, str) or not name:
            raise ValidationException("PolicyName is required")
        resource_id = validate_resource(req)
        with self.ctx.store.write() as s:
            if records.get_policy(s, resource_id, name) is None:
                raise ObjectNotFoundException(
                    f"No scaling policy found for service namespace: {ECS_NAMESPACE}, resource ID: {resource_id}, "
                    f"scalable dimension: {ECS_DIMENSION}, policy name: {name}"
                )
            records.delete_policy(s, resource_id, name)
        return {}

    def describe_scaling_activities(self, req: dict[str, Any]) -> dict[str, Any]:
        _namespace(req)
        dimension = _dimension(req)
        resource_id = _resource_id(req)
        include = req.get("IncludeNotScaledActivities", False)
        if not isinstance(include, bool):
            raise ValidationException("IncludeNotScaledActivities must be true or false")
        with self.ctx.store.read() as s:
            activities = records.list_activities(s, resource_id)
        if not include:
            activities = [a for a in activities if not a.get("NotScaledReasons")]
        if dimension is not None:
            activities = [a for a in activities if a.get("ScalableDimension") == dimension]
        return _paged("ScalingActivities", activities, req, 50, 50)

    def service_metrics(self, req: dict[str, Any]) -> dict[str, Any]:
        """Our addition: a service's utilization datapoints, oldest first, with desired/running counts."""
        limit = opt_int(req, "limit", 60, lo=1, hi=1000) or 60
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            name = req_str(req, "service")
            svc = s.get_service(cluster.clusterName, name)
            if svc is None:
                raise ServiceNotFoundException(f"Service not found: {name} in cluster {cluster.clusterName}.")
            target = records.get_target(s, f"service/{cluster.clusterName}/{name}")
            labels = elb.service_resource_labels(s, svc)
        points = stored_records(self.ctx.store, cluster.clusterName, name)[-limit:]
        out: dict[str, Any] = {
            "serviceName": name,
            "metricPeriodSeconds": self.ctx.settings.metric_period_s,
            "datapoints": points,
            # What an ALBRequestCountPerTarget policy of this service may name, and the group each is.
            "resourceLabels": labels,
        }
        if target is not None:
            out["scalableTarget"] = target_to_dict(target)
        return out
