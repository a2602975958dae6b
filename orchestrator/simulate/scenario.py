"""A simulation scenario: the YAML file read strictly into typed values.

Every key is known or refused by name with its path (`events[2].rollout.sharee: unknown key; known:
failing_health_share, service`), every value checked for type and range, so a scenario never
runs with part of it silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ZONE_KEYS = ("zone_lost", "zone_restored", "drain", "rollout", "flap", "scale")


class ScenarioError(ValueError):
    """The scenario file is not one this simulator can run; the message says where and why."""


@dataclass(frozen=True)
class InstanceGroup:
    zone: str
    count: int
    instance_type: str = "m5.large"
    cpu: int = 2048
    memory: int = 8192
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadPoint:
    """The service's demand at `at` seconds, in percent of what its scenario `desired` count of
    tasks reserves (CPU units, memory MiB); between points it changes linearly."""

    at: float
    cpu: float
    memory: float


@dataclass(frozen=True)
class AutoscalingSpec:
    """A target-tracking policy on the service's average CPU or memory utilization."""

    min: int
    max: int
    metric: str  # "cpu" or "memory"
    target: float  # percent
    scale_out_cooldown_s: int = 0
    scale_in_cooldown_s: int = 0


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    desired: int
    cpu: int = 64
    memory: int = 128
    health_check: bool = False
    placement_strategy: tuple[dict[str, str], ...] = ()
    placement_constraints: tuple[dict[str, str], ...] = ()
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = False
    rollback: bool = False
    load: tuple[LoadPoint, ...] = ()
    autoscaling: AutoscalingSpec | None = None

    def demand(self, t: float) -> tuple[float, float]:
        """(CPU units, memory MiB) the service's work needs at `t`, spread over its RUNNING tasks."""
        if not self.load:
            return 0.0, 0.0
        points = self.load
        if t <= points[0].at:
            cpu, memory = points[0].cpu, points[0].memory
        elif t >= points[-1].at:
            cpu, memory = points[-1].cpu, points[-1].memory
        else:
            after = next(i for i, p in enumerate(points) if p.at > t)
            a, b = points[after - 1], points[after]
            share = (t - a.at) / (b.at - a.at)
            cpu, memory = a.cpu + (b.cpu - a.cpu) * share, a.memory + (b.memory - a.memory) * share
        return cpu / 100 * self.desired * self.cpu, memory / 100 * self.desired * self.memory


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # one of ZONE_KEYS
    zone: str = ""
    count: int = 0  # drain / flap: how many instances of the zone (0: all)
    down_s: float = 0.0  # flap: how long the agents stay away
    service: str = ""
    failing_health_share: float = 0.0  # rollout: share of the new tasks whose health check fails
    desired: int = 0  # scale


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    tick_s: float
    seed: int
    instances: tuple[InstanceGroup, ...]
    services: tuple[ServiceSpec, ...]
    events: tuple[Event, ...]
    health_grace_s: float = 10.0
    disconnected_after_s: float = 15.0
    lost_after_s: float = 60.0

    @property
    def zones(self) -> list[str]:
        return sorted({g.zone for g in self.instances})

    @property
    def instance_count(self) -> int:
        return sum(g.count for g in self.instances)


# -- the strict reader ---------------------------------------------------------------------


def _keys(doc: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path or 'the scenario'}: must be a mapping of keys, got {type(doc).__name__}")
    known = required + optional
    for key in doc:
        if key not in known:
            raise ScenarioError(f"{_at(path, str(key))}: unknown key; known: {', '.join(sorted(known))}")
    for key in required:
        if key not in doc:
            raise ScenarioError(f"{_at(path, key)}: required")
    return doc


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _int(doc: dict[str, Any], key: str, path: str, default: int | None = None, lo: int = 0, hi: int = 10**6) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{_at(path, key)}: must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ScenarioError(f"{_at(path, key)}: must be from {lo} to {hi}, got {value}")
    return value


def _num(
    doc: dict[str, Any], key: str, path: str, default: float | None = None, lo: float = 0, hi: float = 1e7
) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{_at(path, key)}: must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ScenarioError(f"{_at(path, key)}: must be from {lo:g} to {hi:g}, got {value}")
    return float(value)


