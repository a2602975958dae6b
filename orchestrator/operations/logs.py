"""Container logs: the `logConfiguration` rules, storing what agents ship, and `task logs` / `svc logs`.

Agents read each task container's output back from Docker and send it in batches: per container,
events of (timestamp in ns, ordinal among the lines with that same timestamp, message). That pair
is the event's identity: a batch the agent sends again after a restart or a lost answer adds
nothing (the store skips a known (task, container, timestamp, ordinal)). Where the events go is
decided here, from the task definition, never by the agent: an `awslogs` container's events
belong to its log group and to the stream ECS names `prefix/container-name/task-id` (the
container's Docker id without a prefix), so CloudWatch Logs calls read them; every shipped
container's events are read by `task logs` and `svc logs`. A task whose definition has an
`executionRoleArn` ships its logs as that role, as on ECS: each of its streams must carry
(`executionKeyId`) the access key id of a live (unexpired) execution role session of that very
task, checked once per key and cached with the container's source, else the stream is refused
(named in the answer's `refused`, the rest of the batch is taken). Retention is per cluster: at most
`log_retention_events` events and none older than `log_retention_s`, the oldest dropped first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.errors import (
    AccessDeniedException,
    ClientException,
    InvalidParameterException,
    ServiceNotFoundException,
)
from orchestrator.core.models import arn_id, region, task_arn
from orchestrator.core.store import Store
from orchestrator.operations.common import Context, opt_int, opt_str, require_cluster
from orchestrator.security.task_credentials import DOC_KIND as CREDENTIAL_DOC
from orchestrator.security.task_credentials import EXECUTION_ROLE

# The drivers a container may name. awslogs is shipped by the agent (the container itself logs
# with json-file so the agent can read it back); the others go to Docker as they are, and the
# agent ships whatever Docker can read back of them (all but none).
LOG_DRIVERS = ("awslogs", "json-file", "local", "syslog", "journald", "none")
AWSLOGS_OPTIONS = ("awslogs-group", "awslogs-region", "awslogs-stream-prefix", "awslogs-create-group")
LOG_GROUP_DOC = "log-group"
MAX_EVENTS_PER_CALL = 10_000
MAX_WAIT_S = 20.0
# The age purge runs at most this often per cluster: it is a range delete, not free per batch.
AGE_PURGE_EVERY_S = 60.0


def check_log_configuration(where: str, config: Mapping[str, Any]) -> None:
    """ECS's logConfiguration as far as we honour it; anything else refused, naming it."""
    driver = config.get("logDriver")
    options = config.get("options") or {}
    if driver not in LOG_DRIVERS:
        raise ClientException(
            f"{where}.logConfiguration.logDriver: {driver} is not supported: use one of {', '.join(LOG_DRIVERS)}."
        )
    if driver != "awslogs":
        return
    for name, value in options.items():
        if name not in AWSLOGS_OPTIONS:
            raise ClientException(
                f"{where}.logConfiguration.options: {name} is not supported for awslogs; the agent honours "
                f"{', '.join(AWSLOGS_OPTIONS)}."
            )
        if not isinstance(value, str) or not value:
            raise ClientException(f"{where}.logConfiguration.options.{name} must be a non-empty string.")
    if not options.get("awslogs-group"):
        raise ClientException(f"{where}.logConfiguration.options: awslogs-group is required for the awslogs driver.")
    wanted = options.get("awslogs-region")
    ours = region()
    if wanted is not None and wanted != ours:
        raise ClientException(
            f"{where}.logConfiguration.options.awslogs-region: {wanted} is not this endpoint's region ({ours}); "
            f"its logs are read here, so use {ours}."
        )
    if options.get("awslogs-create-group", "true") != "true":
        raise ClientException(
            f"{where}.logConfiguration.options.awslogs-create-group: only true is supported (a log group is "
            "created when its first event arrives); remove it or set it to true."
        )
    prefix = options.get("awslogs-stream-prefix", "")
    if "/" in prefix or ":" in prefix or "*" in prefix:
        raise ClientException(f"{where}.logConfiguration.options.awslogs-stream-prefix must not contain / : or *.")


