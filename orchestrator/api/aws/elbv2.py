"""The Elastic Load Balancing v2 endpoint: AWS Query on the same `POST /` as ECS, for `aws elbv2` and boto3.

Owns only the wire: the SigV4 check (service `elasticloadbalancing`, the same access keys as the
ECS endpoint), decoding the form into the operation's input, handing it to the `Operations`
method of the same name (CreateTargetGroup -> `create_target_group`), and the XML answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import structlog

from orchestrator.api.aws import query, sigv4
from orchestrator.api.aws.ecs import ServerException, WireResponse, snake_case
from orchestrator.core.clock import Clock
from orchestrator.core.errors import ApiError
from orchestrator.operations import Operations
from orchestrator.operations.elbv2 import Elbv2Ops
from orchestrator.security.credentials import AccessKeys
from orchestrator.security.task_credentials import SigningKeys
from orchestrator.security.task_roles import authorize

log = structlog.get_logger("orchestrator.api.aws.elbv2")

SIGNING_NAME = "elasticloadbalancing"


def supported_operations() -> list[str]:
    return sorted(op for op in query.operation_names() if callable(getattr(Elbv2Ops, snake_case(op), None)))


class ElbEndpoint:
    def __init__(self, ops: Operations, keys: AccessKeys | SigningKeys, clock: Clock) -> None:
        self.ops = ops
        self.keys = SigningKeys.of(keys)
        self.clock = clock

    def handle(self, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes) -> WireResponse:
        request_id = str(uuid.uuid4())
        operation = "-"
        try:
            identity = sigv4.verify(
                method, path, raw_query, headers, body, self.keys.secret_for, self.clock.now(), service=SIGNING_NAME
            )
            token = next((v for k, v in headers.items() if k.lower() == "x-amz-security-token"), None)
            principal = self.keys.principal(identity.access_key_id, token)
            operation, request = query.parse_request(body, raw_query)
            authorize(principal, SIGNING_NAME, operation, request)
            handler = getattr(self.ops, snake_case(operation), None) if operation in supported_operations() else None
            if handler is None:
                raise query.InvalidAction(
                    f"{operation} is not supported by this endpoint. Supported elbv2 operations: "
                    f"{', '.join(supported_operations())}."
                )
            result = handler(request)
            log.debug("elbv2 request", operation=operation, access_key_id=identity.access_key_id, status=200)
            return WireResponse(200, query.response_xml(operation, result, request_id), request_id)
        except ApiError as err:
            # Before the signature holds (operation still "-"), the message may quote the
            # Authorization header, which may carry a pasted secret: not for the log.
            shown = err.message if operation != "-" else "(refused before authentication)"
            log.info("elbv2 request refused", operation=operation, error=err.code, problem=shown)
            return WireResponse(err.status, query.error_xml(err, request_id), request_id)
        except Exception as err:
            log.exception("elbv2 request failed", operation=operation, error=type(err).__name__)
            internal = ServerException(f"Internal error ({type(err).__name__}); request id {request_id}.")
            internal.code = "InternalFailure"
            return WireResponse(500, query.error_xml(internal, request_id), request_id)

    @staticmethod
    def is_query(headers: Mapping[str, str]) -> bool:
        return is_query_request(headers)


def is_query_request(headers: Mapping[str, str]) -> bool:
    """Query requests are form-encoded and carry no X-Amz-Target (AWS JSON ones always do)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    has_target = any(k.lower() == "x-amz-target" for k in headers)
    return content_type.lower().startswith(query.FORM_CONTENT_TYPE) and not has_target
