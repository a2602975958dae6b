"""The load balancers' data plane: HAProxy, and the only code that talks to it.

`spec` says what the data plane should be (frontends, backends, servers); `haproxy` renders it
as a configuration, runs and supervises one HAProxy process, and changes servers at run time
through its Runtime API; `runtime` speaks that API over the admin socket.
"""

from orchestrator.lb.haproxy import DataPlane, HaproxyMissing, haproxy_binary
from orchestrator.lb.spec import Backend, Frontend, HealthCheck, Server, ServerStats, Spec

__all__ = [
    "Backend",
    "DataPlane",
    "Frontend",
    "HaproxyMissing",
    "HealthCheck",
    "Server",
    "ServerStats",
    "Spec",
    "haproxy_binary",
]
