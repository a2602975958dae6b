"""The agents' assignment long-poll, served ahead of FastAPI's routing.

A thousand connected agents each poll once a minute while nothing happens, so this one route is
most of what an idle control plane's event loop does. Through FastAPI a poll went through its
exception and exit-stack middlewares, the router, dependency solving of two query parameters and
response serialization: about 1.5 ms of the event loop each. Here it goes to the same handler
(`agents.poll_assignments`) straight from the query string, inside `BoundedRequests` (so sizes
and slow clients are checked as for every route) and with the same error bodies as the app's
exception handlers. The FastAPI route stays for the OpenAPI description and for apps built
without this middleware.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.agents import ASSIGNMENTS_PATH, poll_assignments
from orchestrator.core.errors import ApiError, InvalidParameterException

log = structlog.get_logger("orchestrator.api.agent_polls")
PARAMETERS = {"since": int, "wait": float}


def poll_parameters(query: bytes) -> dict[str, Any]:
    """`since` and `wait` from a query string, refused by name when malformed."""
    out: dict[str, Any] = {"since": 0, "wait": 5.0}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        kind = PARAMETERS.get(name)
        if kind is None:
            continue  # as FastAPI does: a query parameter the route does not name is not read
        try:
            out[name] = kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise InvalidParameterException(f"query.{name}: must be {what}, not {value[:40]!r}.") from None
    return out


class AssignmentPolls:
    def __init__(self, app: ASGIApp, error_response: Any) -> None:
        self.app = app
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != ASSIGNMENTS_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Any
        try:
            response = JSONResponse(await poll_assignments(request, **poll_parameters(scope["query_string"])))
        except ApiError as err:
            response = self.error_response(err.code, err.message, err.http_status())
        except Exception as err:
            log.exception("unexpected error", error=type(err).__name__)
            response = self.error_response("ServerException", f"Internal error: {type(err).__name__}", 500)
        await response(scope, receive, send)
