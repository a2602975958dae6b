"""Printing: ECS-shaped JSON for `-o json`, rich tables for people."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


class Output(StrEnum):
    table = "table"
    json = "json"


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def short(arn: str | None) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "-"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[("-" if v is None else str(v)) for v in r])
    console.print(t)


def emit(data: dict[str, Any], output: Output, render: Callable[[dict[str, Any]], None]) -> None:
    if output == Output.json:
        print_json(data)
    else:
        render(data)
