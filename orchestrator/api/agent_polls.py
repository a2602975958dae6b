"""The agents' assignment long-poll, served ahead of FastAPI's routing.

A thousand connected agents each poll once a minute while nothing happens, so this one route is
most of what an idle control plane's event loop does. Through FastAPI a poll went through its
exception and exit-stack middlewares, the router, dependency solving of two query parameters and
response serialization: about 1.5 ms of the event loop each. Here it goes to the same handler
(`agents.poll_assignments`) straight from the query string, inside `BoundedRequests` (so sizes
and slow clients are checked as for every route), its errors made responses by the app's own
`failure_response`, as its exception handlers make them. The FastAPI route stays for the OpenAPI
description and for apps built without this middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.agents import ASSIGNMENTS_PATH, DEFAULT_POLL_WAIT_S, poll_assignments
from orchestrator.core.errors import InvalidParameterException

PARAMETERS = {"since": int, "wait": float}


def poll_parameters(query: bytes) -> dict[str, Any]:
    """`since` and `wait` from a query string, refused by name when malformed."""
    out: dict[str, Any] = {"since": 0, "wait": DEFAULT_POLL_WAIT_S}
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
    def __init__(self, app: ASGIApp, failure_response: Callable[[Exception], Response]) -> None:
        self.app = app
        # The app's own (api/app.py), passed in because the app imports this module.
        self.failure_response = failure_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != ASSIGNMENTS_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        try:
            response = JSONResponse(await poll_assignments(request, **poll_parameters(scope["query_string"])))
        except Exception as err:
            response = self.failure_response(err)
        await response(scope, receive, send)
