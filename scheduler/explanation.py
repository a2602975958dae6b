"""Placement explanations as typed records, and the one place their JSON shape is defined.

Like Nomad's AllocMetric, every placed task carries why it went where it went: how many instances
were considered, per filter the instances it dropped and why, how many stayed eligible, what each
strategy step ranked first (ECS) or the topology and scores (Kubernetes), and the winner.
`Explanation.to_dict()` is the JSON the store keeps and `orchestrator task explain` and
`svc plan` print (through `scheduler.explain`); that shape is fixed here and nowhere else.

The records are immutable. Those built for every placement are named tuples rather than frozen
dataclasses: they cost a quarter as much to construct. (The garbage collector keeps tracking them
all the same: CPython stops tracking only exact tuples, such as the ranking pairs, so each
placement adds a handful of tracked objects, which is most of what the cost of a 100,000-task
request grows by.) The filters (`scheduler.filters.FilterLog`) and the profiles
(`scheduler.rules`) fill them in. Everything stays small on any cluster size, because the
examples and rankings are cut to a few entries (EXAMPLES, RANKED, SCORED, SHOWN_ZONES).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Dropped instances shown per filter, and entries shown per ECS strategy ranking.
EXAMPLES = 5
RANKED = 3
# Per-node scores and zones in a Kubernetes explanation: enough to compare, bounded on any cluster.
SCORED = 10
SHOWN_ZONES = 10


class Dropped(NamedTuple):
    """One instance a filter dropped, and the reason in words."""

    instance: str  # instance id
    reason: str  # "insufficient memory available"

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    """What one filter dropped: how many instances, and the first few in input order."""

    filter: str  # "status", "cpu", "memberOf", "topologySpread", ...
    removed: int
    examples: tuple[Dropped, ...]
    # Built once: consecutive placements of a request share their outcomes, and so their JSON.
    _json: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        examples = [{"instance": e.instance, "reason": e.reason} for e in self.examples]
        object.__setattr__(self, "_json", {"filter": self.filter, "removed": self.removed, "examples": examples})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; shared by every explanation that shows this outcome, so never mutate it."""
        return self._json


class BucketRank(NamedTuple):
    """A spread(attribute) bucket: one value of the attribute and the group's tasks it holds."""

    value: str | None  # None: the instances that lack the attribute
    tasks: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "tasks": self.tasks}


class InstanceRank(NamedTuple):
    """An instance in an instance-level ranking, with the key it was ranked by."""

    instance: str
    key: str  # "tasks" (spread instanceId), "remaining_cpu" or "remaining_memory" (binpack)
    value: int

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, self.key: self.value}


class Tie(NamedTuple):
    """A spread(attribute) step where other values had as few tasks as the chosen one."""

    values: tuple[str | None, ...]  # the tied values (at most EXAMPLES), sorted by name
    tied: int  # how many values tied
    broken_by: str  # the label of the later step that settled it, "random" or "tie-break order"

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values), "tied": self.tied, "brokenBy": self.broken_by}