def destination(cdef: Mapping[str, Any] | None, task_id: str, container_id: str) -> tuple[str | None, str | None]:
    """(log group, log stream) of a container's events; (None, None) when it does not use awslogs."""
    config = (cdef or {}).get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None, None
    options = config.get("options") or {}
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{cdef['name']}/{task_id}" if prefix and cdef else container_id
    return str(options["awslogs-group"]), stream


def event_view(row: Mapping[str, Any], source: Mapping[str, Any], *, cloudwatch: bool = False) -> dict[str, Any]:
    """A stored event as the REST API shows it (or CloudWatch Logs' OutputLogEvent)."""
    timestamp = row["tsNs"] // 1_000_000
    ingestion = int(row["ingestedAt"] * 1000)
    if cloudwatch:
        return {"timestamp": timestamp, "message": row["message"], "ingestionTime": ingestion}
    return {
        "id": row["id"],
        "taskId": source["taskId"],
        "containerName": source["containerName"],
        "timestamp": timestamp,
        "message": row["message"],
        "ingestionTime": ingestion,
    }


@dataclass
class _Source:
    """What ingestion needs of a task container, kept between batches (it never changes)."""

    instance_arn: str | None
    source: int | None  # None: its events are not kept (driver none)
    group: str | None  # the awslogs log group
    execution: bool = False  # its task definition has an executionRoleArn: a live session's key id is required
    key: str | None = None  # the last execution role session key id found valid for its task
    key_until: float = 0.0  # when that session expires


@dataclass
class LogState:
    """What ingestion knows between batches: each task container's source, and for retention each
    cluster's event count and last age purge."""

    sources: dict[tuple[str, str], _Source] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    aged_at: dict[str, float] = field(default_factory=dict)

    def retain(self, store: Store, cluster: str, added: int, now: float, keep: int, max_age_s: float) -> int:
        """Count `added` new events of `cluster` and purge past the limits; returns how many went."""
        if cluster not in self.counts:
            self.counts[cluster] = store.count_log_events(cluster)
        else:
            self.counts[cluster] += added
        before_ns = None
        if now - self.aged_at.get(cluster, float("-inf")) >= AGE_PURGE_EVERY_S:
            self.aged_at[cluster] = now
            before_ns = int((now - max_age_s) * 1e9)
        excess = max(0, self.counts[cluster] - keep)
        if before_ns is None and not excess:
            return 0
        gone = store.purge_log_events(cluster, before_ns=before_ns, excess=excess)
        self.counts[cluster] = max(0, self.counts[cluster] - gone)
        return gone


_EVENT_SHAPE = "must be [timestampNs, ordinal, message]"


def _rows(source: int, raw: Any, now: float, where: str) -> list[tuple[int, int, int, float, str]]:
    """The store rows of one container's events, each checked (a tight loop: batches are big)."""
    if type(raw) is not list:
        raise InvalidParameterException(f"{where}.events must be a list of [timestampNs, ordinal, message].")
    out = []
    for i, e in enumerate(raw):
        if type(e) is not list or len(e) != 3:
            raise InvalidParameterException(f"{where}.events[{i}] {_EVENT_SHAPE}.")
        ts, ordinal, message = e
        if type(ts) is not int or type(ordinal) is not int or type(message) is not str:
            raise InvalidParameterException(f"{where}.events[{i}] {_EVENT_SHAPE}.")
        out.append((source, ts, ordinal, now, message))
    return out


def _execution_key_holds(
    w: Store, known: _Source, cluster: str, tid: str, stream: Mapping[str, Any], now: float
) -> bool:
    """Whether the stream's `executionKeyId` is a live execution role session of its task: a dict
    compare while the cached key holds, one document read when the agent moves to a fresh session."""
    key = stream.get("executionKeyId")
    if not isinstance(key, str) or not key:
        return False
    if key == known.key and now < known.key_until:
        return True
    doc = w.get_doc(CREDENTIAL_DOC, key)
    if (
        doc is None
        or doc.get("purpose") != EXECUTION_ROLE
        or doc.get("taskArn") != task_arn(cluster, tid)
        or float(doc.get("expiration", 0.0)) <= now
    ):
        return False
    known.key, known.key_until = key, float(doc["expiration"])
    return True


