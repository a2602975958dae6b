"""How long a woken assignment long-poll waits before it answers: until the store goes quiet.

A burst of work (a hundred services created, a zone's tasks replaced) is one placing pass per
service, and each pass wakes the agents it placed on. Answered at once, an agent gets one answer
per pass that touched it, and each answer costs the control plane an HTTP round trip, a read of
the instance's tasks and, after it, a report. Waiting until no commit has come for a moment (at
most a bounded time) gives the agent the burst's placements in one answer; a change in a quiet
cluster is answered after that moment only.

One ticker per event loop watches the store's change number for every gathering poll, so a
thousand polls gathering cost one wake-up per quiet period, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib

from orchestrator.core.store import Store


class AnswerGather:
    def __init__(self, store: Store, quiet_s: float, most_s: float) -> None:
        self.store = store
        self.quiet_s = quiet_s
        self.most_s = most_s
        self._quiet: asyncio.Event | None = None  # set once the store has been quiet for quiet_s
        self._ticker: asyncio.Task[None] | None = None  # kept referenced while it runs

    async def wait(self) -> None:
        """Until the store has had no commit for `quiet_s`, or `most_s` at most (at once when the
        server is stopping or gathering is off)."""
        if self.most_s <= 0 or self.store.watches_ended:
            return
        if self._quiet is None or self._ticker is None or self._ticker.get_loop() is not asyncio.get_running_loop():
            # (A test's client may serve the same app from a loop of its own, one after another.)
            self._quiet = asyncio.Event()
            self._ticker = asyncio.create_task(self._tick(self._quiet))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), self.most_s)

    async def _tick(self, quiet: asyncio.Event) -> None:
        seen = self.store.position
        while True:
            await asyncio.sleep(self.quiet_s)
            now = self.store.position
            if now == seen or self.store.watches_ended:
                break
            seen = now
        # Polls that gather from here on wait for the next quiet period, not this one.
        if self._quiet is quiet:
            self._quiet, self._ticker = None, None
        quiet.set()
