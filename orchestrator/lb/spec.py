"""What the data plane should be: plain values the control plane builds and HAProxy is made to match.

Names are HAProxy-safe identifiers chosen by the caller (one backend per target group, one
frontend per listener, one server per target); nothing here knows about ELB or ECS.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthCheck:
    protocol: str = "HTTP"  # HTTP (an HTTP request) or TCP (a connection)
    path: str = "/"
    port: int | None = None  # None: the server's own port
    interval_s: int = 30
    timeout_s: int = 5
    rise: int = 5
    fall: int = 2
    # HTTP status codes that count as healthy: "200", "200,202", "200-299".
    codes: str = "200"
    enabled: bool = True


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int
    # ready: takes traffic once healthy; drain: no new connections (existing ones finish).
    state: str = "ready"


@dataclass(frozen=True)
class Backend:
    name: str
    mode: str  # http or tcp
    health: HealthCheck
    servers: tuple[Server, ...] = ()

    def config_key(self) -> tuple[str, str, HealthCheck]:
        """Everything about the backend that only a new configuration can change."""
        return (self.name, self.mode, self.health)


@dataclass(frozen=True)
class Frontend:
    name: str
    address: str
    port: int
    mode: str  # http or tcp
    # (backend name, weight): one means forward; several split the traffic by weight.
    backends: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Spec:
    frontends: tuple[Frontend, ...] = ()
    backends: tuple[Backend, ...] = ()

    def config_key(self) -> tuple[object, ...]:
        return (self.frontends, tuple(b.config_key() for b in self.backends))

    def empty(self) -> bool:
        return not self.frontends


@dataclass(frozen=True)
class ServerStats:
    """One server as HAProxy's `show stat` reports it."""

    backend: str
    server: str
    status: str  # UP, DOWN, DRAIN, MAINT, "DOWN 1/2" ...
    check_status: str  # L7OK, L7STS, L4CON, L4TOUT, L7TOUT, INI, ...
    check_code: str  # the HTTP status of the last check, when there was one
    check_desc: str
    sessions_total: int
    requests_total: int
    current_sessions: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        # "UP 1/2" is up and going down; "DRAIN" is up with no new traffic (ours: not yet admitted).
        return self.status.startswith("UP") or self.status == "DRAIN" or self.status.startswith("NOLB")
