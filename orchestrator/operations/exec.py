"""Exec: a command in a running task container, relayed through the control plane to the task's agent.

The CLI (admin token) opens a session; the task's agent, which opens no port, picks it up on its
own long-poll (`/v1/agent/exec`, its instance credential), runs the command with `docker exec`
and streams output and the exit code back over HTTP, while stdin, resizes and a close travel the
other way on a second long-poll. Sessions live in memory: a restarted control plane forgets them
(the client sees its session end without an exit code). As ECS requires, the task's
`enableExecuteCommand` (or its service's) must be true; each session is audited as an event of
the task's service (and a log line for any task), with the command but never its output.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from orchestrator.core.clock import Clock
from orchestrator.core.errors import AccessDeniedException, ApiError, InvalidParameterException
from orchestrator.core.models import arn_id, task_arn
from orchestrator.operations.common import Context, require_cluster

log = structlog.get_logger("orchestrator.operations.exec")

MAX_WAIT_S = 20.0
OUTPUT_KEPT_BYTES = 4 * 1024 * 1024  # unread output beyond this is dropped, oldest first
IDLE_CLOSE_S = 300.0  # a session nobody reads for this long is closed
MAX_COMMAND = 4096
NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run or the execute "
    "command agent isn't running. Wait and try again or run a new task with execute command enabled and try again."
)


class TargetNotConnectedException(ApiError):
    """ECS ExecuteCommand's name for a task whose agent cannot be reached."""

    code = "TargetNotConnectedException"
    rest_status = 409


class SessionNotFound(ApiError):
    code = "InvalidParameterException"
    rest_status = 404


@dataclass
class ExecSession:
    session_id: str
    task_arn: str
    instance_arn: str
    container: str
    runtime_name: str
    command: list[str]
    interactive: bool
    tty: bool
    rows: int | None
    cols: int | None
    created_at: float
    claimed: bool = False
    output: list[dict[str, Any]] = field(default_factory=list)  # {seq, stream, data (base64)}
    next_seq: int = 0
    kept_bytes: int = 0
    stdin: deque[dict[str, Any]] = field(default_factory=deque)
    exit_code: int | None = None
    error: str | None = None
    done: bool = False
    closed: bool = False  # the client went away: the agent should stop relaying
    touched: float = 0.0  # the clock's monotonic reading when the client last asked

    def wire(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "taskArn": self.task_arn,
            "containerName": self.container,
            "containerRuntimeName": self.runtime_name,
            "command": self.command,
            "interactive": self.interactive,
            "tty": self.tty,
            "rows": self.rows,
            "cols": self.cols,
        }


