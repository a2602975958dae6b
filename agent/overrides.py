"""RunTask's containerOverrides applied to a container definition, as the ECS agent applies them.

The control plane accepts only the overrides that need nothing but the agent (`command`,
`environment`) and refuses the others by name, so this is all the agent has to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def with_overrides(task: Mapping[str, Any], cdef: Mapping[str, Any]) -> Mapping[str, Any]:
    """`cdef` with the task's override for that container: command replaced, environment merged by name."""
    overrides = (task.get("overrides") or {}).get("containerOverrides") or []
    override = next((o for o in overrides if o.get("name") == cdef.get("name")), None)
    if not override:
        return cdef
    out = dict(cdef)
    if override.get("command"):
        out["command"] = list(override["command"])
    if override.get("environment"):
        merged = {e["name"]: e.get("value", "") for e in cdef.get("environment") or []}
        merged.update({e["name"]: e.get("value", "") for e in override["environment"]})
        out["environment"] = [{"name": k, "value": v} for k, v in merged.items()]
    return out
