"""The ECS-compatible endpoint: AWS JSON 1.1 on `POST /`, so the aws CLI and boto3 work unchanged.

Owns only the wire: which operation an `X-Amz-Target` names, the SigV4 check against the access
keys of `orchestrator.security.credentials`, handing the decoded body to the `Operations` method of the same
name (DescribeServices -> `describe_services`), and shaping what comes back the way botocore reads
it: members the service model does not define are dropped (our objects carry a few extras the
REST API shows), errors become `{"__type", "message"}` bodies. Validation, limits and defaults all
live in the operations, which the REST API shares; nothing here decides anything about ECS.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
from fastapi import APIRouter, Request, Response

from orchestrator.api.aws import ecs_defaults, secretsmanager, sigv4, ssm
from orchestrator.api.aws.awsjson import (
    AUTOSCALING,
    CONTENT_TYPE,
    ECS,
    REQUEST_ID_HEADER,
    TARGET_PREFIXES,
    dumps,
    error_body,
    load_model,
    operation_names,
    parse_body,
    parse_target,
    to_wire,
)
from orchestrator.api.credentials import credentials_router
from orchestrator.core.clock import Clock
from orchestrator.core.errors import ApiError, UnknownOperationException
from orchestrator.core.models import region
from orchestrator.operations import Context, Operations
from orchestrator.operations.service_members import ECS_WIRE
from orchestrator.security.credentials import MASTER_KEY_FILE, AccessKeys
from orchestrator.security.task_credentials import SigningKeys, TaskCredentials
from orchestrator.security.task_roles import authorize

log = structlog.get_logger("orchestrator.api.aws.ecs")

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ServerException(ApiError):
    """ECS's name for a fault on our side; only ever a bug, and logged as one."""

    code = "ServerException"
    status = 500


@dataclass(frozen=True)
class WireResponse:
    status: int
    body: bytes
    request_id: str


def snake_case(operation: str) -> str:
    """`DescribeServices` -> `describe_services`; runs of capitals stay one word (`ABCDef` -> `abc_def`)."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", operation)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", spaced).lower()


@functools.cache
def _shared_operation_names() -> frozenset[str]:
    # TagResource and friends exist in ECS and in other services with different inputs; the
    # `Operations` method of that name serves ECS's, Application Auto Scaling's go to
    # `autoscaling_<name>`, and the other services' are not dispatched.
    return operation_names(ECS)


# The operations where ECS's own rule holds on this endpoint: awsvpc needs a networkConfiguration
# (the REST API and the CLI fill in the local subnet instead).
_STRICT_NETWORK = frozenset(["RunTask", "StartTask", "CreateService", "UpdateService"])

# Services whose operations are listed one by one (their names could clash with ECS's).
_TABLES: Mapping[str, Mapping[str, str]] = {
    ssm.SERVICE: ssm.OPERATIONS,
    secretsmanager.SERVICE: secretsmanager.OPERATIONS,
}


def handler_for(ops: Operations, service: str, operation: str) -> Handler | None:
    """The `Operations` method serving `operation` of `service`, or None if we do not implement it."""
    if service in _TABLES:
        name = _TABLES[service].get(operation)
        method = getattr(ops, name, None) if name and operation in operation_names(service) else None
        return method if callable(method) else None
    if operation not in operation_names(service):
        return None
    name = snake_case(operation)
    if service != ECS and operation in _shared_operation_names():
        name = f"autoscaling_{name}" if service == AUTOSCALING else ""
    method = getattr(ops, name, None) if name else None
    return method if callable(method) else None


def supported_operations(ops: Operations, service: str) -> list[str]:
    return sorted(op for op in operation_names(service) if handler_for(ops, service, op) is not None)


# Operations left out on purpose, each with what to use instead.
REFUSED_OPERATIONS = {
    (ECS, "ExecuteCommand"): (
        "ExecuteCommand is not supported: on AWS it opens an SSM Session Manager session for the"
        " session-manager-plugin, and this endpoint has no Session Manager. Run `orchestrator task exec TASK"
        " [--container C] -it -- CMD` instead: the same enableExecuteCommand rule, relayed through the task's agent."
    ),
}


def _unsupported_message(ops: Operations, service: str, operation: str) -> str:
    if (service, operation) in REFUSED_OPERATIONS:
        return REFUSED_OPERATIONS[(service, operation)]
    supported = supported_operations(ops, service)
    if not supported:
        return f"{operation} is not supported: this endpoint does not implement any {service} operation yet."
    return f"{operation} is not supported by this endpoint. Supported {service} operations: {', '.join(supported)}."


def conform(service: str, operation: str, result: Any) -> Any:
    """`result` in wire form with every member the operation's output shape does not define removed.

    botocore would silently ignore unknown members, but other SDKs are stricter, and the model is
    the contract: the endpoint sends what ECS would send and nothing else. ECS responses also get
    the members ECS always writes (`ecs_defaults`), such as the empty `volumes` list.
    """
    model = load_model(service)
    output = model["operations"][operation].get("output")
    if output is None:
        return {}
    fill = service == ECS
    return _conform(model["shapes"], output["shape"], to_wire(result), fill)


def _conform(shapes: Mapping[str, Any], name: str, value: Any, fill: bool) -> Any:
    shape = shapes[name]
    kind = shape.get("type")
    if kind == "structure" and isinstance(value, Mapping) and not shape.get("document"):
        members = shape.get("members", {})
        if fill:
            value = ecs_defaults.filled(name, dict(value))
        return {
            key: _conform(shapes, members[key]["shape"], item, fill) for key, item in value.items() if key in members
        }
    if kind == "list" and isinstance(value, list):
        return [_conform(shapes, shape["member"]["shape"], item, fill) for item in value]
    if kind == "map" and isinstance(value, Mapping):
        return {key: _conform(shapes, shape["value"]["shape"], item, fill) for key, item in value.items()}
    return value


def _service_of(target: str | None) -> str:
    """Which service's error format to answer in, even for a target we are about to refuse."""
    prefix = (target or "").strip().rpartition(".")[0]
    return TARGET_PREFIXES.get(prefix, ECS)


