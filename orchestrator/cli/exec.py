"""`orchestrator task exec TASK [--container C] [-i] [-t] -- CMD...`: a command in a running task container.

The control plane relays the session to the task's agent (which opens no port); this side
long-polls the output (stdout to stdout, stderr to stderr) and exits with the command's exit
code. With `-i` the terminal's stdin goes to the command (end of input closes its stdin); with
`-t` it gets a TTY: the local terminal is put in raw mode and its size (and every resize,
SIGWINCH) is sent along. Exit codes: the command's own; 1 if the session failed; 2 for bad usage.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import typer

from orchestrator.cli.client import EXIT_FAILED, EXIT_USAGE, Client, CliError, segment
from orchestrator.cli.output import warn
from orchestrator.cli.resolve import ClusterOpt, task_id

WAIT_S = 10.0


def task_exec(
    task: str = typer.Argument(..., help="Task id (or unique prefix) or ARN."),
    command: list[str] = typer.Argument(..., help="The command and its arguments, after --."),
    container: str = typer.Option(None, "--container", help="The container (needed when the task has several)."),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="Send this terminal's stdin to the command."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Give the command a TTY (use with -i for a shell)."),
    cluster: str = ClusterOpt,
) -> None:
    """Run a command in a running task container (the task or its service needs enableExecuteCommand)."""
    client = Client(timeout=WAIT_S + 30)
    ident = task_id(client, cluster, task)
    body: dict[str, Any] = {"command": command, "interactive": interactive, "tty": tty}
    if container:
        body["container"] = container
    if tty:
        size = shutil.get_terminal_size()
        body["rows"], body["cols"] = size.lines, size.columns
    opened = client.call("POST", f"/v1/clusters/{segment(cluster)}/tasks/{segment(ident)}/exec", json=body)
    sid = opened["session"]["sessionId"]
    with _raw_terminal(tty and interactive and sys.stdin.isatty()):
        if interactive:
            threading.Thread(target=_pump_stdin, args=(sid,), daemon=True).start()
        if tty:
            _forward_resizes(sid)
        code = _relay_output(client, sid)
    raise typer.Exit(code)


def _relay_output(client: Client, sid: str) -> int:
    since = 0
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        while True:
            got = client.call("GET", f"/v1/exec/{segment(sid)}/output", params={"since": since, "wait": WAIT_S})
            for chunk in got.get("chunks") or []:
                target = err if chunk.get("stream") == "stderr" else out
                target.write(base64.b64decode(chunk["data"]))
                target.flush()
            since = int(got.get("next", since))
            if got.get("done"):
                if got.get("error"):
                    warn(f"error: exec failed: {got['error']}")
                    return EXIT_FAILED
                return int(got.get("exitCode", EXIT_FAILED))
    except KeyboardInterrupt:
        with contextlib.suppress(CliError):
            client.call("DELETE", f"/v1/exec/{segment(sid)}")
        return 130


def _pump_stdin(sid: str) -> None:
    client = Client()
    fd = sys.stdin.fileno()
    with contextlib.suppress(CliError, OSError):
        while data := os.read(fd, 4096):
            client.call("POST", f"/v1/exec/{segment(sid)}/input", json={"data": base64.b64encode(data).decode()})
        client.call("POST", f"/v1/exec/{segment(sid)}/input", json={"eof": True})


def _forward_resizes(sid: str) -> None:
    def resized(*_: Any) -> None:
        size = shutil.get_terminal_size()
        with contextlib.suppress(CliError):
            Client().call(
                "POST", f"/v1/exec/{segment(sid)}/input", json={"resize": {"rows": size.lines, "cols": size.columns}}
            )

    if hasattr(signal, "SIGWINCH"):
        signal.signal(signal.SIGWINCH, resized)


@contextlib.contextmanager
def _raw_terminal(wanted: bool) -> Iterator[None]:
    if not wanted:
        yield
        return
    import termios
    import tty as tty_mode

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty_mode.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


__all__ = ["EXIT_USAGE", "task_exec"]
