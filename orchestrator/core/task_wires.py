"""Tasks' wire forms (what an agent's assignment carries), kept by their row's text.

An agent is answered with every task of its instance each time one of them changes; with a
hundred tasks on an instance, parsing and converting each of them again was most of what an
answer cost. A row whose text is what it was last time has the same wire form, whatever wrote it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from orchestrator.core.models import Task

# Beyond this many tasks remembered the cache starts again (a purge of stopped tasks leaves rows
# behind that would otherwise be kept for ever); a refill costs one parse per task.
LIMIT = 100_000


class TaskWires:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._by_arn: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # answers are built in several threads at once
        self.parsed = 0  # how many rows were parsed (the rest came from here)

    def wire(self, arn: str, text: str, shown: Callable[[Task], Task] | None = None) -> dict[str, Any]:
        """The wire form of the task row `text`. `shown`, when given, may change the task before it
        is sent; what it returns is not remembered (it may depend on more than the row)."""
        hit = self._by_arn.get(arn)
        if hit is not None and hit[0] == text and shown is None:
            return hit[1]
        task = Task.model_validate_json(text)
        with self._lock:
            self.parsed += 1
        if shown is not None:
            return shown(task).wire()
        out = task.wire()
        with self._lock:
            if len(self._by_arn) >= self._limit:
                self._by_arn.clear()
            self._by_arn[arn] = (text, out)
        return out


class LastAnswers:
    """What each instance's agent was last answered: the answer's change number and the row text
    of every task it carried. An agent that asks again after exactly that answer already holds
    those tasks, so the next answer carries only the rows that changed (and names the rest): with
    up to a hundred tasks on an instance, each placement nearby sent every one of them again."""

    def __init__(self) -> None:
        self._by_instance: dict[str, tuple[int, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def held(self, instance_arn: str, since: int) -> dict[str, str] | None:
        """The rows the agent holds if `since` is the answer it was last given, else None."""
        with self._lock:
            last = self._by_instance.get(instance_arn)
        return last[1] if last is not None and since > 0 and last[0] == since else None

    def sent(self, instance_arn: str, seq: int, rows: dict[str, str]) -> None:
        with self._lock:
            self._by_instance[instance_arn] = (seq, rows)
