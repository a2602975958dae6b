"""Cluster actions: CreateCluster, ListClusters, DescribeClusters, DeleteCluster."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.core.errors import (
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    InvalidParameterException,
)
from orchestrator.core.models import Cluster, cluster_arn
from orchestrator.operations.common import Context, cluster_name, opt_list, paginate, require_cluster

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _counts(ctx: Context, cluster: Cluster) -> Cluster:
    name = cluster.clusterName
    tasks = ctx.store.list_tasks(name, not_stopped=True)
    return cluster.model_copy(
        update={
            "registeredContainerInstancesCount": len(ctx.store.list_instances(name)),
            "runningTasksCount": sum(1 for t in tasks if t.lastStatus == "RUNNING"),
            "pendingTasksCount": sum(1 for t in tasks if t.lastStatus != "RUNNING"),
            "activeServicesCount": len(ctx.store.list_services(name, status="ACTIVE")),
        }
    )


class ClusterOps:
    ctx: Context

    def create_cluster(self, req: dict[str, Any]) -> dict[str, Any]:
        name = cluster_name(req.get("clusterName"))
        if not NAME_RE.match(name):
            raise InvalidParameterException(
                "clusterName may contain up to 255 letters, numbers, hyphens and underscores."
            )
        with self.ctx.store.write() as s:
            cluster = s.get_cluster(name)
            if cluster is None or cluster.status != "ACTIVE":
                cluster = Cluster(clusterArn=cluster_arn(name), clusterName=name)
                s.put_cluster(cluster)
        return {"cluster": _counts(self.ctx, cluster).wire()}

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
        found, failures = [], []
        with self.ctx.store.read() as s:
            for ref in refs:
                cluster = s.get_cluster(cluster_name(ref))
                if cluster is None:
                    failures.append({"arn": cluster_arn(cluster_name(ref)), "reason": "MISSING"})
                else:
                    found.append(_counts(self.ctx, cluster).wire())
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
        return {"cluster": cluster.wire()}
