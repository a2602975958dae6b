"""The REST API's OpenAPI schema, with the errors the API really returns.

FastAPI documents only 200 and its own 422; our handlers turn every validation problem into a 400
and every `ApiError` into its ECS-shaped body (`__type`, `code`, `message`), so the schema is
rewritten to say so: 400 everywhere, 401 on routes behind the admin token, 403 on the agents'
routes, 404 wherever a named cluster, service or policy can be missing, 409 where a change can
conflict with what exists (deleting a cluster that still holds services, updating a deleted
service).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "description": "An ECS-shaped error: the error's name twice (as AWS SDKs read it) and what to fix.",
    "required": ["__type", "code", "message"],
    "properties": {
        "__type": {"type": "string", "example": "ClusterNotFoundException"},
        "code": {"type": "string", "example": "ClusterNotFoundException"},
        "message": {"type": "string", "example": "Cluster not found."},
    },
}

DESCRIPTIONS = {
    "400": "Bad input (InvalidParameterException, ClientException, ValidationException, ...): nothing changed",
    "401": "No admin token, or a wrong one (UnrecognizedClientException)",
    "403": "A credential that may not do this (AccessDeniedException)",
    "404": "A named cluster, service or scaling object does not exist (ClusterNotFoundException, ...)",
    "409": "The change conflicts with what exists (ClusterContainsServicesException, ServiceNotActiveException)",
    "500": "An internal error (ServerException); the request id is in the message",
}


def _errors_for(path: str, method: str) -> list[str]:
    codes = ["400"]
    codes.append("403" if path.startswith("/v1/agent") else "401")
    if path.startswith("/v1/") and not path.startswith(("/v1/agent", "/v1/credentials")):
        codes.append("404")
        if method != "get":
            codes.append("409")
    codes.append("500")
    return codes


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 with the error responses each route really gives."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if path == "/healthz":
                continue
            for code in _errors_for(path, method):
                responses[code] = {"description": DESCRIPTIONS[code], "content": ref}
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = document_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
