"""Printing: plain aligned tables for people, ECS-shaped JSON or YAML for programs, `--query`, `--watch`.

Tables never cut a cell: an id or a name is printed whole even when the line gets longer than the
terminal (as kubectl does), and no box is drawn, so a table pasted or piped keeps every id usable.
Long free text (reasons, messages) goes in the last column or in `describe`. `-o json` prints the
API's answer unchanged; `--query` (JMESPath, as in the aws CLI) selects from it first. Nothing
here imports rich: the start-up time of every client command depends on it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    text = "text"


OutputOpt = typer.Option(
    Output.table, "--output", "-o", help="table, wide (more columns), json (ECS-shaped), yaml or text."
)
WatchOpt = typer.Option(False, "--watch", "-w", help="Print again every 2 s when something changed; Ctrl-C stops.")
WATCH_INTERVAL_S = 2.0

# Set by the root command's --query (which may be given anywhere on the command line).
_query: str | None = None
# Set by emit() while a renderer runs: whether -o wide asked for the extra columns.
_wide = False


def set_query(expression: str | None) -> None:
    global _query
    _query = expression


def is_wide() -> bool:
    return _wide


def say(text: str = "") -> None:
    """One line (or more) to stdout, as is."""
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def print_json(data: Any) -> None:
    say(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_yaml(data: Any) -> None:
    import yaml  # only -o yaml pays for it

    # Through JSON first so that whatever JSON shows (e.g. enums, floats) YAML shows the same way.
    plain = json.loads(json.dumps(data, default=str))
    sys.stdout.write(yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True))


def when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(float(epoch)))


def age(epoch: float | None, now: float | None = None) -> str:
    """kubectl's AGE: 45s, 12m, 3h, 2d."""
    if not epoch:
        return "-"
    seconds = max(0, int((now if now is not None else time.time()) - float(epoch)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def short(arn: str | None) -> str:
    """The id at the end of an ARN, whole."""
    return arn.rsplit("/", 1)[-1] if arn else "-"


def taskdef_ref(arn: str | None) -> str:
    """family:revision from a task definition ARN."""
    return arn.split("task-definition/")[-1] if arn else "-"


def natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts agent-2 before agent-10."""
    import re

    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class Column:
    """One column: its header, how to read the cell from an item, and whether only -o wide shows it."""

    header: str
    value: Callable[[Any], Any]
    wide: bool = False


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    # A cell is one line: free text with newlines would break the columns.
    return " ".join(str(value).split())


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Plain aligned columns, two spaces apart; the last column is not padded."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for k, text in enumerate(row):
            widths[k] = max(widths[k], len(text))
    lines = []
    for row in [list(headers), *cells]:
        padded = [text.ljust(widths[k]) if k < len(row) - 1 else text for k, text in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def table(columns: Sequence[Column] | str, items: Iterable[Any], empty: Any = "") -> None:
    """Print items as a table; with -o wide, the wide columns too.

    The older form `table(title, headers, rows)` (headers as strings, rows as lists) still works:
    it prints the same plain table, headers in capitals, without the title.
    """
    if isinstance(columns, str):
        headers = [str(h).upper() for h in items]
        say(format_table(headers, list(empty)))
        return
    shown = [c for c in columns if _wide or not c.wide]
    rows = [[c.value(item) for c in shown] for item in items]
    if not rows and empty:
        say(empty)
        return
    say(format_table([c.header for c in shown], rows))


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """A describe block: `Label:  value` lines, labels aligned."""
    width = max((len(label) for label, _ in pairs), default=0) + 1
    for label, value in pairs:
        say(f"{(label + ':').ljust(width)}  {cell(value)}")


_MARKUP = None


class PlainConsole:
    """What `console.print(...)` callers get: the text without rich markup, no colours, no wrapping.

    Anything that is not a string (a rich renderable) is handed to a real rich console, imported
    only then, so commands that print only text never pay for rich.
    """

    def __init__(self, stream: str) -> None:
        self.stream = stream

    def print(self, *objects: Any, markup: bool = True, **_: Any) -> None:
        global _MARKUP
        out = sys.stderr if self.stream == "stderr" else sys.stdout
        if all(isinstance(o, str) for o in objects):
            text = " ".join(objects)
            if markup:
                import re

                _MARKUP = _MARKUP or re.compile(r"\[/?[a-z][a-z0-9 _#.-]*\]")
                text = _MARKUP.sub("", text)
            out.write(text + "\n")
            return
        from rich.console import Console

        Console(file=out).print(*objects)

    @property
    def width(self) -> int:
        import shutil

        return shutil.get_terminal_size().columns


console = PlainConsole("stdout")
err_console = PlainConsole("stderr")


def _apply_query(data: Any) -> Any:
    if _query is None:
        return data
    import jmespath  # comes with botocore

    try:
        return jmespath.search(_query, data)
    except jmespath.exceptions.JMESPathError as err:
        from orchestrator.cli.client import CliError

        raise CliError(f"--query {_query!r} is not a JMESPath expression: {err}", code=2) from None


def _print_queried(result: Any, output: Output) -> None:
    if output == Output.yaml:
        print_yaml(result)
    elif output == Output.json:
        print_json(result)
    elif isinstance(result, list):
        # As the aws CLI's text output: one value per line, a list of lists tab-separated.
        for item in result:
            if isinstance(item, list):
                say("\t".join(cell(v) if not isinstance(v, dict | list) else json.dumps(v) for v in item))
            elif isinstance(item, dict):
                say(json.dumps(item, default=str))
            else:
                say(cell(item))
    elif isinstance(result, dict):
        print_json(result)
    elif result is not None:
        say(cell(result))


def emit(data: dict[str, Any], output: Output, render: Callable[[dict[str, Any]], None]) -> None:
    """Print an API answer as asked: json/yaml as it is, --query's selection, or the renderer's table."""
    global _wide
    if _query is not None:
        _print_queried(_apply_query(data), output)
    elif output == Output.json:
        print_json(data)
    elif output == Output.yaml:
        print_yaml(data)
    else:
        _wide = output == Output.wide
        render(data)


def show(
    fetch: Callable[[], dict[str, Any]], output: Output, render: Callable[[dict[str, Any]], None], watching: bool
) -> None:
    """What every list/describe command does: print once, or keep printing with --watch."""
    if watching:
        watch(fetch, output, render)
    else:
        emit(fetch(), output, render)


def watch(fetch: Callable[[], dict[str, Any]], output: Output, render: Callable[[dict[str, Any]], None]) -> None:
    """Like `kubectl get -w` and `watch`: print, then print again every 2 s when the output changed.

    On a terminal the screen is redrawn; piped, each changed view follows the previous one after a
    blank line (JSON and YAML views as they are). Ctrl-C ends it with exit code 0.
    """
    import contextlib
    import io

    tty = sys.stdout.isatty()
    last = None
    try:
        while True:
            from orchestrator.cli.client import CliError

            buffer = io.StringIO()
            try:
                data = fetch()
                with contextlib.redirect_stdout(buffer):
                    emit(data, output, render)
            except CliError as err:
                # The control plane restarting: say so and keep watching.
                buffer = io.StringIO(f"({err})\n")
                buffer.seek(0, os.SEEK_END)
            text = buffer.getvalue()
            if text != last:
                if tty:
                    sys.stdout.write("\x1b[H\x1b[2J" + f"every {WATCH_INTERVAL_S:.0f} s, {when(time.time())}\n\n")
                elif last is not None:
                    sys.stdout.write("\n")
                sys.stdout.write(text)
                sys.stdout.flush()
                last = text
            time.sleep(WATCH_INTERVAL_S)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
