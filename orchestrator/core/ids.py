"""Where the ids of new tasks, instances and deployments come from.

`Ids` draws them at random, as ECS does. `SeededIds` (the simulator's) derives each from a seed,
the kind of id and a count per kind and basis, so two runs of one scenario name every task,
instance and deployment alike, and everything ordered by ARN (which tasks a rollout stops first,
how placement breaks ties) comes out the same. An instance's id has its agent's name as its basis:
agents register concurrently, in no fixed order. Never used for credentials or tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import Counter


class Ids:
    def hex(self, kind: str, nbytes: int, basis: str = "") -> str:
        """`nbytes` bytes as hex digits."""
        return secrets.token_hex(nbytes)

    def digits(self, kind: str, n: int) -> str:
        """`n` decimal digits."""
        return "".join(str(secrets.randbelow(10)) for _ in range(n))


class SeededIds(Ids):
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._drawn: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def _digest(self, kind: str, basis: str) -> bytes:
        with self._lock:
            n = self._drawn[(kind, basis)]
            self._drawn[(kind, basis)] += 1
        return hashlib.sha256(f"{self.seed}\0{kind}\0{basis}\0{n}".encode()).digest()

    def hex(self, kind: str, nbytes: int, basis: str = "") -> str:
        if nbytes > 32:
            raise ValueError("a seeded id has at most 32 bytes")
        return self._digest(kind, basis)[:nbytes].hex()

    def digits(self, kind: str, n: int) -> str:
        return str(int.from_bytes(self._digest(kind, "")) % 10**n).zfill(n)
