"""The agent's side of exec: pick sessions up on a long-poll, run them with `docker exec`, relay both ways.

The agent opens no port: it asks the control plane (its own credential) for the sessions opened
for its tasks, and for each one streams the command's output and then its exit code back over
HTTP, while a second long-poll brings stdin, terminal resizes and the client's close. The
output is the user's business and is never logged; the log says which session ran and how it ended.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import structlog

from agent.executor.base import ExecutorError
from agent.session import Session, SessionClosed

log = structlog.get_logger("agent.exec")

POLL_WAIT_S = 10.0


class ExecProcess(Protocol):
    def read(self) -> Iterator[tuple[str, bytes]]: ...
    def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...
    def resize(self, rows: int, cols: int) -> None: ...
    def exit_code(self) -> int | None: ...
    def close(self) -> None: ...


class ExecCapable(Protocol):
    def exec_process(
        self, container: str, command: Sequence[str], *, tty: bool, stdin: bool, rows: int | None, cols: int | None
    ) -> ExecProcess: ...


class ExecRelay:
    def __init__(
        self, session: Session, executor: Any, stop: threading.Event, poll_wait_s: float = POLL_WAIT_S
    ) -> None:
        self.session = session
        self.executor = executor
        self.stop = stop
        # As long as the agent's assignments poll, at least POLL_WAIT_S: a session is picked up the
        # moment it opens, however long the poll, so only an idle fleet's cost depends on this.
        self.poll_wait_s = max(POLL_WAIT_S, poll_wait_s)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                sessions = self.session.exec_sessions(self.poll_wait_s)
            except SessionClosed:
                return
            except Exception as err:
                log.warning("exec poll failed", error=str(err))
                self.stop.wait(1.0)
                continue
            for s in sessions:
                threading.Thread(target=self.relay, args=(s,), name=f"exec-{s['sessionId'][-6:]}", daemon=True).start()

    def relay(self, s: dict[str, Any]) -> None:
        sid = str(s["sessionId"])
        run = getattr(self.executor, "exec_process", None)
        try:
            if run is None:
                raise ExecutorError("this agent's container runtime cannot exec into containers")
            proc: ExecProcess = run(
                str(s["containerRuntimeName"]),
                list(s["command"]),
                tty=bool(s.get("tty")),
                stdin=bool(s.get("interactive")),
                rows=s.get("rows"),
                cols=s.get("cols"),
            )
        except ExecutorError as err:
            log.info("exec session failed to start", session=sid, error=str(err))
            self._send(sid, {"chunks": [], "error": str(err)})
            return
        log.info("exec session started", session=sid, container=s["containerRuntimeName"])
        done = threading.Event()
        if s.get("interactive") or s.get("tty"):
            threading.Thread(target=self._input, args=(sid, proc, done), daemon=True).start()
        try:
            for stream, data in proc.read():
                if data and self._send(sid, {"chunks": [{"stream": stream, "data": base64.b64encode(data).decode()}]}):
                    break  # the client closed the session
            code = proc.exit_code()
            self._send(
                sid, {"chunks": [], "exitCode": code} if code is not None else {"chunks": [], "error": "no exit code"}
            )
            log.info("exec session ended", session=sid, exit_code=code)
        finally:
            done.set()
            proc.close()

    def _send(self, sid: str, body: dict[str, Any]) -> bool:
        """Post output; True if the client has closed the session."""
        try:
            return bool(self.session.exec_output(sid, body).get("closed"))
        except SessionClosed:
            return True
        except Exception as err:
            log.warning("exec output not delivered", session=sid, error=str(err))
            return True

    def _input(self, sid: str, proc: ExecProcess, done: threading.Event) -> None:
        while not done.is_set() and not self.stop.is_set():
            try:
                got = self.session.exec_input(sid, POLL_WAIT_S)
            except SessionClosed:
                return
            except Exception as err:
                log.info("exec input ended", session=sid, error=str(err))
                return
            for m in got.get("messages") or []:
                if m.get("data"):
                    proc.write(base64.b64decode(m["data"]))
                if m.get("resize"):
                    proc.resize(int(m["resize"]["rows"]), int(m["resize"]["cols"]))
                if m.get("eof"):
                    proc.close_stdin()
            if got.get("closed"):
                proc.close()
                return
