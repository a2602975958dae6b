"""The SQLite store: every ECS object as a JSON row, written in transactions, with a change feed.

Writes go through one connection guarded by one lock: the control plane is a single process and
SQLite serializes writers anyway, so a process-wide lock keeps every read-modify-write atomic.
WAL mode with `synchronous=FULL` means an acknowledged write survives `kill -9`.

Reads can never see uncommitted data: inside `write()` they go through the writer's connection
(a transaction reads its own writes); anywhere else through a read-only connection of the calling
thread, so a read sees only committed rows and never waits for a writer. `read()` makes several
reads one snapshot.

Writes are named for what they do (`insert_task` a new row, `update_task` a changed one) and the
store bumps the ECS `version` of what it updates. An update checks the row still has the version
it was read with: a read-modify-write split over two transactions fails loudly instead of
silently losing a change.

The change feed: every committed write gets the next change number and names the keys it touched
(`service:<cluster>/<name>`, `instance:<arn>`, `cluster:<name>`...). `wait_for` blocks until a
key of interest changes (agents long-polling for their assignments); `wait_changes` hands the
background loop the keys touched since it last looked, so it reconciles only what changed. The
feed has a lock of its own, never held through a commit.

Heartbeats of connected agents (`beat`) are kept in memory and written with the next write
transaction: the durable part of an instance's liveness is its status and `agentConnected`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.core.bounds import INT64_MAX, INT64_MIN, BoundsError, check
from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import (
    Cluster,
    ContainerInstance,
    Service,
    Task,
    TaskDefinition,
    cluster_arn,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (
  name TEXT PRIMARY KEY,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS task_definitions (
  family TEXT NOT NULL,
  revision INTEGER NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (family, revision)
);
CREATE TABLE IF NOT EXISTS services (
  cluster TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (cluster, name)
);
-- The few services with a load balancer, among thousands: what the targets controller reads every second.
CREATE INDEX IF NOT EXISTS services_balanced ON services (cluster, name)
  WHERE json_array_length(body, '$.loadBalancers') > 0;
CREATE TABLE IF NOT EXISTS tasks (
  arn TEXT PRIMARY KEY,
  cluster TEXT NOT NULL,
  instance_arn TEXT,
  grp TEXT NOT NULL,
  desired_status TEXT NOT NULL,
  last_status TEXT NOT NULL,
  created_at REAL NOT NULL,
  stopped_at REAL,
  body TEXT NOT NULL,
  explanation TEXT
);
-- Covering what ClusterUsage reads on every placement (task_placements): no row is visited.
DROP INDEX IF EXISTS tasks_by_cluster;
CREATE INDEX IF NOT EXISTS tasks_placed ON tasks (cluster, last_status, instance_arn, arn);
CREATE INDEX IF NOT EXISTS tasks_by_instance ON tasks (instance_arn, last_status);
CREATE INDEX IF NOT EXISTS tasks_by_group ON tasks (cluster, grp, last_status);
-- ListTasks pages, in their order: the cluster's, and a service's.
CREATE INDEX IF NOT EXISTS tasks_listed ON tasks (cluster, desired_status, created_at, arn);
CREATE INDEX IF NOT EXISTS tasks_listed_by_group ON tasks (cluster, grp, desired_status, created_at, arn);
-- The instance controller's purge asks every second whether a stopped task is old enough.
CREATE INDEX IF NOT EXISTS tasks_stopped ON tasks (stopped_at) WHERE stopped_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS container_instances (
  arn TEXT PRIMARY KEY,
  cluster TEXT NOT NULL,
  status TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  last_heartbeat REAL NOT NULL,
  body TEXT NOT NULL
);
-- An agent call names its instance by the id at the end of the ARN (32 hex digits, as issued).
CREATE INDEX IF NOT EXISTS container_instances_by_id ON container_instances (substr(arn, -33));
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster TEXT NOT NULL,
  service TEXT NOT NULL,
  created_at REAL NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_service ON events (cluster, service, id);
CREATE TABLE IF NOT EXISTS log_sources (
  id INTEGER PRIMARY KEY,
  cluster TEXT NOT NULL,
  task_id TEXT NOT NULL,
  container TEXT NOT NULL,
  grp TEXT NOT NULL,
  log_group TEXT,
  log_stream TEXT,
  created_at REAL NOT NULL,
  UNIQUE (task_id, container)
);
CREATE INDEX IF NOT EXISTS log_sources_by_group ON log_sources (cluster, grp);
CREATE INDEX IF NOT EXISTS log_sources_by_stream ON log_sources (log_group, log_stream);
CREATE TABLE IF NOT EXISTS log_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source INTEGER NOT NULL,
  ts_ns INTEGER NOT NULL,
  ord INTEGER NOT NULL,
  ingested_at REAL NOT NULL,
  message TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_events_key ON log_events (source, ts_ns, ord);
CREATE TABLE IF NOT EXISTS documents (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, key)
);
-- One row per ACTIVE service per metric period (autoscaling.metrics): appended and trimmed by
-- period number, so a period costs a row per service, not a rewrite of every service's history.
-- In period order, so a period's rows go at the end of the table, not into every service's page.
CREATE TABLE IF NOT EXISTS metric_records (
  period INTEGER NOT NULL,
  cluster TEXT NOT NULL,
  service TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (period, cluster, service)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metric_records_by_service ON metric_records (cluster, service, period);
"""

EVENTS_KEPT_PER_SERVICE = 100
INSTANCE_ID_LENGTH = 32  # hex digits of the id that ends a container instance ARN
# The document kind holding a resource's tags (orchestrator.core.tags), keyed by its ARN: a purged
# task's tags are deleted with it, so they cannot outlive the task or attach to a reused ARN.
TAG_DOC_KIND = "tags"
# Where the service metrics' histories were kept before `metric_records`, one document per
# service rewritten whole every period: moved into the table when a store is opened.
LEGACY_METRICS_DOC_KIND = "service_metrics"
# How many commits the change feed remembers by key; a waiter further behind is told "everything".
CHANGES_KEPT = 4096
# How many task rows stay parsed after their commit, for readers that take them as they were
# written instead of parsing them again (ParsedRows, tasks_by_arn(shared=True)).
RECENT_TASK_ROWS = 4096


M = TypeVar("M", bound=BaseModel)


def _dumps(model: Any) -> str:
    """A model's row: refused (InvalidParameterException naming the member, nothing written) unless
    it reads back as the same model, so no row can be written that would break every later read."""
    return _dumps_parsed(model)[0]


def _dumps_parsed(model: M) -> tuple[str, M]:
    """`_dumps`, and the model the guard read back from the row's text (a parse of that text)."""
    try:
        dumped = model.model_dump(mode="json", exclude_none=True, warnings=False)
    except (ValueError, TypeError) as err:  # a value of the wrong type or no valid Unicode
        raise InvalidParameterException(f"A member of the {type(model).__name__} is not valid: {err}"[:300]) from None
    text = json.dumps(dumped, separators=(",", ":"))
    try:
        check(dumped)
        parsed = type(model).model_validate_json(text)
        again = parsed.model_dump(mode="json", exclude_none=True)
        if again != dumped:
            changed = sorted(k for k in dumped.keys() | again.keys() if dumped.get(k) != again.get(k))
            raise InvalidParameterException(f"{', '.join(changed)}: would not read back as written.")
    except BoundsError as err:
        raise InvalidParameterException(f"{err.where or 'value'} {err.problem}.") from None
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidParameterException(f"{where}: {first['msg']}.") from None
    return text, parsed


