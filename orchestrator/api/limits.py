"""What one request may cost the control plane, enforced before any route, parser or token check.

`BoundedRequests` is ASGI middleware in front of the whole app: headers larger than the limits are
refused with 431; a declared body larger than `max_body_bytes` is refused with 413 from its
Content-Length, before a byte of it is read and before authentication (a 30 MB body with no token
costs nothing); a chunked body is counted as it arrives and refused the moment it passes the
limit; a body that takes longer than `body_timeout_s` to arrive is refused with 408; and a JSON
body is parsed once within `orchestrator.core.bounds` (depth, number length, 64-bit integers,
finite numbers, valid Unicode) so no route ever sees one outside them.

`SlowClientProtocol` is uvicorn's h11 protocol with a deadline on the request head: a connection
that has not sent a complete request line and headers within `head_timeout_s` is closed (uvicorn
only times out idle keep-alive connections, and a byte every few seconds resets even that).

`RateLimiter` is a token bucket per key, for the agent protocol's per-credential limit.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from orchestrator.core import bounds
from orchestrator.core.errors import SerializationException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    # Agents ship container logs in batches of up to 4 MiB (agent/log_shipper.py).
    max_log_body_bytes: int = 8 * 1024 * 1024
    max_header_bytes: int = 16 * 1024  # all header names and values together
    max_header_value_bytes: int = 8 * 1024
    body_timeout_s: float = 30.0
    head_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    # The agent protocol, per credential: a steady rate and the burst above it.
    agent_requests_per_s: float = 50.0
    agent_burst: int = 200


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _is_json(headers: dict[bytes, bytes]) -> bool:
    ctype = headers.get(b"content-type", b"").lower()
    return not ctype or b"json" in ctype


PARSED_BODY = "bounded_json_body"  # request.state member: the body as `bounds.loads` parsed it


class BoundedRequests:
    def __init__(self, app: App, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = self._headers(scope)
            limit = self.limits.max_log_body_bytes if scope.get("path") == "/v1/agent/logs" else None
            body = await self._body(headers, receive, limit)
            if body and _is_json(headers):
                try:
                    # Kept for routes that take the body as it is (the agents' log batches), so a
                    # large body is not parsed twice.
                    scope.setdefault("state", {})[PARSED_BODY] = bounds.loads(body)
                except SerializationException as err:
                    # The AWS JSON endpoint names a bad body as AWS does; the REST API as it always has.
                    code = err.code if scope.get("path") == "/" else "InvalidParameterException"
                    raise Refused(400, code, err.message) from None
        except Refused as refused:
            await _refuse(send, refused)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _headers(self, scope: Scope) -> dict[bytes, bytes]:
        total = 0
        out: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", ()):
            total += len(name) + len(value)
            if len(value) > self.limits.max_header_value_bytes:
                # Named, never echoed: a malformed header may carry a pasted secret.
                raise Refused(
                    431,
                    "RequestHeaderFieldsTooLarge",
                    f"The {name.decode('latin-1')[:64]} header is {len(value)} bytes; "
                    f"at most {self.limits.max_header_value_bytes} are accepted.",
                )
            out[name] = value
        if total > self.limits.max_header_bytes:
            raise Refused(
                431,
                "RequestHeaderFieldsTooLarge",
                f"The request headers are {total} bytes; at most {self.limits.max_header_bytes} are accepted.",
            )
        return out

    async def _body(self, headers: dict[bytes, bytes], receive: Receive, limit: int | None = None) -> bytes | None:
        """The whole body (None when the request declares none), read within the limits."""
        limit = limit or self.limits.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit() or len(declared) > 20:
                raise Refused(400, "SerializationException", "Content-Length must be a number of bytes.")
            if int(declared) > limit:
                raise Refused(413, "RequestEntityTooLarge", _too_large(int(declared), limit))
            if int(declared) == 0:
                return None
        elif b"transfer-encoding" not in headers:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.limits.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise Refused(400, "SerializationException", "The client went away before its body arrived.")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, "RequestEntityTooLarge", _too_large(size, limit))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Refused(
                408, "RequestTimeout", f"The request body did not arrive within {self.limits.body_timeout_s:g} s."
            ) from None
        return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return f"The request body is {size} bytes or more; at most {limit} are accepted."


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(send: Send, refused: Refused) -> None:
    payload = json.dumps({"__type": refused.code, "code": refused.code, "message": refused.message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-amzn-requestid", secrets.token_hex(16).encode()),
                # The body (if any) was not read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def slow_client_protocol(head_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive in time."""

    class SlowClientProtocol(H11Protocol):
        _head_timer: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._arm()  # part of a head: the deadline runs from its first byte, not its last
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(head_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _too_slow(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return SlowClientProtocol


@dataclass
class RateLimiter:
    """A token bucket per key: `rate` requests a second on average, bursts of up to `burst`."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # keys are credentials, a bounded set; this is a backstop
                self._buckets.clear()
            return True
