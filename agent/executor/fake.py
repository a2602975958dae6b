"""An in-memory Executor for unit tests and the simulator: Docker's observable behaviour, no Docker.

It keeps what the worker relies on from the real engine: unique names (run is idempotent by name),
dynamic and static host ports (a taken static port fails the start, as Docker does), health
"starting" until told otherwise, stop and remove that tolerate a missing container, and events
delivered to subscribers. Tests drive the rest: exits, health, usage, missing images, failures.
Callbacks run synchronously on the caller's thread, after the lock is released, so a callback may
call back into the fake.
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from agent.executor.base import (
    ContainerSpec,
    ContainerState,
    ExecutorError,
    ImageNotFound,
    LogLine,
    NetworkSpec,
    PortMapping,
    ResourceSample,
    VolumeSpec,
)

# Where Docker's default ephemeral range for published ports starts.
FIRST_DYNAMIC_PORT = 32768
# What a container not trapping SIGTERM shows after `docker stop`: killed by the signal (128 + 15).
DEFAULT_STOP_EXIT_CODE = 143


@dataclass
class _Container:
    state: ContainerState
    spec: ContainerSpec
    cpu_ns: int = 0
    memory_bytes: int = 0
    stop_exit_code: int = DEFAULT_STOP_EXIT_CODE
    output: list[LogLine] = field(default_factory=list)


@dataclass
class _Subscriber:
    on_change: Callable[[str], None]
    labels: Mapping[str, str]
    active: bool = True


@dataclass
class FakeSubscription:
    _owner: FakeExecutor
    _subscriber: _Subscriber = field(repr=False)

    def close(self) -> None:
        self._owner._unsubscribe(self._subscriber)


class FakeLogStream:
    """A container's output from `since_ns` on; following, it waits for lines until the container
    stops (or is removed) and all its lines are read."""

    def __init__(self, owner: FakeExecutor, container: _Container, since_ns: int, follow: bool) -> None:
        self._owner, self._container, self._since, self._follow = owner, container, since_ns, follow
        self._closed = False

    def __iter__(self) -> Iterator[LogLine]:
        owner, c, i = self._owner, self._container, 0
        while True:
            with owner._output_changed:
                while (
                    i >= len(c.output)
                    and self._follow
                    and not self._closed
                    and c.state.running
                    and owner._containers.get(c.state.id) is c
                ):
                    owner._output_changed.wait(0.5)
                if self._closed or i >= len(c.output):
                    return
                batch, i = c.output[i:], len(c.output)
            yield from (line for line in batch if line.at_ns >= self._since)

    def close(self) -> None:
        with self._owner._output_changed:
            self._closed = True
            self._owner._output_changed.notify_all()


class FakeExecutor:
    """Thread-safe in-memory containers. `clock` gives epoch seconds for start/finish times and for
    samples (pass a fake clock's `now` to make utilization arithmetic exact)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._output_changed = threading.Condition(self._lock)
        self._containers: dict[str, _Container] = {}  # by id, in creation order
        self._by_name: dict[str, str] = {}
        self._subscribers: list[_Subscriber] = []
        self._missing_images: set[str] = set()
        self._failures: dict[str, list[tuple[str, bool]]] = {}
        self._ids = itertools.count(1)
        self._next_port = FIRST_DYNAMIC_PORT
        self._available = True
        self.runs: list[ContainerSpec] = []  # every run call, including idempotent repeats
        self.stops: list[tuple[str, int]] = []  # (container id, timeout_s) of every stop call
        self.volumes: dict[str, VolumeSpec] = {}  # by name
        self.networks: dict[str, NetworkSpec] = {}  # by name
        self._next_ip = itertools.count(2)  # 10.88.0.2, .3, ... on any network made here

    # -- test controls ------------------------------------------------------------------------

    def set_available(self, available: bool) -> None:
        """Make every call fail as if the engine were down (False) or answer again (True)."""
        with self._lock:
            self._available = available

    def mark_image_missing(self, image: str, missing: bool = True) -> None:
        with self._lock:
            if missing:
                self._missing_images.add(_normalize_image(image))
            else:
                self._missing_images.discard(_normalize_image(image))

    def fail_next_run(self, image: str, message: str, *, at_start: bool = False) -> None:
        """Make the next run of this image fail with message.

        By default run raises ExecutorError (the create was refused). With at_start the container
        is created but its start fails: status "created", exit code 128 and error=message, which
        is what DockerExecutor returns when Docker refuses to start a container.
        """
        with self._lock:
            self._failures.setdefault(_normalize_image(image), []).append((message, at_start))

    def exit(self, container_id: str, code: int, *, oom_killed: bool = False) -> None:
        """The container's main process exits with code."""
        with self._lock:
            c = self._get(container_id)
            if not c.state.running:
                return
            c.state = replace(
                c.state,
                status="exited",
                exit_code=code,
                finished_at=self._clock(),
                oom_killed=oom_killed,
                host_ports=(),
                ip_address="",
            )
            cid = c.state.id
        self._notify(cid)

    def write_output(self, container_id: str, *messages: str, at_ns: int | None = None) -> None:
        """The container prints these lines, stamped `at_ns` (else the clock's now, so a fake clock
        gives several lines the very same timestamp, as a fast writer can on a real engine)."""
        with self._lock:
            c = self._get(container_id)
            at = at_ns if at_ns is not None else int(self._clock() * 1e9)
            c.output += [LogLine(at, m) for m in messages]
            self._output_changed.notify_all()

    def set_health(self, container_id: str, health: str | None) -> None:
        with self._lock:
            c = self._get(container_id)
            if c.state.health == health:
                return
            c.state = replace(c.state, health=health)
            cid = c.state.id
        self._notify(cid)

    def set_usage(self, container_id: str, cpu_ns: int, memory_bytes: int) -> None:
        """Set the cumulative CPU time and current memory that sample() reports."""
        with self._lock:
            c = self._get(container_id)
            c.cpu_ns = cpu_ns
            c.memory_bytes = memory_bytes

    def set_stop_exit_code(self, container_id: str, code: int) -> None:
        """The exit code the container shows after stop (0 for an app that handles SIGTERM)."""
        with self._lock:
            self._get(container_id).stop_exit_code = code

    def spec_of(self, container_id: str) -> ContainerSpec:
        with self._lock:
            return self._get(container_id).spec

    # -- Executor -----------------------------------------------------------------------------

    def ping(self) -> None:
        with self._lock:
            self._check_available()

    def run(self, spec: ContainerSpec) -> ContainerState:
        with self._lock:
            self._check_available()
            self.runs.append(spec)
            existing = self._by_name.get(spec.name)
            if existing is not None:
                return self._containers[existing].state
            image = _normalize_image(spec.image)
            if image in self._missing_images:
                raise ImageNotFound(
                    f"image {spec.image!r} is not present locally and could not be pulled (fake). "
                    "Build the project's images with `make images`."
                )
            failure = self._failures.get(image)
            message, at_start = failure.pop(0) if failure else ("", False)
            if message and not at_start:
                raise ExecutorError(message)
            cid = hashlib.sha256(f"fake-container-{next(self._ids)}".encode()).hexdigest()
            state = ContainerState(id=cid, name=spec.name, labels=dict(spec.labels), status="created")
            self._containers[cid] = _Container(state=state, spec=spec)
            self._by_name[spec.name] = cid
            if not message:
                message = self._network_problem(spec) or self._port_conflict(spec)
            if message:
                self._containers[cid].state = replace(state, exit_code=128, error=message)
                return self._containers[cid].state
            self._containers[cid].state = replace(
                state,
                status="running",
                started_at=self._clock(),
                health="starting" if spec.health_check else None,
                host_ports=self._bind_ports(spec.port_mappings),
            )
            self._address(cid)
            result = self._containers[cid].state
        self._notify(cid)
        return result

    def stop(self, container_id: str, timeout_s: int) -> None:
        with self._lock:
            self._check_available()
            c = self._find(container_id)
            if c is None:
                return
            self.stops.append((c.state.id, timeout_s))
            if not c.state.running:
                return
            c.state = replace(
                c.state,
                status="exited",
                exit_code=c.stop_exit_code,
                finished_at=self._clock(),
                host_ports=(),
                ip_address="",
            )
            cid = c.state.id
        self._notify(cid)

    def remove(self, container_id: str) -> None:
        with self._lock:
            self._check_available()
            c = self._find(container_id)
            if c is None:
                return
            cid = c.state.id
            del self._containers[cid]
            del self._by_name[c.state.name]
        self._notify(cid, c.state.labels)

    def list(self, labels: Mapping[str, str]) -> builtins.list[ContainerState]:
        with self._lock:
            self._check_available()
            return [c.state for c in self._containers.values() if _matches(c.state.labels, labels)]

    def inspect(self, container_id: str) -> ContainerState | None:
        """By id or by name, as `docker inspect` accepts both."""
        with self._lock:
            self._check_available()
            c = self._find(container_id)
            return c.state if c is not None else None

    def network_namespace(self, container_id: str) -> str | None:
        """A name per running container: the credentials endpoint listens on the host's loopback for it."""
        found = self._find(container_id)
        return f"fake-netns:{found.state.id}" if found is not None and found.state.running else None

    def subscribe(self, on_change: Callable[[str], None], labels: Mapping[str, str]) -> FakeSubscription:
        subscriber = _Subscriber(on_change=on_change, labels=dict(labels))
        with self._lock:
            self._subscribers.append(subscriber)
        return FakeSubscription(self, subscriber)

    def sample(self, container_ids: Iterable[str]) -> dict[str, ResourceSample]:
        with self._lock:
            self._check_available()
            at = self._clock()
            result: dict[str, ResourceSample] = {}
            for cid in container_ids:
                c = self._find(cid)
                if c is not None and c.state.running:
                    result[cid] = ResourceSample(cpu_ns=c.cpu_ns, memory_bytes=c.memory_bytes, at=at)
            return result

    def logs(self, container_id: str, since_ns: int | None = None, follow: bool = True) -> FakeLogStream:
        with self._lock:
            self._check_available()
            c = self._find(container_id)
            if c is None:
                raise ExecutorError(f"logs {container_id}: No such container")
            if c.spec.log_driver == "none":
                raise ExecutorError(f"logs {container_id}: configured logging driver does not support reading")
        return FakeLogStream(self, c, since_ns or 0, follow)

    # -- internals (callers hold the lock unless noted) ---------------------------------------

    def _check_available(self) -> None:
        if not self._available:
            raise ExecutorError("the Docker engine does not answer (fake engine is down). Run `make setup`.")

    def _get(self, container_id: str) -> _Container:
        c = self._find(container_id)
        if c is None:
            raise KeyError(f"no fake container {container_id!r}")
        return c

    def _find(self, id_or_name: str) -> _Container | None:
        c = self._containers.get(id_or_name)
        if c is None and id_or_name in self._by_name:
            c = self._containers[self._by_name[id_or_name]]
        return c

    def ensure_volume(self, volume: VolumeSpec) -> None:
        with self._lock:
            self._check_available()
            if volume.name in self.volumes:
                return
            if not volume.create:
                raise ExecutorError(f"the shared volume {volume.name} does not exist on this instance")
            self.volumes[volume.name] = volume

    def volume_labels(self, labels: Mapping[str, str]) -> builtins.list[Mapping[str, str]]:
        with self._lock:
            self._check_available()
            return [v.labels for v in self.volumes.values() if all(v.labels.get(k) == w for k, w in labels.items())]

    def remove_volumes(self, labels: Mapping[str, str]) -> int:
        with self._lock:
            self._check_available()
            gone = [n for n, v in self.volumes.items() if all(v.labels.get(k) == w for k, w in labels.items())]
            for name in gone:
                del self.volumes[name]
            return len(gone)

    def ensure_network(self, network: NetworkSpec) -> None:
        with self._lock:
            self._check_available()
            self.networks.setdefault(network.name, network)

    def _network_problem(self, spec: ContainerSpec) -> str:
        """Docker's refusals: an unknown network, or joining a container that does not run."""
        mode = spec.network_mode
        if mode is None or mode in ("host", "none", "bridge"):
            return ""
        if mode.startswith("container:"):
            owner = self._find(mode.removeprefix("container:"))
            if owner is None:
                return f"No such container: {mode.removeprefix('container:')}"
            if not owner.state.running:
                return f"cannot join network of a non running container: {owner.state.id}"
            if spec.port_mappings:
                return "conflicting options: port publishing and the container type network mode"
            return ""
        return "" if mode in self.networks else f"network {mode} not found"

    def _address(self, cid: str) -> None:
        """A container on one of the fake's networks gets an address there, as Docker's IPAM gives one."""
        c = self._containers[cid]
        if c.spec.network_mode is None or c.spec.network_mode not in self.networks:
            return
        n = next(self._next_ip)
        c.state = replace(
            c.state,
            ip_address=f"10.88.{n // 256}.{n % 256}",
            mac_address=f"02:42:0a:58:{n // 256:02x}:{n % 256:02x}",
            endpoint_id=hashlib.sha256(f"endpoint-{cid}".encode()).hexdigest(),
        )

    def _port_conflict(self, spec: ContainerSpec) -> str:
        held = [
            (p.host_ip, p.host_port, p.protocol)
            for c in self._containers.values()
            if c.state.running
            for p in c.state.host_ports
        ]

        def clashes(pm: PortMapping) -> bool:
            # As the kernel has it: 0.0.0.0 takes the port on every address.
            return any(
                (ip == pm.host_ip or "0.0.0.0" in (ip, pm.host_ip)) and port == pm.host_port and proto == pm.protocol
                for ip, port, proto in held
            )

        for pm in spec.port_mappings:
            if pm.host_port and clashes(pm):
                return (
                    "driver failed programming external connectivity: "
                    f"Bind for {pm.host_ip}:{pm.host_port} failed: port is already allocated"
                )
        return ""

    def _bind_ports(self, mappings: Iterable[PortMapping]) -> tuple[PortMapping, ...]:
        bound = []
        for pm in mappings:
            host_port = pm.host_port
            if not host_port:
                host_port = self._next_port
                self._next_port += 1
            bound.append(replace(pm, host_port=host_port))
        return tuple(bound)

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            subscriber.active = False
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def _notify(self, container_id: str, labels: Mapping[str, str] | None = None) -> None:
        """Call matching subscribers; the caller must NOT hold the lock."""
        with self._lock:
            self._output_changed.notify_all()  # a follower of a container that stopped reads to its end
            if labels is None:
                c = self._containers.get(container_id)
                labels = c.state.labels if c is not None else {}
            targets = [s for s in self._subscribers if _matches(labels, s.labels)]
        for s in targets:
            if s.active:
                s.on_change(container_id)


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _normalize_image(image: str) -> str:
    """An untagged name means :latest, as for Docker ("busybox" is "busybox:latest")."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"
