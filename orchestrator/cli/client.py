"""The CLI's HTTP client: one keep-alive connection to the control plane, errors that say what to do.

Plain http:// speaks HTTP/1.1 over a socket itself; https:// uses the standard library's
http.client. Neither httpx nor http.client (which imports ssl and the email package) is imported
for a local control plane: their imports alone cost a client command more than its request.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from typing import Any, Protocol

from orchestrator.cli.config import DEFAULT_SERVER, Target, default_data_dir, target

__all__ = ["DEFAULT_SERVER", "CliError", "Client", "default_data_dir"]

EXIT_FAILED, EXIT_USAGE = 1, 2


class CliError(Exception):
    """Shown to the user as one line; the process exits with `code` (1 failed, 2 usage or timeout)."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _query(params: dict[str, Any] | None) -> str:
    pairs = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        pairs.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return ("?" + urllib.parse.urlencode(pairs)) if pairs else ""


def segment(value: str) -> str:
    """A path segment, quoted (an id or name never needs it; anything else must not change the route)."""
    return urllib.parse.quote(value, safe="")


class _Closed(Exception):
    """The server closed a kept-alive connection before answering: send again on a new one."""


class _Connection(Protocol):
    def send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


class _Plain:
    """HTTP/1.1 over one TCP socket, kept alive between requests; Content-Length or chunked answers."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        fresh = self.sock is None
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.buffer = b""
        head = [f"{method} {target} HTTP/1.1", f"host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"content-length: {len(body or b'')}")
        try:
            self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
            return self._answer()
        except (_Closed, BrokenPipeError, ConnectionResetError):
            self.close()
            if fresh:
                raise ConnectionResetError("the control plane closed the connection") from None
            return self.send(method, target, body, headers)

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed()
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _answer(self) -> tuple[int, bytes]:
        status = int(self._line().split()[1])
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._exactly(size))
                self._line()
            while self._line():  # trailers
                pass
            body = b"".join(parts)
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Tls:
    """https:// through http.client, imported only then."""

    def __init__(self, host: str, port: int | None, timeout: float) -> None:
        import http.client
        import ssl

        # Verified always: against the control plane's own CA when there is one to hand (ORCH_CA_CERT,
        # or tls/ca.pem in the data dir), else against the system's CAs.
        ca = os.environ.get("ORCH_CA_CERT") or str(default_data_dir() / "tls" / "ca.pem")
        context = ssl.create_default_context(cafile=ca if os.path.isfile(ca) else None)
        self.conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)

    def send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        import http.client

        for attempt in (1, 2):
            try:
                self.conn.request(method, target, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise
            except http.client.HTTPException as err:
                raise ConnectionError(f"not an HTTP answer: {type(err).__name__}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class Client:
    def __init__(self, server: str | None = None, token: str | None = None, timeout: float = 60.0) -> None:
        found: Target = target()
        self.server = (server or found.server).rstrip("/")
        self._token = token if token is not None else found.token
        self._source = "--token" if token is not None else found.source
        self.cluster = found.cluster
        self._server_source = "the caller" if server else found.server_source
        self.timeout = timeout
        url = urllib.parse.urlsplit(self.server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CliError(f"{self.server!r} is not a control plane URL; use e.g. {DEFAULT_SERVER}.", EXIT_USAGE)
        self._url = url
        self._conn: _Connection | None = None

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._conn is None:
            host = self._url.hostname or ""
            if self._url.scheme == "https":
                self._conn = _Tls(host, self._url.port, self.timeout)
            else:
                self._conn = _Plain(host, self._url.port or 80, self.timeout)
        return self._conn.send(method, target, body, headers)

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self._token:
            raise CliError(
                f"No admin token (looked in {self._source}): set ORCH_TOKEN, or ORCH_DATA_DIR to the control "
                "plane's data dir, or `orchestrator context add NAME --server URL --token-file DIR/admin.token`."
            )
        body = None if json is None else _dumps(json)
        headers = {"authorization": f"Bearer {self._token}", "accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        base = self._url.path.rstrip("/")
        try:
            status, raw = self._send(method, base + path + _query(params), body, headers)
        except TimeoutError:
            raise CliError(
                f"The control plane at {self.server} did not answer within {self.timeout:.0f} s.", code=EXIT_USAGE
            ) from None
        except (OSError, ValueError, IndexError) as err:
            via = "" if self._server_source in ("default", "the caller") else f", from {self._server_source}"
            raise CliError(
                f"No control plane at {self.server} ({_reason(err)}{via}): start one with `orchestrator dev`, or "
                "point --server, ORCH_SERVER or `orchestrator context use NAME` at a running one."
            ) from None
        try:
            answer = _loads(raw)
        except ValueError:
            answer = {"message": raw.decode(errors="replace")[:200]}
        if status >= 400:
            raise CliError(self._explain(status, answer))
        result: dict[str, Any] = answer
        return result

    def _explain(self, status: int, body: dict[str, Any]) -> str:
        code = body.get("code") or body.get("__type") or str(status)
        message = body.get("message") or body.get("detail") or ""
        if status == 401 or code in ("UnauthorizedError", "UnauthorizedException"):
            return (
                f"The control plane at {self.server} refused the token from {self._source}: use the admin.token "
                "of its data dir (ORCH_TOKEN, ORCH_DATA_DIR, or `orchestrator context add`)."
            )
        if code == "ClusterNotFoundException":
            return (
                f"{code}: {message} `orchestrator cluster list` shows the clusters; pass --cluster NAME, "
                "set ORCH_CLUSTER, or create it with `orchestrator cluster create NAME`."
            )
        return f"{code}: {message}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _reason(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return "unknown host"
    return type(err).__name__


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _loads(raw: bytes) -> Any:
    value = json.loads(raw) if raw else {}
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value
