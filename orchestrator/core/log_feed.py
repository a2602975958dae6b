"""Wakes whoever follows container logs when an agent's batch is stored.

Log batches bypass the store's change feed (they would wake every controller several times a
second for nothing), so followers (`task logs --follow`, `svc logs --follow`) wait here: a
counter bumped after each batch that added events, and a condition to wait on it.
"""

from __future__ import annotations

import threading


class LogFeed:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._seq = 0

    @property
    def position(self) -> int:
        with self._changed:
            return self._seq

    def notify(self) -> None:
        with self._changed:
            self._seq += 1
            self._changed.notify_all()

    def wait(self, since: int, timeout: float) -> int:
        """Block until a batch was stored after position `since` (or `timeout` seconds); the position."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq != since, timeout=max(0.0, timeout))
            return self._seq
