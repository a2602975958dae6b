"""Reading `--strategy` and `--constraint` flags into ECS placement objects.

`--strategy spread:attribute:ecs.availability-zone`, `--strategy binpack:memory`,
`--strategy random`; `--constraint distinctInstance`, `--constraint 'memberOf:EXPR'`.
"""

from __future__ import annotations

from typing import Any

from orchestrator.cli.client import CliError


def parse_strategies(flags: list[str]) -> list[dict[str, Any]] | None:
    if not flags:
        return None
    out = []
    for flag in flags:
        kind, _, field = flag.partition(":")
        if kind not in ("spread", "binpack", "random"):
            raise CliError(f"--strategy {flag!r}: use spread:FIELD, binpack:cpu|memory or random.", code=2)
        item: dict[str, Any] = {"type": kind}
        if field:
            item["field"] = field
        out.append(item)
    return out


def parse_constraints(flags: list[str]) -> list[dict[str, Any]] | None:
    if not flags:
        return None
    out = []
    for flag in flags:
        kind, _, expression = flag.partition(":")
        if kind == "distinctInstance" and not expression:
            out.append({"type": "distinctInstance"})
        elif kind == "memberOf" and expression.strip():
            out.append({"type": "memberOf", "expression": expression.strip()})
        else:
            raise CliError(f"--constraint {flag!r}: use distinctInstance or 'memberOf:EXPRESSION'.", code=2)
    return out
