"""`place`: check a request, apply the defaults, and hand it to the profile it names.

Every profile returns the same result types, so the control plane never needs to know which one
decided. The rules themselves are in `scheduler.rules`: `ecs` states the ECS rule plainly and
`ecs_index` computes it fast (the one `place` uses); `kubernetes` is kube-scheduler's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scheduler.filters import no_instances
from scheduler.rules import ecs_index, kubernetes
from scheduler.strategies import validate_placement
from scheduler.types import InstanceView, PlacementError, PlacementRequest, PlacementResult

Engine = Callable[[PlacementRequest, Sequence[InstanceView], int], PlacementResult]

ENGINES: dict[str, Engine] = {
    "ecs": ecs_index.place_ecs,
    "kubernetes": kubernetes.place_kubernetes,
}


def place(request: PlacementRequest, instances: Sequence[InstanceView], seed: int = 0) -> PlacementResult:
    """Place `request.count` identical tasks one after another; stop at the first that fits nowhere.

    Raises PlacementError for invalid strategies or constraints or an unknown profile. Empty
    `request.strategies` means DEFAULT_SERVICE_STRATEGIES (applied by `strategies.chain`). The
    result depends only on the arguments.
    """
    validate_placement(request.strategies, request.constraints)
    engine = ENGINES.get(request.profile)
    if engine is None:
        raise PlacementError(f"unknown placement profile {request.profile!r}; use ecs or kubernetes")
    if request.count <= 0:
        return PlacementResult((), 0, None)
    if not instances:
        return PlacementResult((), request.count, no_instances())
    return engine(request, instances, seed)
