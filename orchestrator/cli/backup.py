"""`orchestrator backup FILE` and `orchestrator restore FILE`: the cluster's database, copied safely.

`backup` uses SQLite's online backup API, so it can run while the control plane serves: it copies
a consistent snapshot page by page, and the copy is checked with `PRAGMA integrity_check` before
it is renamed into place. `restore` refuses while a control plane holds the data dir, checks the
file first, and keeps the database it replaces next to it (`orchestrator.db.before-restore-...`).
Both files are written mode 0600: the database holds task environments.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from orchestrator.cli.client import CliError
from orchestrator.cli.config import default_data_dir
from orchestrator.cli.output import say

DB_FILE = "orchestrator.db"
TABLES = {"clusters", "task_definitions", "services", "tasks", "container_instances", "events", "documents"}
PAGES_PER_STEP = 256  # the server's writers run between steps


def _problems(path: Path) -> str | None:
    """None if `path` is an intact database of ours, else what is wrong with it."""
    import sqlite3  # here, not at the top: client commands must start without it

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        return str(err)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
        if result != ["ok"]:
            return "; ".join(str(r) for r in result)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = TABLES - tables
        return f"not an orchestrator database (no {', '.join(sorted(missing))} table)" if missing else None
    except sqlite3.DatabaseError as err:
        return str(err)
    finally:
        conn.close()


def _copy(source: Path, target: Path) -> None:
    """`source` into a fresh `target` (0600) through the backup API, then checked and renamed."""
    import sqlite3

    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=PAGES_PER_STEP)
    finally:
        dst.close()
        src.close()
    problem = _problems(partial)
    if problem:
        partial.unlink(missing_ok=True)
        raise CliError(f"the copy of {source} failed its integrity check ({problem}); nothing was written")
    os.replace(partial, target)


def backup(
    file: Path = typer.Argument(..., help="Where to write the copy (replaced if it exists)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="The control plane's data dir."),
) -> None:
    """Copy the cluster's database to FILE, safely, also while the control plane runs."""
    db = (data_dir or default_data_dir()) / DB_FILE
    if not db.exists():
        raise CliError(f"no database at {db}; pass the control plane's --data-dir")
    _copy(db, file)
    say(f"backed up {db} to {file} ({file.stat().st_size} bytes, integrity ok)")


def restore(
    file: Path = typer.Argument(..., help="A file written by `orchestrator backup`."),
    data_dir: Path = typer.Option(None, "--data-dir", help="The control plane's data dir."),
) -> None:
    """Replace the cluster's database with FILE; the control plane must be stopped."""
    from orchestrator.server import DataDirBusy, hold_data_dir

    data_dir = data_dir or default_data_dir()
    problem = _problems(file) if file.exists() else f"{file} does not exist"
    if problem:
        raise CliError(f"cannot restore {file}: {problem}")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        lock = hold_data_dir(data_dir)
    except DataDirBusy as err:
        raise CliError(f"{err}; restore replaces the database under it") from None
    try:
        db = data_dir / DB_FILE
        kept = None
        if db.exists():
            kept = db.with_name(f"{DB_FILE}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                if Path(str(db) + suffix).exists():
                    os.replace(str(db) + suffix, str(kept) + suffix)
        _copy(file, db)
    finally:
        lock.close()
    say(f"restored {db} from {file}" + (f"; the database it replaced is {kept}" if kept else ""))
