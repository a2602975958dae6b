"""Elastic Load Balancing v2 objects as documents in the store, and the questions ECS asks of them.

Load balancers, target groups, listeners and targets are kept in the store's generic `documents`
table (one kind each), shaped as ELBv2 shapes them (PascalCase), plus a few members of ours whose
names start with `_` and never reach the wire. The operations (`operations/elbv2.py`) write them,
the targets controller (`reconcile/targets.py`) keeps targets in line with tasks and HAProxy, and
the service controller and the agents' assignments ask two questions: is this task's target
healthy, and may this task's container stop yet (not while its target drains).
"""

from __future__ import annotations

import secrets
from typing import Any

from orchestrator.core.models import ACCOUNT, Task, region
from orchestrator.core.store import Store


def _arn_prefix() -> str:
    # The control plane's one region (--region), as in every ECS ARN.
    return f"arn:aws:elasticloadbalancing:{region()}:{ACCOUNT}"


LB = "elbv2_lb"
TG = "elbv2_tg"
LISTENER = "elbv2_listener"
TARGET = "elbv2_target"

# Target health states and reasons (ELB's own words).
INITIAL, HEALTHY, UNHEALTHY, UNUSED, DRAINING = "initial", "healthy", "unhealthy", "unused", "draining"
DEFAULT_DEREGISTRATION_DELAY_S = 300


def new_id() -> str:
    return secrets.token_hex(8)


def lb_arn(kind: str, name: str, ident: str) -> str:
    # kind: "app" or "net", as ELB spells them in ARNs.
    return f"{_arn_prefix()}:loadbalancer/{kind}/{name}/{ident}"


def tg_arn(name: str, ident: str) -> str:
    return f"{_arn_prefix()}:targetgroup/{name}/{ident}"


def listener_arn(lb: str, ident: str) -> str:
    # arn:...:loadbalancer/app/name/id -> arn:...:listener/app/name/id/listener-id
    return lb.replace(":loadbalancer/", ":listener/", 1) + f"/{ident}"


def target_key(tg: str, target_id: str, port: int) -> str:
    return f"{tg}|{target_id}|{port}"


# -- reads and writes -------------------------------------------------------------------------


def get(store: Store, kind: str, arn: str) -> dict[str, Any] | None:
    return store.get_doc(kind, arn)


def all_of(store: Store, kind: str) -> list[dict[str, Any]]:
    return [body for _, body in store.list_docs(kind)]


def put(store: Store, kind: str, key: str, body: dict[str, Any]) -> None:
    store.put_doc(kind, key, body)


def delete(store: Store, kind: str, key: str) -> None:
    store.delete_doc(kind, key)


def targets_of(store: Store, tg: str) -> list[dict[str, Any]]:
    return [body for _, body in store.list_docs(TARGET, f"{tg}|")]


def listeners_of(store: Store, lb: str) -> list[dict[str, Any]]:
    return [body for body in all_of(store, LISTENER) if body["LoadBalancerArn"] == lb]


def forwarded_groups(listener: dict[str, Any]) -> list[tuple[str, int]]:
    """(target group ARN, weight) pairs a listener's default action forwards to."""
    out: list[tuple[str, int]] = []
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            out += [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups]
        elif action.get("TargetGroupArn"):
            out.append((action["TargetGroupArn"], 1))
    return out


def load_balancers_of_group(store: Store, tg: str) -> list[str]:
    """ARNs of the load balancers with a listener forwarding to target group `tg`."""
    found = {lst["LoadBalancerArn"] for lst in all_of(store, LISTENER) if tg in dict(forwarded_groups(lst))}
    return sorted(found)


def deregistration_delay(group: dict[str, Any]) -> int:
    attrs = group.get("_attributes", {})
    return int(attrs.get("deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY_S))


# -- what ECS asks ----------------------------------------------------------------------------


def service_load_balancers(service: Any) -> list[dict[str, Any]]:
    """A service's `loadBalancers` as plain dicts, whether the model types them or keeps them as extras."""
    raw = getattr(service, "loadBalancers", None) or []
    out = []
    for item in raw:
        out.append(item if isinstance(item, dict) else item.model_dump(exclude_none=True))
    return out


def task_targets(store: Store, task: Task) -> list[dict[str, Any]]:
    """The target documents registered for `task` (by the targets controller), in any group."""
    return [body for _, body in store.list_docs(TARGET) if body.get("_task") == task.taskArn]


def is_healthy(store: Store, task: Task, wanted_groups: list[str]) -> bool:
    """True when `task` is a healthy target in every target group of `wanted_groups` (the service's)."""
    mine = {t["TargetGroupArn"]: t for t in task_targets(store, task)}
    return all(g in mine and mine[g].get("_health", {}).get("State") == HEALTHY for g in wanted_groups)


def unhealthy_groups(store: Store, task: Task) -> list[dict[str, Any]]:
    """The targets of `task` that the load balancer's health checks found unhealthy."""
    return [t for t in task_targets(store, task) if t.get("_health", {}).get("State") == UNHEALTHY]


def stop_held(store: Store, task: Task) -> bool:
    """True while `task` must keep running although it is to stop: a target of it is registered
    or draining (the targets controller deregisters it, waits out the delay, then removes it)."""
    return task.desiredStatus == "STOPPED" and bool(task_targets(store, task))


def start_draining(store: Store, key: str, now: float, delay_s: int) -> None:
    """Deregister a target: it takes no new connection and is removed after the delay."""
    doc = get(store, TARGET, key)
    if doc is None or doc.get("_state") == "draining":
        return
    doc["_state"] = "draining"
    doc["_drainUntil"] = now + delay_s
    doc["_health"] = {
        "State": DRAINING,
        "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress",
    }
    put(store, TARGET, key, doc)


def resource_label(lb: str, tg: str) -> str | None:
    """Application Auto Scaling's ResourceLabel for a target group behind an application load
    balancer: app/<lb name>/<lb id>/targetgroup/<group name>/<group id>; None for a network one."""
    lb_part = lb.split(":loadbalancer/", 1)[-1]
    if not lb_part.startswith("app/"):
        return None
    return f"{lb_part}/{tg.split(':')[-1]}"


def service_resource_labels(store: Store, service: Any) -> dict[str, str]:
    """ResourceLabel -> target group ARN, for every target group of `service` that an application
    load balancer forwards to: what an ALBRequestCountPerTarget policy on it may name."""
    out: dict[str, str] = {}
    for item in service_load_balancers(service):
        tg = item.get("targetGroupArn")
        if not tg:
            continue
        for lb in load_balancers_of_group(store, tg):
            label = resource_label(lb, tg)
            if label is not None:
                out[label] = tg
    return out


def healthy_count(store: Store, tg: str) -> int:
    return sum(1 for t in targets_of(store, tg) if t.get("_health", {}).get("State") == HEALTHY)
