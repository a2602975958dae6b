"""Placement explanations as tables: one row per instance, one column per filter and strategy step.

The explanation is what the scheduler recorded when it placed the task (see `scheduler.placement`):
the filters that dropped instances (with up to 5 examples each), each strategy step's ranking (the
best 3 buckets or instances) and the winner. A cell shows the value the step compared for that
instance and `best`, `tie` or nothing; `-` means the step did not see the instance (it was dropped
or lost earlier, or was not among the best ones recorded). Ties are named under the table with
what broke them. `svc plan` uses the same renderer for each task it would start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.cli.output import format_table, say, short

_VALUE_KEYS = {"tasks": "task", "remaining_cpu": "CPU units left", "remaining_memory": "MiB left"}


def _name(inst: Mapping[str, Any]) -> str:
    return next((a.get("value") or "" for a in inst.get("attributes", []) if a["name"] == "orch.name"), "")


def _attr(inst: Mapping[str, Any], name: str) -> str | None:
    return next((a.get("value") for a in inst.get("attributes", []) if a["name"] == name), None)


def _header(label: str) -> str:
    """A short column header for a strategy label; the legend under the table gives the label."""
    if label == "spread(attribute:ecs.availability-zone)":
        return "SPREAD ZONE"
    if label.startswith("spread(attribute:"):
        return "SPREAD " + label[len("spread(attribute:") : -1]
    return {
        "spread(instanceId)": "SPREAD INSTANCE",
        "binpack(cpu)": "BINPACK CPU",
        "binpack(memory)": "BINPACK MEMORY",
        "random": "RANDOM",
    }.get(label, label.upper())


def _amount(entry: Mapping[str, Any]) -> tuple[str, Any]:
    for key, unit in _VALUE_KEYS.items():
        if key in entry:
            value = entry[key]
            if key == "tasks":
                return f"{value} task" + ("" if value == 1 else "s"), value
            return f"{value} {unit}", value
    return "?", None


class _Row:
    def __init__(self, ident: str, name: str, zone: str | None, attributes: Mapping[str, str | None]) -> None:
        self.ident, self.name, self.zone, self.attributes = ident, name, zone, attributes
        self.cells: list[str] = []


def _rows(explanation: Mapping[str, Any], instances: Sequence[Mapping[str, Any]]) -> list[_Row]:
    rows: dict[str, _Row] = {}
    for inst in instances:
        ident = short(inst["containerInstanceArn"])
        attrs = {a["name"]: a.get("value") for a in inst.get("attributes", [])}
        rows[ident] = _Row(ident, _name(inst), _attr(inst, "ecs.availability-zone"), attrs)
    # Instances the record names that are gone from the cluster since: shown by id.
    mentioned = [e.get("instance") for f in explanation.get("filters", ()) for e in f.get("examples", ())]
    mentioned += [e.get("instance") for s in explanation.get("strategies", ()) for e in s.get("ranking", ())]
    mentioned += [s.get("instance") for s in explanation.get("scores", ())]
    mentioned.append((explanation.get("winner") or {}).get("instance"))
    for ident in mentioned:
        if ident and ident not in rows:
            rows[ident] = _Row(ident, "", None, {})
    return list(rows.values())


def _filter_cells(explanation: Mapping[str, Any], rows: list[_Row]) -> tuple[list[str], set[str], list[str]]:
    """Headers, the ids dropped by some filter, and notes; fills each row's filter cells."""
    filters = list(explanation.get("filters", ()))
    notes: list[str] = []
    dropped: set[str] = set()
    if not filters:
        for row in rows:
            row.cells.append("all passed")
        return ["FILTERS"], dropped, notes
    named = sum(len(f.get("examples", ())) for f in filters)
    total = sum(int(f.get("removed", 0)) for f in filters)
    for k, f in enumerate(filters):
        reasons = {e.get("instance"): e.get("reason") for e in f.get("examples", ())}
        for row in rows:
            if row.ident in reasons:
                dropped.add(row.ident)
                row.cells.append(f"dropped: {reasons[row.ident]}")
            elif any(row.ident in {e.get("instance") for e in g.get("examples", ())} for g in filters[:k]):
                row.cells.append("-")
            else:
                row.cells.append("ok" if named == total else "ok?")
        unnamed = int(f.get("removed", 0)) - len(reasons)
        if unnamed > 0:
            notes.append(f"{f.get('filter')} dropped {unnamed} more instances than the record names (ok? = not named).")
    return [str(f.get("filter")).upper() for f in filters], dropped, notes


def _tie_note(label: str, tied: list[str], amount: str, broken_by: str | None) -> str:
    who = ", ".join(tied[:-1]) + f" and {tied[-1]}" if len(tied) > 1 else tied[0]
    how = {
        None: "the steps after it or the seeded tie-break order settled it",
        "tie-break order": "the seeded tie-break order settled it (the same seed always chooses the same)",
        "random": "the random step settled it",
    }.get(broken_by, f"{broken_by} settled it")
    return f"tie at {label}: {who} had {amount} each; {how}."