class ExecHub:
    """Every open session, and the waiting on both sides of them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Condition()
        self._sessions: dict[str, ExecSession] = {}
        self._closing = False
        self._watchers: set[Callable[[], None]] = set()  # async long-polls, woken beside the threads

    def _notify(self) -> None:
        """Wake every waiter (the caller holds the lock): threads on the condition, async polls by callback."""
        self._lock.notify_all()
        for wake in list(self._watchers):
            wake()

    def watch(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` (from any thread, cheaply) on every change until the returned function is called."""
        with self._lock:
            self._watchers.add(wake)

        def end() -> None:
            with self._lock:
                self._watchers.discard(wake)

        return end

    @property
    def closing(self) -> bool:
        return self._closing

    def shut_down(self) -> None:
        """The control plane is stopping: every long-poll answers now, so no worker thread holds
        the server's shutdown (each agent keeps one exec poll open)."""
        with self._lock:
            self._closing = True
            self._notify()

    def open(self, session: ExecSession) -> None:
        session.touched = self._clock.monotonic()
        with self._lock:
            self._expire()
            self._sessions[session.session_id] = session
            self._notify()

    def _expire(self) -> None:
        now = self._clock.monotonic()
        for sid, s in list(self._sessions.items()):
            if now - s.touched > IDLE_CLOSE_S:
                if s.done:
                    del self._sessions[sid]
                else:
                    s.closed = True

    def _get(self, sid: str) -> ExecSession:
        s = self._sessions.get(sid)
        if s is None:
            raise SessionNotFound(f"No exec session {sid}; it ended, or the control plane restarted since.")
        return s

    def _wait(self, ready: Any, wait_s: float) -> None:
        # A long-poll's wait is real time (the caller's HTTP timeout), not the control plane's clock.
        deadline = time.monotonic() + max(0.0, min(wait_s, MAX_WAIT_S))
        while not ready() and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._lock.wait(left)

    # -- the agent's side ------------------------------------------------------------------

    def _pending(self, instance_arn: str) -> list[ExecSession]:
        return [s for s in self._sessions.values() if s.instance_arn == instance_arn and not s.claimed]

    def has_pending(self, instance_arn: str) -> bool:
        with self._lock:
            return bool(self._pending(instance_arn))

    def claim(self, instance_arn: str, wait_s: float = 0.0) -> list[dict[str, Any]]:
        """The sessions opened for this instance that it has not taken yet (waiting up to `wait_s`)."""
        with self._lock:
            self._wait(lambda: self._pending(instance_arn), wait_s)
            found = self._pending(instance_arn)
            for s in found:
                s.claimed = True
            return [s.wire() for s in found]

    def _agent_session(self, sid: str, instance_arn: str) -> ExecSession:
        s = self._get(sid)
        if s.instance_arn != instance_arn:
            raise AccessDeniedException("An agent may only relay the exec sessions of its own instance.")
        return s

    def agent_output(self, instance_arn: str, sid: str, body: dict[str, Any]) -> dict[str, Any]:
        chunks = body.get("chunks") or []
        if not isinstance(chunks, list):
            raise InvalidParameterException("chunks must be a list of {stream, data}.")
        with self._lock:
            s = self._agent_session(sid, instance_arn)
            for c in chunks:
                data = str(c.get("data", ""))
                s.output.append({"seq": s.next_seq, "stream": str(c.get("stream", "stdout")), "data": data})
                s.next_seq += 1
                s.kept_bytes += len(data)
            while s.kept_bytes > OUTPUT_KEPT_BYTES and s.output:
                s.kept_bytes -= len(s.output.pop(0)["data"])
            if "exitCode" in body or body.get("error"):
                s.exit_code = body.get("exitCode") if isinstance(body.get("exitCode"), int) else None
                s.error = str(body["error"]) if body.get("error") else None
                s.done = True
            self._notify()
            return {"closed": s.closed}

    def agent_input(self, instance_arn: str, sid: str, wait_s: float) -> dict[str, Any]:
        with self._lock:
            s = self._agent_session(sid, instance_arn)
            self._wait(lambda: bool(s.stdin) or s.closed, wait_s)
            messages = list(s.stdin)
            s.stdin.clear()
            return {"messages": messages, "closed": s.closed}

    # -- the client's side -----------------------------------------------------------------

    def client_output(self, sid: str, since: int, wait_s: float) -> dict[str, Any]:
        with self._lock:
            s = self._get(sid)
            s.touched = self._clock.monotonic()
            self._wait(lambda: s.done or s.next_seq > since, wait_s)
            chunks = [c for c in s.output if c["seq"] >= since]
            s.output = [c for c in s.output if c["seq"] >= since]
            s.kept_bytes = sum(len(c["data"]) for c in s.output)
            out: dict[str, Any] = {"chunks": chunks, "next": s.next_seq, "done": s.done}
            if s.done:
                if s.exit_code is not None:
                    out["exitCode"] = s.exit_code
                if s.error:
                    out["error"] = s.error
                if not chunks or chunks[-1]["seq"] == s.next_seq - 1:
                    # Everything was handed out: forget the session.
                    self._sessions.pop(sid, None)
            return out

    def client_input(self, sid: str, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {}
        if body.get("data") is not None:
            if not isinstance(body["data"], str):
                raise InvalidParameterException("data must be base64 text.")
            try:
                base64.b64decode(body["data"], validate=True)
            except ValueError:
                raise InvalidParameterException("data must be base64 text.") from None
            message["data"] = body["data"]
        if body.get("eof"):
            message["eof"] = True
        resize = body.get("resize")
        if resize is not None:
            if not isinstance(resize, dict) or not all(
                isinstance(resize.get(k), int) and 0 < resize[k] < 10000 for k in ("rows", "cols")
            ):
                raise InvalidParameterException("resize must be {rows, cols}, positive integers.")
            message["resize"] = {"rows": resize["rows"], "cols": resize["cols"]}
        with self._lock:
            s = self._get(sid)
            s.touched = self._clock.monotonic()
            if not s.interactive and "data" in message:
                raise InvalidParameterException("This exec session is not interactive: open it with -i to send stdin.")
            if message:
                s.stdin.append(message)
            self._notify()
        return {"accepted": bool(message)}

    def close(self, sid: str) -> dict[str, Any]:
        with self._lock:
            s = self._get(sid)
            s.closed = True
            self._notify()
        return {"sessionId": sid, "closed": True}


_HUB_LOCK = threading.Lock()


class ExecOps:
    ctx: Context
    _exec_hub: ExecHub | None = None

    @property
    def exec_hub(self) -> ExecHub:
        # Made on first use; under a lock, or the agent's first poll and a first exec could each make one.
        with _HUB_LOCK:
            if self._exec_hub is None:
                self._exec_hub = ExecHub(self.ctx.clock)
            return self._exec_hub

    def open_exec(self, req: dict[str, Any], caller: str = "admin") -> dict[str, Any]:
        """Our ExecuteCommand: checks as ECS's, then a session for the task's agent to pick up."""
        ref = req.get("task")
        if not isinstance(ref, str) or not ref:
            raise InvalidParameterException("task is required: the task's id or ARN.")
        command = req.get("command")
        if isinstance(command, str):
            command = [command]
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(c, str) for c in command)
            or sum(len(c) for c in command) > MAX_COMMAND
        ):
            raise InvalidParameterException(
                f"command must be a non-empty list of strings (at most {MAX_COMMAND} chars)."
            )
        interactive, tty = bool(req.get("interactive")), bool(req.get("tty"))
        rows, cols = req.get("rows"), req.get("cols")
        with self.ctx.store.read() as s:
            cluster = require_cluster(self.ctx, req.get("cluster"))
            task = s.get_task(ref if ref.startswith("arn:") else task_arn(cluster.clusterName, ref))
            if task is None:
                raise InvalidParameterException(f"The referenced task was not found: {ref}.")
            service = task.group[len("service:") :] if task.group.startswith("service:") else None
            svc = s.get_service(cluster.clusterName, service) if service else None
            inst = s.get_instance(task.containerInstanceArn) if task.containerInstanceArn else None
        enabled = task.enableExecuteCommand or bool(svc is not None and svc.enableExecuteCommand)
        if not enabled:
            raise InvalidParameterException(NOT_ENABLED)
        if task.lastStatus != "RUNNING" or task.desiredStatus != "RUNNING":
            raise InvalidParameterException(
                f"The execute command failed because the task is {task.lastStatus} (desired {task.desiredStatus}), "
                "not RUNNING."
            )
        names = [c.name for c in task.containers]
        container = req.get("container") or (names[0] if len(names) == 1 else None)
        if container is None:
            raise InvalidParameterException(
                f"The task has several containers ({', '.join(names)}): name one with container (--container)."
            )
        match = next((c for c in task.containers if c.name == container), None)
        if match is None:
            raise InvalidParameterException(f"The task has no container {container}; it has {', '.join(names)}.")
        if match.lastStatus != "RUNNING":
            raise InvalidParameterException(f"The execute command failed because container {container} is not RUNNING.")
        if inst is None or not inst.agentConnected:
            raise TargetNotConnectedException(
                "The execute command failed due to an internal error: the task's agent is not connected. Try again."
            )
        session = ExecSession(
            session_id=f"{caller}-{secrets.token_hex(8)}",
            task_arn=task.taskArn,
            instance_arn=task.containerInstanceArn or "",
            container=container,
            runtime_name=f"orch-{arn_id(task.taskArn)}-{container}",
            command=list(command),
            interactive=interactive,
            tty=tty,
            rows=rows if isinstance(rows, int) else None,
            cols=cols if isinstance(cols, int) else None,
            created_at=self.ctx.clock.now(),
        )
        self.exec_hub.open(session)
        shown = " ".join(command)[:200]
        log.info(
            "exec session opened",
            session=session.session_id,
            task=arn_id(task.taskArn),
            container=container,
            command=shown,
            interactive=interactive,
            tty=tty,
            caller=caller,
        )
        if service:
            with self.ctx.store.write() as w:
                w.add_event(
                    cluster.clusterName,
                    service,
                    f"(service {service}, task {arn_id(task.taskArn)}) {caller} ran execute command in container "
                    f"{container}: {shown} (session {session.session_id}).",
                    self.ctx.clock.now(),
                )
        return {
            "clusterArn": cluster.clusterArn,
            "taskArn": task.taskArn,
            "containerName": container,
            "interactive": interactive,
            "session": {"sessionId": session.session_id},
        }
