"""REST routes for a service's autoscaling: scalable target, policies, activities and metrics.

Thin, like `rest.py`: each route builds the Application Auto Scaling request (PascalCase) from
the path and body, fixing ServiceNamespace, ResourceId and ScalableDimension from the path, and
returns the operation's response unchanged, so `-o json` shows what the AWS endpoint returns.
Admin-protected like every `/v1` route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.autoscaling.model import ECS_DIMENSION, ECS_NAMESPACE, resource_id_for
from orchestrator.operations import Operations
from orchestrator.security.auth import require_admin


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


router = APIRouter(
    prefix="/v1/clusters/{cluster}/services/{name}", dependencies=[Depends(_admin)], tags=["autoscaling"]
)
AnyBody = Body(default_factory=dict)


def _resource(cluster: str, name: str) -> dict[str, Any]:
    return {
        "ServiceNamespace": ECS_NAMESPACE,
        "ResourceId": resource_id_for(cluster, name),
        "ScalableDimension": ECS_DIMENSION,
    }


def _all_pages(call: Any, req: dict[str, Any], key: str) -> dict[str, Any]:
    items: list[Any] = []
    while True:
        page = call(req)
        items += page[key]
        if not page.get("NextToken"):
            return {key: items}
        req = {**req, "NextToken": page["NextToken"]}


@router.put("/scalable-target")
def register_scalable_target(
    cluster: str, name: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    return ops.register_scalable_target({**body, **_resource(cluster, name)})


@router.get("/scalable-target")
def describe_scalable_target(cluster: str, name: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    resource = _resource(cluster, name)
    return ops.describe_scalable_targets({"ServiceNamespace": ECS_NAMESPACE, "ResourceIds": [resource["ResourceId"]]})


@router.delete("/scalable-target")
def deregister_scalable_target(cluster: str, name: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.deregister_scalable_target(_resource(cluster, name))


@router.put("/scaling-policies/{policy}")
def put_scaling_policy(
    cluster: str, name: str, policy: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    return ops.put_scaling_policy({**body, "PolicyName": policy, **_resource(cluster, name)})


@router.get("/scaling-policies")
def describe_scaling_policies(cluster: str, name: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    req = {"ServiceNamespace": ECS_NAMESPACE, "ResourceId": resource_id_for(cluster, name)}
    return _all_pages(ops.describe_scaling_policies, req, "ScalingPolicies")


@router.delete("/scaling-policies/{policy}")
def delete_scaling_policy(cluster: str, name: str, policy: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.delete_scaling_policy({"PolicyName": policy, **_resource(cluster, name)})


@router.get("/scaling-activities")
def describe_scaling_activities(
    cluster: str, name: str, includeNotScaled: bool = True, maxResults: int = 50, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    req = {
        "ServiceNamespace": ECS_NAMESPACE,
        "ResourceId": resource_id_for(cluster, name),
        "IncludeNotScaledActivities": includeNotScaled,
        "MaxResults": maxResults,
    }
    return ops.describe_scaling_activities(req)


@router.get("/metrics")
def service_metrics(cluster: str, name: str, limit: int = 60, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.service_metrics({"cluster": cluster, "service": name, "limit": limit})
