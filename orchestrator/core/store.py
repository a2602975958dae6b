"""The SQLite store: every ECS object as a JSON row, written in transactions, with a change feed.

One connection guarded by one lock: the control plane is a single process and SQLite serializes
writers anyway, so a process-wide lock keeps every read-modify-write atomic without optimistic
retries. WAL mode with `synchronous=FULL` means an acknowledged write survives `kill -9`.

The change feed is a condition variable: every committed write bumps `seq` and wakes waiters
(reconcilers, agents long-polling for their assignments), naming what it touched so waiters can
tell whether the change concerns them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

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
CREATE INDEX IF NOT EXISTS tasks_by_cluster ON tasks (cluster, last_status);
CREATE INDEX IF NOT EXISTS tasks_by_instance ON tasks (instance_arn, last_status);
CREATE INDEX IF NOT EXISTS tasks_by_group ON tasks (cluster, grp, last_status);
CREATE TABLE IF NOT EXISTS container_instances (
  arn TEXT PRIMARY KEY,
  cluster TEXT NOT NULL,
  status TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  last_heartbeat REAL NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster TEXT NOT NULL,
  service TEXT NOT NULL,
  created_at REAL NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_service ON events (cluster, service, id);
CREATE TABLE IF NOT EXISTS documents (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, key)
);
"""

EVENTS_KEPT_PER_SERVICE = 100


