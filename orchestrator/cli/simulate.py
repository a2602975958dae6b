"""`orchestrator simulate SCENARIO.yaml`: replay a scenario through the real control plane on a fake clock."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli.client import CliError
from orchestrator.cli.output import say


def simulate(
    scenario_file: Path = typer.Argument(..., help="The scenario (YAML); see examples/simulate/."),
    seed: int = typer.Option(None, "--seed", help="The scheduler's tie-breaking seed (default: the scenario's)."),
    report: Path = typer.Option(
        None, "--report", help="Where to write timeline.jsonl, summary.txt and simulation.png (default: ./sim-NAME)."
    ),
    log_level: str = typer.Option("error", "--log-level"),
) -> None:
    """Replay a scenario (zones lost and restored, drains, rollouts, flapping agents) in seconds."""
    import logging
    import time

    from orchestrator.core.logs import configure
    from orchestrator.simulate import engine
    from orchestrator.simulate import report as reports
    from orchestrator.simulate.scenario import ScenarioError, load

    configure(log_level)
    # A tick can outlast a periodic job's interval (the jobs are also run by the simulator itself).
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        scenario = load(scenario_file)
    except ScenarioError as err:
        raise CliError(f"{scenario_file}: {err}", code=2) from None
    used_seed = scenario.seed if seed is None else seed
    out = report or Path(f"sim-{scenario.name}")
    say(
        f"simulating {scenario.name}: {scenario.instance_count} instances, {len(scenario.services)} services, "
        f"{scenario.duration_s:g} s in ticks of {scenario.tick_s:g} s (seed {used_seed}) ..."
    )
    began = time.monotonic()
    sim = engine.Simulation(scenario, used_seed)
    lines = sim.run()
    paths = reports.write(scenario, used_seed, lines, out)
    say(paths["summary"].read_text())
    say(f"simulated {scenario.duration_s:g} s in {time.monotonic() - began:.0f} s of real time")
    if sim.unsettled_ticks:
        say(
            f"warning: {sim.unsettled_ticks} ticks did not settle within {engine.SETTLE_LIMIT_S:g} s (see the timeline)"
        )
    for kind, path in paths.items():
        say(f"  {kind}: {path}")
