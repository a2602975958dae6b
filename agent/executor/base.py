"""The executor contract: what the agent's worker asks of a container runtime.

`docker.py` implements it on a real engine (the only module that imports the Docker SDK);
`fake.py` implements it in memory for unit tests and the simulator.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# Labels every managed container carries; adoption after a restart relies on them.
LABEL_MANAGED = "orch.managed"
LABEL_CLUSTER = "orch.cluster"
LABEL_INSTANCE = "orch.instance"
LABEL_TASK = "orch.task"
LABEL_CONTAINER = "orch.container"
LABEL_VOLUME_SCOPE = "orch.volume-scope"  # on the Docker volumes the agent made for one task: "task"
# On an awsvpc task's sandbox container (its network namespace), instead of orch.container.
LABEL_SANDBOX = "orch.sandbox"


@dataclass(frozen=True)
class NetworkSpec:
    """A Docker network the agent keeps (the bridge its awsvpc tasks' sandboxes join)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    driver: str = "bridge"


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int = 0  # 0: the engine picks a free host port (ECS dynamic port)
    protocol: str = "tcp"
    # The host address the port is published on: the instance's own (orch.host-address), so
    # instances sharing one engine (orchestrator dev) can each bind the same static port.
    host_ip: str = "0.0.0.0"


@dataclass(frozen=True)
class Mount:
    """One of the task's volumes in a container: a Docker volume by name, or a host path bound."""

    source: str  # the Docker volume's name, or the host path (bind)
    target: str  # the path in the container
    read_only: bool = False
    bind: bool = False


@dataclass(frozen=True)
class VolumeSpec:
    """A Docker volume a task needs before its containers start."""

    name: str
    driver: str = "local"
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    create: bool = True  # False: a shared volume without autoprovision, which must already exist


@dataclass(frozen=True)
class HealthCheckSpec:
    command: tuple[str, ...]  # ECS form: ("CMD", "curl", ...) or ("CMD-SHELL", "curl ...")
    interval_s: int = 30
    timeout_s: int = 5
    retries: int = 3
    start_period_s: int = 0


@dataclass(frozen=True)
class Ulimit:
    name: str  # nofile, nproc, core, ... (Docker's and ECS's names are the same)
    soft: int
    hard: int


@dataclass(frozen=True)
class Device:
    host_path: str
    container_path: str
    permissions: str = "rwm"  # any of r, w, m


@dataclass(frozen=True)
class Tmpfs:
    container_path: str
    size_mib: int
    options: tuple[str, ...] = ()  # mount options: ro, noexec, nosuid, ...


@dataclass(frozen=True)
class TaskLimits:
    """Limits for the whole task, not one container: the agent's cgroup of the task (as ECS's agent)."""

    cgroup: str  # the task's cgroup name, the parent of each of its containers' cgroups
    cpu_units: int | None = None  # 1024 = one CPU, a hard quota over all the task's containers
    memory_mib: int | None = None  # hard limit over all the task's containers


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # deterministic Docker container name, derived from the task id
    image: str
    labels: Mapping[str, str]
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    # Kept out of repr: it carries the task's resolved secrets.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    cpu_shares: int = 0  # ECS container cpu units; 0 leaves Docker's default
    memory_mib: int | None = None  # hard limit
    memory_reservation_mib: int | None = None  # soft limit
    port_mappings: tuple[PortMapping, ...] = ()
    health_check: HealthCheckSpec | None = None
    stop_timeout_s: int = 30
    working_directory: str | None = None
    user: str | None = None
    # The rest of ECS's container definition, as Docker names it; None/empty leaves Docker's default.
    ulimits: tuple[Ulimit, ...] = ()
    init: bool | None = None  # linuxParameters.initProcessEnabled
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    shm_size_mib: int | None = None
    tmpfs: tuple[Tmpfs, ...] = ()
    devices: tuple[Device, ...] = ()
    max_swap_mib: int | None = None  # swap on top of memory_mib (0: no swap)
    swappiness: int | None = None
    hostname: str | None = None
    extra_hosts: Mapping[str, str] = field(default_factory=dict)  # hostname -> IP address
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    read_only_root: bool = False
    privileged: bool = False
    network_disabled: bool = False
    interactive: bool = False  # keep stdin open
    tty: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)
    pid_mode: str | None = None  # "host" or None
    ipc_mode: str | None = None  # "host", "none" or None
    log_driver: str | None = None  # as given (awslogs is json-file here: the agent ships it)
    log_options: Mapping[str, str] = field(default_factory=dict)
    task_limits: TaskLimits | None = None
    # Docker links on the bridge network: (Docker name of a container of the same task, alias).
    links: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    volumes_from: tuple[tuple[str, bool], ...] = ()  # (Docker name of a container of the task, read-only)
    # The instance's GPUs placement gave this container (resourceRequirements GPU): an NVIDIA
    # device request for exactly these ids.
    gpu_ids: tuple[str, ...] = ()
    # repositoryCredentials resolved for this task: {username, password} for the image pull.
    registry_auth: Mapping[str, str] | None = field(default=None, repr=False)
    # Docker's network mode: None (the default bridge), "host", "none", a network's name (a
    # sandbox on the awsvpc network) or "container:<name>" (join that container's namespace).
    network_mode: str | None = None


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    labels: Mapping[str, str]
    status: str  # Docker's: created, running, paused, restarting, removing, exited, dead
    exit_code: int | None = None
    health: str | None = None  # None (no health check), "starting", "healthy", "unhealthy"
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    oom_killed: bool = False
    error: str = ""  # the engine's error message when the start failed
    host_ports: tuple[PortMapping, ...] = ()  # bound ports, host_port filled in
    # Its address on its (first) Docker network, for an awsvpc sandbox: the task's own IP.
    ip_address: str = ""
    mac_address: str = ""
    endpoint_id: str = ""  # Docker's id of the container's endpoint on that network

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting", "paused")


