"""Where Application Auto Scaling keeps its objects: store documents, one kind per object.

Owns the storage layout shared by the operations (which write targets and policies) and the
runner (which reads them and writes state and activities). Every function takes an open store
view; the caller holds `store.write()` or `store.read()` around a consistent set of calls.

Kinds and keys:
- `scalable_target`, key = resource id (`service/<cluster>/<service>`): `target_to_dict`.
- `scaling_policy`, key = `<resource id>/<policy name>`: `policy_to_dict` (PolicyARN and
  CreationTime included). Service names contain no `/`, so the prefix `<resource id>/` lists
  exactly one target's policies.
- `autoscaling_state`, key = resource id: `state_to_dict` plus the runner's own bookkeeping.
- `autoscaling_activities`, key = resource id: the newest `ACTIVITIES_KEPT` activities, newest
  first. Activities outlive their target, as in AWS, so that a deregistered target's history can
  still be read.
"""

from __future__ import annotations

from typing import Any

from orchestrator.autoscaling.model import (
    Activity,
    ScalableTarget,
    ScalingPolicy,
    activity_to_dict,
    policy_from_dict,
    policy_to_dict,
    target_from_dict,
    target_to_dict,
)
from orchestrator.core.store import Store

TARGET_KIND = "scalable_target"
POLICY_KIND = "scaling_policy"
STATE_KIND = "autoscaling_state"
ACTIVITY_KIND = "autoscaling_activities"
ACTIVITIES_KEPT = 200


def policy_key(resource_id: str, policy_name: str) -> str:
    return f"{resource_id}/{policy_name}"


def get_target(store: Store, resource_id: str) -> ScalableTarget | None:
    doc = store.get_doc(TARGET_KIND, resource_id)
    return None if doc is None else target_from_dict(doc)


def list_targets(store: Store) -> list[ScalableTarget]:
    return [target_from_dict(doc) for _, doc in store.list_docs(TARGET_KIND)]


def put_target(store: Store, target: ScalableTarget) -> None:
    store.put_doc(TARGET_KIND, target.resource_id, target_to_dict(target))


def delete_target(store: Store, resource_id: str) -> None:
    """The target, its policies and the engine's state; activities stay."""
    for policy in list_policies(store, resource_id):
        store.delete_doc(POLICY_KIND, policy_key(resource_id, policy.policy_name))
    store.delete_doc(STATE_KIND, resource_id)
    store.delete_doc(TARGET_KIND, resource_id)


def get_policy(store: Store, resource_id: str, policy_name: str) -> ScalingPolicy | None:
    doc = store.get_doc(POLICY_KIND, policy_key(resource_id, policy_name))
    return None if doc is None else policy_from_dict(doc)


def list_policies(store: Store, resource_id: str | None = None) -> list[ScalingPolicy]:
    prefix = "" if resource_id is None else f"{resource_id}/"
    return [policy_from_dict(doc) for _, doc in store.list_docs(POLICY_KIND, prefix)]


def put_policy(store: Store, policy: ScalingPolicy) -> None:
    store.put_doc(POLICY_KIND, policy_key(policy.resource_id, policy.policy_name), policy_to_dict(policy))


def delete_policy(store: Store, resource_id: str, policy_name: str) -> None:
    store.delete_doc(POLICY_KIND, policy_key(resource_id, policy_name))


def get_state_doc(store: Store, resource_id: str) -> dict[str, Any]:
    return store.get_doc(STATE_KIND, resource_id) or {}


def put_state_doc(store: Store, resource_id: str, doc: dict[str, Any]) -> None:
    store.put_doc(STATE_KIND, resource_id, doc)


def list_activities(store: Store, resource_id: str | None = None) -> list[dict[str, Any]]:
    """Activities in the API's shape, newest first (across targets when `resource_id` is None)."""
    if resource_id is not None:
        doc = store.get_doc(ACTIVITY_KIND, resource_id) or {}
        return list(doc.get("Activities", []))
    found: list[dict[str, Any]] = []
    for _, doc in store.list_docs(ACTIVITY_KIND):
        found += doc.get("Activities", [])
    return sorted(found, key=lambda a: -float(a.get("StartTime", 0)))


def add_activities(store: Store, resource_id: str, activities: list[Activity]) -> None:
    if not activities:
        return
    kept = list_activities(store, resource_id)
    # Newest first; activities of one evaluation keep their order (a clamp before the scaling).
    fresh = [activity_to_dict(a) for a in reversed(activities)]
    store.put_doc(ACTIVITY_KIND, resource_id, {"Activities": (fresh + kept)[:ACTIVITIES_KEPT]})
