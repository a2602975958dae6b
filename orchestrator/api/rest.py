"""The REST API: resource-shaped routes over the operations. No logic lives here.

Every route builds the ECS request dict from its path, query and body and returns the ECS
response dict, so `-o json` on the CLI shows exactly what the ECS endpoint would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from orchestrator.operations import Operations
from orchestrator.reconcile.plan import preview
from orchestrator.security.auth import require_admin


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _admin(request: Request) -> None:
    require_admin(request.app.state.tokens, request.headers.get("authorization"))


router = APIRouter(prefix="/v1", dependencies=[Depends(_admin)])
AnyBody = Body(default_factory=dict)


def _all_pages(list_call: Callable[[dict[str, Any]], dict[str, Any]], req: dict[str, Any], key: str) -> list[str]:
    """Every ARN a List* operation returns, following nextToken."""
    arns: list[str] = []
    while True:
        page = list_call(req)
        arns += page[key]
        if not page.get("nextToken"):
            return arns
        req = {**req, "nextToken": page["nextToken"]}


def _describe_all(
    describe_call: Callable[[dict[str, Any]], dict[str, Any]], req: dict[str, Any], arns: list[str], key: str, size: int
) -> list[dict[str, Any]]:
    """Describe* over ARNs in batches of the size ECS allows."""
    found: list[dict[str, Any]] = []
    for i in range(0, len(arns), size):
        found += describe_call({**req, key: arns[i : i + size]})[key]
    return found


# -- clusters ------------------------------------------------------------------------------


@router.post("/clusters", tags=["clusters"])
def create_cluster(body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.create_cluster(body)


@router.get("/clusters", tags=["clusters"])
def list_clusters(ops: Operations = Depends(_ops)) -> dict[str, Any]:
    arns = ops.list_clusters({"maxResults": 100})["clusterArns"]
    return ops.describe_clusters({"clusters": arns}) if arns else {"clusters": [], "failures": []}


@router.get("/clusters/{cluster}", tags=["clusters"])
def describe_cluster(cluster: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.describe_clusters({"clusters": [cluster]})


@router.delete("/clusters/{cluster}", tags=["clusters"])
def delete_cluster(cluster: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.delete_cluster({"cluster": cluster})


# -- task definitions ----------------------------------------------------------------------


@router.post("/task-definitions", tags=["task definitions"])
def register_task_definition(body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.register_task_definition(body)


@router.get("/task-definitions", tags=["task definitions"])
def list_task_definitions(
    familyPrefix: str | None = None, status: str = "ACTIVE", ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    req: dict[str, Any] = {"status": status, "maxResults": 100}
    if familyPrefix:
        req["familyPrefix"] = familyPrefix
    return {"taskDefinitionArns": _all_pages(ops.list_task_definitions, req, "taskDefinitionArns")}


@router.get("/task-definitions/{ref}", tags=["task definitions"])
def describe_task_definition(ref: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.describe_task_definition({"taskDefinition": ref})


@router.delete("/task-definitions/{ref}", tags=["task definitions"])
def deregister_task_definition(ref: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.deregister_task_definition({"taskDefinition": ref})


# -- services ------------------------------------------------------------------------------


@router.post("/clusters/{cluster}/services", tags=["services"])
def create_service(cluster: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.create_service({**body, "cluster": cluster})


@router.get("/clusters/{cluster}/services", tags=["services"])
def list_services(cluster: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    req: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
    arns = _all_pages(ops.list_services, req, "serviceArns")
    return {"services": _describe_all(ops.describe_services, {"cluster": cluster}, arns, "services", 10)}


@router.get("/clusters/{cluster}/services/{name}", tags=["services"])
def describe_service(cluster: str, name: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.describe_services({"cluster": cluster, "services": [name]})


@router.patch("/clusters/{cluster}/services/{name}", tags=["services"])
def update_service(
    cluster: str, name: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    return ops.update_service({**body, "cluster": cluster, "service": name})


@router.delete("/clusters/{cluster}/services/{name}", tags=["services"])
def delete_service(cluster: str, name: str, force: bool = False, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.delete_service({"cluster": cluster, "service": name, "force": force})


@router.get("/clusters/{cluster}/services/{name}/events", tags=["services"])
def service_events(cluster: str, name: str, after: int = 0, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.service_events({"cluster": cluster, "service": name, "after": after})


@router.post("/clusters/{cluster}/services/{name}/plan", tags=["services"])
def plan_service(
    cluster: str, name: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    """What `svc update` with the same body would do (and draining `drainInstances`), step by step;
    nothing is changed."""
    req = ops.plan_request({**body, "cluster": cluster, "service": name})
    c = req.change
    return preview(ops.ctx, c.cluster, c.service, c.state, c.new_deployment, draining=req.draining)


# -- tasks ---------------------------------------------------------------------------------


@router.post("/clusters/{cluster}/tasks", tags=["tasks"])
def run_task(cluster: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.run_task({**body, "cluster": cluster})


@router.post("/clusters/{cluster}/tasks/start", tags=["tasks"])
def start_task(cluster: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.start_task({**body, "cluster": cluster})


@router.get("/clusters/{cluster}/tasks", tags=["tasks"])
def list_tasks(
    cluster: str,
    serviceName: str | None = None,
    desiredStatus: str = "RUNNING",
    containerInstance: str | None = None,
    family: str | None = None,
    startedBy: str | None = None,
    ops: Operations = Depends(_ops),
) -> dict[str, Any]:
    req: dict[str, Any] = {"cluster": cluster, "desiredStatus": desiredStatus, "maxResults": 100}
    for key, value in (
        ("serviceName", serviceName),
        ("containerInstance", containerInstance),
        ("family", family),
        ("startedBy", startedBy),
    ):
        if value:
            req[key] = value
    arns = _all_pages(ops.list_tasks, req, "taskArns")
    return {"tasks": _describe_all(ops.describe_tasks, {"cluster": cluster}, arns, "tasks", 100)}


@router.get("/clusters/{cluster}/tasks/{task}", tags=["tasks"])
def describe_task(cluster: str, task: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.describe_tasks({"cluster": cluster, "tasks": [task]})


@router.post("/clusters/{cluster}/tasks/{task}/stop", tags=["tasks"])
def stop_task(
    cluster: str, task: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    return ops.stop_task({**body, "cluster": cluster, "task": task})


@router.get("/clusters/{cluster}/tasks/{task}/explanation", tags=["tasks"])
def explain_task(cluster: str, task: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.explain_task({"cluster": cluster, "task": task})


# -- container instances -------------------------------------------------------------------


@router.get("/clusters/{cluster}/container-instances", tags=["container instances"])
def list_container_instances(
    cluster: str, filter: str | None = None, status: str | None = None, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    req: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
    if filter:
        req["filter"] = filter
    if status:
        req["status"] = status
    arns = _all_pages(ops.list_container_instances, req, "containerInstanceArns")
    found = _describe_all(ops.describe_container_instances, {"cluster": cluster}, arns, "containerInstances", 100)
    return {"containerInstances": found}


@router.get("/clusters/{cluster}/container-instances/{instance}", tags=["container instances"])
def describe_container_instance(cluster: str, instance: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.describe_container_instances({"cluster": cluster, "containerInstances": [instance]})


@router.post("/clusters/{cluster}/container-instances/{instance}/drain", tags=["container instances"])
def drain(cluster: str, instance: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.update_container_instances_state(
        {"cluster": cluster, "containerInstances": [instance], "status": "DRAINING"}
    )


@router.post("/clusters/{cluster}/container-instances/{instance}/activate", tags=["container instances"])
def activate(cluster: str, instance: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.update_container_instances_state(
        {"cluster": cluster, "containerInstances": [instance], "status": "ACTIVE"}
    )


@router.delete("/clusters/{cluster}/container-instances/{instance}", tags=["container instances"])
def deregister(cluster: str, instance: str, force: bool = False, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.deregister_container_instance({"cluster": cluster, "containerInstance": instance, "force": force})


@router.put("/clusters/{cluster}/attributes", tags=["container instances"])
def put_attributes(cluster: str, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.put_attributes({**body, "cluster": cluster})


# -- container logs ------------------------------------------------------------------------


def _log_request(
    sinceSeconds: int | None, tail: int | None, after: int | None, wait: int, limit: int | None
) -> dict[str, Any]:
    req = {"sinceSeconds": sinceSeconds, "tail": tail, "after": after, "wait": wait, "limit": limit}
    return {k: v for k, v in req.items() if v is not None}


@router.get("/clusters/{cluster}/tasks/{task}/logs", tags=["tasks"])
def task_logs(
    cluster: str,
    task: str,
    container: str | None = None,
    sinceSeconds: int | None = None,
    tail: int | None = None,
    after: int | None = None,
    wait: int = 0,
    limit: int | None = None,
    ops: Operations = Depends(_ops),
) -> dict[str, Any]:
    """A task's container output in time order (`tail`: the newest N) and a `cursor`; with
    `after=cursor`, what arrived since, waiting up to `wait` seconds for it (follow)."""
    req = {
        "cluster": cluster,
        "task": task,
        "container": container,
        **_log_request(sinceSeconds, tail, after, wait, limit),
    }
    return ops.task_logs(req)


@router.get("/clusters/{cluster}/services/{name}/logs", tags=["services"])
def service_logs(
    cluster: str,
    name: str,
    sinceSeconds: int | None = None,
    tail: int | None = None,
    after: int | None = None,
    wait: int = 0,
    limit: int | None = None,
    ops: Operations = Depends(_ops),
) -> dict[str, Any]:
    """Every task's output of a service, interleaved; `after` and `wait` as for a task's logs."""
    return ops.service_logs(
        {"cluster": cluster, "service": name, **_log_request(sinceSeconds, tail, after, wait, limit)}
    )
