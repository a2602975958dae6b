"""Cluster actions: CreateCluster, ListClusters, DescribeClusters, DeleteCluster, UpdateCluster(Settings).

Clusters carry tags (`core/tags.py`) and ECS's one cluster setting, containerInsights; capacity
providers, Service Connect defaults and execute-command configuration are refused by name.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.core import tags
from orchestrator.core.errors import (
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    InvalidParameterException,
)
from orchestrator.core.models import Cluster, cluster_arn
from orchestrator.core.store import Store
from orchestrator.operations.account_settings import effective_setting
from orchestrator.operations.common import Context, cluster_name, opt_list, paginate, require_cluster
from orchestrator.operations.tags import with_tags

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
INSIGHTS_VALUES = ("enabled", "disabled", "enhanced")
DESCRIBE_INCLUDE = ("ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS")
NOT_SUPPORTED = {
    "configuration": "execute-command and managed-storage configurations are not available here",
    "capacityProviders": "capacity providers do not exist here",
    "defaultCapacityProviderStrategy": "capacity providers do not exist here",
    "serviceConnectDefaults": "Service Connect is not available here",
}


def _refuse_unsupported(req: dict[str, Any]) -> None:
    for name, why in NOT_SUPPORTED.items():
        if req.get(name) not in (None, [], {}):
            raise InvalidParameterException(f"{name} is not supported by this endpoint: {why}.")


def _settings(raw: Any, current: list[dict[str, str]]) -> list[dict[str, str]]:
    """`current` with each {name, value} of `raw` applied, as ECS validates cluster settings."""
    if not isinstance(raw, list):
        raise InvalidParameterException("settings must be a list of {name, value} objects.")
    merged = {s["name"]: s["value"] for s in current}
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("name") != "containerInsights":
            raise InvalidParameterException(f"settings[{i}].name must be containerInsights.")
        value = item.get("value")
        if value not in INSIGHTS_VALUES:
            raise InvalidParameterException(
                f"settings[{i}].value must be one of {', '.join(INSIGHTS_VALUES)}, got {value!r}."
            )
        merged["containerInsights"] = value
    return [{"name": k, "value": v} for k, v in merged.items()]


def _statistics(ctx: Context, name: str) -> list[dict[str, str]]:
    counts = ctx.store.cluster_counts(name)
    return [
        {"name": "runningEC2TasksCount", "value": str(counts["running"])},
        {"name": "pendingEC2TasksCount", "value": str(counts["pending"])},
        {"name": "activeEC2ServiceCount", "value": str(counts["ACTIVE"])},
        {"name": "drainingEC2ServiceCount", "value": str(counts["DRAINING"])},
    ]


def _counts(ctx: Context, cluster: Cluster) -> Cluster:
    counts = ctx.store.cluster_counts(cluster.clusterName)
    return cluster.model_copy(
        update={
            "registeredContainerInstancesCount": counts["instances"],
            "runningTasksCount": counts["running"],
            "pendingTasksCount": counts["pending"],
            "activeServicesCount": counts["ACTIVE"],
        }
    )


def ensure_active_cluster(store: Store, name: str) -> Cluster:
    """The ACTIVE cluster `name`, created (or brought back from INACTIVE) if need be; inside store.write()."""
    cluster = store.get_cluster(name)
    if cluster is None or cluster.status != "ACTIVE":
        cluster = Cluster(clusterArn=cluster_arn(name), clusterName=name)
        store.put_cluster(cluster)
        store.delete_doc(tags.DOC_KIND, cluster.clusterArn)
    return cluster


class ClusterOps:
    ctx: Context

    def create_cluster(self, req: dict[str, Any]) -> dict[str, Any]:
        name = cluster_name(req.get("clusterName"))
        if not NAME_RE.match(name):
            raise InvalidParameterException(
                "clusterName may contain up to 255 letters, numbers, hyphens and underscores."
            )
        _refuse_unsupported(req)
        given_tags = tags.check_tags(req.get("tags"))
        with self.ctx.store.write() as s:
            existing = s.get_cluster(name)
            fresh = existing is None or existing.status != "ACTIVE"
            cluster = ensure_active_cluster(s, name)
            if fresh:
                # The account's containerInsights setting is the default of a new cluster, as on ECS.
                cluster.settings = [{"name": "containerInsights", "value": effective_setting(s, "containerInsights")}]
            # Creating an existing cluster is idempotent in ECS; its settings and tags are applied.
            if req.get("settings") is not None:
                cluster.settings = _settings(req["settings"], cluster.settings)
            s.put_cluster(cluster)
            if given_tags:
                tags.merge_tags(s, cluster.clusterArn, given_tags)
            out = with_tags(s, cluster.clusterArn, _counts(self.ctx, cluster).wire())
        return {"cluster": out}

    def update_cluster(self, req: dict[str, Any]) -> dict[str, Any]:
        _refuse_unsupported(req)
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            if req.get("settings") is not None:
                cluster.settings = _settings(req["settings"], cluster.settings)
            s.put_cluster(cluster)
        return {"cluster": self._described(cluster, ("SETTINGS",))}

    def update_cluster_settings(self, req: dict[str, Any]) -> dict[str, Any]:
        if "cluster" not in req or not req.get("cluster"):
            raise InvalidParameterException("cluster is required.")
        if not req.get("settings"):
            raise InvalidParameterException("settings must hold at least one setting.")
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            cluster.settings = _settings(req["settings"], cluster.settings)
            s.put_cluster(cluster)
        return {"cluster": self._described(cluster, ("SETTINGS",))}

    def _described(self, cluster: Cluster, include: tuple[str, ...]) -> dict[str, Any]:
        out = _counts(self.ctx, cluster).wire()
        # Settings, statistics and tags come only when asked for, as on ECS.
        out["settings"] = out["settings"] if "SETTINGS" in include else []
        out["statistics"] = _statistics(self.ctx, cluster.clusterName) if "STATISTICS" in include else []
        out["tags"] = tags.get_tags(self.ctx.store, cluster.clusterArn) if "TAGS" in include else []
        return out

    def list_clusters(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.read() as s:
            arns = [c.clusterArn for c in s.list_clusters() if c.status == "ACTIVE"]
        page, nxt = paginate(arns, req)
        out: dict[str, Any] = {"clusterArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def describe_clusters(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = opt_list(req, "clusters") or ["default"]
        if len(refs) > 100:
            raise InvalidParameterException("clusters may name at most 100 clusters.")
        include = opt_list(req, "include")
        for value in include:
            if value not in DESCRIBE_INCLUDE:
                raise InvalidParameterException(f"include may hold {', '.join(DESCRIBE_INCLUDE)}, got {value!r}.")
        found, failures = [], []
        with self.ctx.store.read() as s:
            for ref in refs:
                name = cluster_name(ref)
                cluster = s.get_cluster(name)
                if cluster is None or (isinstance(ref, str) and ref.startswith("arn:") and ref != cluster.clusterArn):
                    # An ARN of another region or account is not ours; it comes back as given.
                    arn = ref if isinstance(ref, str) and ref.startswith("arn:") else cluster_arn(name)
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(self._described(cluster, tuple(include)))
        return {"clusters": found, "failures": failures}

    def delete_cluster(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.write() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            name = cluster.clusterName
            if s.list_instances(name):
                raise ClusterContainsContainerInstancesException(
                    f"The cluster {name} still has registered container instances; deregister them first."
                )
            if s.list_services(name, status="ACTIVE") or s.list_services(name, status="DRAINING"):
                raise ClusterContainsServicesException(
                    f"The cluster {name} still has active services; delete them first."
                )
            if s.list_tasks(name, not_stopped=True):
                raise ClusterContainsTasksException(f"The cluster {name} still has tasks; stop them first.")
            cluster.status = "INACTIVE"
            s.put_cluster(cluster)
            s.delete_doc(tags.DOC_KIND, cluster.clusterArn)
        return {"cluster": cluster.wire()}
