"""What a person types for an object, made into the id the API takes.

An instance is its name (`agent-1`, the `orch.name` attribute), its id, a unique prefix of its id,
or its ARN; a task its id, a unique prefix or its ARN; a service its name or ARN. A full id or an
ARN costs nothing; a name or a prefix costs one list call. An ambiguous prefix or name is an error
that lists the matches, so the person can pick one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.config import default_cluster

FULL_ID = re.compile(r"^[0-9a-f]{32}$")
MIN_PREFIX = 1


def _cluster_default(value: str | None) -> str:
    return value or default_cluster()


ClusterOpt = typer.Option(
    None,
    "--cluster",
    "-c",
    envvar="ORCH_CLUSTER",
    callback=_cluster_default,
    help="Cluster name (default: the context's cluster, else `default`).",
)


def last(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def instance_name(inst: dict[str, Any]) -> str:
    return next((a.get("value") or "" for a in inst.get("attributes", []) if a["name"] == "orch.name"), "")


def _ambiguous(what: str, ref: str, matches: Sequence[str]) -> CliError:
    shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
    return CliError(f"{what} {ref!r} is ambiguous: it matches {shown}; give more of the id.", code=2)


def instances(client: Client, cluster: str) -> list[dict[str, Any]]:
    """Every container instance of the cluster the API lists."""
    data = client.call("GET", f"/v1/clusters/{segment(cluster)}/container-instances")
    found: list[dict[str, Any]] = data["containerInstances"]
    return found


def match_instance(ref: str, items: Sequence[dict[str, Any]]) -> str:
    """The id of the one instance `ref` names among `items` (name, id, id prefix or ARN)."""
    ref = ref.strip()
    if ref.startswith("arn:"):
        return last(ref)
    named = [i for i in items if instance_name(i) == ref]
    if len(named) == 1:
        return last(named[0]["containerInstanceArn"])
    if len(named) > 1:
        raise _ambiguous("Instance name", ref, [last(i["containerInstanceArn"]) for i in named])
    ids = [last(i["containerInstanceArn"]) for i in items]
    if ref in ids:
        return ref
    prefixed = [i for i in ids if i.startswith(ref.lower())] if len(ref) >= MIN_PREFIX else []
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        names = {last(i["containerInstanceArn"]): instance_name(i) for i in items}
        raise _ambiguous("Instance id prefix", ref, [f"{p} ({names[p]})" if names[p] else p for p in prefixed])
    raise CliError(
        f"No container instance named {ref!r} or with an id starting so; `orchestrator instance list` shows them."
    )


def instance_id(client: Client, cluster: str, ref: str) -> str:
    ref = ref.strip()
    if ref.startswith("arn:"):
        return last(ref)
    if FULL_ID.match(ref):
        return ref
    return match_instance(ref, instances(client, cluster))


def task_ids(client: Client, cluster: str) -> list[str]:
    """Every task id of the cluster the API lists: running ones and the stopped ones it still keeps."""
    ids: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        data = client.call("GET", f"/v1/clusters/{segment(cluster)}/tasks", params={"desiredStatus": status})
        ids += [last(t["taskArn"]) for t in data["tasks"]]
    return ids


def match_task(ref: str, ids: Sequence[str]) -> str:
    ref = ref.strip()
    if ref.startswith("arn:"):
        return last(ref)
    if ref in ids:
        return ref
    prefixed = sorted({i for i in ids if i.startswith(ref.lower())})
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise _ambiguous("Task id prefix", ref, prefixed)
    raise CliError(
        f"No task with an id starting {ref!r} in this cluster; `orchestrator task list` (add "
        "`--desired-status STOPPED` for stopped ones) shows them."
    )


def task_id(client: Client, cluster: str, ref: str) -> str:
    ref = ref.strip()
    if ref.startswith("arn:"):
        return last(ref)
    if FULL_ID.match(ref):
        return ref
    return match_task(ref, task_ids(client, cluster))


def service_name(ref: str) -> str:
    """A service's name from its name or ARN (arn:...:service/CLUSTER/NAME)."""
    ref = ref.strip()
    return last(ref) if ref.startswith("arn:") else ref


def taskdef(ref: str) -> str:
    """family, family:revision, or the same from a task definition ARN."""
    ref = ref.strip()
    return ref.split("task-definition/")[-1] if ref.startswith("arn:") else ref
