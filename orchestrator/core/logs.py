"""Structured logs: JSON lines when not on a terminal, readable lines on one; never a token."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Anything shaped like one of our bearer tokens or credentials is masked, whatever the key.
TOKEN_RE = re.compile(r"\b(oat|ojt|oic)_[A-Za-z0-9._-]+")
SECRET_KEYS = ("token", "credential", "secret", "authorization", "password")


# An echoed Authorization header (SigV4 errors quote it, as AWS does, to the caller only) may carry
# a pasted secret: its value never reaches a log line.
ECHOED_AUTH_RE = re.compile(r"(Authorization(?: header)?[=:]\s*)(?:'[^']*'?|\S.*)", re.IGNORECASE | re.DOTALL)
# One log line stays readable and cheap whatever a client sent: every value is cut to this many
# characters (a traceback to EXCEPTION_CHARS).
VALUE_CHARS = 512
EXCEPTION_CHARS = 8192


def _bounded(value: str, most: int) -> str:
    return value if len(value) <= most else f"{value[:most]}...[{len(value) - most} more characters]"


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if any(s in key.lower() for s in SECRET_KEYS):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            value = ECHOED_AUTH_RE.sub(r"\1[redacted]", TOKEN_RE.sub(r"\1_[redacted]", value))
            event[key] = _bounded(value, EXCEPTION_CHARS if key == "exception" else VALUE_CHARS)
        elif not isinstance(value, int | float | bool | type(None)):
            event[key] = _bounded(TOKEN_RE.sub(r"\1_[redacted]", repr(value)), VALUE_CHARS)
    return event


def configure(level: str = "info", json_output: bool | None = None) -> None:
    if json_output is None:
        json_output = not sys.stderr.isatty()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO), format="%(message)s")
    for noisy in ("uvicorn.access", "apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
