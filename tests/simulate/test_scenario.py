"""The scenario reader: every key known or refused by name with its path; values checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.simulate.scenario import ScenarioError, load, parse

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "simulate").glob("*.yaml"))


def base(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "t",
        "duration_s": 60,
        "instances": [{"zone": "a", "count": 2}],
        "services": [{"name": "web", "desired": 2}],
    }
    doc.update(extra)
    return doc


def test_a_minimal_scenario_reads_with_its_defaults() -> None:
    s = parse(base())
    assert (s.tick_s, s.seed, s.instance_count, s.zones) == (5.0, 0, 2, ["a"])
    assert s.services[0].cpu == 64 and s.services[0].minimum_healthy_percent == 100


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (base(tick=5), "tick: unknown key; known:"),
        (base(instances=[{"zone": "a", "count": 2, "size": 3}]), "instances[0].size: unknown key"),
        (base(services=[{"name": "w", "desired": 1, "health": True}]), "services[0].health: unknown key"),
        (
            base(events=[{"at": 5, "rollout": {"service": "web", "share": 0.5}}]),
            "events[0].rollout.share: unknown key; known: failing_health_share, service",
        ),
        (base(events=[{"at": 5, "zone_lsot": "a"}]), "events[0].zone_lsot: unknown key"),
        (base(events=[{"at": 5}]), "events[0]: needs exactly one of"),
        (base(events=[{"at": 5, "zone_lost": "b"}]), "events[0].zone_lost: zone 'b' has no instances"),
        (base(events=[{"at": 5, "scale": {"service": "api", "desired": 3}}]), "events[0].scale.service: no service"),
        (base(events=[{"at": 99, "zone_lost": "a"}]), "events[0].at: 99 is after the end"),
        (base(events=[{"at": 5, "rollout": {"service": "web", "failing_health_share": 1.5}}]), "must be from 0"),
        (base(instances=[{"zone": "a", "count": "2"}]), "instances[0].count: must be a whole number"),
        (base(instances=[{"zone": "a"}]), "instances[0].count: required"),
        (base(services=[{"name": "w", "desired": 1}, {"name": "w", "desired": 1}]), "services[1].name: 'w' is named"),
        ([1, 2], "the scenario: must be a mapping"),
        (
            base(services=[{"name": "w", "desired": 2, "load": [{"at": 0, "cpu": 10, "cpus": 2}]}]),
            "services[0].load[0].cpus: unknown key; known: at, cpu, memory",
        ),
        (base(services=[{"name": "w", "desired": 2, "load": [{"at": 0}]}]), "services[0].load[0]: needs cpu or"),
        (
            base(services=[{"name": "w", "desired": 2, "load": [{"at": 10, "cpu": 1}, {"at": 5, "cpu": 2}]}]),
            "services[0].load[1].at: 5 must come after 10",
        ),
        (base(services=[{"name": "w", "desired": 2, "load": {"at": 0}}]), "services[0].load: must be a list"),
        (
            base(services=[{"name": "w", "desired": 2, "autoscaling": {"min": 1, "max": 4, "target": 50, "x": 1}}]),
            "services[0].autoscaling.x: unknown key; known: max, metric, min",
        ),
        (
            base(services=[{"name": "w", "desired": 2, "autoscaling": {"min": 1, "max": 4}}]),
            "services[0].autoscaling.target: required",
        ),
        (
            base(
                services=[
                    {"name": "w", "desired": 2, "autoscaling": {"min": 1, "max": 4, "target": 50, "metric": "rps"}}
                ]
            ),
            "services[0].autoscaling.metric: must be cpu or memory",
        ),
        (
            base(services=[{"name": "w", "desired": 9, "autoscaling": {"min": 1, "max": 4, "target": 50}}]),
            "services[0].desired: 9 is outside autoscaling min 1 to max 4",
        ),
        (
            base(services=[{"name": "w", "desired": 2, "autoscaling": {"min": 5, "max": 4, "target": 50}}]),
            "services[0].autoscaling.min: 5 is more than max 4",
        ),
    ],
)
def test_bad_scenarios_are_refused_by_name_and_path(doc: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=None) as err:
        parse(doc)
    assert message in str(err.value)


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="is not valid YAML"):
        load(bad)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_scenario_reads(path: Path) -> None:
    scenario = load(path)
    assert scenario.name == yaml.safe_load(path.read_text())["name"]
    assert scenario.instances and scenario.services


def test_the_zone_loss_example_is_a_thousand_instances_in_three_zones() -> None:
    scenario = load(next(p for p in EXAMPLES if p.stem == "zone-loss"))
    assert scenario.instance_count == 1000 and len(scenario.zones) == 3
    assert [e.kind for e in scenario.events] == ["zone_lost", "zone_restored"]


def test_a_load_curve_is_demand_in_percent_of_the_desired_reservation_changing_linearly() -> None:
    svc = parse(
        base(
            services=[
                {
                    "name": "w",
                    "desired": 4,
                    "cpu": 256,
                    "memory": 512,
                    "load": [{"at": 0, "cpu": 50, "memory": 10}, {"at": 100, "cpu": 150}],
                }
            ]
        )
    ).services[0]
    # 4 tasks x 256 units = 1,024 reserved: 50 % is 512 units; 4 x 512 MiB = 2,048: 10 % is 204.8.
    assert svc.demand(0) == (512.0, 204.8)
    # Half way: cpu 100 % (1,024 units); memory from 10 % to 0 (the point leaves it out): 5 % = 102.4.
    assert svc.demand(50) == (1024.0, 102.4)
    # Past the last point the curve stays where it ended: 150 % = 1,536 units.
    assert svc.demand(500) == (1536.0, 0.0)
