"""`task logs` and `svc logs`: the containers' output the agents shipped, printed and followed.

History comes in time order (the newest `--tail N`, or everything `--since` allows); `--follow`
then long-polls for what arrives after the history's cursor and prints it as it comes, flushed
line by line so a pipe sees each line at once. A service's lines (and a task's, when it has
several containers) carry their source in front, `TASK/CONTAINER | ` as `docker compose logs`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import typer

from orchestrator.cli.client import Client, CliError, segment
from orchestrator.cli.complete import ServiceArg, TaskArg
from orchestrator.cli.resolve import ClusterOpt, service_name, task_id

FOLLOW_WAIT_S = 10
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

SinceOpt = typer.Option(None, "--since", help="Only lines newer than this: 30s, 10m, 2h, 1d.")
TailOpt = typer.Option(None, "--tail", min=0, help="Only the newest N lines (of the history, before following).")
FollowOpt = typer.Option(False, "--follow", "-f", help="Keep printing new lines as they arrive (Ctrl-C stops).")


def parse_since(value: str | None) -> int | None:
    """`10m` -> 600 (seconds); None stays None."""
    if value is None:
        return None
    m = _DURATION.match(value.strip())
    if m is None:
        raise CliError(f"--since {value!r}: use a duration such as 30s, 10m, 2h or 1d.", code=2)
    return int(float(m.group(1)) * _UNIT_S[m.group(2)])


def _print(events: list[dict[str, Any]], prefix: Callable[[dict[str, Any]], str]) -> None:
    out = sys.stdout
    for e in events:
        out.write(prefix(e) + e["message"] + "\n")
    out.flush()


def stream(
    client: Client,
    path: str,
    params: dict[str, Any],
    follow: bool,
    prefix: Callable[[dict[str, Any]], str],
) -> None:
    data = client.call("GET", path, params=params)
    if data.get("more"):
        sys.stderr.write("(older lines left out: narrow with --since or --tail)\n")
    _print(data["events"], prefix)
    if not follow:
        return
    cursor = data["cursor"]
    which = {"container": params.get("container")}
    try:
        while True:
            data = client.call("GET", path, params={**which, "after": cursor, "wait": FOLLOW_WAIT_S})
            _print(data["events"], prefix)
            cursor = data["cursor"]
    except KeyboardInterrupt:
        return


def task_logs(
    task: str = TaskArg,
    container: str = typer.Option(None, "--container", help="Only this container of the task."),
    follow: bool = FollowOpt,
    since: str = SinceOpt,
    tail: int = TailOpt,
    cluster: str = ClusterOpt,
) -> None:
    """A task's container output (stdout and stderr), as the agent shipped it."""
    client = Client(timeout=FOLLOW_WAIT_S + 50)
    ident = task_id(client, cluster, task)
    base = f"/v1/clusters/{segment(cluster)}/tasks/{ident}"
    several = False
    if not container:
        found = client.call("GET", base).get("tasks") or []
        several = bool(found) and len(found[0].get("containers") or []) > 1
    params = {"container": container, "sinceSeconds": parse_since(since), "tail": tail}
    stream(client, f"{base}/logs", params, follow, (lambda e: f"{e['containerName']} | ") if several else lambda e: "")


def svc_logs(
    name: str = ServiceArg,
    follow: bool = FollowOpt,
    since: str = SinceOpt,
    tail: int = TailOpt,
    cluster: str = ClusterOpt,
) -> None:
    """Every task's output of a service, interleaved, each line prefixed TASK/CONTAINER."""
    client = Client(timeout=FOLLOW_WAIT_S + 50)
    path = f"/v1/clusters/{segment(cluster)}/services/{segment(service_name(name))}/logs"
    params = {"sinceSeconds": parse_since(since), "tail": tail}
    stream(client, path, params, follow, lambda e: f"{e['taskId']}/{e['containerName']} | ")
