"""Reading placementStrategy and placementConstraints from a request into scheduler types."""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import PlacementConstraintModel, PlacementStrategyModel
from scheduler import validate_placement
from scheduler.types import PlacementConstraint, PlacementError, PlacementStrategy


def strategies_from(raw: Any, name: str = "placementStrategy") -> list[PlacementStrategyModel]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidParameterException(f"{name} must be a list of {{type, field}} objects.")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("type") not in ("spread", "binpack", "random"):
            raise InvalidParameterException(f"{name}[{i}].type must be spread, binpack or random.")
        out.append(PlacementStrategyModel(type=item["type"], field=item.get("field")))
    return out


def constraints_from(raw: Any, name: str = "placementConstraints") -> list[PlacementConstraintModel]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidParameterException(f"{name} must be a list of {{type, expression}} objects.")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("type") not in ("distinctInstance", "memberOf"):
            raise InvalidParameterException(f"{name}[{i}].type must be distinctInstance or memberOf.")
        out.append(PlacementConstraintModel(type=item["type"], expression=item.get("expression")))
    return out


def to_scheduler(
    strategies: list[PlacementStrategyModel], constraints: list[PlacementConstraintModel]
) -> tuple[tuple[PlacementStrategy, ...], tuple[PlacementConstraint, ...]]:
    ss = tuple(PlacementStrategy(type=s.type, field=s.field or "") for s in strategies)
    cs = tuple(PlacementConstraint(type=c.type, expression=c.expression or "") for c in constraints)
    return ss, cs


def checked(
    strategies: list[PlacementStrategyModel], constraints: list[PlacementConstraintModel]
) -> tuple[tuple[PlacementStrategy, ...], tuple[PlacementConstraint, ...]]:
    """Scheduler types for the request, or InvalidParameterException saying what to fix."""
    ss, cs = to_scheduler(strategies, constraints)
    try:
        validate_placement(ss, cs)
    except PlacementError as err:
        where = f" (at position {err.position})" if err.position is not None and "position" not in str(err) else ""
        raise InvalidParameterException(f"{err}{where}") from None
    return ss, cs
