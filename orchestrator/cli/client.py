"""The CLI's HTTP client: where the control plane is, which token to send, and error display."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8420"


def default_data_dir() -> Path:
    env = os.environ.get("ORCH_DATA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "orchestrator"


class CliError(Exception):
    """Shown to the user as one line; the process exits non-zero."""


def _token() -> str:
    env = os.environ.get("ORCH_TOKEN")
    if env:
        return env.strip()
    path = default_data_dir() / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        raise CliError(f"No admin token: set ORCH_TOKEN or ORCH_DATA_DIR (looked for {path}).") from None


class Client:
    def __init__(self, server: str | None = None, token: str | None = None) -> None:
        self.server = (server or os.environ.get("ORCH_SERVER") or DEFAULT_SERVER).rstrip("/")
        self._token = token
        self._http = httpx.Client(base_url=self.server, timeout=60.0)

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        token = self._token or _token()
        try:
            resp = self._http.request(
                method,
                path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers={"authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as err:
            raise CliError(
                f"Cannot reach the control plane at {self.server} ({type(err).__name__}). "
                "Is `orchestrator server` or `orchestrator dev` running? Set ORCH_SERVER if elsewhere."
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text}
        if resp.status_code >= 400:
            raise CliError(f"{body.get('code') or body.get('__type') or resp.status_code}: {body.get('message')}")
        result: dict[str, Any] = body
        return result
