"""Bookkeeping the service controller keeps beside each ECS service, stored as a document row.

None of it is part of the ECS Service shape, so it lives apart from the service row: the
scheduler profile and update count (the API's), and the controller's: the start-failure throttle,
and what was last announced in events so a pass that changes nothing says nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from orchestrator.core.store import Store

KIND = "service_state"


@dataclass
class ServiceState:
    # Written by the API: the scheduler profile the user chose, and a count of service updates.
    profile: str = "ecs"
    generation: int = 0
    # The rest is the controller's own: it resets its throttle when it sees a new generation, so
    # the API never has to know what the controller keeps.
    observed_generation: int = 0
    start_failures: int = 0  # consecutive tasks that stopped before becoming healthy
    retry_after: float = 0.0  # no new task before this time (throttling)
    steady: bool = False
    last_unplaceable: str = ""
    stuck_notified: bool = False
    throttle_notified: bool = False
    # Stopped tasks already counted, kept while their rows exist so none is ever counted twice,
    # and live tasks that have been healthy at least once (a task that stops after that is no
    # failure). Both are bounded by the task rows, and stored so a restarted control plane
    # counts exactly what the previous one had not.
    seen_stopped: list[str] = field(default_factory=list)
    ever_healthy: list[str] = field(default_factory=list)

    @staticmethod
    def load(store: Store, cluster: str, service: str) -> ServiceState:
        doc = store.get_doc(KIND, f"{cluster}/{service}") or {}
        known = {k: v for k, v in doc.items() if k in ServiceState.__dataclass_fields__}
        return ServiceState(**known)

    def save(self, store: Store, cluster: str, service: str) -> None:
        store.put_doc(KIND, f"{cluster}/{service}", asdict(self))
