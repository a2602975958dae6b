"""A simulation's report: the timeline as JSON lines, a summary table and a picture.

The timeline and the summary are made only from the settled samples and the events (no wall-clock
time, no random id), so the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.simulate.scenario import Scenario

TIMELINE = "timeline.jsonl"
SUMMARY = "summary.txt"
PICTURE = "simulation.png"


def timeline_text(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)


def _samples(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "zones" in line]


def _steady(sample: dict[str, Any]) -> bool:
    return all(
        s["running"] == s["desired"] and s["pending"] == 0 and s["deployments"] <= 1
        for s in sample["services"].values()
    )


def summary_text(scenario: Scenario, seed: int, lines: list[dict[str, Any]]) -> str:
    samples = _samples(lines)
    events = [line for line in lines if "event" in line and line["event"] != "service created"]
    out = [
        f"scenario {scenario.name}: {scenario.instance_count} instances in {len(scenario.zones)} zones, "
        f"{len(scenario.services)} services, {scenario.duration_s:g} s simulated in ticks of {scenario.tick_s:g} s, "
        f"seed {seed}",
        "",
        f"{'service':<16}{'desired':>8}{'running':>8}{'min running':>12}{'at s':>7}{'max pending':>12}"
        f"{'deployments':>12}{'failed tasks':>13}  last rollout",
    ]
    for name in sorted(samples[-1]["services"]) if samples else []:
        series = [(s["t"], s["services"][name]) for s in samples]
        low_t, low = min(series, key=lambda p: (p[1]["running"], p[0]))
        last = series[-1][1]
        out.append(
            f"{name:<16}{last['desired']:>8}{last['running']:>8}{low['running']:>12}{low_t:>7g}"
            f"{max(p[1]['pending'] for p in series):>12}{max(p[1]['deployments'] for p in series):>12}"
            f"{last['failedTasks']:>13}  {last['rollout'] or '-'}"
        )
    loaded = sorted(
        n for n in (samples[-1]["services"] if samples else {}) if "cpuUtilization" in samples[-1]["services"][n]
    )
    if loaded:
        out += [
            "",
            f"{'load curve':<16}{'desired min':>12}{'max':>6}{'cpu % min':>10}{'max':>7}{'memory % max':>13}  last",
        ]
    for name in loaded:
        points: list[dict[str, Any]] = [s["services"][name] for s in samples]
        desired = [p["desired"] for p in points]
        cpu = [p["cpuUtilization"] for p in points if p.get("cpuUtilization") is not None]
        mem = [p["memoryUtilization"] for p in points if p.get("memoryUtilization") is not None]
        last = points[-1]
        out.append(
            f"{name:<16}{min(desired):>12}{max(desired):>6}{_pct(min(cpu, default=None)):>10}"
            f"{_pct(max(cpu, default=None)):>7}{_pct(max(mem, default=None)):>13}  desired {last['desired']}, "
            f"cpu {_pct(last.get('cpuUtilization'))}"
        )
    out += ["", f"{'zone':<16}{'instances':>10}{'running':>9}{'min running':>12}{'max running':>12}{'cpu used':>10}"]
    for zone in scenario.zones:
        zone_series = [s["zones"][zone] for s in samples]
        now = zone_series[-1]
        out.append(
            f"{zone:<16}{now['instances']:>10}{now['running']:>9}{min(z['running'] for z in zone_series):>12}"
            f"{max(z['running'] for z in zone_series):>12}{now['cpuUtilization'] * 100:>9.1f}%"
        )
    out += ["", f"{'at s':>7}  {'event':<22}{'steady again at s':>18}  detail"]
    for e in events:
        after = next((s["t"] for s in samples if s["t"] > e["t"] and _steady(s)), None)
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in ("t", "event"))
        again = f"{after:g} (+{after - e['t']:g})" if after is not None else "not by the end"
        out.append(f"{e['t']:>7g}  {e['event']:<22}{again:>18}  {detail}")
    return "\n".join(out) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def picture(scenario: Scenario, lines: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = _samples(lines)
    t = [s["t"] for s in samples]
    events = [line for line in lines if "event" in line and line["t"] > 0]
    loaded = [n for n in (samples[0]["services"] if samples else {}) if "cpuUtilization" in samples[0]["services"][n]]
    fig, axes = plt.subplots(5 if loaded else 4, 1, figsize=(11, 15 if loaded else 12), sharex=True)
    (zones_ax, svc_ax, dep_ax, util_ax) = axes[:4]
    if loaded:
        load_ax = axes[4]
        for name in sorted(loaded):
            for key, style in (("cpuUtilization", "-"), ("memoryUtilization", ":")):
                values = [s["services"][name].get(key) for s in samples]
                load_ax.plot(t, [v if v is not None else float("nan") for v in values], style, label=f"{name} {key}")
        load_ax.set_ylabel("% of reserved")
        load_ax.set_title("service utilization reported by the agents (what the autoscaler tracks)")
    for zone in scenario.zones:
        zones_ax.plot(t, [s["zones"][zone]["running"] for s in samples], label=zone)
    zones_ax.set_ylabel("RUNNING tasks")
    zones_ax.set_title(f"{scenario.name}: tasks per zone")
    for name in sorted(samples[0]["services"]) if samples else []:
        (line,) = svc_ax.plot(t, [s["services"][name]["running"] for s in samples], label=f"{name} running")
        svc_ax.plot(
            t, [s["services"][name]["desired"] for s in samples], "--", color=line.get_color(), label=f"{name} desired"
        )
        dep_ax.step(t, [s["services"][name]["deployments"] for s in samples], where="post", label=name)
    svc_ax.set_ylabel("tasks")
    svc_ax.set_title("desired and running per service")
    dep_ax.set_ylabel("deployments")
    dep_ax.set_title("deployments per service")
    for zone in scenario.zones:
        util_ax.plot(t, [s["zones"][zone]["cpuUtilization"] * 100 for s in samples], label=zone)
    util_ax.set_ylabel("% of CPU reserved")
    util_ax.set_title("utilization per zone (connected instances)")
    axes[-1].set_xlabel("simulated seconds")
    for ax in axes:
        for e in events:
            ax.axvline(e["t"], color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
    for e in events:
        zones_ax.annotate(
            e["event"], (e["t"], 1), xycoords=("data", "axes fraction"), rotation=90, va="top", fontsize="small"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def write(scenario: Scenario, seed: int, lines: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"timeline": out / TIMELINE, "summary": out / SUMMARY, "picture": out / PICTURE}
    paths["timeline"].write_text(timeline_text(lines))
    paths["summary"].write_text(summary_text(scenario, seed, lines))
    picture(scenario, lines, paths["picture"])
    return paths
