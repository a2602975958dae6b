"""The container credentials endpoint of tasks with a `taskRoleArn`, served by their agent.

What an SDK in such a task's container sees (as on ECS, where the agent serves the same JSON):
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:51679/v2/credentials/<task id>
  AWS_CONTAINER_AUTHORIZATION_TOKEN=<a token of this task>
and `GET` of that URI with `Authorization: <token>` answers
  {"AccessKeyId": "ASIA...", "SecretAccessKey": ..., "Token": ..., "Expiration": "2026-...Z", "RoleArn": ...}
botocore's ContainerProvider (and the other SDKs) accept an http URI only on a loopback address
or one of ECS's link-local ones. 127.0.0.1 inside a container is the container's own network
namespace, so the agent opens its listening socket there: it enters the namespace of the running
container (`setns` on `/proc/<pid>/ns/net`, in a short-lived thread of its own), binds
127.0.0.1:51679, returns, and serves that socket from its own threads. Nothing changes in the
host's network. One listener per network namespace (an awsvpc task's containers share one), and
the token says which task asks; a listener answers only the tasks whose containers it serves.
The socket exists a few milliseconds after the container's process starts: a request before that
is refused and SDKs retry (botocore: 3 attempts, 1 s apart). The agent must run as root on the
Docker host (it already must, for task cgroups); where it cannot enter the namespace the task
fails to start with ResourceInitializationError, naming why.

The key pair comes from the control plane (`/v1/agent/task-credentials`), lives 1 h, and is
fetched again once less than `REFRESH_BEFORE_S` remain (SDKs refresh 15 min before expiry, so
they always get one with more than that left). Tokens are an HMAC of the task ARN under a key
kept in the agent's state dir (0600), so a restarted agent serves the containers it adopts with
the tokens they were started with. Neither the key pair nor the token is ever logged.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("agent.task_credentials")

HOST = "127.0.0.1"
PORT = 51679
FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
AUTH_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
REFRESH_BEFORE_S = 30 * 60.0
MAX_REQUEST = 8192
CLONE_NEWNET = 0x40000000

Fetch = Callable[[str], Mapping[str, Any]]
Opener = Callable[[str], socket.socket]


class EndpointError(RuntimeError):
    """The endpoint cannot be served for a container (its namespace cannot be entered, the port is taken)."""


def credentials_path(task_arn: str) -> str:
    return f"/v2/credentials/{task_arn.rsplit('/', 1)[-1]}"


def wants_role(td: Mapping[str, Any]) -> bool:
    return bool(td.get("taskRoleArn"))


def load_or_create_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def listen_in_namespace(netns: str) -> socket.socket:
    """A socket listening on HOST:PORT inside the network namespace `netns` (a /proc/<pid>/ns/net path).

    The namespace is entered by a thread of its own that ends right after, so no other thread of
    the agent ever runs in the container's namespace, whatever fails."""
    result: dict[str, Any] = {}

    def enter() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(netns, os.O_RDONLY)
        except OSError as err:
            result["error"] = f"cannot open {netns} ({err.strerror}): is the agent root on the Docker host?"
            return
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                result["error"] = f"cannot enter {netns}: {os.strerror(ctypes.get_errno())}"
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((HOST, PORT))
                sock.listen(16)
            except OSError as err:
                sock.close()
                result["error"] = f"cannot listen on {HOST}:{PORT} there: {err.strerror}"
            else:
                result["socket"] = sock
            finally:
                # The thread ends now anyway; going back keeps it from ever running elsewhere.
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(target)
            os.close(own)

    thread = threading.Thread(target=enter, name="netns-listen", daemon=True)
    thread.start()
    thread.join()
    if "socket" not in result:
        raise EndpointError(result.get("error", "cannot listen in the task's network namespace"))
    sock: socket.socket = result["socket"]
    return sock


