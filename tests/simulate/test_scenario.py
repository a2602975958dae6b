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
