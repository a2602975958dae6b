"""The dashboard's server-sent events: the cluster view again whenever the store's change feed moves.

One stream per open page. It must not cost the API a worker thread for as long as a page is open,
so the blocking wait on the store's condition variable runs in short slices on a limiter of its
own (the API's thread limiter is never drawn on) and the stream ends when the client goes away:
Starlette cancels the generator on disconnect, and the keep-alive comment sent after every quiet
slice makes a vanished client show up as a failed write within one slice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from orchestrator.core.store import Store

# How long one wait may hold a thread, and so the longest a gone client keeps one.
WAIT_SLICE_S = 2.0
# Bursts of commits (a rollout step writes many rows) become one frame: at most this many per second.
FRAMES_PER_S = 5
# Open pages waiting at once; more pages still work, their waits queue for a slot.
WAITERS = 32


@dataclass
class Feeds:
    """One application's streams: the limiter their blocking calls run on (a limiter belongs to the
    event loop that made it, so each application has its own) and how many are open."""

    waiters: anyio.CapacityLimiter
    open: int = 0


def wait_for_change(store: Store, since: int, timeout: float) -> int:
    """Block until the store has committed a change after `since`, or `timeout`; the seq now.

    The only place that knows how to wait on the store, so a narrower wait (say, for the keys of
    one cluster) replaces this body and nothing else.
    """
    return store.wait_changes(since, timeout).seq


def frame(event: str, seq: int, body: str) -> str:
    """One SSE message; `body` is JSON on one line, so one `data:` field holds it."""
    return f"id: {seq}\nevent: {event}\ndata: {body}\n\n"


async def cluster_stream(
    store: Store,
    view: Callable[[], dict[str, Any]],
    disconnected: Callable[[], Awaitable[bool]],
    feeds: Feeds,
) -> AsyncIterator[str]:
    """`state` frames of `view()` each time it changes, keep-alives between; ends on disconnect."""
    feeds.open += 1
    try:
        async for message in _frames(store, view, disconnected, feeds.waiters):
            yield message
    finally:
        feeds.open -= 1


async def _frames(
    store: Store,
    view: Callable[[], dict[str, Any]],
    disconnected: Callable[[], Awaitable[bool]],
    waiters: anyio.CapacityLimiter,
) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    sent: str | None = None
    seen = -1
    while not await disconnected():
        seq = store.position
        if seq != seen:
            seen = seq
            state = await anyio.to_thread.run_sync(view, limiter=waiters)
            body = json.dumps(state, separators=(",", ":"), sort_keys=True)
            # Most commits (metric reports, heartbeats of other clusters) change nothing drawn.
            if body != sent:
                sent = body
                yield frame("state", seq, body)
            await anyio.sleep(1 / FRAMES_PER_S)
            continue
        now = await anyio.to_thread.run_sync(
            wait_for_change, store, seen, WAIT_SLICE_S, limiter=waiters, abandon_on_cancel=True
        )
        if now == seen:
            yield ": still here\n\n"