def _dumps_doc(body: dict[str, Any]) -> str:
    try:
        check(body)
    except BoundsError as err:
        raise InvalidParameterException(f"{err.where or 'value'} {err.problem}.") from None
    return json.dumps(body, separators=(",", ":"))


def _int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


class StoreDamaged(RuntimeError):
    """The database file fails SQLite's integrity check (or is no database at all)."""


PRIVATE_FILE = 0o600


def cluster_key(cluster: str) -> str:
    """The change-feed key of a change that may concern every service of a cluster (an instance
    changed, or a task stopped and gave back its resources)."""
    return f"cluster:{cluster}"


def service_key(cluster: str, name: str) -> str:
    return f"service:{cluster}/{name}"


def instance_key(arn: str) -> str:
    return f"instance:{arn}"


# The change-feed key of every write of a service row (its tasks' changes do not touch it): what
# a list of services picked by their rows (the DAEMON ones) is kept until.
SERVICE_ROWS_KEY = "service-rows"


def _private(path: str) -> None:
    """The database file, created (or kept) readable by its owner only: it holds task environments.
    SQLite gives the -wal and -shm files the database file's mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)


class StaleWriteError(RuntimeError):
    """An update of a row that changed after it was read: the read and the write must share one
    `store.write()` transaction. A bug in the caller, never bad input."""


@dataclass(frozen=True)
class Changes:
    """What the change feed says happened after some change number."""

    seq: int  # the latest change number; pass it back as `since` next time
    keys: frozenset[str] | None  # the keys touched since; None when too far behind to name them


PARSED_ROWS_MARGIN = 1024  # rows a ParsedRows keeps beyond twice those its listings return


class ParsedRows(Generic[M]):
    """Rows parsed once and kept with their text, for a reader that never changes the models it
    gets back (the service controller: its decision copies a row before changing it). A row whose
    text is the same as when it was parsed is not parsed again: the text is the row, so the model
    is exact whatever wrote it, rolled back or not. Parsing every task and instance of a
    cluster on every pass was most of a pass's time at a thousand instances."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._rows: dict[str, tuple[str, M]] = {}
        # Whole listings, by what was asked, with the change number they are good for (see list_instances).
        self.listings: dict[tuple[Any, ...], tuple[int, list[M]]] = {}
        # Bounded by what listings still return: once the cache outgrows `_limit`, only the rows
        # returned since the prune before last stay (purged tasks leave), and the limit becomes
        # twice those and a margin. One cache serves many listings (the service controller lists
        # each service's tasks in turn), so the bound counts every row returned, not one listing's.
        self._returned: set[str] = set()  # since the last prune
        self._returned_before: set[str] = set()  # between the two prunes before
        self._limit = PARSED_ROWS_MARGIN
        self.parsed = 0  # how many rows were parsed (the rest came from here)

    def rows(self, found: Iterable[tuple[str, str]], written: Mapping[str, tuple[str, M]] | None = None) -> list[M]:
        """The models of (key, text) rows, parsed only where the text changed. `written`: rows
        parsed as they were written (the store's recent task rows), taken when the text is theirs."""
        out = []
        cache, returned = self._rows, self._returned
        for key, text in found:
            hit = cache.get(key)
            if hit is None or hit[0] != text:
                model = _taken(written.get(key), text) if written is not None else None
                if model is None:
                    model = self.model.model_validate_json(text)
                    self.parsed += 1
                hit = cache[key] = (text, model)
            returned.add(key)
            out.append(hit[1])
        if len(cache) > self._limit:
            before = self._returned_before
            self._rows = {k: v for k, v in cache.items() if k in returned or k in before}
            self._limit = 2 * len(self._rows) + PARSED_ROWS_MARGIN
            self._returned_before, self._returned = returned, set()
        return out


def _taken(row: tuple[str, M] | None, text: str) -> M | None:
    """The parsed model of a row written lately if `text` is still its text."""
    return row[1] if row is not None and row[0] == text else None


class _ReadConnection(sqlite3.Connection):
    """A per-thread read-only connection (a subclass so the store can hold it weakly)."""


