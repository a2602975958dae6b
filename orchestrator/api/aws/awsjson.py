"""The AWS JSON 1.1 wire protocol as ECS and Application Auto Scaling speak it, free of any web framework.

Owns: routing an `X-Amz-Target` header to (service, operation), request body decoding, the error
body shapes botocore parses into `ClientError`, turning results into wire values (timestamps as
epoch seconds, no nulls), and access to the botocore service models that define the operations.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.core import bounds
from orchestrator.core.errors import ApiError, SerializationException, UnknownOperationException

CONTENT_TYPE = "application/x-amz-json-1.1"
REQUEST_ID_HEADER = "x-amzn-RequestId"

ECS = "ecs"
AUTOSCALING = "application-autoscaling"
LOGS = "logs"
SSM = "ssm"
SECRETSMANAGER = "secretsmanager"

TARGET_PREFIXES: Mapping[str, str] = {
    "AmazonEC2ContainerServiceV20141113": ECS,
    "AnyScaleFrontendService": AUTOSCALING,
    "Logs_20140328": LOGS,
    "AmazonSSM": SSM,
    "secretsmanager": SECRETSMANAGER,
}
SERVICES: tuple[str, ...] = tuple(TARGET_PREFIXES.values())

# The two services capitalise the message key of error bodies differently. botocore reads either,
# but SDKs that follow the models more literally may not, so send what each service sends.
_MESSAGE_KEYS: Mapping[str, str] = {
    ECS: "message",
    AUTOSCALING: "Message",
    LOGS: "message",
    SSM: "message",
    SECRETSMANAGER: "Message",
}


def parse_target(header_value: str | None) -> tuple[str, str]:
    """(service, operation) for an `X-Amz-Target` value such as `AnyScaleFrontendService.PutScalingPolicy`.

    Raises `UnknownOperationException`, as AWS does, for a missing header, an unknown prefix, or an
    operation the service's model does not define.
    """
    value = (header_value or "").strip()
    prefix, dot, operation = value.rpartition(".")
    service = TARGET_PREFIXES.get(prefix)
    if not dot or service is None or operation not in operation_names(service):
        shown = value or "(no X-Amz-Target header)"
        raise UnknownOperationException(f"Unknown operation {shown}")
    return service, operation


def target_for(service: str, operation: str) -> str:
    """The `X-Amz-Target` value a client sends for `operation` of `service`."""
    for prefix, known in TARGET_PREFIXES.items():
        if known == service:
            return f"{prefix}.{operation}"
    raise KeyError(service)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's input structure; an empty body is an empty input, as botocore sends for no args."""
    if not body.strip():
        return {}
    parsed = bounds.loads(body)  # depth, number length, 64-bit integers, valid Unicode
    if not isinstance(parsed, dict):
        raise SerializationException("Request body must be a JSON object.")
    return parsed


def error_body(service: str, error: ApiError) -> dict[str, str]:
    """The JSON body of an error response: `__type` is the error name botocore reports as Code."""
    return {"__type": error.code, _MESSAGE_KEYS[service]: error.message}


def to_wire(obj: Any) -> Any:
    """`obj` with datetimes as epoch seconds (naive ones taken as UTC) and None values dropped.

    A dropped member and a null one mean the same to botocore, but a null inside a list or where a
    structure is expected breaks its parser, so None never reaches the wire.
    """
    if isinstance(obj, dt.datetime):
        if obj.tzinfo is None:
            obj = obj.replace(tzinfo=dt.UTC)
        return obj.timestamp()
    if isinstance(obj, Mapping):
        return {key: to_wire(value) for key, value in obj.items() if value is not None}
    if isinstance(obj, list | tuple):
        return [to_wire(item) for item in obj if item is not None]
    return obj


def dumps(obj: Any) -> bytes:
    """A response body: `obj` through `to_wire`, as compact JSON."""
    return json.dumps(to_wire(obj), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@functools.cache
def load_model(service: str) -> dict[str, Any]:
    """botocore's service model (`service-2.json`) for `service`, newest API version.

    The dict is cached and shared between callers: read it, never mutate it.
    """
    if service not in SERVICES:
        raise KeyError(service)
    service_dir = _botocore_data_dir() / service
    versions = sorted(p for p in service_dir.iterdir() if p.is_dir())
    if not versions:
        raise FileNotFoundError(f"no botocore model for {service} under {service_dir}")
    latest = versions[-1]
    plain, zipped = latest / "service-2.json", latest / "service-2.json.gz"
    if plain.exists():
        model: dict[str, Any] = json.loads(plain.read_bytes())
    else:
        model = json.loads(gzip.decompress(zipped.read_bytes()))
    return model


@functools.cache
def operation_names(service: str) -> frozenset[str]:
    return frozenset(load_model(service)["operations"])


def _botocore_data_dir() -> Path:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("botocore is needed for the ECS service models")
    return Path(next(iter(spec.submodule_search_locations))) / "data"