class StrategyStep(NamedTuple):
    """One step of the ECS strategy chain: the best few it saw, and what it chose.

    A spread(attribute) step ranks buckets: `ranking` holds (value of the attribute, tasks of the
    group) pairs, None standing for the instances without the attribute, and `candidates` counts
    the candidates in the buckets still in the running. spread(instanceId) and binpack steps rank
    instances: (instance id, key) pairs, the key named by `ranked_by`. random has no ranking, only
    `candidates`: those still tied when it drew. `entries` gives the ranking as typed records.
    """

    strategy: str  # the step's label: "spread(attribute:ecs.availability-zone)", "binpack(memory)", "random"
    chose: str | None  # the bucket value or instance id chosen
    # Plain pairs rather than records: the collector stops tracking tuples of plain values.
    ranking: tuple[tuple[str | None, int], ...] | None = None
    ranked_by: str = ""  # instance rankings: "tasks", "remaining_cpu" or "remaining_memory"
    candidates: int | None = None
    tie: Tie | None = None  # spread(attribute) steps only

    @property
    def entries(self) -> tuple[BucketRank | InstanceRank, ...]:
        if not self.ranking:
            return ()
        if not self.ranked_by:
            return tuple(BucketRank(value, tasks) for value, tasks in self.ranking)
        return tuple(InstanceRank(str(name), self.ranked_by, value) for name, value in self.ranking)

    def to_dict(self) -> dict[str, Any]:
        # Unpacked once and built in key order: this runs for every placement the store keeps.
        strategy, chose, ranking, ranked_by, candidates, tie = self
        out: dict[str, Any] = {"strategy": strategy}
        if candidates is not None:
            out["candidates"] = candidates
        if ranking is not None:
            if ranked_by:
                out["ranking"] = [{"instance": name, ranked_by: value} for name, value in ranking]
            else:
                out["ranking"] = [{"value": value, "tasks": tasks} for value, tasks in ranking]
        out["chose"] = chose
        if tie is not None:
            out["tie"] = {"values": list(tie.values), "tied": tie.tied, "brokenBy": tie.broken_by}
        return out


class Winner(NamedTuple):
    instance: str
    arn: str
    zone: str

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "arn": self.arn, "zone": self.zone}


class ZoneCount(NamedTuple):
    zone: str
    tasks: int

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "tasks": self.tasks}


class Topology(NamedTuple):
    """PodTopologySpread as the Kubernetes profile applied it to this task."""

    key: str  # the topology key, ecs.availability-zone
    max_skew: int
    min: int  # the fewest pods of the group in an eligible zone
    zones: tuple[ZoneCount, ...]  # emptiest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "max_skew": self.max_skew,
            "min": self.min,
            "zones": [zone.to_dict() for zone in self.zones],
        }


class Score(NamedTuple):
    """A node's kube-scheduler scores for this pod."""

    instance: str
    least_allocated: int
    balanced_allocation: int

    @property
    def total(self) -> int:
        return self.least_allocated + self.balanced_allocation

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "least_allocated": self.least_allocated,
            "balanced_allocation": self.balanced_allocation,
            "total": self.total,
        }


class EcsExplanation(NamedTuple):
    """Why the ECS rule put one task where it did."""

    task: int  # 0-based position in the request
    group: str
    considered: int  # instances in the snapshot
    filters: tuple[FilterOutcome, ...]  # only the filters that dropped something, in filter order
    eligible: int  # instances that passed every filter
    winner: Winner
    strategies: tuple[StrategyStep, ...]  # one per step of the chain, random last

    @property
    def profile(self) -> str:
        return "ecs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": "ecs",
            "task": self.task,
            "group": self.group,
            "considered": self.considered,
            "filters": [outcome.to_dict() for outcome in self.filters],
            "eligible": self.eligible,
            "strategies": [step.to_dict() for step in self.strategies],
            "winner": self.winner.to_dict(),
        }


# The Kubernetes profile's plugin weights (NodeResourcesFit LeastAllocated, BalancedAllocation).
WEIGHTS = {"least_allocated": 1, "balanced_allocation": 1}


class KubernetesExplanation(NamedTuple):
    """Why the Kubernetes rule bound one pod where it did."""

    task: int
    group: str
    considered: int
    filters: tuple[FilterOutcome, ...]  # the ECS filters, then topologySpread
    eligible: int  # nodes that passed every filter, topology included
    winner: Winner
    topology: Topology
    scores: tuple[Score, ...]  # best first, at most SCORED

    @property
    def profile(self) -> str:
        return "kubernetes"

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": "kubernetes",
            "task": self.task,
            "group": self.group,
            "considered": self.considered,
            "filters": [outcome.to_dict() for outcome in self.filters],
            "eligible": self.eligible,
            "topology": self.topology.to_dict(),
            "weights": dict(WEIGHTS),
            "scores": [score.to_dict() for score in self.scores],
            "winner": self.winner.to_dict(),
        }


# What every placement carries: the explanation of the profile that decided.
Explanation = EcsExplanation | KubernetesExplanation
