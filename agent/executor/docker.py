"""The Executor on a real Docker engine: the only module in the project that imports the Docker SDK.

It owns the translation from ContainerSpec to Docker's create/start calls, from Docker's inspect
JSON to ContainerState, the events stream behind `subscribe`, and resource sampling (cgroup files
first, the stats API only as a fallback). It uses the SDK's low-level API throughout: plain dicts
in and out, and no hidden extra requests.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from agent import stats
from agent.executor import task_cgroup
from agent.executor.base import (
    ContainerSpec,
    ContainerState,
    ExecutorError,
    HealthCheckSpec,
    ImageNotFound,
    LogLine,
    NetworkSpec,
    PortMapping,
    ResourceSample,
    VolumeSpec,
)
from agent.executor.log_wire import ChunkedBody, FrameStream

log = logging.getLogger(__name__)

# Ordinary calls answer in milliseconds; a minute only bounds a wedged engine. The SDK adds the
# stop timeout to this for `stop`, so a 30 s graceful stop never looks like a hung engine.
DEFAULT_TIMEOUT_S = 60
# The agent starts containers from a thread pool (8 threads) while the events thread and samplers
# hold connections of their own; the SDK's default pool of 10 would drop and reopen connections.
DEFAULT_POOL_SIZE = 32
# Docker rejects CPU shares below 2.
MIN_CPU_SHARES = 2
_NS_PER_S = 1_000_000_000
_MIB = 1024 * 1024
# Container events that can change what the agent reports about a task.
_WATCHED_EVENTS = ("start", "die", "health_status", "oom", "destroy")
_STATS_THREADS = 16
_LOG_READ = 1 << 16  # bytes a read of a log stream takes at most
# A name reserved by a create still in flight: wait out about 9 s of it (0.02 s doubling, capped at 0.5 s).
_NAME_RACE_TRIES = 22
# Test hook (tests/chaos/test_kill_after_create.py): with this set to "create" the agent process
# dies right after `docker create`, with "start" right after the start: before any report, as a
# kill -9 at that instant would. Inert unless set; nothing but that test sets it.
_EXIT_AFTER = "ORCH_TEST_EXIT_AFTER"


def _test_exit_point(point: str) -> None:
    if os.environ.get(_EXIT_AFTER) == point:
        os._exit(86)


# Task cgroups are named orch-task-<task id> (agent.container_spec.task_cgroup).
TASK_CGROUP_PREFIX = "orch-task-"

_NETWORK_LOCK = threading.Lock()

_SETUP_HINT = (
    "Run `make setup` (scripts/ensure-docker.sh) to start a local Docker engine, "
    "or set DOCKER_HOST to an engine that answers."
)


class DockerExecutor:
    """Runs task containers on one Docker engine.

    `client`: an existing docker.DockerClient (tests, or a caller with its own TLS settings).
    `base_url`: the engine's address; without it, DOCKER_HOST or the default socket.
    `cgroup_root`: where to read container cgroups for `sample`; a directory without Docker's
    cgroups simply makes `sample` use the stats API.
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        base_url: str | None = None,
        cgroup_root: Path = stats.DEFAULT_CGROUP_ROOT,
        timeout_s: int = DEFAULT_TIMEOUT_S,
        max_pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._max_pool_size = max_pool_size
        self._cgroup_root = cgroup_root
        self._lock = threading.Lock()
        self._cgroups: dict[str, stats.CgroupFiles] = {}
        self._inspected: dict[str, tuple[tuple[str, str], ContainerState]] = {}
        self._cache_lock = threading.Lock()
        self._cgroup_driver: str | None = None

    # -- connection ---------------------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        # Built on first use: constructing a client asks the engine for its API version, and an
        # engine that is down must surface as ExecutorError from ping(), not from the constructor.
        with self._lock:
            if self._client is None:
                try:
                    if self._base_url:
                        self._client = docker.DockerClient(
                            base_url=self._base_url,
                            timeout=self._timeout_s,
                            max_pool_size=self._max_pool_size,
                        )
                    else:
                        self._client = docker.from_env(timeout=self._timeout_s, max_pool_size=self._max_pool_size)
                except docker.errors.DockerException as err:
                    raise ExecutorError(f"the Docker engine does not answer ({err}). {_SETUP_HINT}") from err
            return self._client

    @property
    def _api(self) -> docker.APIClient:
        return self._docker().api

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def ping(self) -> None:
        with _engine_errors("ping"):
            try:
                self._api.ping()
            except (docker.errors.DockerException, requests.RequestException) as err:
                where = self._base_url or "DOCKER_HOST or /var/run/docker.sock"
                raise ExecutorError(f"the Docker engine at {where} does not answer ({err}). {_SETUP_HINT}") from err

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start; an existing container of that name is returned untouched, unless it
        was created and never started (an agent that died in between): that one is started.

        A start that the engine refuses (port already taken, missing executable) is not raised: the
        container stays in "created" with the engine's words in `error`, so a retry of `run` sees
        the same answer and the worker can report why the task failed to start.
        """
        with _engine_errors(f"run {spec.name}"):
            try:
                container_id = self._create(spec)
            except _NameTaken:
                existing = self._settle_name_race(spec)
                if isinstance(existing, ContainerState):
                    if existing.status != "created" or existing.error or existing.started_at:
                        return existing
                    container_id = existing.id
                else:
                    container_id = existing
            _test_exit_point("create")
            start_error = ""
            try:
                self._api.start(container_id)
            except docker.errors.APIError as err:
                start_error = _explain(err)
            _test_exit_point("start")
            state = self.inspect(container_id)
            if state is None:
                raise ExecutorError(f"container {spec.name} vanished right after it was created")
            if start_error and not state.error:
                state = replace(state, error=start_error)
            return state

    def _settle_name_race(self, spec: ContainerSpec) -> ContainerState | str:
        """Someone else holds the name: return their container, or create ours if it went away.

        The engine reserves a name before the create that took it is finished, so for a moment the
        name is taken but inspect finds nothing; on a busy engine that moment can last a while.
        """
        for attempt in range(_NAME_RACE_TRIES):
            existing = self.inspect(spec.name)
            if existing is not None:
                return existing
            try:
                return self._create(spec)
            except _NameTaken:
                time.sleep(min(0.5, 0.02 * 2**attempt))
        raise ExecutorError(f"container name {spec.name} is taken but not found")

    def _create(self, spec: ContainerSpec) -> str:
        try:
            return self._create_once(spec)
        except docker.errors.ImageNotFound:
            # The engine checks the image before the name: a container adopted after its image was
            # deleted must still come back as itself, not as a pull failure.
            if self.inspect(spec.name) is not None:
                raise _NameTaken(spec.name) from None
            self._pull(spec.image, spec.registry_auth)
        try:
            return self._create_once(spec)
        except docker.errors.ImageNotFound as err:
            raise ImageNotFound(_missing_image_message(spec.image, _explain(err))) from err

    def _create_once(self, spec: ContainerSpec) -> str:
        api = self._api
        if spec.task_limits is not None:
            self._task_cgroup(spec)
        exposed, host_kwargs, create_kwargs = create_arguments(spec)
        host_config = api.create_host_config(**host_kwargs)
        try:
            created = api.create_container(
                image=spec.image, name=spec.name, ports=exposed or None, host_config=host_config, **create_kwargs
            )
        except docker.errors.APIError as err:
            if err.status_code == 409:
                raise _NameTaken(spec.name) from err
            raise
        return str(created["Id"])

    def _task_cgroup(self, spec: ContainerSpec) -> None:
        assert spec.task_limits is not None
        if self._cgroup_driver is None:
            self._cgroup_driver = str(self._api.info().get("CgroupDriver") or "")
        if self._cgroup_driver != "cgroupfs":
            raise ExecutorError(
                f"task-level cpu/memory need Docker's cgroupfs cgroup driver; this engine uses "
                f"{self._cgroup_driver or 'an unknown driver'}. Set the limits per container instead."
            )
        try:
            task_cgroup.ensure(self._cgroup_root, spec.task_limits)
        except task_cgroup.CgroupError as err:
            raise ExecutorError(str(err)) from err

    def _pull(self, image: str, auth: Mapping[str, str] | None = None) -> None:
        repository, tag = docker.utils.parse_repository_tag(image)
        try:
            # The pull answers 200 and reports failures inside the stream, so read it all.
            for line in self._api.pull(
                repository, tag=tag or "latest", stream=True, decode=True, auth_config=dict(auth) if auth else None
            ):
                if isinstance(line, dict) and line.get("error"):
                    raise ImageNotFound(_missing_image_message(image, str(line["error"])))
        except docker.errors.APIError as err:
            raise ImageNotFound(_missing_image_message(image, _explain(err))) from err

    def stop(self, container_id: str, timeout_s: int) -> None:
        with _engine_errors(f"stop {container_id}"), contextlib.suppress(docker.errors.NotFound):
            self._api.stop(container_id, timeout=timeout_s)

    def remove(self, container_id: str) -> None:
        with _engine_errors(f"remove {container_id}"):
            parent = ""
            with contextlib.suppress(docker.errors.NotFound):
                parent = str(
                    (self._api.inspect_container(container_id).get("HostConfig") or {}).get("CgroupParent") or ""
                )
            try:
                self._api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                # Another caller is already removing it: the outcome we want is under way.
                if err.status_code != 409 or "in progress" not in _explain(err):
                    raise
        self._cgroups.pop(container_id, None)
        if parent.startswith(f"/{TASK_CGROUP_PREFIX}"):
            # The last container of the task takes the task's cgroup with it (a busy one stays).
            task_cgroup.remove(self._cgroup_root, parent.lstrip("/"))

    # -- volumes ------------------------------------------------------------------------------

    def ensure_volume(self, volume: VolumeSpec) -> None:
        with _engine_errors(f"create volume {volume.name}"):
            try:
                self._api.inspect_volume(volume.name)
                return
            except docker.errors.NotFound:
                if not volume.create:
                    raise ExecutorError(
                        f"the shared volume {volume.name} does not exist on this instance and autoprovision is "
                        "false: create it (docker volume create) or set autoprovision"
                    ) from None
            self._api.create_volume(
                volume.name,
                driver=volume.driver,
                driver_opts=dict(volume.driver_opts) or None,
                labels=dict(volume.labels),
            )

    def volume_labels(self, labels: Mapping[str, str]) -> builtins.list[Mapping[str, str]]:
        with _engine_errors("list volumes"):
            found = self._api.volumes(filters={"label": _label_filters(labels)}).get("Volumes") or []
        return [dict(v.get("Labels") or {}) for v in found]

    def remove_volumes(self, labels: Mapping[str, str]) -> int:
        removed = 0
        with _engine_errors("remove volumes"):
            found = self._api.volumes(filters={"label": _label_filters(labels)}).get("Volumes") or []
            for v in found:
                try:
                    self._api.remove_volume(v["Name"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as err:
                    # Still in use (a container of the task not removed yet): the next cleanup takes it.
                    log.warning("volume %s not removed: %s", v["Name"], _explain(err))
        return removed

    # -- networks -----------------------------------------------------------------------------

    def ensure_network(self, network: NetworkSpec) -> None:
        # Agents sharing an engine (orchestrator dev) may all ask at once: one process creates it at
        # a time, and the engine refuses a second network of the same name (check_duplicate).
        with _NETWORK_LOCK, _engine_errors(f"create network {network.name}"):
            # The engine's name filter matches substrings: compare the names.
            if any(n.get("Name") == network.name for n in self._api.networks(names=[network.name])):
                return
            try:
                self._api.create_network(
                    network.name, driver=network.driver, labels=dict(network.labels), check_duplicate=True
                )
            except docker.errors.APIError as err:
                if err.status_code != 409:
                    raise

    # -- observation --------------------------------------------------------------------------

    def list(self, labels: Mapping[str, str]) -> list[ContainerState]:
        with _engine_errors("list containers"):
            summaries = self._api.containers(all=True, filters={"label": _label_filters(labels)})
            states = []
            # The list endpoint has no exit code, health or times: inspect, but only containers
            # whose state or health changed since the last inspect (a pass runs on every event).
            cache: dict[str, tuple[tuple[str, str], ContainerState]] = {}
            for summary in summaries:
                cid = str(summary["Id"])
                key = (str(summary.get("State", "")), _health_word(str(summary.get("Status", ""))))
                cached = self._inspected.get(cid)
                state = cached[1] if cached is not None and cached[0] == key else self.inspect(cid)
                if state is not None:
                    states.append(state)
                    cache[cid] = (key, state)
            with self._cache_lock:
                self._inspected.update(cache)
                if len(self._inspected) > 4096:
                    self._inspected = cache
            return states

    def inspect(self, container_id: str) -> ContainerState | None:
        with _engine_errors(f"inspect {container_id}"):
            try:
                data = self._api.inspect_container(container_id)
            except docker.errors.NotFound:
                return None
            return state_from_inspect(data)

    def network_namespace(self, container_id: str) -> str | None:
        """`/proc/<pid>/ns/net` of a running container as this host sees it (the engine must be local),
        None when it is not running."""
        with _engine_errors(f"inspect {container_id}"):
            try:
                pid = int((self._api.inspect_container(container_id).get("State") or {}).get("Pid") or 0)
            except docker.errors.NotFound:
                return None
        return f"/proc/{pid}/ns/net" if pid > 0 else None

    def exec_process(
        self, container: str, command: Sequence[str], *, tty: bool, stdin: bool, rows: int | None, cols: int | None
    ) -> DockerExecProcess:
        """`docker exec` in a running container, attached: see `DockerExecProcess`."""
        with _engine_errors(f"exec in {container}"):
            exec_id = str(
                self._api.exec_create(container, list(command), stdout=True, stderr=True, stdin=stdin, tty=tty)["Id"]
            )
            sock = self._api.exec_start(exec_id, tty=tty, socket=True)
            process = DockerExecProcess(self._api, exec_id, sock, tty)
            if tty and rows and cols:
                process.first_resize(rows, cols)
            return process

    def subscribe(self, on_change: Callable[[str], None], labels: Mapping[str, str]) -> _EventSubscription:
        return _EventSubscription(self._api, on_change, labels)

    def sample(self, container_ids: Iterable[str]) -> dict[str, ResourceSample]:
        """Read the cgroup files of each container; only the ones not found go to the stats API."""
        samples: dict[str, ResourceSample] = {}
        fallback: list[str] = []
        for cid in container_ids:
            files = self._cgroups.get(cid) or stats.locate(self._cgroup_root, cid)
            if files is None:
                fallback.append(cid)
                continue
            try:
                samples[cid] = stats.read_files(files, time.monotonic())
                self._cgroups[cid] = files
            except (OSError, ValueError):
                # The cgroup went away with the container; the engine will say what happened.
                self._cgroups.pop(cid, None)
        if fallback:
            samples.update(self._sample_via_api(fallback))
        return samples

    def logs(self, container_id: str, since_ns: int | None = None, follow: bool = True) -> _DockerLogStream:
        action = f"logs {container_id}"
        params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(follow)}
        if since_ns:
            # The engine reads "seconds.fraction" exactly (the SDK's float would round it); inclusive.
            params["since"] = f"{since_ns // _NS_PER_S}.{since_ns % _NS_PER_S:09d}"
        with _engine_errors(action):
            tty = bool(self._api.inspect_container(container_id)["Config"].get("Tty"))
            response = self._api._get(self._api._url("/containers/{0}/logs", container_id), params=params, stream=True)
            self._api._raise_for_status(response)
        return _DockerLogStream(response, tty, action)

    def _sample_via_api(self, container_ids: Sequence[str]) -> dict[str, ResourceSample]:
        api = self._api
        # one_shot skips the engine's one-second wait for a second reading (API 1.41 and later).
        one_shot = None if docker.utils.version_lt(api.api_version, "1.41") else True

        def one(cid: str) -> tuple[str, ResourceSample | None]:
            try:
                raw = api.stats(cid, stream=False, one_shot=one_shot)
            except (docker.errors.DockerException, requests.RequestException):
                return cid, None
            at = time.monotonic()
            return cid, sample_from_stats(raw, at)

        result: dict[str, ResourceSample] = {}
        with ThreadPoolExecutor(max_workers=min(_STATS_THREADS, len(container_ids))) as pool:
            for cid, sample in pool.map(one, container_ids):
                if sample is not None:
                    result[cid] = sample
        return result


class _DockerLogStream:
    """`docker logs --timestamps [--follow]` as LogLines, read off the socket in large pieces (see
    `log_wire`): frames are joined and split on line ends (a TTY container's output comes in
    arbitrary chunks), and each line's leading RFC 3339 nano timestamp becomes `at_ns`."""

    def __init__(self, response: Any, tty: bool, action: str) -> None:
        self._response = response
        # The SDK reads its own streams from this same buffered socket file (`_get_raw_response_socket`).
        self._fp = response.raw._fp.fp
        self._tty = tty
        self._action = action
        self._second = (b"", 0)  # the last whole second parsed: lines come many to a second

    def __iter__(self) -> Iterator[LogLine]:
        body, frames = ChunkedBody(), FrameStream()
        pending = b""
        with _engine_errors(self._action):
            try:
                while not body.ended:
                    data = self._fp.read1(_LOG_READ)
                    if not data:
                        break
                    chunk = body.feed(data)
                    pending += chunk if self._tty else frames.feed(chunk)
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        line = self._line(raw)
                        if line is not None:
                            yield line
            except (OSError, ValueError) as err:  # a quiet stream outlives the socket timeout, or was closed
                raise ExecutorError(f"{self._action}: {err}") from err
        if pending:
            line = self._line(pending)
            if line is not None:
                yield line

    def _line(self, raw: bytes) -> LogLine | None:
        # b"2026-12-01T23:37:13.657948866Z message": the engine writes nine digits, and the whole
        # second is parsed once for the many lines that share it.
        if raw[:19] == self._second[0] and raw[19:20] == b"." and raw[29:31] == b"Z " and raw[20:29].isdigit():
            return LogLine(self._second[1] + int(raw[20:29]), raw[31:].decode("utf-8", "replace").removesuffix("\r"))
        stamp, _, message = raw.partition(b" ")
        at_ns = parse_docker_time_ns(stamp.decode("ascii", "replace"))
        if at_ns is None:
            return None
        self._second = (stamp[:19], at_ns - at_ns % _NS_PER_S)
        return LogLine(at_ns, message.decode("utf-8", "replace").removesuffix("\r"))

    def close(self) -> None:
        """Ends a read blocked in another thread too (shutting the socket down wakes it)."""
        with contextlib.suppress(Exception):
            self._fp.raw._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_docker_time_ns(value: str) -> int | None:
    """An RFC 3339 nano timestamp (`docker logs -t`) -> nanoseconds since the epoch, exactly."""
    m = _STAMP.match(value)
    if m is None:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    seconds = int(datetime.fromisoformat(m.group(1) + zone).timestamp())
    return seconds * _NS_PER_S + int((m.group(2) or "0").ljust(9, "0"))