class LogOps:
    ctx: Context

    @property
    def _log_state(self) -> LogState:
        state: LogState = self.__dict__.setdefault("_log_state_", LogState())
        return state

    # -- from the agents -------------------------------------------------------------------

    def ingest_logs(self, arn: str, streams: list[Any]) -> dict[str, Any]:
        """Store one batch of an agent's containers' output; a repeated event is skipped."""
        store, now, state = self.ctx.store, self.ctx.clock.now(), self._log_state
        # An agent's tasks are in its instance's cluster (arn:...:container-instance/CLUSTER/ID).
        cluster = arn.split("/")[-2]
        wanted: list[tuple[str, str, str]] = []
        for i, s in enumerate(streams):
            where = f"streams[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("taskId"), str):
                raise InvalidParameterException(f"{where} must be an object with taskId, containerName and events.")
            if not isinstance(s.get("containerName"), str):
                raise InvalidParameterException(f"{where}.containerName is required.")
            wanted.append((s["taskId"], s["containerName"], str(s.get("containerId") or "")))
        refused: list[dict[str, str]] = []
        with store.write() as w:
            rows: list[tuple[int, int, int, float, str]] = []
            for i, (tid, container, container_id) in enumerate(wanted):
                known = state.sources.get((tid, container))
                if known is None:
                    known = self._source(w, cluster, tid, container, container_id, now)
                if known.instance_arn is None:
                    continue  # forgotten since (stopped long ago): nobody can ask for these any more
                if known.instance_arn != arn:
                    raise AccessDeniedException(
                        "An agent may only ship the logs of its own container instance's tasks."
                    )
                if known.execution and not _execution_key_holds(w, known, cluster, tid, streams[i], now):
                    refused.append(
                        {
                            "taskId": tid,
                            "containerName": container,
                            "message": f"streams[{i}]: task {tid} has an executionRoleArn; its logs are taken only "
                            "with executionKeyId, the access key id of a live execution role session of that task "
                            "(POST /v1/agent/execution-credentials).",
                        }
                    )
                    continue
                if known.source is not None:
                    rows += _rows(known.source, streams[i]["events"], now, f"streams[{i}]")
            added = w.insert_log_events(rows)
            settings = self.ctx.settings
            state.retain(w, cluster, added, now, settings.log_retention_events, settings.log_retention_s)
        if added:
            self.ctx.log_feed.notify()
        out: dict[str, Any] = {"accepted": len(rows), "stored": added}
        if refused:
            out["refused"] = refused
        return out

    def _source(self, w: Store, cluster: str, tid: str, container: str, container_id: str, now: float) -> _Source:
        """Where a task container's events go, from its task and task definition (never from the agent)."""
        task = w.get_task(task_arn(cluster, tid))
        if task is None:
            return _Source(None, None, None)  # not cached: it may yet appear
        td = w.get_task_definition_by_arn(task.taskDefinitionArn)
        cdef = next(
            (c for c in (td.wire() if td else {}).get("containerDefinitions", []) if c["name"] == container), None
        )
        if cdef is None:
            raise InvalidParameterException(f"The task {tid} has no container {container}.")
        known = _Source(
            task.containerInstanceArn, None, None, execution=bool((td.wire() if td else {}).get("executionRoleArn"))
        )
        if (cdef.get("logConfiguration") or {}).get("logDriver") != "none":
            group, stream = destination(cdef, tid, container_id)
            known.source, known.group = w.log_source(cluster, tid, container, task.group, group, stream, now), group
            if group is not None and w.get_doc(LOG_GROUP_DOC, group) is None:
                w.put_doc(LOG_GROUP_DOC, group, {"creationTime": int(now * 1000)})
        if len(self._log_state.sources) > 100_000:
            self._log_state.sources.clear()  # bounded: what is dropped is read again on use
        self._log_state.sources[(tid, container)] = known
        return known

    # -- for people ------------------------------------------------------------------------

    def task_logs(self, req: dict[str, Any]) -> dict[str, Any]:
        """A task's container output: {cluster, task, container?, sinceSeconds?, tail?, after?, wait?}."""
        cluster = require_cluster(self.ctx, req.get("cluster")).clusterName
        ref = opt_str(req, "task") or ""
        tid = arn_id(ref) if ref.startswith("arn:") else ref
        if not tid:
            raise InvalidParameterException("task is required.")
        where: dict[str, Any] = {"cluster": cluster, "task_id": tid}
        container = opt_str(req, "container")
        task = self.ctx.store.get_task(task_arn(cluster, tid))
        if task is None and not self.ctx.store.log_sources(**where):
            raise InvalidParameterException(f"The task {tid} was not found in cluster {cluster}.")
        if container:
            names = {c.name for c in task.containers} if task is not None else set()
            if task is not None and container not in names:
                raise InvalidParameterException(
                    f"The task {tid} has no container {container}; it has {', '.join(sorted(names))}."
                )
            where["container"] = container
        return self._read_logs(where, req)

    def service_logs(self, req: dict[str, Any]) -> dict[str, Any]:
        """Every task's output of a service, interleaved: {cluster, service, sinceSeconds?, tail?, after?, wait?}."""
        cluster = require_cluster(self.ctx, req.get("cluster")).clusterName
        name = opt_str(req, "service") or ""
        name = arn_id(name) if name.startswith("arn:") else name
        if self.ctx.store.get_service(cluster, name) is None:
            raise ServiceNotFoundException("Service not found.")
        return self._read_logs({"cluster": cluster, "grp": f"service:{name}"}, req)

    def _read_logs(self, where: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        """History (time order; the newest `tail`, else at most `limit`; `more`: older ones were left
        out) with a cursor, or with `after` the events that arrived after that cursor (arrival
        order, `more`: call again at once), waiting up to `wait` seconds for the first."""
        store, clock = self.ctx.store, self.ctx.clock
        since_s = opt_int(req, "sinceSeconds", None, lo=0)
        tail = opt_int(req, "tail", None, lo=0, hi=MAX_EVENTS_PER_CALL)
        after = opt_int(req, "after", None, lo=0)
        wait = min(float(opt_int(req, "wait", 0, lo=0) or 0), MAX_WAIT_S)
        limit = opt_int(req, "limit", MAX_EVENTS_PER_CALL, lo=1, hi=MAX_EVENTS_PER_CALL) or MAX_EVENTS_PER_CALL
        from_ns = int((clock.now() - since_s) * 1e9) if since_s is not None else None
        if after is None:
            with store.read() as s:
                cursor = s.last_log_event_id()
                sources = s.log_sources(**where)
                # The newest `tail` (else `limit`) events, oldest first: a long history shows its end.
                size = min(tail, limit) if tail is not None else limit
                rows = s.list_log_events(sources, from_ns=from_ns, newest=True, limit=size) if size else []
            more = tail is None and len(rows) == limit
            return {"events": [event_view(r, sources[r["source"]]) for r in rows], "cursor": cursor, "more": more}
        deadline = clock.monotonic() + wait
        while True:
            position = self.ctx.log_feed.position
            # Read each time: a service's new task is a new source.
            sources = store.log_sources(**where)
            rows = store.list_log_events(sources, after_id=after, from_ns=from_ns, by_arrival=True, limit=limit)
            left = deadline - clock.monotonic()
            if rows or left <= 0:
                break
            self.ctx.log_feed.wait(position, left)
        cursor = rows[-1]["id"] if rows else after
        events = [event_view(r, sources[r["source"]]) for r in rows]
        return {"events": events, "cursor": cursor, "more": len(rows) == limit}


__all__ = ["LogOps", "check_log_configuration", "destination"]
