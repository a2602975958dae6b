"""Test oracle: does a request or response fit the operation's shape in botocore's service model?

The endpoint is only as compatible as botocore finds it, and botocore's parser silently drops what
it does not expect, so a misspelt member or a string where a number belongs would go unnoticed.
`check_output` and `check_input` walk a wire-form value (after `awsjson.to_wire`: timestamps as
epoch numbers, no nulls) against the model and list every problem, each starting with a JSON path.
Built on botocore's own shape objects rather than `orchestrator.api.aws.awsjson`, so the oracle does not
share code with what it checks.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import botocore.model
import botocore.session

_MAX_ENUM_SHOWN = 8


def check_output(service: str, operation: str, response: dict[str, Any]) -> list[str]:
    """Every way `response` differs from what botocore expects `operation` to return."""
    return _check_top(_operation(service, operation).output_shape, response)


def check_input(service: str, operation: str, request: dict[str, Any]) -> list[str]:
    """Every way `request` differs from what the model allows as input to `operation`."""
    return _check_top(_operation(service, operation).input_shape, request)


@functools.cache
def _service_model(service: str) -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _operation(service: str, operation: str) -> botocore.model.OperationModel:
    return _service_model(service).operation_model(operation)


def _check_top(shape: botocore.model.Shape | None, value: Any) -> list[str]:
    problems: list[str] = []
    if shape is None:
        if value:
            problems.append(f"$: the operation has no members, got {sorted(value)}")
        return problems
    _walk(shape, value, "$", problems)
    return problems


def _walk(shape: botocore.model.Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if value is None:
        problems.append(f"{path}: null where {kind} ({shape.name}) is expected; omit the member instead")
        return
    if shape.metadata.get("document"):
        return
    check = _CHECKS.get(kind)
    if check is None:
        problems.append(f"{path}: shape {shape.name} has type {kind}, which this checker does not know")
        return
    check(shape, value, path, problems)


def _wrong_type(shape: botocore.model.Shape, value: Any, path: str, problems: list[str]) -> None:
    problems.append(f"{path}: expected {shape.type_name} ({shape.name}), got {type(value).__name__} {value!r:.60}")


def _structure(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        _wrong_type(shape, value, path, problems)
        return
    members = shape.members
    for name, member_value in value.items():
        if name not in members:
            problems.append(f"{path}: unknown member {name!r} of {shape.name}")
        else:
            _walk(members[name], member_value, f"{path}.{name}", problems)
    for name in shape.required_members:
        if name not in value:
            problems.append(f"{path}: required member {name!r} of {shape.name} is missing")
    if shape.metadata.get("union") and len(value) != 1:
        problems.append(f"{path}: {shape.name} is a union and needs exactly one member, got {sorted(value)}")


def _list(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        _wrong_type(shape, value, path, problems)
        return
    _check_range(shape, len(value), "length", path, problems)
    for index, item in enumerate(value):
        _walk(shape.member, item, f"{path}[{index}]", problems)


def _map(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        _wrong_type(shape, value, path, problems)
        return
    _check_range(shape, len(value), "size", path, problems)
    for key, item in value.items():
        item_path = f"{path}[{key!r}]"
        _walk(shape.key, key, f"{item_path}(key)", problems)
        _walk(shape.value, item, item_path, problems)


def _string(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        _wrong_type(shape, value, path, problems)
        return
    enum = shape.enum
    if enum and value not in enum:
        shown = ", ".join(enum[:_MAX_ENUM_SHOWN]) + (", ..." if len(enum) > _MAX_ENUM_SHOWN else "")
        problems.append(f"{path}: {value!r} is not a {shape.name} value ({shown})")
    _check_range(shape, len(value), "length", path, problems)


def _integer(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    # bool is an int in Python, but true is not a number on the wire.
    if isinstance(value, bool) or not isinstance(value, int):
        _wrong_type(shape, value, path, problems)
        return
    _check_range(shape, value, "value", path, problems)


def _number(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _wrong_type(shape, value, path, problems)
        return
    if shape.type_name != "timestamp":
        _check_range(shape, value, "value", path, problems)


def _boolean(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        _wrong_type(shape, value, path, problems)


def _blob(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        _wrong_type(shape, value, path, problems)
        return
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        problems.append(f"{path}: {shape.name} is a blob and must be base64, got {value!r:.60}")


def _check_range(shape: Any, measured: float, what: str, path: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measured < low:
        problems.append(f"{path}: {what} {measured} is below the minimum {low} of {shape.name}")
    if high is not None and measured > high:
        problems.append(f"{path}: {what} {measured} is above the maximum {high} of {shape.name}")


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "blob": _blob,
    "double": _number,
    "float": _number,
    # The JSON protocols carry timestamps as epoch seconds.
    "timestamp": _number,
}