class DockerExecProcess:
    """One attached exec: output as (stream, bytes) pieces, stdin, resize, and the exit code at the end.

    Without a TTY the engine multiplexes stdout and stderr on the one connection, each frame an
    8-byte header (stream 1 or 2, then the length); with a TTY the bytes come raw, as the terminal's.
    """

    def __init__(self, api: Any, exec_id: str, sock: Any, tty: bool) -> None:
        self._api = api
        self._id = exec_id
        self._sock = getattr(sock, "_sock", sock)
        self._tty = tty

    def read(self) -> Iterator[tuple[str, bytes]]:
        if self._tty:
            while data := self._recv(65536):
                yield "stdout", data
            return
        while header := self._exactly(8):
            size = int.from_bytes(header[4:8], "big")
            body = self._exactly(size) if size else b""
            yield ("stderr" if header[0] == 2 else "stdout"), body

    def _recv(self, n: int) -> bytes:
        try:
            return bytes(self._sock.recv(n))
        except OSError:
            return b""

    def _exactly(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            data = self._recv(n - len(got))
            if not data:
                return b""
            got += data
        return got

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(data)

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(docker.errors.APIError):
            self._api.exec_resize(self._id, height=rows, width=cols)

    def first_resize(self, rows: int, cols: int) -> None:
        """The terminal's size right after the start. Engines before API 1.42 cannot take it in the start
        call, and refuse a resize until the exec runs, so retry briefly, as the docker CLI does."""
        for attempt in range(10):
            try:
                self._api.exec_resize(self._id, height=rows, width=cols)
                return
            except docker.errors.APIError:
                time.sleep(0.01 * (attempt + 1))

    def exit_code(self) -> int | None:
        """The command's exit code once it has ended (the stream closes just before the engine records it)."""
        for attempt in range(50):
            info = self._api.exec_inspect(self._id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            time.sleep(min(0.2, 0.01 * 2**attempt))
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class _NameTaken(Exception):
    """Create answered 409: a container with this name exists."""


class _EventSubscription:
    """A daemon thread reading the engine's container events and calling back with the id.

    If the stream breaks (engine restart), it reconnects with `since` set to the last event seen,
    so nothing in between is lost; a repeated event is harmless because on_change means only
    "look at this container again".
    """

    def __init__(self, api: docker.APIClient, on_change: Callable[[str], None], labels: Mapping[str, str]) -> None:
        self._api = api
        self._on_change = on_change
        self._filters: dict[str, Any] = {"type": ["container"], "event": list(_WATCHED_EVENTS)}
        if labels:
            self._filters["label"] = _label_filters(labels)
        self._closed = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        # Events from this second on are replayed, covering the gap before the stream connects.
        self._since = int(time.time())
        self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)
        self._thread.start()
        # Callers usually act right after subscribing; being connected first makes that safe.
        self._connected.wait(timeout=5)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._closed.is_set():
            try:
                stream = self._api.events(since=self._since, filters=self._filters, decode=True)
                with self._lock:
                    if self._closed.is_set():
                        stream.close()
                        return
                    self._stream = stream
                self._connected.set()
                backoff = 0.5
                for event in stream:
                    self._handle(event)
            except Exception as err:
                if self._closed.is_set():
                    return
                log.warning("docker events stream failed, reconnecting: %s", err)
            if self._closed.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    def _handle(self, event: Mapping[str, Any]) -> None:
        if isinstance(event.get("time"), int):
            self._since = event["time"]
        action = str(event.get("Action") or event.get("status") or "")
        # health_status arrives as "health_status: healthy"; the daemon's filter matches by prefix.
        if not action.startswith(_WATCHED_EVENTS):
            return
        container_id = event.get("id") or (event.get("Actor") or {}).get("ID")
        if not container_id:
            return
        try:
            self._on_change(str(container_id))
        except Exception:
            log.exception("container event callback failed for %s", container_id)


# -- translation helpers (pure) ---------------------------------------------------------------


def create_arguments(spec: ContainerSpec) -> tuple[list[int | tuple[int, str]], dict[str, Any], dict[str, Any]]:
    """ContainerSpec -> (exposed ports, create_host_config kwargs, create_container kwargs).

    Every ContainerSpec field lands in one of them; a field left at its default adds nothing, so
    Docker's own default applies.
    """
    exposed: list[int | tuple[int, str]] = []
    bindings: dict[str, list[tuple[str] | tuple[str, int]]] = {}
    for pm in spec.port_mappings:
        key = f"{pm.container_port}/{pm.protocol}"
        if key not in bindings:
            port = pm.container_port
            exposed.append(port if pm.protocol == "tcp" else (port, pm.protocol))
            bindings[key] = []
        # IPv4 only (the instance's address, 0.0.0.0 by default): where the host has IPv6, Docker
        # would otherwise also bind [::] and pick a different dynamic port there, so one
        # containerPort would have two host ports.
        bindings[key].append((pm.host_ip, pm.host_port) if pm.host_port else (pm.host_ip,))
    host: dict[str, Any] = {
        "port_bindings": {k: v[0] if len(v) == 1 else v for k, v in bindings.items()} or None,
        "cpu_shares": max(MIN_CPU_SHARES, spec.cpu_shares) if spec.cpu_shares > 0 else None,
        "mem_limit": spec.memory_mib * _MIB if spec.memory_mib else None,
        "mem_reservation": spec.memory_reservation_mib * _MIB if spec.memory_reservation_mib else None,
    }
    optional: dict[str, Any] = {
        "ulimits": [{"name": u.name, "soft": u.soft, "hard": u.hard} for u in spec.ulimits],
        "init": spec.init,
        "cap_add": list(spec.cap_add),
        "cap_drop": list(spec.cap_drop),
        "shm_size": spec.shm_size_mib * _MIB if spec.shm_size_mib is not None else None,
        "tmpfs": {t.container_path: ",".join([*t.options, f"size={t.size_mib}m"]) for t in spec.tmpfs},
        "devices": [f"{d.host_path}:{d.container_path}:{d.permissions}" for d in spec.devices],
        # Docker's MemorySwap is memory + swap; ECS's maxSwap is the swap alone (0: none at all).
        "memswap_limit": (spec.memory_mib + spec.max_swap_mib) * _MIB
        if spec.max_swap_mib is not None and spec.memory_mib
        else None,
        "mem_swappiness": spec.swappiness,
        "extra_hosts": dict(spec.extra_hosts),
        "dns": list(spec.dns_servers),
        "dns_search": list(spec.dns_search),
        "read_only": spec.read_only_root or None,
        "privileged": spec.privileged or None,
        "sysctls": dict(spec.sysctls),
        "pid_mode": spec.pid_mode,
        "ipc_mode": spec.ipc_mode,
        "log_config": {"Type": spec.log_driver, "Config": dict(spec.log_options)} if spec.log_driver else None,
        "cgroup_parent": f"/{spec.task_limits.cgroup}" if spec.task_limits is not None else None,
        "links": dict(spec.links),
        "mounts": [
            docker.types.Mount(m.target, m.source, type="bind" if m.bind else "volume", read_only=m.read_only)
            for m in spec.mounts
        ],
        "volumes_from": [f"{name}:{'ro' if ro else 'rw'}" for name, ro in spec.volumes_from],
        "network_mode": spec.network_mode,
        # What `docker run --gpus '"device=ID,..."'` sends: the NVIDIA driver, exactly these GPUs.
        "device_requests": [
            docker.types.DeviceRequest(driver="nvidia", device_ids=list(spec.gpu_ids), capabilities=[["gpu"]])
        ]
        if spec.gpu_ids
        else None,
    }
    host.update({k: v for k, v in optional.items() if v not in (None, [], {})})
    create: dict[str, Any] = {
        "command": list(spec.command) if spec.command is not None else None,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "environment": dict(spec.environment) or None,
        "labels": dict(spec.labels),
        "healthcheck": _healthcheck(spec.health_check) if spec.health_check else None,
        "stop_timeout": spec.stop_timeout_s,
        "working_dir": spec.working_directory,
        "user": spec.user,
        "hostname": spec.hostname,
        "network_disabled": spec.network_disabled,
        "stdin_open": spec.interactive,
        "tty": spec.tty,
        "detach": True,
    }
    return exposed, host, create


def _health_word(status: str) -> str:
    """The health part of a container summary's Status, e.g. 'healthy' from 'Up 3 seconds (healthy)'."""
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word
    return ""


def _label_filters(labels: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(labels.items())]


def _healthcheck(hc: HealthCheckSpec) -> dict[str, Any]:
    """ECS healthCheck -> Docker's: the same test list, durations in nanoseconds.

    A command without a CMD / CMD-SHELL prefix (ECS rejects it) runs as an exec-form CMD.
    """
    command = list(hc.command)
    test = command if command and command[0] in ("CMD", "CMD-SHELL", "NONE") else ["CMD", *command]
    result: dict[str, Any] = {
        "Test": test,
        "Interval": hc.interval_s * _NS_PER_S,
        "Timeout": hc.timeout_s * _NS_PER_S,
        "Retries": hc.retries,
    }
    if hc.start_period_s > 0:
        result["StartPeriod"] = hc.start_period_s * _NS_PER_S
    return result


_FRACTION = re.compile(r"\.(\d{6})\d+")


def parse_docker_time(value: str | None) -> float | None:
    """Docker's RFC 3339 nano timestamps -> epoch seconds; its zero time ("0001-01-01...") -> None."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(r".\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _host_ports(ports: Mapping[str, Any] | None) -> tuple[PortMapping, ...]:
    found: list[PortMapping] = []
    for key, bindings in (ports or {}).items():
        if not bindings:
            continue  # exposed but not published
        port, _, protocol = key.partition("/")
        for binding in bindings:
            if ":" in (binding.get("HostIp") or ""):
                continue  # an IPv6 binding of a container made before ports were bound to IPv4 only
            host_port = int(binding.get("HostPort") or 0)
            pm = PortMapping(
                container_port=int(port),
                host_port=host_port,
                protocol=protocol or "tcp",
                host_ip=binding.get("HostIp") or "0.0.0.0",
            )
            if host_port and pm not in found:
                found.append(pm)
    return tuple(sorted(found, key=lambda p: (p.container_port, p.protocol, p.host_port)))


def state_from_inspect(data: Mapping[str, Any]) -> ContainerState:
    """Docker's inspect JSON -> ContainerState."""
    st = data.get("State") or {}
    status = str(st.get("Status") or "unknown")
    error = str(st.get("Error") or "")
    if error:
        error = _gpu_start_error(data, error)
    exit_code: int | None = None
    # Docker reports ExitCode 0 for containers that never ran; only trust it once one has stopped,
    # or when a start failed (the engine then sets 127/128 with an error).
    if status in ("exited", "dead") or (status == "created" and error):
        exit_code = int(st.get("ExitCode") or 0)
    health = (st.get("Health") or {}).get("Status")
    network = data.get("NetworkSettings") or {}
    endpoints = network.get("Networks") or {}
    endpoint: Mapping[str, Any] = next(
        (endpoints[n] for n in sorted(endpoints) if (endpoints[n] or {}).get("IPAddress")), {}
    )
    return ContainerState(
        id=str(data["Id"]),
        name=str(data.get("Name") or "").lstrip("/"),
        labels=dict((data.get("Config") or {}).get("Labels") or {}),
        status=status,
        exit_code=exit_code,
        health=str(health) if health else None,
        started_at=parse_docker_time(st.get("StartedAt")),
        finished_at=parse_docker_time(st.get("FinishedAt")),
        oom_killed=bool(st.get("OOMKilled")),
        error=error,
        host_ports=_host_ports(network.get("Ports")),
        ip_address=str(endpoint.get("IPAddress") or ""),
        mac_address=str(endpoint.get("MacAddress") or ""),
        endpoint_id=str(endpoint.get("EndpointID") or ""),
    )


def sample_from_stats(raw: Mapping[str, Any], at: float) -> ResourceSample | None:
    """One reading of the stats API -> ResourceSample; None for a container that is not running."""
    cpu = ((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    memory = raw.get("memory_stats") or {}
    if cpu is None or "usage" not in memory:
        return None
    mstats = memory.get("stats") or {}
    inactive = mstats.get("total_inactive_file", mstats.get("inactive_file", 0))
    return ResourceSample(cpu_ns=int(cpu), memory_bytes=max(0, int(memory["usage"]) - int(inactive)), at=at)


def _gpu_start_error(data: Mapping[str, Any], said: str) -> str:
    """The engine's refusal of a container with NVIDIA device requests, saying what is missing when it
    is the GPU runtime. Read from the inspect data, so every later look at the container says it too."""
    if "device driver" not in said:
        return said
    requests = [r for r in (data.get("HostConfig") or {}).get("DeviceRequests") or [] if r.get("Driver") == "nvidia"]
    if not requests:
        return said
    ids = [str(i) for r in requests for i in r.get("DeviceIDs") or []]
    return (
        f"the container needs GPU {', '.join(ids)} but this Docker engine has no NVIDIA GPU runtime "
        f"(Docker said: {said}). Install the NVIDIA Container Toolkit on the instance and restart Docker, or "
        "register agents without GPUs (--gpus 0) so that GPU tasks are not placed there."
    )


def _explain(err: docker.errors.APIError) -> str:
    return str(err.explanation or err)


def _missing_image_message(image: str, reason: str) -> str:
    return (
        f"image {image!r} is not present locally and could not be pulled ({reason}). "
        "Build the project's images with `make images`, or pull or build it yourself."
    )


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into ExecutorError, keeping our own as they are."""
    try:
        yield
    except ExecutorError:
        raise
    except docker.errors.APIError as err:
        raise ExecutorError(f"{action}: {_explain(err)}") from err
    except (docker.errors.DockerException, requests.RequestException) as err:
        raise ExecutorError(f"{action}: the Docker engine did not answer ({err}). {_SETUP_HINT}") from err