def _strategy_cells(explanation: Mapping[str, Any], rows: list[_Row], dropped: set[str]) -> tuple[list[str], list[str]]:
    headers: list[str] = []
    notes: list[str] = []
    steps = list(explanation.get("strategies", ()))
    winner = str((explanation.get("winner") or {}).get("instance") or "")
    alive = {row.ident for row in rows if row.ident not in dropped}
    level_steps = [s for s in steps if s.get("ranking") and "value" not in s["ranking"][0]]
    for step in steps:
        label = str(step.get("strategy", "?"))
        headers.append(_header(label))
        ranking = list(step.get("ranking", ()))
        if label == "random":
            for row in rows:
                row.cells.append(f"picked of {step.get('candidates')}" if row.ident == winner else "-")
            continue
        if ranking and "value" in ranking[0]:
            attribute = label[len("spread(attribute:") : -1]
            by_value = {e.get("value"): e for e in ranking}
            chose = step.get("chose")
            best = by_value.get(chose, ranking[0])
            tied = [str(e.get("value")) for e in ranking if e.get("tasks") == best.get("tasks")]
            survivors = set()
            for row in rows:
                value = row.zone if attribute == "ecs.availability-zone" else row.attributes.get(attribute)
                entry = by_value.get(value)
                if row.ident not in alive or entry is None:
                    row.cells.append("-")
                    continue
                text, _ = _amount(entry)
                mark = " (tie)" if len(tied) > 1 and value in tied else " (best)" if value == chose else ""
                shown = text if attribute == "ecs.availability-zone" else f"{value}: {text}"
                row.cells.append(shown + mark)
                if value == chose:
                    survivors.add(row.ident)
            tie = step.get("tie") or {}
            if tie or len(tied) > 1:
                values = [str(v) for v in tie.get("values", ())] or tied
                more = int(tie.get("tied", len(values))) - len(values)
                notes.append(
                    _tie_note(
                        label, values + ([f"{more} more"] if more > 0 else []), _amount(best)[0], tie.get("brokenBy")
                    )
                )
            alive = survivors
            continue
        by_instance = {e.get("instance"): e for e in ranking}
        amounts = {ident: _amount(e) for ident, e in by_instance.items()}
        best_value = amounts.get(winner, ("", None))[1]
        tied = [ident for ident, (_, v) in amounts.items() if v == best_value and ident in alive]
        for row in rows:
            if row.ident not in alive or row.ident not in amounts:
                row.cells.append("-")
                continue
            text = amounts[row.ident][0]
            mark = " (tie)" if len(tied) > 1 and row.ident in tied else " (best)" if row.ident == winner else ""
            row.cells.append(text + mark)
        if len(tied) > 1:
            names = {row.ident: row.name or row.ident for row in rows}
            later = level_steps[level_steps.index(step) + 1 :] if step in level_steps else []
            broke = next((s for s in later if _breaks(s, tied, winner)), None)
            how = str(broke.get("strategy")) if broke else "random" if steps[-1].get("strategy") == "random" else None
            notes.append(_tie_note(label, [names[i] for i in tied], amounts[winner][0], how or "tie-break order"))
        alive = set(tied) if tied else {winner}
    return headers, notes


def _breaks(step: Mapping[str, Any], tied: list[str], winner: str) -> bool:
    values = {e.get("instance"): _amount(e)[1] for e in step.get("ranking", ())}
    return any(values.get(i) != values.get(winner) for i in tied if i != winner)


def _kubernetes_cells(explanation: Mapping[str, Any], rows: list[_Row], dropped: set[str]) -> list[str]:
    topology = explanation.get("topology") or {}
    zones = {z.get("zone"): z.get("tasks") for z in topology.get("zones", ())}
    scores = {s.get("instance"): s for s in explanation.get("scores", ())}
    for row in rows:
        count = zones.get(row.zone)
        row.cells.append(f"{row.zone}: {count}" if count is not None and row.ident not in dropped else "-")
        s = scores.get(row.ident)
        row.cells.append(str(s.get("least_allocated")) if s else "-")
        row.cells.append(str(s.get("balanced_allocation")) if s else "-")
        row.cells.append(str(s.get("total")) if s else "-")
    return ["ZONE SPREAD", "LEAST ALLOCATED", "BALANCED", "SCORE"]