def _str(doc: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{_at(path, key)}: must be a non-empty string, got {value!r}")
    return value


def _bool(doc: dict[str, Any], key: str, path: str, default: bool) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ScenarioError(f"{_at(path, key)}: must be true or false, got {value!r}")
    return value


def _list(doc: dict[str, Any], key: str, path: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{_at(path, key)}: must be a list, got {type(value).__name__}")
    return value


def _instances(doc: Any, path: str) -> InstanceGroup:
    d = _keys(doc, path, ("zone", "count"), ("type", "cpu", "memory", "attributes"))
    attrs = d.get("attributes", {})
    if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
        raise ScenarioError(f"{_at(path, 'attributes')}: must map names to string values")
    return InstanceGroup(
        zone=_str(d, "zone", path),
        count=_int(d, "count", path, lo=1, hi=5000),
        instance_type=_str(d, "type", path, "m5.large"),
        cpu=_int(d, "cpu", path, 2048, lo=128, hi=1_000_000),
        memory=_int(d, "memory", path, 8192, lo=128, hi=10_000_000),
        attributes=dict(attrs),
    )


def _placement(value: Any, path: str, allowed: tuple[str, ...]) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{path}: must be a list")
    out = []
    for i, item in enumerate(value):
        d = _keys(item, f"{path}[{i}]", ("type",), allowed)
        out.append({k: _str(d, k, f"{path}[{i}]") for k in d})
    return tuple(out)


def _service(doc: Any, path: str) -> ServiceSpec:
    d = _keys(
        doc,
        path,
        ("name", "desired"),
        (
            "cpu",
            "memory",
            "health_check",
            "placement_strategy",
            "placement_constraints",
            "minimum_healthy_percent",
            "maximum_percent",
            "circuit_breaker",
            "rollback",
            "load",
            "autoscaling",
        ),
    )
    desired = _int(d, "desired", path, lo=0, hi=10_000)
    autoscaling = _autoscaling(d["autoscaling"], _at(path, "autoscaling")) if "autoscaling" in d else None
    if autoscaling is not None and not autoscaling.min <= desired <= autoscaling.max:
        raise ScenarioError(
            f"{_at(path, 'desired')}: {desired} is outside autoscaling min {autoscaling.min} to max {autoscaling.max}"
        )
    return ServiceSpec(
        name=_str(d, "name", path),
        desired=desired,
        cpu=_int(d, "cpu", path, 64, lo=1, hi=100_000),
        memory=_int(d, "memory", path, 128, lo=4, hi=1_000_000),
        health_check=_bool(d, "health_check", path, False),
        placement_strategy=_placement(d.get("placement_strategy", []), _at(path, "placement_strategy"), ("field",)),
        placement_constraints=_placement(
            d.get("placement_constraints", []), _at(path, "placement_constraints"), ("expression",)
        ),
        minimum_healthy_percent=_int(d, "minimum_healthy_percent", path, 100, lo=0, hi=100),
        maximum_percent=_int(d, "maximum_percent", path, 200, lo=100, hi=200),
        circuit_breaker=_bool(d, "circuit_breaker", path, False),
        rollback=_bool(d, "rollback", path, False),
        load=_load(d.get("load", []), _at(path, "load")),
        autoscaling=autoscaling,
    )


def _load(value: Any, path: str) -> tuple[LoadPoint, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{path}: must be a list of points such as {{at: 0, cpu: 40}}")
    points: list[LoadPoint] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        d = _keys(item, where, ("at",), ("cpu", "memory"))
        if "cpu" not in d and "memory" not in d:
            raise ScenarioError(f"{where}: needs cpu or memory (percent of what the service's desired tasks reserve)")
        point = LoadPoint(
            at=_num(d, "at", where, hi=86_400),
            cpu=_num(d, "cpu", where, 0.0, hi=100_000),
            memory=_num(d, "memory", where, 0.0, hi=100_000),
        )
        if points and point.at <= points[-1].at:
            raise ScenarioError(f"{_at(where, 'at')}: {point.at:g} must come after {points[-1].at:g}")
        points.append(point)
    return tuple(points)


def _autoscaling(doc: Any, path: str) -> AutoscalingSpec:
    d = _keys(doc, path, ("min", "max", "target"), ("metric", "scale_out_cooldown_s", "scale_in_cooldown_s"))
    metric = d.get("metric", "cpu")
    if metric not in ("cpu", "memory"):
        raise ScenarioError(f"{_at(path, 'metric')}: must be cpu or memory, got {metric!r}")
    spec = AutoscalingSpec(
        min=_int(d, "min", path, hi=10_000),
        max=_int(d, "max", path, hi=10_000),
        metric=metric,
        target=_num(d, "target", path, lo=1, hi=100),
        scale_out_cooldown_s=_int(d, "scale_out_cooldown_s", path, 0, hi=86_400),
        scale_in_cooldown_s=_int(d, "scale_in_cooldown_s", path, 0, hi=86_400),
    )
    if spec.min > spec.max:
        raise ScenarioError(f"{_at(path, 'min')}: {spec.min} is more than max {spec.max}")
    return spec


def _event(doc: Any, path: str) -> Event:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: must be a mapping with `at` and one of {', '.join(ZONE_KEYS)}")
    kinds = [k for k in doc if k in ZONE_KEYS]
    _keys(doc, path, ("at",), ZONE_KEYS)
    if len(kinds) != 1:
        raise ScenarioError(f"{path}: needs exactly one of {', '.join(ZONE_KEYS)}, got {len(kinds)}")
    kind = kinds[0]
    at = _num(doc, "at", path)
    body = doc[kind]
    sub = _at(path, kind)
    if kind in ("zone_lost", "zone_restored"):
        if not isinstance(body, str) or not body:
            raise ScenarioError(f"{sub}: must name a zone")
        return Event(at=at, kind=kind, zone=body)
    if kind == "drain":
        d = _keys(body, sub, ("zone",), ("count",))
        return Event(at=at, kind=kind, zone=_str(d, "zone", sub), count=_int(d, "count", sub, 0, hi=5000))
    if kind == "flap":
        d = _keys(body, sub, ("zone", "down_s"), ("count",))
        return Event(
            at=at,
            kind=kind,
            zone=_str(d, "zone", sub),
            count=_int(d, "count", sub, 0, hi=5000),
            down_s=_num(d, "down_s", sub, lo=1),
        )
    if kind == "rollout":
        d = _keys(body, sub, ("service",), ("failing_health_share",))
        return Event(
            at=at,
            kind=kind,
            service=_str(d, "service", sub),
            failing_health_share=_num(d, "failing_health_share", sub, 0.0, lo=0.0, hi=1.0),
        )
    d = _keys(body, sub, ("service", "desired"), ())
    return Event(at=at, kind=kind, service=_str(d, "service", sub), desired=_int(d, "desired", sub, hi=10_000))


def parse(doc: Any) -> Scenario:
    d = _keys(
        doc,
        "",
        ("name", "duration_s", "instances", "services"),
        ("tick_s", "seed", "events", "health_grace_s", "disconnected_after_s", "lost_after_s"),
    )
    instances = tuple(_instances(g, f"instances[{i}]") for i, g in enumerate(_list(d, "instances", "")))
    services = tuple(_service(s, f"services[{i}]") for i, s in enumerate(_list(d, "services", "")))
    events = tuple(_event(e, f"events[{i}]") for i, e in enumerate(_list(d, "events", "")))
    scenario = Scenario(
        name=_str(d, "name", ""),
        duration_s=_num(d, "duration_s", "", lo=1, hi=86_400),
        tick_s=_num(d, "tick_s", "", 5.0, lo=1, hi=600),
        seed=_int(d, "seed", "", 0, hi=2**31 - 1),
        instances=instances,
        services=services,
        events=events,
        health_grace_s=_num(d, "health_grace_s", "", 10.0, hi=3600),
        disconnected_after_s=_num(d, "disconnected_after_s", "", 15.0, lo=1, hi=3600),
        lost_after_s=_num(d, "lost_after_s", "", 60.0, lo=1, hi=86_400),
    )
    _cross_check(scenario)
    return scenario


def _cross_check(s: Scenario) -> None:
    if not s.instances:
        raise ScenarioError("instances: needs at least one group")
    names = [svc.name for svc in s.services]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(f"services[{i}].name: {name!r} is named twice")
    zones = set(s.zones)
    for i, e in enumerate(s.events):
        if e.zone and e.zone not in zones:
            raise ScenarioError(f"events[{i}].{e.kind}: zone {e.zone!r} has no instances; zones: {', '.join(s.zones)}")
        if e.service and e.service not in names:
            raise ScenarioError(f"events[{i}].{e.kind}.service: no service {e.service!r}; services: {', '.join(names)}")
        if e.at > s.duration_s:
            raise ScenarioError(f"events[{i}].at: {e.at:g} is after the end (duration_s {s.duration_s:g})")


def load(path: Path) -> Scenario:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ScenarioError(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path} is not valid YAML: {err}") from None
    return parse(doc)
