"""The placement library: pure functions from a cluster snapshot to ECS placement decisions.

Nothing here does I/O, reads a clock or uses global randomness: the same arguments and seed
always give the same answer. The control plane calls `place`, `select_for_scale_in` and
`validate_placement`; each placement carries a typed `Explanation` (`Placement.why`, whose JSON
form is `Placement.explanation`), which the CLI renders with `explain_text`, and a failure an
`Unplaceable` that `describe_failure` renders.

Where to read what: `rules/` states each profile's rule (and holds the ECS fast index),
`filters`, `strategies` and `constraints` define the pieces a rule is made of, `state` is the
per-instance state a rule updates as it places, `explanation` the shape of every explanation.
"""

from scheduler.explain import describe_failure, explain_text
from scheduler.explanation import EcsExplanation, Explanation, KubernetesExplanation
from scheduler.placement import place
from scheduler.scale_in import select_for_scale_in
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
    "EcsExplanation",
    "Explanation",
    "FailureReason",
    "InstanceView",
    "KubernetesExplanation",
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
