"""HAProxy's Runtime API over its admin unix socket: one connection per batch of commands.

Commands in a batch are sent on one line separated by `;`, so HAProxy runs them back to back
(an added server is given its health state and weight before any request can see it).
"""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

from orchestrator.lb.spec import ServerStats


class RuntimeError_(Exception):
    """HAProxy refused a Runtime API command (its own message)."""


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


class Runtime:
    def __init__(self, socket_path: Path, timeout_s: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    def run(self, *commands: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(self.timeout_s)
            conn.connect(str(self.socket_path))
            conn.sendall((";".join(commands) + "\n").encode("utf-8"))
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def answers(self) -> bool:
        try:
            return "Pid:" in self.run("show info")
        except OSError:
            return False

    def pid(self) -> int | None:
        try:
            for line in self.run("show info").splitlines():
                if line.startswith("Pid:"):
                    return int(line.split(":", 1)[1])
        except (OSError, ValueError):
            return None
        return None

    def checked(self, *commands: str) -> str:
        """Run commands and raise on the answers HAProxy gives to a refused one."""
        out = self.run(*commands)
        for line in out.splitlines():
            low = line.lower()
            if low.startswith(("unknown command", "no such", "require", "'")) or "error" in low:
                raise RuntimeError_(f"HAProxy refused {'; '.join(commands)!r}: {line.strip()}")
        return out

    def stats(self) -> list[ServerStats]:
        """Every server of every backend (`show stat`, type 4 = servers)."""
        text = self.run("show stat -1 4 -1")
        if text.startswith("# "):
            text = text[2:]
        out = []
        for row in csv.DictReader(io.StringIO(text)):
            if not row.get("svname") or row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            out.append(
                ServerStats(
                    backend=row["pxname"],
                    server=row["svname"],
                    status=row.get("status") or "",
                    check_status=(row.get("check_status") or "").lstrip("* "),
                    check_code=row.get("check_code") or "",
                    check_desc=row.get("check_desc") or "",
                    sessions_total=_int(row.get("stot")),
                    requests_total=_int(row.get("req_tot")) or _int(row.get("stot")),
                    current_sessions=_int(row.get("scur")),
                )
            )
        return out