class Store:
    def __init__(self, path: str | Path, changes_kept: int = CHANGES_KEPT) -> None:
        self.path = str(path)
        _private(self.path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            damage = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)").fetchall()]
            if damage != ["ok"]:
                raise StoreDamaged("; ".join(str(d) for d in damage))
            self._conn.executescript(SCHEMA)
        except (sqlite3.DatabaseError, StoreDamaged) as err:
            self._conn.close()
            raise StoreDamaged(
                f"the database {self.path} is damaged ({err}). Restore a backup with `orchestrator restore FILE "
                f"--data-dir {Path(self.path).parent}`, or move {Path(self.path).name} (and its -wal and -shm "
                "files) away to start with an empty cluster."
            ) from None
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.chmod(self.path + suffix, PRIVATE_FILE)
        # Write transactions hold `_lock` through their commit (an fsync); the change feed's own
        # state has `_feed`, held for microseconds, so a thousand long-polls that watch, end and
        # read the feed never queue behind a commit (and may do so on the event loop).
        self._lock = threading.RLock()
        self._feed = threading.Lock()
        self._changed = threading.Condition(self._feed)
        # Heartbeats of connected agents, heard but not yet written: see beat().
        self._beats: dict[str, float] = {}
        self._beats_lock = threading.Lock()
        self._seq = 0
        self._depth = 0
        self._writer: int | None = None  # the thread inside write(), if any
        self._touched: set[str] = set()
        self._wrote = False
        # The task rows the open transaction wrote, by ARN: their text and the write guard's parse of it.
        self._task_writes: dict[str, tuple[str, Task]] = {}
        # The same of the latest RECENT_TASK_ROWS task rows committed (oldest first).
        self._recent_task_rows: dict[str, tuple[str, Task]] = {}
        # The change feed: key -> number of its latest change, and the recent commits' keys and
        # the task rows they wrote (see task_writes_since).
        self._touched_at: dict[str, int] = {}
        self._log: deque[tuple[int, frozenset[str], frozenset[str]]] = deque(maxlen=changes_kept)
        self._local = threading.local()
        # How many waits (long-polls) are in flight on each key: an agent inside one is connected.
        self._waiting: Counter[str] = Counter()
        # Callbacks of waits that hold no thread (`watch`), by key.
        self._watchers: dict[str, dict[int, Callable[[], None]]] = {}
        self._watch_keys: dict[int, tuple[str, ...]] = {}  # each watch's keys, by its ident
        self._watch_ids = itertools.count(1)
        self._watches_ended = False  # the server is stopping: see end_watches()
        # Every thread's read connection, held weakly (a thread's dies with it), closed with the store.
        self._readers: weakref.WeakSet[_ReadConnection] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        self._closed = False
        self._move_legacy_metrics()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                with contextlib.suppress(sqlite3.Error):
                    self._write_beats()  # autocommit: outside any transaction here
            self._closed = True
            with self._readers_lock:
                readers = list(self._readers)
            for conn in readers:
                conn.close()
            self._conn.close()

    # -- transactions and the change feed -------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Store]:
        """A write transaction; nested calls join the outer one. Commit wakes the waiters."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            if getattr(self._local, "depth", 0):
                # The snapshot of the read would hide this transaction's own writes from the rest of it.
                raise RuntimeError("store.write() inside store.read(): write in a transaction of its own")
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._writer = threading.get_ident()
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._touched.clear()
                self._task_writes.clear()
                self._wrote = False
                raise
            finally:
                self._depth -= 1
                self._writer = None
            self._write_beats()
            self._conn.execute("COMMIT")
            if not self._wrote:
                return
            self._wrote = False
            keys = frozenset(self._touched)
            self._touched.clear()
            written, self._task_writes = self._task_writes, {}
            self._keep_recent(written)
            self._committed(keys, frozenset(written))

    def _keep_recent(self, written: dict[str, tuple[str, Task]]) -> None:
        """Keep the committed task rows parsed (under the write lock; readers only `get`, which
        needs no lock)."""
        recent = self._recent_task_rows
        for arn, row in written.items():
            recent.pop(arn, None)
            recent[arn] = row
        while len(recent) > RECENT_TASK_ROWS:
            del recent[next(iter(recent))]

    def _committed(self, keys: frozenset[str], tasks: frozenset[str] = frozenset()) -> None:
        with self._feed:
            self._seq += 1
            for key in keys:
                self._touched_at[key] = self._seq
            self._log.append((self._seq, keys, tasks))
            self._changed.notify_all()
            self._wake({ident: wake for key in keys for ident, wake in self._watchers.get(key, {}).items()})

    def _wake(self, woken: dict[int, Callable[[], None]]) -> None:
        """End and wake these watches (under the feed's lock)."""
        for ident, wake in woken.items():
            # Ended here, not when the waiter's coroutine runs: from this commit on it is
            # no longer waiting (`waited_on`), however long the event loop takes to get to it.
            self._end_watch(ident)
            wake()

    @contextmanager
    def read(self) -> Iterator[Store]:
        """Several reads as one consistent snapshot of committed data; writers carry on meanwhile."""
        if self._writer == threading.get_ident():
            yield self  # inside this thread's write(): its reads already are one transaction
            return
        local = self._local
        if getattr(local, "depth", 0):
            local.depth += 1
            try:
                yield self
            finally:
                local.depth -= 1
            return
        conn = self._reader()
        conn.execute("BEGIN")
        local.depth = 1
        try:
            yield self
        finally:
            local.depth = 0
            conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed store.")
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, factory=_ReadConnection)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.add(conn)
        return conn

    def task_writes_since(self, seq: int) -> set[str] | None:
        """ARNs of the task rows written after change number `seq`, this transaction's included.
        None when the feed no longer reaches back that far, or when not asked inside this thread's
        write() (only there can no commit land between this answer and the reads that follow it)."""
        if self._writer != threading.get_ident():
            return None
        with self._feed:
            if not self._covers(seq):
                return None
            out = set(self._task_writes)
            for at, _, arns in reversed(self._log):
                if at <= seq:
                    break
                out |= arns
            return out

    def touch(self, key: str) -> None:
        """Mark a change-feed key as touched by the current write transaction."""
        assert self._depth, "touch() belongs inside store.write()"
        self._touched.add(key)

    def nudge(self, key: str) -> None:
        """Wake whoever waits on `key` without writing anything (e.g. an agent that is leaving)."""
        self._committed(frozenset((key,)))

    @property
    def position(self) -> int:
        """The number of the latest change: a `since` for the waits below that means "from now"."""
        with self._feed:
            return self._seq

    def wait_for(self, keys: Collection[str], since: int, timeout: float) -> int:
        """Block until a commit after change number `since` touched one of `keys`, or `timeout`
        seconds; returns the number of the latest change to any of them (0: none yet). A `since`
        ahead of the feed (it counts from 0 again in a restarted control plane) answers at once."""

        def latest() -> int:
            return max((self._touched_at.get(k, 0) for k in keys), default=0)

        with self._feed:
            self._waiting.update(keys)
            try:
                self._changed.wait_for(lambda: latest() > since or since > self._seq, timeout=timeout)
            finally:
                self._waiting.subtract(keys)
                for key in keys:
                    if self._waiting[key] <= 0:
                        del self._waiting[key]
            return latest()

    def watch(self, keys: Collection[str], since: int, wake: Callable[[], None]) -> Callable[[], None] | None:
        """`wait_for` without a blocked thread: `wake` is called (on the committing thread, under
        the feed's lock: it must only schedule work, never call the store) once a commit after `since` touches one of
        `keys`. None if one already has; else a function that ends the watch (call it always)."""
        with self._feed:
            if self._watches_ended:
                return None
            if since > self._seq or max((self._touched_at.get(k, 0) for k in keys), default=0) > since:
                return None
            ident = next(self._watch_ids)
            watched = tuple(set(keys))
            self._watch_keys[ident] = watched
            for key in watched:
                self._watchers.setdefault(key, {})[ident] = wake
            self._waiting.update(watched)

        def end() -> None:
            with self._feed:
                self._end_watch(ident)

        return end

    @property
    def watches_ended(self) -> bool:
        """The server is stopping (see end_watches)."""
        return self._watches_ended

    def end_watches(self) -> None:
        """Wake every watch and start no new one: the server is stopping, and its long-polls
        answer now instead of being cancelled when its grace time is over."""
        with self._feed:
            self._watches_ended = True
            self._wake({ident: wake for watchers in self._watchers.values() for ident, wake in watchers.items()})

    def _end_watch(self, ident: int) -> None:
        """Forget one watch (once: a woken watch is ended by the commit, then by its owner)."""
        for key in self._watch_keys.pop(ident, ()):
            watchers = self._watchers.get(key, {})
            watchers.pop(ident, None)
            if not watchers:
                self._watchers.pop(key, None)
            self._waiting[key] -= 1
            if self._waiting[key] <= 0:
                del self._waiting[key]

    def latest(self, keys: Collection[str]) -> int:
        """The number of the latest change to any of `keys` (0: none yet)."""
        with self._feed:
            return max((self._touched_at.get(k, 0) for k in keys), default=0)

    def waited_on(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` someone is waiting on right now (in `wait_for`)."""
        with self._feed:
            return {k for k in keys if self._waiting.get(k, 0) > 0}

    def wait_changes(self, since: int, timeout: float) -> Changes:
        """Block until anything committed after change number `since` (or `timeout` seconds);
        returns what did. Start with since=-1: that answers at once with keys=None (everything)."""
        with self._feed:
            self._changed.wait_for(lambda: self._seq != since, timeout=timeout)
            return self._changes_since(since)

    def _changes_since(self, since: int) -> Changes:
        if since == self._seq:
            return Changes(self._seq, frozenset())
        if not self._covers(since):
            return Changes(self._seq, None)
        keys: set[str] = set()
        for seq, touched, _ in reversed(self._log):
            if seq <= since:
                break
            keys |= touched
        return Changes(self._seq, frozenset(keys))

    def _covers(self, since: int) -> bool:
        """Whether the feed still holds every commit after change number `since` (under its lock)."""
        return 0 <= since <= self._seq and (since == self._seq or (bool(self._log) and self._log[0][0] <= since + 1))

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        conn = self._conn if self._writer == threading.get_ident() else self._reader()
        try:
            return conn.execute(sql, tuple(args)).fetchall()
        except OverflowError:
            raise InvalidParameterException("A number is outside the 64-bit integer range.") from None

    def _rows_in(self, sql: str, values: Collection[str], *before: Any) -> list[sqlite3.Row]:
        """`sql` with `IN ({})` over `values`, run in chunks that keep within SQLite's limit on bound
        parameters (`before`: the parameters ahead of the list). DISTINCT holds within a chunk only."""
        listed, out = list(values), []
        for i in range(0, len(listed), 500):
            chunk = listed[i : i + 500]
            out += self._rows(sql.format(",".join("?" * len(chunk))), (*before, *chunk))
        return out

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one write statement in the current transaction; the number of rows it changed."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        try:
            cur = self._conn.execute(sql, tuple(args))
        except OverflowError:
            raise InvalidParameterException("A number is outside the 64-bit integer range.") from None
        self._wrote = True
        return cur.rowcount

    # -- clusters --------------------------------------------------------------------------

    def get_cluster(self, name: str) -> Cluster | None:
        rows = self._rows("SELECT body FROM clusters WHERE name=?", (name,))
        return Cluster.model_validate_json(rows[0][0]) if rows else None

    def list_clusters(self) -> list[Cluster]:
        return [Cluster.model_validate_json(r[0]) for r in self._rows("SELECT body FROM clusters ORDER BY name")]

    def put_cluster(self, cluster: Cluster) -> None:
        self._exec("INSERT OR REPLACE INTO clusters (name, body) VALUES (?, ?)", (cluster.clusterName, _dumps(cluster)))

    def delete_cluster(self, name: str) -> None:
        self._exec("DELETE FROM clusters WHERE name=?", (name,))

    def ensure_cluster(self, name: str) -> Cluster:
        with self.write():
            cluster = self.get_cluster(name)
            if cluster is None:
                cluster = Cluster(clusterArn=cluster_arn(name), clusterName=name)
                self.put_cluster(cluster)
        return cluster

    # -- task definitions ------------------------------------------------------------------

    def get_task_definition(self, family: str, revision: int) -> TaskDefinition | None:
        if not _int64(revision):
            return None
        rows = self._rows("SELECT body FROM task_definitions WHERE family=? AND revision=?", (family, revision))
        return TaskDefinition.model_validate_json(rows[0][0]) if rows else None

    def get_task_definition_by_arn(self, arn: str) -> TaskDefinition | None:
        family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
        return self.get_task_definition(family, int(revision)) if revision.isdigit() else None

    def latest_revision(self, family: str, status: str | None = None) -> int:
        sql = "SELECT MAX(revision) FROM task_definitions WHERE family=?"
        args: list[Any] = [family]
        if status:
            sql += " AND status=?"
            args.append(status)
        rows = self._rows(sql, args)
        return int(rows[0][0] or 0)

    def list_task_definitions(self, family_prefix: str = "", status: str | None = None) -> list[TaskDefinition]:
        # A prefix compared as text, never a LIKE pattern (SQLite refuses patterns over 50,000 bytes).
        sql = "SELECT body FROM task_definitions WHERE substr(family, 1, ?)=?"
        args: list[Any] = [len(family_prefix), family_prefix]
        if status:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY family, revision"
        return [TaskDefinition.model_validate_json(r[0]) for r in self._rows(sql, args)]

    def task_definition_refs(
        self, family: str = "", status: str | None = None, *, descending: bool = False, offset: int = 0, limit: int = -1
    ) -> list[tuple[str, int]]:
        """(family, revision) of the task definitions of `family` (every family when empty), in
        family and revision order (from `offset`, at most `limit`; -1: all), from the columns: a
        ListTaskDefinitions page parses no row and reads no other."""
        sql, args = "SELECT family, revision FROM task_definitions WHERE 1=1", list[Any]()
        if family:
            sql += " AND family=?"
            args.append(family)
        if status:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY family DESC, revision DESC" if descending else " ORDER BY family, revision"
        sql += " LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [(str(r[0]), int(r[1])) for r in self._rows(sql, args)]

    def put_task_definition(self, td: TaskDefinition) -> None:
        self._exec(
            "INSERT OR REPLACE INTO task_definitions (family, revision, status, body) VALUES (?, ?, ?, ?)",
            (td.family, td.revision, td.status, _dumps(td)),
        )

    # -- services --------------------------------------------------------------------------

    def get_service(self, cluster: str, name: str) -> Service | None:
        rows = self._rows("SELECT body FROM services WHERE cluster=? AND name=?", (cluster, name))
        return Service.model_validate_json(rows[0][0]) if rows else None

    def list_services(self, cluster: str | None = None, status: str | None = None) -> list[Service]:
        sql, args = "SELECT body FROM services WHERE 1=1", []
        if cluster is not None:
            sql += " AND cluster=?"
            args.append(cluster)
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY cluster, name"
        return [Service.model_validate_json(r[0]) for r in self._rows(sql, args)]

    def services_with_load_balancers(self) -> list[Service]:
        """The services that are not INACTIVE and name a load balancer, every cluster's, from the
        partial index of those (the expression below is its own, literally): the load balancer
        controller asks every second, and parsing ten thousand services for the few with targets
        was most of an idle control plane's time."""
        rows = self._rows(
            "SELECT body FROM services WHERE status != 'INACTIVE'"
            " AND json_array_length(body, '$.loadBalancers') > 0 ORDER BY cluster, name"
        )
        return [Service.model_validate_json(r[0]) for r in rows]

    def service_names(self, cluster: str, offset: int = 0, limit: int = -1) -> list[str]:
        """Names of the cluster's services that are not INACTIVE, in name order (from `offset`, at
        most `limit`; -1: all), from the indexed columns: what a ListServices page needs, without
        parsing a row."""
        rows = self._rows(
            "SELECT name FROM services WHERE cluster=? AND status != 'INACTIVE' ORDER BY name LIMIT ? OFFSET ?",
            (cluster, limit, offset),
        )
        return [str(r[0]) for r in rows]

    def service_refs(self, cluster: str | None = None, *, daemon: bool | None = None) -> list[tuple[str, str]]:
        """(cluster, name) of the ACTIVE and DRAINING services (only DAEMON ones, or none of them),
        in (cluster, name) order, from the columns and SQLite's JSON functions without parsing a
        row: what the controllers pick services to reconcile by, on every commit."""
        sql, args = "SELECT cluster, name FROM services WHERE status IN ('ACTIVE', 'DRAINING')", []
        if cluster is not None:
            sql += " AND cluster=?"
            args.append(cluster)
        if daemon is not None:
            sql += " AND COALESCE(json_extract(body, '$.schedulingStrategy'), 'REPLICA') " + ("=" if daemon else "!=")
            sql += " 'DAEMON'"
        sql += " ORDER BY cluster, name"
        return [(str(r[0]), str(r[1])) for r in self._rows(sql, args)]

    def service_desired_counts(self) -> list[tuple[str, str, int, bool]]:
        """(cluster, name, desiredCount, whether it names a load balancer) of every ACTIVE service,
        read by SQLite's JSON functions without parsing a row in Python: what a metric period
        records for each of thousands of services."""
        rows = self._rows(
            "SELECT cluster, name, json_extract(body, '$.desiredCount'),"
            " COALESCE(json_array_length(body, '$.loadBalancers'), 0) > 0"
            " FROM services WHERE status = 'ACTIVE' ORDER BY cluster, name"
        )
        return [(str(r[0]), str(r[1]), int(r[2] or 0), bool(r[3])) for r in rows]

    def put_service(self, service: Service) -> None:
        cluster = service.clusterArn.rsplit("/", 1)[-1]
        body = service.model_copy(update={"events": []})
        self._exec(
            "INSERT OR REPLACE INTO services (cluster, name, status, body) VALUES (?, ?, ?, ?)",
            (cluster, service.serviceName, service.status, _dumps(body)),
        )
        self.touch(service_key(cluster, service.serviceName))
        self.touch(SERVICE_ROWS_KEY)

    def delete_service_row(self, cluster: str, name: str) -> None:
        self._exec("DELETE FROM services WHERE cluster=? AND name=?", (cluster, name))
        self._exec("DELETE FROM events WHERE cluster=? AND service=?", (cluster, name))
        self.touch(service_key(cluster, name))
        self.touch(SERVICE_ROWS_KEY)

    # -- service events --------------------------------------------------------------------

    def add_event(self, cluster: str, service: str, message: str, at: float) -> None:
        self._exec(
            "INSERT INTO events (cluster, service, created_at, message) VALUES (?, ?, ?, ?)",
            (cluster, service, at, message),
        )
        self._exec(
            "DELETE FROM events WHERE cluster=? AND service=? AND id NOT IN "
            "(SELECT id FROM events WHERE cluster=? AND service=? ORDER BY id DESC LIMIT ?)",
            (cluster, service, cluster, service, EVENTS_KEPT_PER_SERVICE),
        )
        self.touch(f"events:{cluster}/{service}")

    def list_events(self, cluster: str, service: str, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, as ECS lists them."""
        rows = self._rows(
            "SELECT id, created_at, message FROM events WHERE cluster=? AND service=? AND id>? "
            "ORDER BY id DESC LIMIT ?",
            (cluster, service, after_id, limit),
        )
        return [{"id": str(r[0]), "createdAt": r[1], "message": r[2]} for r in rows]

    # -- tasks -----------------------------------------------------------------------------

    def get_task(self, arn: str) -> Task | None:
        rows = self._rows("SELECT body FROM tasks WHERE arn=?", (arn,))
        return Task.model_validate_json(rows[0][0]) if rows else None

    def tasks_by_arn(self, arns: Sequence[str], *, shared: bool = False) -> list[Task]:
        """The tasks with these ARNs (those that exist), in no particular order. `shared`: the
        caller never changes them, so a row committed lately comes back as the model its write
        parsed (the same text, so the same model) instead of being parsed again."""
        rows = self._rows_in("SELECT arn, body FROM tasks WHERE arn IN ({})", arns)
        recent = self._recent_task_rows if shared else {}
        return [_taken(recent.get(str(arn)), str(text)) or Task.model_validate_json(text) for arn, text in rows]

    def task_placements(self, cluster: str, arns: Collection[str] | None = None) -> list[tuple[str, str | None, str]]:
        """(ARN, instance ARN, lastStatus) of the cluster's tasks that are not STOPPED (those of
        `arns` only, if given), from the columns alone: what `ClusterUsage` reads on every
        placement instead of every row's body."""
        sql = "SELECT arn, instance_arn, last_status FROM tasks WHERE cluster=? AND last_status != 'STOPPED'"
        rows = self._rows(sql, (cluster,)) if arns is None else self._rows_in(sql + " AND arn IN ({})", arns, cluster)
        return [(str(r[0]), r[1], str(r[2])) for r in rows]

    def find_task(self, cluster: str, task_id: str) -> Task | None:
        # The id is matched exactly as the ARN's last part, never as a pattern (`%` is no wildcard).
        if not task_id or "/" in task_id:
            return None
        rows = self._rows(
            "SELECT body FROM tasks WHERE cluster=? AND substr(arn, -?)=?", (cluster, len(task_id) + 1, "/" + task_id)
        )
        return Task.model_validate_json(rows[0][0]) if rows else None

    def list_tasks(
        self,
        cluster: str | None = None,
        *,
        group: str | None = None,
        instance_arn: str | None = None,
        desired_status: str | None = None,
        not_stopped: bool = False,
        started_by: str | None = None,
        parsed: ParsedRows[Task] | None = None,
    ) -> list[Task]:
        """The tasks that match, oldest first. With `parsed`, unchanged rows come back as the same
        models as last time (the caller must not change them)."""
        sql, args = "SELECT body, arn FROM tasks WHERE 1=1", []
        for column, value in (
            ("cluster", cluster),
            ("grp", group),
            ("instance_arn", instance_arn),
            ("desired_status", desired_status),
        ):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        if not_stopped:
            sql += " AND last_status != 'STOPPED'"
        sql += " ORDER BY created_at, arn"
        rows = self._rows(sql, args)
        if parsed is not None:
            tasks = parsed.rows(((r[1], r[0]) for r in rows), self._recent_task_rows)
        else:
            tasks = [Task.model_validate_json(r[0]) for r in rows]
        if started_by is not None:
            tasks = [t for t in tasks if t.startedBy == started_by]
        return tasks

    def instance_task_rows(self, instance_arn: str) -> list[tuple[str, str, str]]:
        """(ARN, desiredStatus, row text) of the instance's tasks that are not STOPPED, oldest first:
        what its agent is answered with, unparsed (see core/task_wires)."""
        rows = self._rows(
            "SELECT arn, desired_status, body FROM tasks WHERE instance_arn=? AND last_status != 'STOPPED'"
            " ORDER BY created_at, arn",
            (instance_arn,),
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def task_arns(
        self,
        cluster: str,
        desired_status: str,
        group: str | None = None,
        pending: bool = False,
        *,
        offset: int = 0,
        limit: int = -1,
    ) -> list[str]:
        """ARNs of the cluster's tasks with this desired status (pending: RUNNING wanted, not yet
        RUNNING), oldest first, `limit` of them (-1: all) after the first `offset`: a ListTasks
        page, read from an index alone (tasks_listed*) without parsing or sorting the rows."""
        sql = "SELECT arn FROM tasks WHERE cluster=? AND desired_status=?"
        args: list[str | int] = [cluster, desired_status]
        if group is not None:
            sql += " AND grp=?"
            args.append(group)
        if pending:
            sql += " AND last_status != 'RUNNING'"
        sql += " ORDER BY created_at, arn LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [str(r[0]) for r in self._rows(sql, args)]

    def insert_task(self, task: Task, *, explanation: dict[str, Any] | None = None) -> None:
        """Write a new task row, with the scheduler's reasons for where it went if there are any."""
        cluster = task.clusterArn.rsplit("/", 1)[-1]
        self._exec(
            "INSERT INTO tasks (arn, cluster, instance_arn, grp, desired_status, last_status, created_at,"
            " stopped_at, body, explanation) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                task.taskArn,
                cluster,
                task.containerInstanceArn,
                task.group,
                task.desiredStatus,
                task.lastStatus,
                task.createdAt,
                task.stoppedAt,
                (written := _dumps_parsed(task))[0],
                json.dumps(explanation, separators=(",", ":")) if explanation is not None else None,
            ),
        )
        self._task_writes[task.taskArn] = written
        self._touch_task(cluster, task)

    def update_task(self, task: Task, *, wake_agent: bool = True) -> None:
        """Write a changed task over its row and bump its version (on `task` too). The row must
        still be the version `task` was read with (else StaleWriteError, and nothing is written).
        `wake_agent=False` leaves the instance's long-poll parked: for what its own agent reported."""
        cluster = task.clusterArn.rsplit("/", 1)[-1]
        read_version = task.version
        task.version = read_version + 1
        try:
            changed = self._exec(
                "UPDATE tasks SET instance_arn=?, desired_status=?, last_status=?, stopped_at=?, body=?"
                " WHERE arn=? AND json_extract(body, '$.version')=?",
                (
                    task.containerInstanceArn,
                    task.desiredStatus,
                    task.lastStatus,
                    task.stoppedAt,
                    (written := _dumps_parsed(task))[0],
                    task.taskArn,
                    read_version,
                ),
            )
        except BaseException:
            task.version = read_version
            raise
        if changed != 1:
            task.version = read_version
            raise StaleWriteError(f"task {task.taskArn} is not at version {read_version} any more (or is gone)")
        self._task_writes[task.taskArn] = written
        self._touch_task(cluster, task, wake_agent)

    def _touch_task(self, cluster: str, task: Task, wake_agent: bool = True) -> None:
        if task.containerInstanceArn and wake_agent:
            self.touch(instance_key(task.containerInstanceArn))
        if task.group.startswith("service:"):
            self.touch(service_key(cluster, task.group[len("service:") :]))
        if task.lastStatus == "STOPPED":
            # Its resources are free again: any service of the cluster may now place a task.
            self.touch(cluster_key(cluster))

    def services_with_tasks_on(self, instance_arns: Collection[str]) -> set[tuple[str, str]]:
        """(cluster, service name) of the services with a task that is not STOPPED on one of the
        instances, from the indexed columns."""
        rows = self._rows_in(
            "SELECT DISTINCT cluster, grp FROM tasks WHERE instance_arn IN ({})"
            " AND last_status != 'STOPPED' AND substr(grp, 1, 8) = 'service:'",
            instance_arns,
        )
        return {(str(r[0]), str(r[1])[len("service:") :]) for r in rows}

    def task_counts(self, cluster: str) -> list[tuple[str, str, str, str, int]]:
        """(instance ARN, group, desiredStatus, lastStatus, how many) of the cluster's tasks that
        are not STOPPED, counted from the indexed columns without parsing a row."""
        rows = self._rows(
            "SELECT COALESCE(instance_arn, ''), grp, desired_status, last_status, COUNT(*) FROM tasks"
            " WHERE cluster=? AND last_status != 'STOPPED' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            (cluster,),
        )
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def running_tasks_by_group(self) -> dict[tuple[str, str], list[tuple[str, str | None]]]:
        """(ARN, instance ARN) of every RUNNING task, by (cluster, group), from the columns."""
        out: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        for r in self._rows("SELECT cluster, grp, arn, instance_arn FROM tasks WHERE last_status = 'RUNNING'"):
            out.setdefault((str(r[0]), str(r[1])), []).append((str(r[2]), r[3]))
        return out

    def cluster_counts(self, cluster: str) -> dict[str, int]:
        """What DescribeClusters counts, from indexed columns without parsing a row (every admin
        read of a cluster asks, and a cluster may hold thousands of instances and services):
        `instances` not INACTIVE, `running` and `pending` tasks (not STOPPED: pending is any other
        lastStatus), and services by status (`ACTIVE`, `DRAINING`)."""
        out = dict.fromkeys(("instances", "running", "pending", "ACTIVE", "DRAINING"), 0)
        with self.read():
            out["instances"] = int(
                self._rows(
                    "SELECT COUNT(*) FROM container_instances WHERE cluster=? AND status != 'INACTIVE'", (cluster,)
                )[0][0]
            )
            for last, n in self._rows(
                "SELECT last_status = 'RUNNING', COUNT(*) FROM tasks WHERE cluster=? AND last_status != 'STOPPED'"
                " GROUP BY 1",
                (cluster,),
            ):
                out["running" if last else "pending"] += int(n)
            for status, n in self._rows(
                "SELECT status, COUNT(*) FROM services WHERE cluster=? AND status IN ('ACTIVE', 'DRAINING') GROUP BY 1",
                (cluster,),
            ):
                out[str(status)] = int(n)
        return out

    def get_explanation(self, arn: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT explanation FROM tasks WHERE arn=?", (arn,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def purge_stopped_tasks(self, before: float) -> int:
        """Forget tasks stopped before `before`; ECS keeps stopped tasks describable about an hour."""
        rows = self._rows("SELECT COUNT(*) FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?", (before,))
        n = int(rows[0][0])
        if n:
            self._exec(
                "DELETE FROM documents WHERE kind=? AND key IN"
                " (SELECT arn FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?)",
                (TAG_DOC_KIND, before),
            )
            self._exec("DELETE FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?", (before,))
            self.touch(f"doc:{TAG_DOC_KIND}")
        return n

    # -- container instances ---------------------------------------------------------------

    def get_instance(self, arn: str) -> ContainerInstance | None:
        rows = self._rows("SELECT body FROM container_instances WHERE arn=?", (arn,))
        return ContainerInstance.model_validate_json(rows[0][0]) if rows else None

    def list_instances(
        self,
        cluster: str | None = None,
        include_inactive: bool = False,
        parsed: ParsedRows[ContainerInstance] | None = None,
    ) -> list[ContainerInstance]:
        """With `parsed`, unchanged rows come back as the same models as last time (see list_tasks)."""
        sql, args = "SELECT body, arn FROM container_instances WHERE 1=1", []
        if cluster is not None:
            sql += " AND cluster=?"
            args.append(cluster)
        if not include_inactive:
            sql += " AND status != 'INACTIVE'"
        sql += " ORDER BY arn"
        stamp = self._instances_stamp(cluster) if parsed is not None else None
        if parsed is not None and stamp is not None:
            hit = parsed.listings.get((cluster, include_inactive))
            if hit is not None and hit[0] == stamp:
                return list(hit[1])
        rows = self._rows(sql, args)
        if parsed is not None:
            out = parsed.rows((r[1], r[0]) for r in rows)
            if stamp is not None:
                parsed.listings[(cluster, include_inactive)] = (stamp, list(out))
            return out
        return [ContainerInstance.model_validate_json(r[0]) for r in rows]

    def _instances_stamp(self, cluster: str | None) -> int | None:
        """The change number a listing of the cluster's instances read now is good for, while
        nothing touches the cluster's key again (every write of an instance row does): inside this
        thread's write transaction only, where no other commit can land meanwhile, and only if the
        transaction has not touched it itself. None: list them afresh. A pass over each of ten
        thousand services read the same thousand instance rows every time."""
        if cluster is None or self._writer != threading.get_ident():
            return None
        key = cluster_key(cluster)
        if key in self._touched:
            return None
        with self._feed:
            return self._touched_at.get(key, 0)

    def insert_instance(self, instance: ContainerInstance, credential_hash: str, heartbeat_at: float) -> None:
        """Write a newly registered container instance with the hash of its agent's credential."""
        cluster = instance.containerInstanceArn.split("/")[-2]
        self._exec(
            "INSERT INTO container_instances (arn, cluster, status, credential_hash, last_heartbeat, body)"
            " VALUES (?,?,?,?,?,?)",
            (instance.containerInstanceArn, cluster, instance.status, credential_hash, heartbeat_at, _dumps(instance)),
        )
        self._touch_instance(cluster, instance)

    def update_instance(self, instance: ContainerInstance) -> None:
        """Write a changed instance over its row and bump its version (on `instance` too); the row
        must still be the version `instance` was read with (else StaleWriteError)."""
        cluster = instance.containerInstanceArn.split("/")[-2]
        read_version = instance.version
        instance.version = read_version + 1
        try:
            changed = self._exec(
                "UPDATE container_instances SET status=?, body=? WHERE arn=? AND json_extract(body, '$.version')=?",
                (instance.status, _dumps(instance), instance.containerInstanceArn, read_version),
            )
        except BaseException:
            instance.version = read_version
            raise
        if changed != 1:
            instance.version = read_version
            raise StaleWriteError(
                f"container instance {instance.containerInstanceArn} is not at version {read_version} any more"
            )
        self._touch_instance(cluster, instance)

    def replace_credential(self, arn: str, credential_hash: str) -> None:
        """A re-registering agent's new credential; the old one stops working."""
        if self._exec("UPDATE container_instances SET credential_hash=? WHERE arn=?", (credential_hash, arn)) != 1:
            raise KeyError(arn)

    def _touch_instance(self, cluster: str, instance: ContainerInstance) -> None:
        self.touch(instance_key(instance.containerInstanceArn))
        # Capacity, attributes, status and connection decide placement for every service there.
        self.touch(cluster_key(cluster))

    def instance_credential(self, instance_id: str) -> tuple[str, str, str] | None:
        """(arn, credential hash, status) of the instance with this id, in one indexed read: what
        every agent call authenticates with."""
        if not instance_id or "/" in instance_id:
            return None
        if len(instance_id) == INSTANCE_ID_LENGTH:
            # The expression of the index above, literally.
            rows = self._rows(
                "SELECT arn, credential_hash, status FROM container_instances WHERE substr(arn, -33)=?",
                ("/" + instance_id,),
            )
        else:
            rows = self._rows(
                "SELECT arn, credential_hash, status FROM container_instances WHERE substr(arn, -?)=?",
                (len(instance_id) + 1, "/" + instance_id),
            )
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if len(rows) == 1 else None

    def instance_arns_with_attribute(self, cluster: str, name: str, value: str) -> list[str]:
        """ARNs of the cluster's non-INACTIVE instances with attribute `name` = `value`, matched by
        SQLite's JSON functions (no row parsed here): what every registration checks its name with."""
        rows = self._rows(
            "SELECT arn FROM container_instances, json_each(container_instances.body, '$.attributes') AS a"
            " WHERE cluster=? AND status != 'INACTIVE' AND json_extract(a.value, '$.name')=?"
            " AND json_extract(a.value, '$.value')=? ORDER BY arn",
            (cluster, name, value),
        )
        return [str(r[0]) for r in rows]

    def credential_hash(self, arn: str) -> str | None:
        rows = self._rows("SELECT credential_hash FROM container_instances WHERE arn=?", (arn,))
        return str(rows[0][0]) if rows else None

    def beat(self, arn: str, at: float) -> None:
        """A connected agent's sign of life, kept in memory and written with the next write
        transaction (or at close): every long-poll is one, and a commit (an fsync) for each of a
        thousand agents' polls would hold the write lock most of the time. `last_heartbeats`
        counts them at once; a crash forgets at most those since the last write, which a
        restarted control plane does not trust anyway (its agents poll again)."""
        with self._beats_lock:
            if at > self._beats.get(arn, 0.0):
                self._beats[arn] = at

    def _write_beats(self) -> None:
        with self._beats_lock:
            beats, self._beats = self._beats, {}
        if beats:
            self._conn.executemany(
                "UPDATE container_instances SET last_heartbeat=MAX(last_heartbeat, ?) WHERE arn=?",
                [(at, arn) for arn, at in beats.items()],
            )

    def heartbeat(self, arn: str, at: float) -> None:
        """Record an agent's sign of life. Committed like any write, but not a change anyone waits
        for: every long-poll is a heartbeat, and waking all waiters for each would be busy work."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        self._conn.execute("UPDATE container_instances SET last_heartbeat=? WHERE arn=?", (at, arn))

    def instance_liveness(self, arn: str) -> tuple[str, bool] | None:
        """(status, agentConnected) of an instance without parsing its row: what every long-poll
        and agent call checks."""
        rows = self._rows(
            "SELECT status, json_extract(body, '$.agentConnected') FROM container_instances WHERE arn=?", (arn,)
        )
        return (str(rows[0][0]), bool(rows[0][1])) if rows else None

    def last_heartbeats(self) -> dict[str, float]:
        stored = {r[0]: float(r[1]) for r in self._rows("SELECT arn, last_heartbeat FROM container_instances")}
        with self._beats_lock:
            heard = dict(self._beats)
        return {arn: max(at, heard.get(arn, at)) for arn, at in stored.items()}

    # -- generic documents (autoscaling, credentials, metrics) -----------------------------

    def put_doc(self, kind: str, key: str, body: dict[str, Any]) -> None:
        self._exec(
            "INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)",
            (kind, key, _dumps_doc(body)),
        )
        self.touch(f"doc:{kind}")

    def get_doc(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT body FROM documents WHERE kind=? AND key=?", (kind, key))
        return json.loads(rows[0][0]) if rows else None

    def list_docs(self, kind: str, key_prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        rows = self._rows(
            "SELECT key, body FROM documents WHERE kind=? AND substr(key, 1, ?)=? ORDER BY key",
            (kind, len(key_prefix), key_prefix),
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def doc_keys_where_true(self, kind: str, member: str) -> set[str]:
        """Keys of the documents of `kind` whose top-level `member` is true, without parsing a body."""
        rows = self._rows(
            "SELECT key FROM documents WHERE kind=? AND json_extract(body, ?) = 1", (kind, f'$."{member}"')
        )
        return {str(r[0]) for r in rows}

    def delete_doc(self, kind: str, key: str) -> None:
        self._exec("DELETE FROM documents WHERE kind=? AND key=?", (kind, key))

    # -- service metrics (autoscaling.metrics) ----------------------------------------------

    def metric_period(self) -> int:
        """The number of the newest metric period recorded (0 when none is)."""
        return int(self._rows("SELECT COALESCE(MAX(period), 0) FROM metric_records")[0][0])

    def add_metric_records(self, period: int, records: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """One period's record of each (cluster, service, record). The records are the collector's
        own numbers, not a client's document: not bounds-checked (a third of a period's time at
        ten thousand services), but never written with a NaN."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        self._conn.executemany(
            "INSERT OR REPLACE INTO metric_records (cluster, service, period, record) VALUES (?, ?, ?, ?)",
            (
                (cluster, service, period, json.dumps(record, separators=(",", ":"), allow_nan=False))
                for cluster, service, record in records
            ),
        )
        self._wrote = True

    def metric_records(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """A service's records, oldest first."""
        rows = self._rows(
            "SELECT record FROM metric_records WHERE cluster=? AND service=? ORDER BY period", (cluster, service)
        )
        return [json.loads(r[0]) for r in rows]

    def metric_services(self, period: int) -> list[tuple[str, str]]:
        """The services with a record of `period`."""
        rows = self._rows("SELECT cluster, service FROM metric_records WHERE period=?", (period,))
        return [(str(r[0]), str(r[1])) for r in rows]

    def forget_metric_records(
        self, *, through_period: int | None = None, services: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Delete every record of `through_period` and earlier, and every record of `services`."""
        if through_period is not None:
            self._exec("DELETE FROM metric_records WHERE period <= ?", (through_period,))
        for cluster, service in services:
            self._exec("DELETE FROM metric_records WHERE cluster=? AND service=?", (cluster, service))

    def _move_legacy_metrics(self) -> None:
        """Histories kept as documents (before `metric_records`) become rows: the newest record of
        each in the table's newest period (0 when it is empty), the one before in the period before
        and so on, so the next period comes after all of them."""
        docs = self._rows("SELECT key, body FROM documents WHERE kind=?", (LEGACY_METRICS_DOC_KIND,))
        if not docs:
            return
        with self.write():
            newest = self.metric_period()
            for key, body in docs:
                cluster, _, service = str(key).partition("/")
                history = json.loads(body).get("Datapoints", [])
                for age, record in enumerate(reversed(history)):
                    self.add_metric_records(newest - age, [(cluster, service, record)])
            self._exec("DELETE FROM documents WHERE kind=?", (LEGACY_METRICS_DOC_KIND,))

    # -- log events (the containers' output the agents ship) -------------------------------
    # A source is one container of one task, with where its events belong (the task's group, the
    # awslogs group and stream); its events are (timestamp ns, ordinal, message), one row each,
    # so a row is small and has one index, which is both the dedupe key and the time order.
    # Written like heartbeats: committed with the transaction but no change-feed change, since a
    # batch arrives every fraction of a second and no controller cares; followers wait on the
    # context's LogFeed instead.

    def log_source(
        self,
        cluster: str,
        task_id: str,
        container: str,
        grp: str,
        log_group: str | None,
        log_stream: str | None,
        at: float,
    ) -> int:
        """The id of a task container's log source, made on first use."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        self._conn.execute(
            "INSERT OR IGNORE INTO log_sources (cluster, task_id, container, grp, log_group, log_stream, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (cluster, task_id, container, grp, log_group, log_stream, at),
        )
        rows = self._rows("SELECT id FROM log_sources WHERE task_id=? AND container=?", (task_id, container))
        return int(rows[0][0])

    def log_sources(self, **where: str) -> dict[int, dict[str, Any]]:
        """Sources whose columns (cluster, task_id, container, grp, log_group, log_stream) equal `where`."""
        sql, args = (
            "SELECT id, cluster, task_id, container, grp, log_group, log_stream, created_at FROM log_sources",
            [],
        )
        for i, (column, value) in enumerate(sorted(where.items())):
            assert column in ("cluster", "task_id", "container", "grp", "log_group", "log_stream"), column
            sql += (" AND " if i else " WHERE ") + f"{column}=?"
            args.append(value)
        names = ("cluster", "taskId", "containerName", "group", "logGroup", "logStreamName", "createdAt")
        return {int(r[0]): dict(zip(names, r[1:], strict=True)) for r in self._rows(sql + " ORDER BY id", args)}

    def insert_log_events(self, rows: Iterable[tuple[int, int, int, float, str]]) -> int:
        """Add (source, ts_ns, ordinal, ingested_at, message) rows; one already stored under its
        (source, ts_ns, ordinal) is skipped, so a batch sent again adds nothing. Returns how many
        were new."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        before = self._conn.total_changes
        self._conn.executemany(
            "INSERT OR IGNORE INTO log_events (source, ts_ns, ord, ingested_at, message) VALUES (?,?,?,?,?)", rows
        )
        return self._conn.total_changes - before

    def count_log_events(self, cluster: str) -> int:
        return int(
            self._rows(
                "SELECT COUNT(*) FROM log_events WHERE source IN (SELECT id FROM log_sources WHERE cluster=?)",
                (cluster,),
            )[0][0]
        )

    def purge_log_events(self, cluster: str, *, before_ns: int | None, excess: int) -> int:
        """Drop a cluster's events older than `before_ns`, then as many of its oldest as are still
        beyond the `excess` counted before; returns how many went."""
        assert self._depth and self._writer == threading.get_ident(), "writes need store.write()"
        sources = "SELECT id FROM log_sources WHERE cluster=?"
        aged = 0
        if before_ns is not None:
            aged = self._conn.execute(
                f"DELETE FROM log_events WHERE source IN ({sources}) AND ts_ns<?", (cluster, before_ns)
            ).rowcount
        rest = 0
        if excess - aged > 0:
            rest = self._conn.execute(
                f"DELETE FROM log_events WHERE id IN (SELECT id FROM log_events WHERE source IN ({sources})"
                " ORDER BY id LIMIT ?)",
                (cluster, excess - aged),
            ).rowcount
        return int(aged + rest)

    def list_log_events(
        self,
        sources: Collection[int],
        *,
        after_id: int = 0,
        from_ns: int | None = None,
        until_ns: int | None = None,
        after_key: tuple[int, int] | None = None,
        before_key: tuple[int, int] | None = None,
        newest: bool = False,
        limit: int = 1000,
        by_arrival: bool = False,
    ) -> list[dict[str, Any]]:
        """The events of these sources in time order (arrival order with `by_arrival`); `newest`:
        the last `limit` of them (still returned oldest first). Keys are (ts_ns, id), exclusive."""
        if not sources:
            return []
        sql = "SELECT id, source, ts_ns, ingested_at, message FROM log_events"
        sql += f" WHERE source IN ({','.join(str(int(s)) for s in sources)})"
        args: list[Any] = []
        if after_id:
            sql += " AND id>?"
            args.append(after_id)
        if from_ns is not None:
            sql += " AND ts_ns>=?"
            args.append(from_ns)
        if until_ns is not None:
            sql += " AND ts_ns<?"
            args.append(until_ns)
        if after_key is not None:
            sql += " AND (ts_ns>? OR (ts_ns=? AND id>?))"
            args += [after_key[0], after_key[0], after_key[1]]
        if before_key is not None:
            sql += " AND (ts_ns<? OR (ts_ns=? AND id<?))"
            args += [before_key[0], before_key[0], before_key[1]]
        order = "id" if by_arrival else "ts_ns, id"
        if newest:
            order = "id DESC" if by_arrival else "ts_ns DESC, id DESC"
        sql += f" ORDER BY {order} LIMIT ?"
        args.append(limit)
        names = ("id", "source", "tsNs", "ingestedAt", "message")
        rows = [dict(zip(names, r, strict=True)) for r in self._rows(sql, args)]
        return rows[::-1] if newest else rows

    def last_log_event_id(self) -> int:
        """The newest event's id: a follower's cursor (ids only grow)."""
        return int(self._rows("SELECT MAX(id) FROM log_events")[0][0] or 0)

    def log_source_stats(self, sources: Collection[int]) -> dict[int, dict[str, Any]]:
        """Per source: its first and last event timestamps and ingestion times, and message bytes."""
        if not sources:
            return {}
        rows = self._rows(
            "SELECT source, MIN(ts_ns), MAX(ts_ns), MIN(ingested_at), MAX(ingested_at), SUM(length(message))"
            f" FROM log_events WHERE source IN ({','.join(str(int(s)) for s in sources)}) GROUP BY source"
        )
        names = ("firstNs", "lastNs", "firstIngested", "lastIngested", "bytes")
        return {int(r[0]): dict(zip(names, r[1:], strict=True)) for r in rows}