def listen_on_loopback(_netns: str) -> socket.socket:
    """For executors without network namespaces (the fake one): an ephemeral port on the host's loopback."""
    sock = socket.create_server((HOST, 0))
    return sock


def namespace_id(netns: str) -> str:
    """Which namespace `netns` is (containers sharing one give the same answer)."""
    if netns.startswith("/"):
        try:
            st = os.stat(netns)
            return f"net:{st.st_dev}:{st.st_ino}"
        except OSError:
            pass
    return netns


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Listener:
    sock: socket.socket
    tasks: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)


class CredentialsEndpoint:
    def __init__(
        self,
        fetch: Fetch,
        key: bytes,
        *,
        opener: Opener | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._key = key
        self._opener = opener
        self._clock = clock
        self._lock = threading.Lock()
        self._task_locks: dict[str, threading.Lock] = {}
        self._tokens: dict[str, str] = {}  # sha256(token) -> task ARN
        self._cached: dict[str, Mapping[str, Any]] = {}  # task ARN -> the control plane's last answer
        self._listeners: dict[str, _Listener] = {}  # namespace id -> listener
        self._served: dict[str, tuple[str, str]] = {}  # container id -> (namespace id, task ARN)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="task-creds")
        self._closed = False
        # Started with the first listener: an agent that never runs a task with a role (a simulated
        # fleet of hundreds in one process) pays no thread for it.
        self._thread: threading.Thread | None = None

    # -- tasks ---------------------------------------------------------------------------------

    def token(self, task_arn: str) -> str:
        digest = hmac.new(self._key, f"task-credentials:{task_arn}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def environment(self, task_arn: str) -> dict[str, str]:
        """The two variables the task's containers get; the task is known to the endpoint from now on."""
        token = self.token(task_arn)
        with self._lock:
            self._tokens[hashlib.sha256(token.encode()).hexdigest()] = task_arn
        return {FULL_URI: f"http://{HOST}:{PORT}{credentials_path(task_arn)}", AUTH_TOKEN: token}

    def prefetch(self, task_arn: str) -> None:
        """Fetch the task's first key pair before its containers start (raises what the fetch raises)."""
        self.credentials(task_arn)

    def forget(self, task_arn: str) -> None:
        with self._lock:
            self._cached.pop(task_arn, None)
            self._tokens = {h: a for h, a in self._tokens.items() if a != task_arn}
            self._task_locks.pop(task_arn, None)

    def credentials(self, task_arn: str) -> dict[str, Any]:
        """The task's key pair in the container endpoint's JSON shape, fetched again when it runs low."""
        with self._lock:
            task_lock = self._task_locks.setdefault(task_arn, threading.Lock())
        with task_lock:
            got = self._cached.get(task_arn)
            if got is None or float(got["expiration"]) - self._clock() < REFRESH_BEFORE_S:
                got = dict(self._fetch(task_arn))
                with self._lock:
                    self._cached[task_arn] = got
        return {
            "RoleArn": got["roleArn"],
            "AccessKeyId": got["accessKeyId"],
            "SecretAccessKey": got["secretAccessKey"],
            "Token": got["sessionToken"],
            "Expiration": _iso(float(got["expiration"])),
        }

    # -- listeners -----------------------------------------------------------------------------

    def serve(self, task_arn: str, container_id: str, netns: str | None) -> None:
        """Listen in the network namespace of the task's running container `container_id` (once per namespace)."""
        if netns is None:
            raise EndpointError(f"container {container_id[:12]} has no network namespace to serve the endpoint in")
        self.environment(task_arn)
        ident = namespace_id(netns)
        with self._lock:
            listener = self._listeners.get(ident)
            if listener is not None:
                listener.tasks.add(task_arn)
                listener.containers.add(container_id)
                self._served[container_id] = (ident, task_arn)
                return
        opener = self._opener or (listen_in_namespace if netns.startswith("/") else listen_on_loopback)
        sock = opener(netns)
        sock.setblocking(False)
        with self._lock:
            listener = _Listener(sock, {task_arn}, {container_id})
            self._listeners[ident] = listener
            self._served[container_id] = (ident, task_arn)
            self._selector.register(sock, selectors.EVENT_READ, ident)
            if self._thread is None:
                self._thread = threading.Thread(target=self._accept_loop, name="task-creds-accept", daemon=True)
                self._thread.start()
        self._wake_w.send(b"x")
        log.info("task credentials endpoint listening", task=task_arn.rsplit("/", 1)[-1], container=container_id[:12])

    def served(self) -> dict[str, str]:
        """Container id -> task ARN of every container the endpoint serves."""
        with self._lock:
            return {cid: arn for cid, (_ident, arn) in self._served.items()}

    def serving(self, container_id: str) -> bool:
        with self._lock:
            return container_id in self._served

    def address_of(self, container_id: str) -> tuple[str, int] | None:
        """Where the listener serving `container_id` is bound (in its namespace)."""
        with self._lock:
            served = self._served.get(container_id)
            listener = self._listeners.get(served[0]) if served else None
            return listener.sock.getsockname()[:2] if listener else None

    def sync(self, running: Mapping[str, str], starting: frozenset[str] | set[str] = frozenset()) -> None:
        """`running`: container id -> task ARN of every running container of a task with a role;
        `starting`: tasks whose start is in flight (their new containers may not be listed yet).
        Listeners whose containers are all gone close (a socket would keep a dead namespace alive)."""
        with self._lock:
            for cid in set(self._served) - set(running):
                ident, task_arn = self._served[cid]
                if task_arn in starting:
                    continue
                del self._served[cid]
                listener = self._listeners.get(ident)
                if listener is None:
                    continue
                listener.containers.discard(cid)
                if not listener.containers:
                    del self._listeners[ident]
                    self._selector.unregister(listener.sock)
                    listener.sock.close()
            for listener in self._listeners.values():
                listener.tasks = {self._served[c][1] for c in listener.containers}

    def close(self) -> None:
        self._closed = True
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            for listener in self._listeners.values():
                listener.sock.close()
            self._listeners.clear()
            self._served.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._wake_r.close()
        self._wake_w.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                try:
                    conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                self._pool.submit(self._handle, conn, str(key.data))

    # -- one request ---------------------------------------------------------------------------

    def _handle(self, conn: socket.socket, ident: str) -> None:
        try:
            conn.settimeout(5.0)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            status, body = self.answer(data, ident)
            payload = json.dumps(body).encode()
            reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
            head = (
                f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode() + payload)
        except OSError:
            pass
        finally:
            conn.close()

    def answer(self, request: bytes, ident: str) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one raw HTTP request arriving on the listener of namespace `ident`."""
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return 400, {"code": "InvalidRequest", "message": "not an HTTP request"}
        method, target = parts[0], parts[1]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method != "GET":
            return 405, {"code": "InvalidRequest", "message": "only GET is served here"}
        token = headers.get("authorization", "")
        with self._lock:
            task_arn = self._tokens.get(hashlib.sha256(token.encode()).hexdigest()) if token else None
            listener = self._listeners.get(ident)
            here = listener is not None and task_arn in listener.tasks
        if task_arn is None or not here:
            return 401, {
                "code": "AccessDenied",
                "message": f"send the task's {AUTH_TOKEN} as the Authorization header",
            }
        if target.split("?", 1)[0] != credentials_path(task_arn):
            return 404, {"code": "NotFound", "message": f"this task's credentials are at {credentials_path(task_arn)}"}
        try:
            return 200, self.credentials(task_arn)
        except Exception as err:  # the control plane refused or is away: say so, without the secret
            message = getattr(err, "message", None) or type(err).__name__
            log.warning("task credentials not available", task=task_arn.rsplit("/", 1)[-1], error=str(message))
            return 500, {"code": "CredentialsUnavailable", "message": f"credentials not available: {message}"}
