"""The bounds every input is held to before anything acts on it, whichever door it came through.

`loads` parses a JSON request body the way every door must: no deeper than `MAX_DEPTH`, no
number longer than `MAX_NUMBER_CHARS` (Python would spend seconds on a 4,301-digit integer and
then refuse it), integers inside SQLite's and ECS's 64-bit range, finite numbers only (no NaN or
Infinity, which JSON does not define), and strings that are valid Unicode (a lone UTF-16
surrogate escape such as "\\ud800" is valid JSON but no valid text: written to the store, it made
every later read of the row fail). `check` applies the same rules to an already-built value, so
the store can refuse a row it could not read back.

`Text`, `Int64` and friends are the pydantic types the door models use for the same rules.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from orchestrator.core.errors import SerializationException

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INT32_MAX = 2**31 - 1
MAX_DEPTH = 32
# 20 digits hold every 64-bit integer; floats may carry an exponent and a fraction.
MAX_NUMBER_CHARS = 40
MAX_STRING_CHARS = 256 * 1024
MAX_LIST_ITEMS = 50_000  # a batch of shipped log events holds up to 20,000


class BoundsError(ValueError):
    """An input outside the bounds; `where` is the member's path (`tasks[0].reason`)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where or 'body'}: {problem}")
        self.where = where
        self.problem = problem


def valid_text(value: str) -> str:
    """`value` if it is valid Unicode (encodable as UTF-8); a lone surrogate is not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"is not valid Unicode (a lone UTF-16 surrogate at character {err.start}); send UTF-8 text"
        ) from None
    return value


class _Bad:
    """A number the parser refused; `check` reports it with the member's path."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _parse_int(text: str) -> int | _Bad:
    if len(text) > MAX_NUMBER_CHARS:
        return _Bad(f"is a number of {len(text)} digits (at most {MAX_NUMBER_CHARS})")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        return _Bad(f"is {text}, outside the 64-bit integer range")
    return value


def _parse_float(text: str) -> float | _Bad:
    if len(text) > MAX_NUMBER_CHARS:
        return _Bad(f"is a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        return _Bad(f"is {text}, not a finite number")
    return value


def _refuse_constant(name: str) -> _Bad:
    return _Bad(f"is {name}, which JSON does not define; send a finite number")


def loads(body: bytes | str) -> Any:
    """Parse a JSON body within the bounds; SerializationException (a 400) names what is wrong."""
    try:
        value = json.loads(body, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise SerializationException(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except UnicodeDecodeError as err:
        raise SerializationException(f"The request body is not UTF-8: {err.reason} at byte {err.start}.") from None
    except json.JSONDecodeError as err:
        raise SerializationException(f"The request body is not valid JSON: {err}.") from None
    except ValueError as err:  # e.g. Python's own limit on integer digits
        raise SerializationException(f"The request body is not valid JSON: {err}.") from None
    try:
        check(value)
    except BoundsError as err:
        raise SerializationException(f"{err.where or 'The body'} {err.problem}.") from None
    return value


def check(value: Any, where: str = "") -> None:
    """Raise BoundsError unless every string, number, list and nesting level of `value` is in bounds.
    Iterative, so a value nested deeper than Python's stack is refused, not crashed on."""
    # Every row the store writes goes through here: the walk that names the member is run only
    # when the quick one (no paths built) finds something, which made a row's check 3-4x cheaper.
    if _within(value):
        return
    _walk(value, where)


def _within(value: Any) -> bool:
    """Whether `value` is in bounds (the rules of `_walk`, which says where it is not); anything
    but plain JSON types is left to `_walk`."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > MAX_DEPTH:
            return False
        cls = type(item)
        if cls is str:
            if len(item) > MAX_STRING_CHARS or not (item.isascii() or _utf8(item)):
                return False
        elif cls is dict:
            if len(item) > MAX_LIST_ITEMS:
                return False
            for key, member in item.items():
                if type(key) is str and (len(key) > MAX_STRING_CHARS or not (key.isascii() or _utf8(key))):
                    return False
                push((member, depth + 1))
        elif cls is list or cls is tuple:
            if len(item) > MAX_LIST_ITEMS:
                return False
            for member in item:
                push((member, depth + 1))
        elif cls is int:
            if not INT64_MIN <= item <= INT64_MAX:
                return False
        elif cls is float:
            if not math.isfinite(item):
                return False
        elif item is not None and cls is not bool:
            return False
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any, where: str) -> None:
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BoundsError(path, f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_str(item, path)
        elif isinstance(item, _Bad):
            raise BoundsError(path, item.problem)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise BoundsError(path, "is outside the 64-bit integer range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise BoundsError(path, "is not a finite number")
        elif isinstance(item, dict):
            if len(item) > MAX_LIST_ITEMS:
                raise BoundsError(path, f"has more than {MAX_LIST_ITEMS} members")
            for key, member in item.items():
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _check_str(key, name)
                stack.append((member, name, depth + 1))
        elif isinstance(item, list | tuple):
            if len(item) > MAX_LIST_ITEMS:
                raise BoundsError(path, f"has more than {MAX_LIST_ITEMS} items")
            stack.extend((member, f"{path}[{i}]", depth + 1) for i, member in enumerate(item))


def _check_str(text: str, path: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise BoundsError(path, f"is {len(text)} characters long (at most {MAX_STRING_CHARS})")
    try:
        valid_text(text)
    except ValueError as err:
        raise BoundsError(path, str(err)) from None


# -- pydantic types for the door models ---------------------------------------------------------

Text = Annotated[str, AfterValidator(valid_text)]
Name = Annotated[str, Field(max_length=255), AfterValidator(valid_text)]
Arn = Annotated[str, Field(max_length=2048), AfterValidator(valid_text)]
Reason = Annotated[str, Field(max_length=4096), AfterValidator(valid_text)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
Port = Annotated[int, Field(ge=0, le=65535)]
# Epoch seconds: finite, not before 1970, not past the year 9999.
Timestamp = Annotated[float, Field(ge=0, le=253_402_300_799, allow_inf_nan=False)]
