"""The control plane's HTTP application: routes, error mapping, and the objects they share.

Every `ApiError` becomes a 4xx whose body names the ECS error (`__type`, `code`) and says what to
fix; malformed JSON and wrong types are reported the same way. Nothing a client sends should
ever produce a 500.
"""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator.api import agents, openapi, rest, tokens_rest
from orchestrator.api.agent_polls import AssignmentPolls
from orchestrator.api.answer_gather import AnswerGather
from orchestrator.api.limits import BoundedRequests, Limits, RateLimiter
from orchestrator.api.ui import routes as ui
from orchestrator.core.errors import ApiError
from orchestrator.operations import Operations
from orchestrator.security.auth import Tokens

log = structlog.get_logger("orchestrator.api")


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"__type": code, "code": code, "message": message},
        status_code=status,
        headers={"x-amzn-RequestId": secrets.token_hex(16)},
    )


def failure_response(err: Exception) -> JSONResponse:
    """What an error a route raised becomes: an ApiError its 4xx, anything else a logged 500."""
    if isinstance(err, ApiError):
        return error_response(err.code, err.message, err.http_status())
    log.exception("unexpected error", error=type(err).__name__)
    return error_response("ServerException", f"Internal error: {type(err).__name__}", 500)


def create_app(
    ops: Operations,
    tokens: Tokens,
    extra_routers: list[Any] | None = None,
    lifespan: Any = None,
    limits: Limits | None = None,
) -> FastAPI:
    limits = limits or Limits()
    app = FastAPI(
        lifespan=lifespan,
        title="local ECS control plane",
        version="0.1.0",
        description="ECS task definitions, services, tasks and container instances, run on real Docker.",
        # No OpenTelemetry here: FastAPI's own looks up the global providers on every request
        # (about 3 % of the control plane's CPU with 1,000 agents), to find them unconfigured.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.ops = ops
    app.state.tokens = tokens
    app.state.tls = None  # the control plane's certificates, when it serves TLS
    app.state.agent_rate = RateLimiter(limits.agent_requests_per_s, limits.agent_burst)
    settings = ops.ctx.settings
    app.state.answer_gather = AnswerGather(ops.ctx.store, settings.agent_answer_quiet_s, settings.agent_answer_gather_s)
    # Added first, so it runs inside BoundedRequests: the agents' long-polls skip FastAPI's routing.
    app.add_middleware(AssignmentPolls, failure_response=failure_response)
    # Outermost, so sizes, depth and Unicode are checked before routing, parsing or authentication.
    app.add_middleware(BoundedRequests, limits=limits)
    app.include_router(rest.router)
    app.include_router(agents.router)
    app.include_router(tokens_rest.router)
    app.include_router(ui.router)
    for router in extra_routers or []:
        app.include_router(router)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return failure_response(err)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = []
        for e in err.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            if e.get("type") == "json_invalid":
                problems.append(f"the request body is not valid JSON ({e.get('ctx', {}).get('error', 'parse error')})")
            else:
                problems.append(f"{where or 'body'}: {e.get('msg')}")
        return error_response("InvalidParameterException", "; ".join(problems), 400)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, err: Exception) -> JSONResponse:
        return failure_response(err)

    openapi.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