def _signing_name(service: str) -> str:
    metadata = load_model(service)["metadata"]
    return str(metadata.get("signingName") or metadata["endpointPrefix"])


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class EcsEndpoint:
    """One AWS JSON 1.1 request in, one response out; no web framework, so tests can drive it directly."""

    def __init__(self, ops: Operations, keys: AccessKeys | SigningKeys, clock: Clock) -> None:
        self.ops = ops
        self.keys = SigningKeys.of(keys)
        self.clock = clock

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> WireResponse:
        request_id = str(uuid.uuid4())
        target = _header(headers, "x-amz-target")
        service = _service_of(target)
        operation = (target or "").rpartition(".")[2] or "-"
        access_key_id = "-"
        try:
            # The signature comes first: an unauthenticated caller learns nothing and runs nothing.
            identity = sigv4.verify(
                method,
                path,
                query,
                headers,
                body,
                self.keys.secret_for,
                self.clock.now(),
                service=_signing_name(service),
                # One region per endpoint, as on AWS: a request signed for another is refused.
                region=region(),
            )
            access_key_id = identity.access_key_id
            # A task role's session key counts only with its token, unexpired, while its task runs.
            principal = self.keys.principal(access_key_id, _header(headers, "x-amz-security-token"))
            service, operation = parse_target(target)
            handler = handler_for(self.ops, service, operation)
            if handler is None:
                raise UnknownOperationException(_unsupported_message(self.ops, service, operation))
            request = parse_body(body)
            # The operations resolve SSM and Secrets Manager references: an execution role's grant compares by them.
            authorize(principal, service, operation, request, resources=self.ops)
            if service == ECS and operation in _STRICT_NETWORK and isinstance(request, dict):
                request[ECS_WIRE] = True
            result = handler(request)
            payload = dumps(conform(service, operation, result))
            # A role session's calls are worth a line each (who read which secret); an admin's are debug.
            (log.info if principal.is_role_session else log.debug)(
                "aws request",
                service=service,
                operation=operation,
                access_key_id=access_key_id,
                principal=principal.arn,
                request_id=request_id,
                status=200,
            )
            return WireResponse(200, payload, request_id)
        except ApiError as err:
            log.info(
                "aws request refused",
                service=service,
                operation=operation,
                access_key_id=access_key_id,
                request_id=request_id,
                status=err.status,
                error=err.code,
                # Before the signature holds, the message may quote the Authorization header (as
                # AWS's does, for the caller), which may carry a pasted secret: not for the log.
                problem=err.message if access_key_id != "-" else "(refused before authentication)",
            )
            return WireResponse(err.status, dumps(error_body(service, err)), request_id)
        except Exception as err:
            log.exception(
                "aws request failed",
                service=service,
                operation=operation,
                request_id=request_id,
                error=type(err).__name__,
            )
            internal = ServerException(f"Internal error ({type(err).__name__}); request id {request_id}.")
            return WireResponse(internal.status, dumps(error_body(service, internal)), request_id)


def ecs_router(endpoint: EcsEndpoint, query_endpoint: Any = None) -> APIRouter:
    """`POST /`: AWS JSON 1.1 for ECS and Application Auto Scaling; form-encoded AWS Query requests
    (Elastic Load Balancing v2) go to `query_endpoint` when one is given."""
    router = APIRouter(tags=["ecs"])

    @router.post("/", include_in_schema=False)
    async def aws_json(request: Request) -> Response:
        body = await request.body()
        # SigV4 covers the path and query exactly as sent, so use ASGI's raw bytes, not the decoded URL.
        raw = request.scope.get("raw_path") or request.url.path.encode("utf-8")
        path, _, raw_query = raw.partition(b"?")
        query = request.scope.get("query_string") or raw_query
        target: Any = endpoint
        media_type = CONTENT_TYPE
        if query_endpoint is not None and query_endpoint.is_query(request.headers):
            target, media_type = query_endpoint, "text/xml"
        result = await anyio.to_thread.run_sync(
            target.handle, request.method, path.decode("latin-1"), query.decode("latin-1"), request.headers, body
        )
        return Response(
            content=result.body,
            status_code=result.status,
            media_type=media_type,
            headers={REQUEST_ID_HEADER: result.request_id},
        )

    return router


def routers(ctx: Context, ops: Operations, data_dir: Path) -> list[APIRouter]:
    """The endpoint and the admin routes that manage its access keys, sharing one key store; the
    task role sessions that agents fetch for their tasks are checked beside the permanent keys."""
    keys = AccessKeys(ctx.store, data_dir / MASTER_KEY_FILE, ctx.clock)
    signing = SigningKeys(keys, TaskCredentials(ctx.store, data_dir / MASTER_KEY_FILE, ctx.clock))
    from orchestrator.api.aws.elbv2 import ElbEndpoint

    return [
        credentials_router(keys),
        ecs_router(EcsEndpoint(ops, signing, ctx.clock), ElbEndpoint(ops, signing, ctx.clock)),
    ]
