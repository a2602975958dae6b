"""The placement library: pure functions from a cluster snapshot to ECS placement decisions.

Nothing here does I/O, reads a clock or uses global randomness: the same arguments and seed
always give the same answer. The control plane calls `place`, `select_for_scale_in` and
`validate_placement`; the CLI renders explanations with `explain_text` and `describe_failure`.
"""

from scheduler.explain import describe_failure, explain_text
from scheduler.placement import place, select_for_scale_in
from scheduler.strategies import (
    DEFAULT_RUN_TASK_STRATEGIES,
    DEFAULT_SERVICE_STRATEGIES,
    validate_placement,
)
from scheduler.types import (
    ZONE_ATTRIBUTE,
    FailureReason,
    InstanceView,
    Placement,
    PlacementConstraint,
    PlacementError,
    PlacementRequest,
    PlacementResult,
    PlacementStrategy,
    Profile,
    TaskView,
    Unplaceable,
)

__all__ = [
    "DEFAULT_RUN_TASK_STRATEGIES",
    "DEFAULT_SERVICE_STRATEGIES",
    "ZONE_ATTRIBUTE",
    "FailureReason",
    "InstanceView",
    "Placement",
    "PlacementConstraint",
    "PlacementError",
    "PlacementRequest",
    "PlacementResult",
    "PlacementStrategy",
    "Profile",
    "TaskView",
    "Unplaceable",
    "describe_failure",
    "explain_text",
    "place",
    "select_for_scale_in",
    "validate_placement",
]
