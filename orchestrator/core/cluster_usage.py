"""What a cluster's tasks hold on each instance, kept from one placement to the next.

`usage_of` over every task of a cluster is exact but reads, parses and sums every row: at 10,000
tasks that was most of a service pass that places (about a tenth of a second each, holding the
store's write lock). `ClusterUsage` keeps each task's holding and the sums per instance, and on
each `refresh` reads only the indexed columns of the non-STOPPED rows (ARN, instance, last
status), and inside a write transaction only those of the tasks written since the last refresh
(`Store.task_writes_since`); a task's body is parsed once, when it first appears. What a task
holds is fixed when it is placed (instance, CPU, memory, task definition, group, GPU ids); only
whether it is RUNNING moves afterwards, and that is a column. The sums are the same numbers `usage_of` gives
(tests/unit/test_cluster_usage.py checks both agree).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.core.models import Task, TaskDefinition
from orchestrator.core.placing import InstanceUsage, task_needs
from orchestrator.core.store import Store

K = TypeVar("K")


@dataclass(frozen=True)
class Holding:
    """What one non-STOPPED task holds on its instance."""

    instance: str
    group: str
    cpu: int
    memory: int
    tcp: frozenset[int]
    udp: frozenset[int]
    gpus: frozenset[str]


@dataclass
class _Sum:
    """Holdings added up; ports and GPUs counted, so that one task's leaving is a subtraction."""

    cpu: int = 0
    memory: int = 0
    running: int = 0
    pending: int = 0
    tcp: Counter[int] = field(default_factory=Counter)
    udp: Counter[int] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)
    gpus: Counter[str] = field(default_factory=Counter)

    def add(self, h: Holding, running: bool, sign: int) -> None:
        self.cpu += sign * h.cpu
        self.memory += sign * h.memory
        if running:
            self.running += sign
        else:
            self.pending += sign
        _count(self.groups, (h.group,), sign)
        _count(self.tcp, h.tcp, sign)
        _count(self.udp, h.udp, sign)
        _count(self.gpus, h.gpus, sign)

    @property
    def empty(self) -> bool:
        return self.running == 0 and self.pending == 0


def _count(counter: Counter[K], keys: Iterable[K], sign: int) -> None:
    for key in keys:
        counter[key] += sign
        if counter[key] == 0:  # a port or GPU freed reads as free, as a group that left reads as gone
            del counter[key]


def holding(task: Task, td: TaskDefinition | None) -> Holding:
    """What `task` holds (the same arithmetic as `placing.usage_of`)."""
    needs = task_needs(td) if td is not None else None
    return Holding(
        instance=task.containerInstanceArn or "",
        group=task.group,
        cpu=int(task.cpu or 0),
        memory=int(task.memory or 0),
        tcp=needs.tcp_ports if needs else frozenset(),
        udp=needs.udp_ports if needs else frozenset(),
        gpus=frozenset(g for c in task.containers for g in c.gpuIds or ()),
    )


class ClusterUsage:
    """The holdings of one cluster's non-STOPPED tasks, per instance and per (group, instance)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._held: dict[str, tuple[Holding, bool]] = {}  # task ARN -> (holding, RUNNING)
        self._totals: dict[str, _Sum] = {}
        self._by_group: dict[str, dict[str, _Sum]] = {}
        self.parsed = 0  # task bodies parsed so far (a test of the incremental reads)
        self.rows_read = 0  # index rows read so far (another)
        self._seq: int | None = None  # the store's change number at the last refresh

    def refresh(self, store: Store, td_of: Callable[[str], TaskDefinition | None]) -> None:
        """Bring the sums up to the store's rows (call inside the transaction the pass reads in).
        Inside a write, only the rows written since the last refresh are read (the store's task log)."""
        changed = store.task_writes_since(self._seq) if self._seq is not None else None
        rows = store.task_placements(self.cluster, changed)
        # Held, and read again (all of them, or those written) but not found: STOPPED or gone.
        gone = (self._held.keys() if changed is None else changed & self._held.keys()) - {a for a, _, _ in rows}
        self._seq = store.position
        self.rows_read += len(rows)
        new: list[tuple[str, bool]] = []
        for arn, instance, status in rows:
            running = status == "RUNNING"
            known = self._held.get(arn)
            if known is not None and known[0].instance == (instance or ""):
                if known[1] != running:
                    self._add(known[0], known[1], -1)
                    self._add(known[0], running, +1)
                    self._held[arn] = (known[0], running)
                continue
            if known is not None:  # placed elsewhere than it was read: read it again
                self._forget(arn)
            if instance:
                new.append((arn, running))
        for arn in gone:
            self._forget(arn)
        for task in store.tasks_by_arn([arn for arn, _ in new], shared=True):
            if not task.containerInstanceArn or task.lastStatus == "STOPPED":
                continue
            self.parsed += 1
            h, running = holding(task, td_of(task.taskDefinitionArn)), task.lastStatus == "RUNNING"
            self._held[task.taskArn] = (h, running)
            self._add(h, running, +1)

    def others(self, group: str) -> dict[str, InstanceUsage]:
        """Usage per instance ARN of every task not in `group` (as `usage_of` of those tasks)."""
        mine = self._by_group.get(group, {})
        out: dict[str, InstanceUsage] = {}
        for instance, total in self._totals.items():
            own = mine.get(instance)
            u = InstanceUsage(
                cpu=total.cpu,
                memory=total.memory,
                running=total.running,
                pending=total.pending,
                tcp=set(total.tcp),
                udp=set(total.udp),
                groups=Counter(total.groups),
                gpus=set(total.gpus),
            )
            if own is not None and not own.empty:
                u.cpu -= own.cpu
                u.memory -= own.memory
                u.running -= own.running
                u.pending -= own.pending
                u.tcp = {p for p, n in (total.tcp - own.tcp).items() if n > 0}
                u.udp = {p for p, n in (total.udp - own.udp).items() if n > 0}
                u.gpus = {g for g, n in (total.gpus - own.gpus).items() if n > 0}
                del u.groups[group]
            if u.running or u.pending:
                out[instance] = u
        return out

    def _add(self, h: Holding, running: bool, sign: int) -> None:
        for sums in (self._totals, self._by_group.setdefault(h.group, {})):
            s = sums.get(h.instance)
            if s is None:
                s = sums[h.instance] = _Sum()
            s.add(h, running, sign)
            if s.empty:
                del sums[h.instance]

    def _forget(self, arn: str) -> None:
        h, running = self._held.pop(arn)
        self._add(h, running, -1)