@dataclass(frozen=True)
class ResourceSample:
    """Cumulative CPU time and current memory of one container at one moment."""

    cpu_ns: int  # cumulative CPU time in nanoseconds
    memory_bytes: int  # current usage, page cache excluded where the kernel says so
    at: float  # monotonic seconds when read


@dataclass(frozen=True)
class LogLine:
    """One line of a container's output as the engine kept it."""

    at_ns: int  # the engine's timestamp of the line, nanoseconds since the epoch
    message: str  # without its line end


class LogStream(Protocol):
    """A container's output from some moment on; iterating blocks for new lines while following."""

    def __iter__(self) -> Iterator[LogLine]: ...

    def close(self) -> None: ...


class ExecutorError(RuntimeError):
    """The runtime refused or failed an operation; the message is the runtime's own words."""


class ImageNotFound(ExecutorError):
    """The image is not present locally and could not be pulled."""


class Subscription(Protocol):
    def close(self) -> None: ...


class Executor(Protocol):
    def ping(self) -> None:
        """Raise ExecutorError with a message saying what to do if the runtime does not answer."""

    def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start the container; if one with spec.name exists, return it untouched.

        Idempotent by name, so a task is never run twice. Raises ImageNotFound or ExecutorError.
        """

    def stop(self, container_id: str, timeout_s: int) -> None:
        """SIGTERM (the image's stop signal), wait timeout_s, then SIGKILL. No error if gone."""

    def remove(self, container_id: str) -> None:
        """Remove the container (forcefully). No error if already gone."""

    def list(self, labels: Mapping[str, str]) -> list[ContainerState]:
        """Every container (running or not) carrying all of these labels."""

    def ensure_volume(self, volume: VolumeSpec) -> None:
        """Create the volume unless one of its name exists; ExecutorError when it must exist and does not."""

    def ensure_network(self, network: NetworkSpec) -> None:
        """Create the network unless one of its name exists (several agents may share an engine)."""

    def remove_volumes(self, labels: Mapping[str, str]) -> int:
        """Remove every volume carrying all of these labels (none in use by a container); how many went."""

    def volume_labels(self, labels: Mapping[str, str]) -> builtins.list[Mapping[str, str]]:
        """The labels of every volume carrying all of these labels."""

    def inspect(self, container_id: str) -> ContainerState | None: ...

    def subscribe(self, on_change: Callable[[str], None], labels: Mapping[str, str]) -> Subscription:
        """Call on_change(container_id) from a background thread whenever a container with these
        labels starts, dies, or changes health. Used to react at once instead of polling."""

    def sample(self, container_ids: Iterable[str]) -> dict[str, ResourceSample]:
        """CPU and memory of the given running containers, all read in one quick pass."""

    def logs(self, container_id: str, since_ns: int | None = None, follow: bool = True) -> LogStream:
        """The container's stdout and stderr lines from `since_ns` on (inclusive), in the order the
        engine kept them; following, the stream ends when the container stops. Raises
        ExecutorError when the container is gone or its log driver cannot be read back."""
