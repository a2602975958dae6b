"""Plain-words renderings of placement explanations and failures, for `orchestrator task explain`.

The explanation dicts are the JSON form of `scheduler.explanation`'s records (`to_dict()`); this
module only reads them, so it copes with keys it does not know and with explanations stored by
older versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.types import Unplaceable


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _tasks(count: int, group: str) -> str:
    text = _plural(count, "task")
    return f"{text} of {group}" if group else text


def _value(value: Any) -> str:
    return "(no attribute)" if value is None else str(value)


def _filters(explanation: Mapping[str, Any]) -> list[str]:
    parts = []
    for entry in explanation.get("filters", ()):
        examples: Sequence[Mapping[str, Any]] = entry.get("examples", ())
        shown = ", ".join(f"{e.get('instance')}: {e.get('reason')}" for e in examples)
        removed = int(entry.get("removed", len(examples)))
        if removed > len(examples):
            shown += f", and {removed - len(examples)} more"
        parts.append(f"{removed} dropped by {entry.get('filter')} ({shown})")
    return parts


def _ranked_entry(entry: Mapping[str, Any], group: str) -> str:
    if "value" in entry:
        return f"{_value(entry['value'])} ({_tasks(int(entry.get('tasks', 0)), group)})"
    name = entry.get("instance", "?")
    if "tasks" in entry:
        return f"{name} ({_tasks(int(entry['tasks']), group)})"
    if "remaining_memory" in entry:
        return f"{name} ({entry['remaining_memory']} MiB left)"
    if "remaining_cpu" in entry:
        return f"{name} ({entry['remaining_cpu']} CPU units left)"
    return str(name)


def _broken_by(label: str) -> str:
    if label == "tie-break order":
        return "the seeded tie-break order"
    return "random" if label == "random" else label


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two ranked entries that compared equal (same count or same remaining amount)."""
    return any(key in a and a.get(key) == b.get(key) for key in ("tasks", "remaining_cpu", "remaining_memory"))


def _strategies(explanation: Mapping[str, Any]) -> list[str]:
    group = str(explanation.get("group", ""))
    parts = []
    steps = list(explanation.get("strategies", ()))
    for k, step in enumerate(steps):
        label = step.get("strategy", "?")
        if label == "random":
            among = _plural(int(step.get("candidates", 0)), "candidate")
            parts.append(f"random picked {step.get('chose')} among {among}")
            continue
        # The group is named once per strategy; repeating it on every entry only adds noise.
        entries = step.get("ranking", ())
        ranking = [_ranked_entry(entry, group if k == 0 else "") for k, entry in enumerate(entries)]
        if not ranking:
            continue
        tie = step.get("tie")
        if tie:
            values = [_value(v) for v in tie.get("values", ())]
            more = int(tie.get("tied", len(values))) - len(values)
            who = ", ".join(values) + (f" and {more} more" if more > 0 else "")
            parts.append(
                f"{label} found a tie between {who} at {_tasks(int(entries[0].get('tasks', 0)), group)} each, "
                f"settled by {_broken_by(str(tie.get('brokenBy')))} in favour of {_value(step.get('chose'))}"
            )
        elif len(ranking) == 1:
            parts.append(f"{label} had only {ranking[0]} to choose")
        elif _same(entries[0], entries[1]):
            after = "the steps after it" if k + 1 < len(steps) else "the seeded tie-break order"
            parts.append(f"{label} found a tie between {', '.join(ranking)}, settled by {after}")
        else:
            parts.append(f"{label} preferred {ranking[0]} over {', '.join(ranking[1:])}")
    return parts


def _kubernetes(explanation: Mapping[str, Any]) -> list[str]:
    parts = []
    topology = explanation.get("topology")
    if topology:
        zones = ", ".join(f"{_value(z.get('zone'))} {z.get('tasks')}" for z in topology.get("zones", ()))
        bounds = f"minimum {topology.get('min')}, maxSkew {topology.get('max_skew')}"
        parts.append(f"pods of the group per zone: {zones} ({bounds})")
    scores = explanation.get("scores", ())
    if scores:
        shown = ", ".join(
            f"{s.get('instance')} {s.get('total')} (LeastAllocated {s.get('least_allocated')} + "
            f"BalancedAllocation {s.get('balanced_allocation')})"
            for s in scores[:3]
        )
        parts.append(f"top scores: {shown}")
    return parts


def explain_text(explanation: Mapping[str, Any]) -> str:
    """One paragraph: what was considered, what each filter dropped, how strategies ranked, the winner."""
    parts = [f"{_plural(int(explanation.get('considered', 0)), 'instance')} considered"]
    parts += _filters(explanation)
    if "eligible" in explanation:
        parts.append(f"{explanation['eligible']} eligible")
    if explanation.get("profile") == "kubernetes":
        parts += _kubernetes(explanation)
    else:
        parts += _strategies(explanation)
    winner = explanation.get("winner") or {}
    if winner:
        zone = winner.get("zone")
        parts.append(f"chose {winner.get('instance')}" + (f" in {zone}" if zone else ""))
    return "; ".join(parts) + "."


def describe_failure(failure: Unplaceable) -> str:
    """'0/6 instances: 4 insufficient memory, 2 DRAINING. The closest matching (...) has ...'."""
    if failure.total_instances == 0:
        return f"0/0 instances: {failure.closest_reason}."
    tally = ", ".join(f"{count} {reason}" for reason, count in failure.tally.items())
    return f"0/{failure.total_instances} instances: {tally}. {failure.message}"