def explanation_lines(explanation: Mapping[str, Any], instances: Sequence[Mapping[str, Any]]) -> list[str]:
    """The table and the lines under it, for one placement."""
    rows = _rows(explanation, instances)
    winner = (explanation.get("winner") or {}).get("instance")
    headers, dropped, notes = _filter_cells(explanation, rows)
    if explanation.get("profile") == "kubernetes":
        headers += _kubernetes_cells(explanation, rows, dropped)
        topology = explanation.get("topology") or {}
        legend = [
            f"ZONE SPREAD: tasks of the group per zone (topology spread, maxSkew {topology.get('max_skew')}, "
            f"minimum {topology.get('min')}); SCORE = LEAST ALLOCATED + BALANCED, the highest wins."
        ]
    else:
        more, tie_notes = _strategy_cells(explanation, rows, dropped)
        headers += more
        notes += tie_notes
        group = explanation.get("group") or "the group"
        legend = [
            f"{_header(str(s.get('strategy')))} = {s.get('strategy')}"
            + (f", counting tasks of {group}" if str(s.get("strategy")).startswith("spread") else "")
            for s in explanation.get("strategies", ())
        ]
    table_rows = [["*" if row.ident == winner else " ", row.name or row.ident, row.zone, *row.cells] for row in rows]
    lines = [format_table(["", "INSTANCE", "ZONE", *headers], table_rows)]
    considered, eligible = explanation.get("considered"), explanation.get("eligible")
    win = next((r for r in rows if r.ident == winner), None)
    chosen = f"{win.name} ({win.ident})" if win and win.name else str(winner)
    lines.append(f"* chosen: {chosen}; {considered} instances considered, {eligible} eligible.")
    lines += notes
    lines += legend
    return lines


def render_explanation(explanation: Mapping[str, Any], instances: Sequence[Mapping[str, Any]]) -> None:
    for line in explanation_lines(explanation, instances):
        say(line)


def _plan_header(data: Mapping[str, Any]) -> str:
    what = "a new deployment" if data.get("newDeployment") else "a scale change"
    if data.get("drainInstances"):
        what += ", draining " + " ".join(short(a) for a in data["drainInstances"])
    return (
        f"Plan for service {data.get('service')} ({what}, {short(data.get('taskDefinition'))}, desired "
        f"{data.get('desiredCount')}, profile {data.get('schedulerProfile')}); nothing is changed."
    )


def _plan_steps(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan as steps of starts and stops. A plan from a server that answers with one list of
    `placements` and `stops` (ARNs) is read as a single step."""
    if "steps" in data:
        return [dict(step) for step in data.get("steps") or []]
    starts = [dict(p) for p in data.get("placements") or []]
    stops = [{"taskArn": arn} for arn in data.get("stops") or []]
    return [{"step": 1, "starts": starts, "stops": stops, "events": []}] if starts or stops else []


def render_plan(data: Mapping[str, Any], instances: Sequence[Mapping[str, Any]]) -> None:
    """`svc plan`: what the change would do, step by step: the tasks each step starts (where, and an
    explanation table each) and stops. All of the plan JSON's shape that this reads is here."""
    say(_plan_header(data))
    names = {short(i["containerInstanceArn"]): _name(i) for i in instances}
    steps = _plan_steps(data)
    if not any(step.get("starts") or step.get("stops") for step in steps):
        say("No task would start or stop.")
    for step in steps:
        starts, stops = list(step.get("starts") or []), list(step.get("stops") or [])
        say()
        say(f"Step {step.get('step')}: start {len(starts)}, stop {len(stops)}")
        rows = []
        for k, x in enumerate(starts):
            ident = short(x.get("containerInstanceArn"))
            task = short(x["taskArn"]) if x.get("taskArn") else f"(new {k + 1})"
            rows.append(["start", task, x.get("name") or names.get(ident) or ident, x.get("availabilityZone"), ""])
        for x in stops:
            ident = short(x.get("containerInstanceArn")) if x.get("containerInstanceArn") else ""
            name = x.get("name") or names.get(ident) or ident
            rows.append(["stop", short(x.get("taskArn")), name, x.get("availabilityZone"), x.get("reason")])
        if rows:
            say(format_table(["ACTION", "TASK", "INSTANCE", "ZONE", "WHY"], rows))
        for event in step.get("events") or []:
            say(f"  event: {event}")
        for k, x in enumerate(starts):
            if x.get("explanation"):
                say()
                task = short(x["taskArn"]) if x.get("taskArn") else f"new task {k + 1}"
                say(f"Why {task} goes to {x.get('name') or short(x.get('containerInstanceArn'))}:")
                render_explanation(x["explanation"], instances)
    if data.get("unplaced"):
        say()
        say(f"{data['unplaced']} tasks could not be placed: {data.get('failure')}")
    if not data.get("converged", True):
        say("The plan stops here: the change has not finished after its last step.")


def render_plan_text(data: Mapping[str, Any]) -> None:
    """`svc plan -o text`: the plan in sentences, one paragraph per task started."""
    say(_plan_header(data))
    for step in _plan_steps(data):
        for k, x in enumerate(step.get("starts") or []):
            where = x.get("name") or short(x.get("containerInstanceArn"))
            say(f"step {step.get('step')}, start {k + 1}: {where} in {x.get('availabilityZone')}: {x.get('reason')}")
        for x in step.get("stops") or []:
            why = f": {x['reason']}" if x.get("reason") else ""
            say(f"step {step.get('step')}, stop {short(x.get('taskArn'))}{why}")
        for event in step.get("events") or []:
            say(f"step {step.get('step')}, event: {event}")
    if data.get("unplaced"):
        say(f"{data['unplaced']} tasks could not be placed: {data.get('failure')}")
