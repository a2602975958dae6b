"""Ships every task container's output to the control plane: batched, bounded, resumable.

One reader thread per container follows its output through the executor (Docker keeps it with
json-file, which awslogs containers are given too) and appends lines to that container's pending
list, bounded at `max_pending`: when the control plane is away, readers stop reading and Docker
keeps the lines, so memory stays bounded and nothing is dropped. The shipping thread takes what
is pending every `flush_s` (at most `max_batch` lines a batch) and, once the control plane has
taken a batch, writes each container's position to the state file. An event is (timestamp ns,
ordinal among the lines with that very timestamp, message): the pair is its identity, so a
restarted agent reads on from its saved position (Docker's `since` is inclusive, and the lines
already sent are skipped by key), and a batch sent twice (an answer lost in a control-plane
crash) is stored once by the control plane.

Before the worker removes a container it calls `drain`, which waits until the container's last
line is shipped: a task's final words are not lost to the cleanup that follows its stop.

A task whose definition has an `executionRoleArn` ships as that role: each of its streams carries
the access key id of its execution role session (`agent.execution_role`), which the control plane
checks; a stream it refuses is named in its answer and logged here.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from agent.executor.base import (
    LABEL_CONTAINER,
    LABEL_SANDBOX,
    LABEL_TASK,
    ContainerState,
    Executor,
    ExecutorError,
    LogStream,
)

log = structlog.get_logger("agent.logs")

Key = tuple[int, int]  # (timestamp ns, ordinal among lines of that timestamp)
FLUSH_S = 0.2
MAX_BATCH = 20_000
MAX_BATCH_BYTES = 4 << 20
MAX_PENDING = 5000  # lines per container read but not yet shipped
RETRY_S = 0.5
# The longest the shipper sleeps with nothing pending before it looks again (a line wakes it at once).
IDLE_WAIT_S = 1.0
# Docker's answers when a driver keeps nothing it can read back (none, or dual logging disabled).
_UNREADABLE = ("does not support reading", "configured logging driver")


@dataclass
class _Container:
    id: str
    task_id: str
    name: str
    acked: Key | None = None  # the newest line the control plane has taken
    queued: Key | None = None  # the newest line put on the queue
    done: bool = False  # its output is read to the end (it stopped, or cannot be read)
    pending: list[tuple[Key, str]] = field(default_factory=list)  # read, not yet taken for a batch
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stream: LogStream | None = field(default=None, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)


class LogShipper:
    def __init__(
        self,
        executor: Executor,
        send: Callable[[list[dict[str, Any]]], dict[str, Any] | None],
        state_file: Path,
        labels: Mapping[str, str],
        stop: threading.Event,
        *,
        flush_s: float = FLUSH_S,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        execution_key: Callable[[str], str | None] | None = None,
    ) -> None:
        """execution_key(task id): the access key id of the task's execution role session, which its
        streams must carry (None for a task without an executionRoleArn)."""
        self.executor = executor
        self._send = send
        self._execution_key = execution_key
        self.state_file = state_file
        self.labels = dict(labels)
        self.stop = stop
        self.flush_s = flush_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._turn = 0
        self.wake = threading.Event()
        # Set when a line is read: the shipper sleeps on it while nothing is pending.
        self._arrived = threading.Event()
        self._lock = threading.Condition()
        self._containers: dict[str, _Container] = {}
        self._saved: dict[str, Key] = self._load()
        self._threads: list[threading.Thread] = []
        self.shipped = 0  # lines the control plane has taken (for benchmarks and tests)

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        for target, name in ((self._watch_loop, "logs-watch"), (self._ship_loop, "logs-ship")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        self._arrived.set()
        with self._lock:
            streams = [c.stream for c in self._containers.values() if c.stream is not None]
        for s in streams:
            s.close()
        for t in self._threads:
            t.join(timeout=5)

    # -- which containers ------------------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.sync(self.executor.list(self.labels))
            except ExecutorError as err:
                log.warning("listing containers for logs failed", error=str(err))
            self.wake.wait(1.0)
            self.wake.clear()

    def sync(self, containers: list[ContainerState]) -> None:
        """Follow every container not followed yet; forget removed ones that were read to the end."""
        present = {c.id for c in containers}
        with self._lock:
            for c in containers:
                # An awsvpc sandbox only sleeps: nothing to ship.
                if c.id not in self._containers and c.labels.get(LABEL_TASK) and not c.labels.get(LABEL_SANDBOX):
                    self._follow(c)
            gone = [cid for cid, c in self._containers.items() if cid not in present and c.done]
            for cid in gone:
                del self._containers[cid]
            forget = [cid for cid in self._saved if cid not in present and cid not in self._containers]
            for cid in forget:
                del self._saved[cid]
            if gone or forget:
                self._save()

    def _follow(self, state: ContainerState) -> _Container:
        """Start a reader for one container (the caller holds the lock)."""
        saved = self._saved.get(state.id)
        c = _Container(state.id, state.labels.get(LABEL_TASK, ""), state.labels.get(LABEL_CONTAINER, ""), saved, saved)
        self._containers[c.id] = c
        c.thread = threading.Thread(target=self._read, args=(c,), name=f"logs-{c.id[:8]}", daemon=True)
        c.thread.start()
        return c

    def drain(self, container_id: str, timeout: float = 10.0) -> bool:
        """Wait until every line of a container that stopped is shipped; False if it took too long."""
        with self._lock:
            c = self._containers.get(container_id)
            if c is None:
                state = self.executor.inspect(container_id)
                if state is None or not state.labels.get(LABEL_TASK):
                    return True
                c = self._follow(state)
            return self._lock.wait_for(lambda: (c.done and c.acked == c.queued) or self.stop.is_set(), timeout)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, c: _Container) -> None:
        while not self.stop.is_set():
            since = c.queued[0] if c.queued else None
            try:
                stream = self.executor.logs(c.id, since_ns=since, follow=True)
            except ExecutorError as err:
                if any(words in str(err) for words in _UNREADABLE):
                    log.info("container output cannot be read back; not shipped", container=c.name, task=c.task_id)
                    self._finish(c)
                    return
                if self._stopped(c):
                    return
                self.stop.wait(RETRY_S)
                continue
            c.stream = stream
            try:
                self._pump(c, stream)
            except ExecutorError as err:
                log.debug("log stream broke; reading on", container=c.name, error=str(err))
            finally:
                stream.close()
                c.stream = None
            if self._stopped(c):
                return
            self.stop.wait(RETRY_S)

    def _pump(self, c: _Container, stream: LogStream) -> None:
        previous, ordinal = -1, 0
        for line in stream:
            if line.at_ns == previous:
                ordinal += 1
            else:
                previous, ordinal = line.at_ns, 0
            key = (line.at_ns, ordinal)
            if c.queued is not None and key <= c.queued:
                continue  # sent before this stream (Docker's since is inclusive)
            while len(c.pending) >= self.max_pending:
                if self.stop.wait(0.01):  # full: the shipper catches up (or the agent stops)
                    return
            with c.lock:
                c.pending.append((key, line.message))
            c.queued = key
            self._arrived.set()

    def _stopped(self, c: _Container) -> bool:
        """After a stream ended: is the container's output complete (it ran and stopped, or is gone)?"""
        try:
            state = self.executor.inspect(c.id)
        except ExecutorError:
            return False
        # Not started yet ("created" with no start error) is not finished: its output is to come.
        if state is not None and (state.running or (state.status == "created" and not state.error)):
            return False
        self._finish(c)
        return True

    def _finish(self, c: _Container) -> None:
        with self._lock:
            c.done = True
            self._lock.notify_all()

    # -- shipping --------------------------------------------------------------------------

    def _ship_loop(self) -> None:
        while True:
            batch = self._take()
            if batch:
                try:
                    self._ship(batch)
                except Exception as err:  # the session raises SessionClosed when the agent stops
                    if self.stop.is_set():
                        return
                    log.warning("log batch refused; dropped", error=str(err), lines=len(batch))
                    self._acked(batch)
            elif self.stop.is_set():
                return

    def _take(self) -> list[tuple[_Container, Key, str]]:
        """What is pending, oldest first per container: after `flush_s`, or at once when plenty is.
        With nothing pending it sleeps until a line is read (looking every 20 ms cost an idle agent
        fifty wake-ups a second, and a thousand simulated agents most of a core)."""
        while not self.stop.is_set():
            self._arrived.clear()
            with self._lock:
                if any(c.pending for c in self._containers.values()):
                    break
            self._arrived.wait(IDLE_WAIT_S)
        deadline = time.monotonic() + self.flush_s
        containers: list[_Container] = []  # stopping before the first look takes nothing
        while not self.stop.is_set():
            with self._lock:
                containers = list(self._containers.values())
            if sum(len(c.pending) for c in containers) >= self.max_batch or time.monotonic() >= deadline:
                break
            self.stop.wait(min(0.02, self.flush_s))
        batch: list[tuple[_Container, Key, str]] = []
        size = 0
        # Each batch starts at the next container, so a busy one cannot starve the others.
        self._turn += 1
        start = self._turn % len(containers) if containers else 0
        for c in containers[start:] + containers[:start]:
            with c.lock:
                room = self.max_batch - len(batch)
                taken, c.pending = c.pending[:room], c.pending[room:]
            batch += [(c, key, message) for key, message in taken]
            size += sum(len(m) for _, m in taken)
            if len(batch) >= self.max_batch or size >= MAX_BATCH_BYTES:
                break
        return batch

    def _ship(self, batch: list[tuple[_Container, Key, str]]) -> None:
        streams: dict[str, dict[str, Any]] = {}
        for c, (ts, ordinal), message in batch:
            s = streams.get(c.id)
            if s is None:
                s = streams[c.id] = {"taskId": c.task_id, "containerName": c.name, "containerId": c.id, "events": []}
                # Once per stream and batch, a dict lookup: a task with an execution role ships as it.
                key = self._execution_key(c.task_id) if self._execution_key is not None else None
                if key:
                    s["executionKeyId"] = key
            s["events"].append([ts, ordinal, message])
        answer = self._send(list(streams.values()))
        for refused in (answer or {}).get("refused") or []:
            log.warning(
                "log stream refused; its lines dropped",
                task=refused.get("taskId"),
                container=refused.get("containerName"),
                error=refused.get("message"),
            )
        self._acked(batch)

    def _acked(self, batch: list[tuple[_Container, Key, str]]) -> None:
        with self._lock:
            for c, key, _ in batch:
                if c.acked is None or key > c.acked:
                    c.acked = key
                    self._saved[c.id] = key
            self.shipped += len(batch)
            self._save()
            self._lock.notify_all()

    # -- the state file --------------------------------------------------------------------

    def _load(self) -> dict[str, Key]:
        try:
            data = json.loads(self.state_file.read_text())
            return {str(k): (int(v[0]), int(v[1])) for k, v in data.get("positions", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError, IndexError):
            return {}

    def _save(self) -> None:
        """Positions, written whole and renamed into place (the caller holds the lock)."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"positions": {k: list(v) for k, v in self._saved.items()}}, f)
        os.replace(tmp, self.state_file)
