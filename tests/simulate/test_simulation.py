"""The simulator end to end: the real control plane, agents over HTTP, the fake clock, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from orchestrator.simulate import report
from orchestrator.simulate.engine import Simulation
from orchestrator.simulate.scenario import load, parse

EXAMPLES = Path(__file__).parents[2] / "examples" / "simulate"


def zone_loss(scale: int = 10) -> dict[str, Any]:
    """examples/simulate/zone-loss.yaml with 1/scale of its instances and tasks."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "zone-loss.yaml").read_text())
    for group in doc["instances"]:
        group["count"] = max(1, group["count"] // scale)
    for svc in doc["services"]:
        svc["desired"] = max(1, svc["desired"] // scale)
    return doc


def samples(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "zones" in line]


def test_a_lost_zone_is_replaced_in_the_others_and_the_same_seed_gives_the_same_report(tmp_path: Path) -> None:
    scenario = parse(zone_loss())
    runs = []
    for i in range(2):
        sim = Simulation(scenario, seed=3)
        lines = sim.run()
        assert sim.unsettled_ticks == 0
        paths = report.write(scenario, 3, lines, tmp_path / f"run{i}")
        runs.append((paths["timeline"].read_bytes(), paths["summary"].read_bytes()))
        assert paths["picture"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    differing = [(a, b) for a, b in zip(runs[0][0].splitlines(), runs[1][0].splitlines(), strict=False) if a != b]
    assert not differing, f"the first timeline line that differs: {differing[0]}"
    assert runs[0] == runs[1]

    by_t = {s["t"]: s for s in samples([json.loads(line) for line in runs[0][0].decode().splitlines()])}
    # 33+33+33 instances; web 150 and worker 60 tasks spread over three zones: 70 each.
    assert [by_t[50.0]["zones"][z]["running"] for z in ("us-east-1a", "us-east-1b", "us-east-1c")] == [70, 70, 70]
    # The zone is lost at 60 s; after lost_after_s (60 s) its tasks are given up and replaced in
    # the two zones left: 210 tasks over 2 zones = 105 each, none in us-east-1c.
    after = by_t[140.0]
    assert after["zones"]["us-east-1c"] == {"instances": 0, "running": 0, "cpuUtilization": 0.0}
    assert [after["zones"][z]["running"] for z in ("us-east-1a", "us-east-1b")] == [105, 105]
    assert {n: (s["running"], s["desired"]) for n, s in after["services"].items()} == {
        "web": (150, 150),
        "worker": (60, 60),
    }
    # Restored at 200 s, its 33 instances are back (ECS does not move running tasks back).
    assert by_t[300.0]["zones"]["us-east-1c"]["instances"] == 33
    summary = runs[0][1].decode()
    assert "zone lost" in summary and "zone restored" in summary


def test_the_small_rollout_example_runs_its_failing_rollout_drain_flap_and_scale(tmp_path: Path) -> None:
    scenario = load(EXAMPLES / "small-rollout.yaml")
    runs = [Simulation(scenario, scenario.seed) for _ in range(2)]
    timelines = [sim.run() for sim in runs]
    # The same seed, the same run: which tasks fail, what the controllers make of it, every id.
    assert report.timeline_text(timelines[0]) == report.timeline_text(timelines[1])
    assert [sim.unsettled_ticks for sim in runs] == [0, 0]
    lines = timelines[0]
    events = [line["event"] for line in lines if "event" in line]
    assert events == [
        "service created",
        "rollout",
        "deployment completed",
        "instances drained",
        "agents flap",
        "scaled",
    ]
    final = samples(lines)[-1]
    assert final["services"]["api"]["desired"] == 12 and final["services"]["api"]["running"] == 12
    assert final["services"]["api"]["taskDefinition"] == "api:2"
    # Half the new revision's health checks fail: those tasks are replaced (failedTasks counts them).
    assert final["services"]["api"]["failedTasks"] > 0
    # The drained instance of us-east-1a takes no task: 3 of its 4 are ACTIVE and connected.
    assert final["zones"]["us-east-1a"]["instances"] == 3


def test_a_rollout_whose_every_health_check_fails_trips_the_circuit_breaker_and_rolls_back() -> None:
    scenario = parse(
        {
            "name": "breaker",
            "duration_s": 40,
            "tick_s": 5,
            "health_grace_s": 5,
            "instances": [{"zone": "us-east-1a", "count": 2}, {"zone": "us-east-1b", "count": 2}],
            "services": [
                {"name": "api", "desired": 4, "cpu": 128, "memory": 128, "health_check": True}
                | {"circuit_breaker": True, "rollback": True}
            ],
            "events": [{"at": 20, "rollout": {"service": "api", "failing_health_share": 1.0}}],
        }
    )
    lines = Simulation(scenario, seed=2).run()
    outcomes = [(line["t"], line["event"]) for line in lines if "event" in line and "message" in line]
    # The threshold: ceil(0.5 x 4) = 2, clamped to [3, 200], so 3 failed tasks fail the deployment.
    assert outcomes == [(20.0, "deployment failed"), (20.0, "rolled back"), (20.0, "deployment completed")]
    after = samples(lines)[-1]["services"]["api"]
    assert (after["taskDefinition"], after["running"], after["rollout"]) == ("api:1", 4, "COMPLETED")


def test_a_load_curve_reported_by_the_agents_drives_target_tracking_up_and_down(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "autoscaling.yaml").read_text())
    scenario = parse(doc)
    lines = Simulation(scenario, scenario.seed).run()
    paths = report.write(scenario, scenario.seed, lines, tmp_path)
    by_t = {s["t"]: s["services"]["web"] for s in samples(lines)}
    # At 40 % of what 4 tasks x 256 units reserve, each task uses 102.4 of its 256 units: 40 %,
    # measured by the agents' own arithmetic from two samples 10 s apart.
    assert by_t[60.0]["cpuUtilization"] == 40.0 and by_t[60.0]["desired"] == 4
    # At 180 % (1,843 units) the target of 60 % needs 1,843 / (0.6 x 256) = 12 tasks or more.
    peak = max(s["desired"] for s in by_t.values())
    assert 12 <= peak <= 16
    assert by_t[300.0]["cpuUtilization"] < 70.0
    # The load falls back to 40 % at 360 s: after the scale-in alarm's 15 low datapoints it scales in.
    assert by_t[600.0]["desired"] < peak
    assert by_t[600.0]["running"] == by_t[600.0]["desired"]
    summary = paths["summary"].read_text()
    assert "load curve" in summary and "web" in summary