def _dumps(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json", exclude_none=True), separators=(",", ":"))


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self.seq = 0
        self._depth = 0
        self._touched: set[str] = set()
        self._wrote = False
        # What each change touched, for waiters: key -> seq of its latest change.
        self.touched_at: dict[str, int] = {}

    def close(self) -> None:
        with self._lock:
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
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._touched.clear()
                self._wrote = False
                raise
            finally:
                self._depth -= 1
            self._conn.execute("COMMIT")
            if not self._wrote:
                return
            self._wrote = False
            self.seq += 1
            for key in self._touched:
                self.touched_at[key] = self.seq
            self._touched.clear()
            self.changed.notify_all()

    @contextmanager
    def read(self) -> Iterator[Store]:
        """A consistent view: no writer can interleave while it is held."""
        with self._lock:
            yield self

    def touch(self, key: str) -> None:
        """Mark a change-feed key (e.g. 'instance:<arn>', 'service:<cluster>/<name>')."""
        self._touched.add(key)

    def nudge(self, key: str) -> None:
        """Wake whoever waits on `key` without writing anything (e.g. an agent that is leaving)."""
        with self._lock:
            self.seq += 1
            self.touched_at[key] = self.seq
            self.changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until predicate() holds (checked after every commit) or timeout; returns it."""
        with self._lock:
            return self.changed.wait_for(predicate, timeout=timeout)

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        cur = self._conn.execute(sql, tuple(args))
        return cur.fetchall()

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> None:
        assert self._depth, "writes need store.write()"
        self._conn.execute(sql, tuple(args))
        self._wrote = True

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
        cluster = self.get_cluster(name)
        if cluster is None:
            cluster = Cluster(clusterArn=cluster_arn(name), clusterName=name)
            with self.write():
                self.put_cluster(cluster)
        return cluster

    # -- task definitions ------------------------------------------------------------------

    def get_task_definition(self, family: str, revision: int) -> TaskDefinition | None:
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
        sql = "SELECT body FROM task_definitions WHERE family LIKE ? ESCAPE '\\'"
        escaped = family_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args: list[Any] = [escaped + "%"]
        if status:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY family, revision"
        return [TaskDefinition.model_validate_json(r[0]) for r in self._rows(sql, args)]

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

    def put_service(self, service: Service) -> None:
        cluster = service.clusterArn.rsplit("/", 1)[-1]
        body = service.model_copy(update={"events": []})
        self._exec(
            "INSERT OR REPLACE INTO services (cluster, name, status, body) VALUES (?, ?, ?, ?)",
            (cluster, service.serviceName, service.status, _dumps(body)),
        )
        self.touch(f"service:{cluster}/{service.serviceName}")

    def delete_service_row(self, cluster: str, name: str) -> None:
        self._exec("DELETE FROM services WHERE cluster=? AND name=?", (cluster, name))
        self._exec("DELETE FROM events WHERE cluster=? AND service=?", (cluster, name))

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

    def find_task(self, cluster: str, task_id: str) -> Task | None:
        rows = self._rows("SELECT body FROM tasks WHERE cluster=? AND arn LIKE ?", (cluster, f"%/{task_id}"))
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
    ) -> list[Task]:
        sql, args = "SELECT body FROM tasks WHERE 1=1", []
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
        tasks = [Task.model_validate_json(r[0]) for r in self._rows(sql, args)]
        if started_by is not None:
            tasks = [t for t in tasks if t.startedBy == started_by]
        return tasks

    def put_task(self, task: Task, explanation: dict[str, Any] | None = None) -> None:
        cluster = task.clusterArn.rsplit("/", 1)[-1]
        args = (
            task.taskArn,
            cluster,
            task.containerInstanceArn,
            task.group,
            task.desiredStatus,
            task.lastStatus,
            task.createdAt,
            task.stoppedAt,
            _dumps(task),
        )
        if explanation is None:
            self._exec(
                "INSERT INTO tasks (arn, cluster, instance_arn, grp, desired_status, last_status, created_at,"
                " stopped_at, body) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(arn) DO UPDATE SET"
                " instance_arn=excluded.instance_arn, desired_status=excluded.desired_status,"
                " last_status=excluded.last_status, stopped_at=excluded.stopped_at, body=excluded.body",
                args,
            )
        else:
            self._exec(
                "INSERT OR REPLACE INTO tasks (arn, cluster, instance_arn, grp, desired_status, last_status,"
                " created_at, stopped_at, body, explanation) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*args, json.dumps(explanation, separators=(",", ":"))),
            )
        if task.containerInstanceArn:
            self.touch(f"instance:{task.containerInstanceArn}")
        if task.group.startswith("service:"):
            self.touch(f"service:{cluster}/{task.group[len('service:') :]}")

    def get_explanation(self, arn: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT explanation FROM tasks WHERE arn=?", (arn,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def purge_stopped_tasks(self, before: float) -> int:
        """Forget tasks stopped before `before`; ECS keeps stopped tasks describable about an hour."""
        cur = self._conn.execute(
            "SELECT COUNT(*) FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?", (before,)
        )
        n = int(cur.fetchone()[0])
        if n:
            self._exec("DELETE FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?", (before,))
        return n

    # -- container instances ---------------------------------------------------------------

    def get_instance(self, arn: str) -> ContainerInstance | None:
        rows = self._rows("SELECT body FROM container_instances WHERE arn=?", (arn,))
        return ContainerInstance.model_validate_json(rows[0][0]) if rows else None

    def list_instances(self, cluster: str | None = None, include_inactive: bool = False) -> list[ContainerInstance]:
        sql, args = "SELECT body FROM container_instances WHERE 1=1", []
        if cluster is not None:
            sql += " AND cluster=?"
            args.append(cluster)
        if not include_inactive:
            sql += " AND status != 'INACTIVE'"
        sql += " ORDER BY arn"
        return [ContainerInstance.model_validate_json(r[0]) for r in self._rows(sql, args)]

    def put_instance(self, instance: ContainerInstance, credential_hash: str | None = None) -> None:
        cluster = instance.containerInstanceArn.split("/")[-2]
        if credential_hash is None:
            self._exec(
                "UPDATE container_instances SET status=?, body=? WHERE arn=?",
                (instance.status, _dumps(instance), instance.containerInstanceArn),
            )
        else:
            self._exec(
                "INSERT OR REPLACE INTO container_instances (arn, cluster, status, credential_hash,"
                " last_heartbeat, body) VALUES (?,?,?,?,?,?)",
                (
                    instance.containerInstanceArn,
                    cluster,
                    instance.status,
                    credential_hash,
                    instance.registeredAt,
                    _dumps(instance),
                ),
            )
        self.touch(f"instance:{instance.containerInstanceArn}")

    def instance_arn_by_id(self, instance_id: str) -> str | None:
        rows = self._rows("SELECT arn FROM container_instances WHERE arn LIKE ?", (f"%/{instance_id}",))
        return str(rows[0][0]) if len(rows) == 1 else None

    def credential_hash(self, arn: str) -> str | None:
        rows = self._rows("SELECT credential_hash FROM container_instances WHERE arn=?", (arn,))
        return str(rows[0][0]) if rows else None

    def heartbeat(self, arn: str, at: float) -> None:
        """Record an agent's sign of life. Committed like any write, but not a change anyone waits
        for: every long-poll is a heartbeat, and waking all waiters for each would be busy work."""
        assert self._depth, "writes need store.write()"
        self._conn.execute("UPDATE container_instances SET last_heartbeat=? WHERE arn=?", (at, arn))

    def last_heartbeats(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows("SELECT arn, last_heartbeat FROM container_instances")}

    # -- generic documents (autoscaling, credentials, metrics) -----------------------------

    def put_doc(self, kind: str, key: str, body: dict[str, Any]) -> None:
        self._exec(
            "INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)",
            (kind, key, json.dumps(body, separators=(",", ":"))),
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

    def delete_doc(self, kind: str, key: str) -> None:
        self._exec("DELETE FROM documents WHERE kind=? AND key=?", (kind, key))
