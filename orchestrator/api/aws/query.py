"""The AWS Query protocol as Elastic Load Balancing v2 speaks it, free of any web framework.

Requests are form-encoded (`Action=CreateTargetGroup&Version=2015-12-01&Name=web&...`), lists as
`Name.member.N`, structures as dotted member names, maps as `Name.entry.N.key/value`; they are
decoded against botocore's elbv2 model into the same nested dicts (with PascalCase member names
and typed values) the operations take. Responses are XML, `<OpResponse><OpResult>...</OpResult>
<ResponseMetadata>`, with ISO 8601 timestamps and `member` list items; errors are
`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`, which botocore turns into
`ClientError` with that code.
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
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from orchestrator.core.errors import ApiError, ValidationError

ELBV2 = "elbv2"
CONTENT_TYPE = "text/xml"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class InvalidAction(ApiError):
    code = "InvalidAction"


class MissingAction(ApiError):
    code = "MissingAction"


@functools.cache
def load_model(service: str = ELBV2) -> dict[str, Any]:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("botocore is needed for the elbv2 service model")
    service_dir = Path(next(iter(spec.submodule_search_locations))) / "data" / service
    latest = sorted(p for p in service_dir.iterdir() if p.is_dir())[-1]
    plain, zipped = latest / "service-2.json", latest / "service-2.json.gz"
    data = plain.read_bytes() if plain.exists() else gzip.decompress(zipped.read_bytes())
    model: dict[str, Any] = json.loads(data)
    return model


def operation_names(service: str = ELBV2) -> frozenset[str]:
    return frozenset(load_model(service)["operations"])


def parse_request(body: bytes, query: str = "") -> tuple[str, dict[str, Any]]:
    """(operation, input dict) for a Query request; `Action` and `Version` are checked against the model."""
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(
        body.decode("utf-8", "replace"), keep_blank_values=True
    )
    params = dict(pairs)
    action = params.pop("Action", None)
    if not action:
        raise MissingAction("Missing Action: the request must name an Action (e.g. Action=DescribeLoadBalancers).")
    model = load_model()
    if action not in model["operations"]:
        raise InvalidAction(f"Could not find operation {action} for version {model['metadata']['apiVersion']}.")
    version = params.pop("Version", None)
    if version is not None and version != model["metadata"]["apiVersion"]:
        raise InvalidAction(f"Version {version} is not supported; use {model['metadata']['apiVersion']}.")
    shape = model["operations"][action].get("input")
    if shape is None:
        return action, {}
    value = _decode_structure(model["shapes"], shape["shape"], params, "")
    return action, value or {}


def _decode(shapes: Mapping[str, Any], name: str, params: dict[str, str], prefix: str) -> Any:
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        # A structure none of whose members was sent is absent, not empty.
        return _decode_structure(shapes, name, params, prefix + ".") or None
    if kind == "list":
        items = []
        member = shape["member"]["shape"]
        n = 1
        while True:
            key = f"{prefix}.member.{n}"
            if key not in params and not any(k.startswith(key + ".") for k in params):
                break
            items.append(_decode(shapes, member, params, key))
            n += 1
        if not items and f"{prefix}" in params and params[prefix] == "":
            return []
        return items if items else None
    if kind == "map":
        out: dict[str, Any] = {}
        n = 1
        while f"{prefix}.entry.{n}.key" in params:
            out[params[f"{prefix}.entry.{n}.key"]] = _decode(
                shapes, shape["value"]["shape"], params, f"{prefix}.entry.{n}.value"
            )
            n += 1
        return out or None
    raw = params.get(prefix)
    if raw is None:
        return None
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"{prefix} must be an integer, got {raw!r}.") from None
    if kind in ("float", "double"):
        try:
            return float(raw)
        except ValueError:
            raise ValidationError(f"{prefix} must be a number, got {raw!r}.") from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValidationError(f"{prefix} must be true or false, got {raw!r}.")
        return raw.lower() == "true"
    return raw


def _decode_structure(shapes: Mapping[str, Any], name: str, params: dict[str, str], prefix: str) -> dict[str, Any]:
    out = {}
    for member, ref in shapes[name].get("members", {}).items():
        value = _decode(shapes, ref["shape"], params, f"{prefix}{member}")
        if value is not None:
            out[member] = value
    return out


# -- responses --------------------------------------------------------------------------------


def _xml_value(shapes: Mapping[str, Any], name: str, value: Any) -> str:
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, Mapping):
            return ""
        parts = []
        for member, ref in shape.get("members", {}).items():
            if member in value and value[member] is not None:
                parts.append(f"<{member}>{_xml_value(shapes, ref['shape'], value[member])}</{member}>")
        return "".join(parts)
    if kind == "list":
        member = shape["member"]["shape"]
        return "".join(f"<member>{_xml_value(shapes, member, item)}</member>" for item in value or [])
    if kind == "map":
        return "".join(
            f"<entry><key>{escape(str(k))}</key><value>{_xml_value(shapes, shape['value']['shape'], v)}</value></entry>"
            for k, v in (value or {}).items()
        )
    if kind == "timestamp":
        if isinstance(value, int | float):
            value = dt.datetime.fromtimestamp(value, tz=dt.UTC)
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        return escape(str(value))
    if kind == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def response_xml(operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """The XML body botocore's query parser expects for `operation`, members outside the model dropped."""
    model = load_model()
    namespace = model["metadata"]["xmlNamespace"]
    op = model["operations"][operation]
    inner = ""
    output = op.get("output")
    if output is not None:
        wrapper = output.get("resultWrapper", f"{operation}Result")
        inner = f"<{wrapper}>{_xml_value(model['shapes'], output['shape'], result)}</{wrapper}>"
    return (
        f'<{operation}Response xmlns="{namespace}">{inner}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
    ).encode()


def error_xml(error: ApiError, request_id: str) -> bytes:
    namespace = load_model()["metadata"]["xmlNamespace"]
    fault = "Sender" if error.status < 500 else "Receiver"
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
