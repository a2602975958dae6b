"""The CLI's HTTP client: one keep-alive connection to the control plane, errors that say what to do.

It uses the standard library's http.client, not httpx: importing httpx alone costs a client
command more time than the request itself.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

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


class Client:
    def __init__(self, server: str | None = None, token: str | None = None, timeout: float = 60.0) -> None:
        found: Target = target()
        self.server = (server or found.server).rstrip("/")
        self._token = token if token is not None else found.token
        self._source = "--token" if token is not None else found.source
        self.cluster = found.cluster
        self.timeout = timeout
        url = urllib.parse.urlsplit(self.server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CliError(f"{self.server!r} is not a control plane URL; use e.g. {DEFAULT_SERVER}.", EXIT_USAGE)
        self._url = url
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
            self._conn = kind(self._url.hostname or "", self._url.port, timeout=self.timeout)
        return self._conn

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        # One retry on a fresh connection: the server may have closed an idle keep-alive one.
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

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
        except (OSError, http.client.HTTPException) as err:
            raise CliError(
                f"No control plane at {self.server} ({_reason(err)}): start one with `orchestrator dev`, or point "
                "--server, ORCH_SERVER or `orchestrator context use NAME` at a running one."
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
