"""The CLI's config file: named contexts (server URL, token, default cluster), and which one is in use.

It lives in `$XDG_CONFIG_HOME/orchestrator/config.json` (default `~/.config/...`), readable by its
owner only (0600) since it may hold a token. What a command connects to, strongest first: the
flags (`--server`, `--context`, `--cluster`), then the `ORCH_*` variables, then the current
context, then the defaults (http://127.0.0.1:8420, the token in the default data dir, cluster
`default`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8420"
DEFAULT_CLUSTER = "default"

# Set by the root command's --server and --context flags.
flag_server: str | None = None
flag_context: str | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "orchestrator" / "config.json"


def default_data_dir() -> Path:
    env = os.environ.get("ORCH_DATA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "orchestrator"


@dataclass(frozen=True)
class Ctx:
    """One named context as stored: every field optional."""

    name: str
    server: str | None = None
    token: str | None = None
    token_file: str | None = None
    cluster: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = {"server": self.server, "token": self.token, "tokenFile": self.token_file, "cluster": self.cluster}
        return {k: v for k, v in out.items() if v}


def load() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"current": None, "contexts": {}}
    except (OSError, ValueError) as err:
        from orchestrator.cli.client import CliError

        raise CliError(f"Cannot read {path} ({err}); fix or remove it.") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts", {}), dict):
        from orchestrator.cli.client import CliError

        raise CliError(f"{path} is not an orchestrator config file; fix or remove it.")
    data.setdefault("contexts", {})
    data.setdefault("current", None)
    return data


def save(data: dict[str, Any]) -> Path:
    """Write the file with mode 0600 from the first byte (never world-readable, even briefly)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def context_named(data: dict[str, Any], name: str) -> Ctx:
    raw = data["contexts"].get(name)
    if not isinstance(raw, dict):
        from orchestrator.cli.client import CliError

        known = ", ".join(sorted(data["contexts"])) or "none yet"
        raise CliError(
            f"No context {name!r} (known: {known}); add it with `orchestrator context add {name} ...`.", code=2
        )
    return Ctx(name, raw.get("server"), raw.get("token"), raw.get("tokenFile"), raw.get("cluster"))


def current() -> Ctx | None:
    """The context in use: --context, ORCH_CONTEXT, or the file's current one."""
    name = flag_context or os.environ.get("ORCH_CONTEXT")
    data = load() if name or config_path().exists() else None
    if data is None:
        return None
    name = name or data.get("current")
    return context_named(data, name) if name else None


@dataclass(frozen=True)
class Target:
    """Where a command connects and with which token; `source` says where the token came from."""

    server: str
    token: str | None
    source: str
    cluster: str
    server_source: str = "default"


def target() -> Target:
    ctx = current()
    server = flag_server or os.environ.get("ORCH_SERVER") or (ctx.server if ctx else None) or DEFAULT_SERVER
    server_source = (
        "--server"
        if flag_server
        else "ORCH_SERVER"
        if os.environ.get("ORCH_SERVER")
        else f"context {ctx.name}"
        if ctx and ctx.server
        else "default"
    )
    if ctx is not None and ctx.server and ctx.server.rstrip("/") != server.rstrip("/"):
        # Another server than the context's: its token must not be sent there, nor its cluster assumed.
        ctx = None
    cluster = os.environ.get("ORCH_CLUSTER") or (ctx.cluster if ctx else None) or DEFAULT_CLUSTER
    token, source = _token(ctx)
    return Target(server.rstrip("/"), token, source, cluster, server_source)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _token(ctx: Ctx | None) -> tuple[str | None, str]:
    env = os.environ.get("ORCH_TOKEN")
    if env:
        return env.strip(), "ORCH_TOKEN"
    if os.environ.get("ORCH_DATA_DIR"):
        path = default_data_dir() / "admin.token"
        return _read(path), str(path)
    if ctx is not None and ctx.token:
        return ctx.token, f"context {ctx.name}"
    if ctx is not None and ctx.token_file:
        return _read(Path(ctx.token_file)), ctx.token_file
    path = default_data_dir() / "admin.token"
    return _read(path), str(path)


def default_cluster() -> str:
    """The cluster a command uses without --cluster or ORCH_CLUSTER: the context's, else `default`."""
    return target().cluster
