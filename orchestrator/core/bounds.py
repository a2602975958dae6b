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


# A member's place, kept as a chain of (parent, key, is_index) and spelled out only for an error:
# building "streams[3].events[1041][2]" for every value of a 20,000-event log batch was most of
# what checking it cost.
_Link = tuple[Any, Any, bool] | None


def _spell(where: str, link: _Link) -> str:
    steps: list[tuple[Any, bool]] = []
    while link is not None:
        link, key, is_index = link
        steps.append((key, is_index))
    path = where
    for key, is_index in reversed(steps):
        path = f"{path}[{key}]" if is_index else (f"{path}.{key}" if path else str(key))
    return path


def _scalar_problem(item: Any) -> str | None:
    """What is wrong with a str, int or float of exactly that type (None: nothing)."""
    kind = type(item)
    if kind is str:
        if len(item) > MAX_STRING_CHARS:
            return f"is {len(item)} characters long (at most {MAX_STRING_CHARS})"
        if not item.isascii():
            try:
                valid_text(item)
            except ValueError as err:
                return str(err)
        return None
    if kind is int:
        return None if INT64_MIN <= item <= INT64_MAX else "is outside the 64-bit integer range"
    return None if math.isfinite(item) else "is not a finite number"


_SCALARS = (str, int, float)


def check(value: Any, where: str = "") -> None:
    """Raise BoundsError unless every string, number, list and nesting level of `value` is in bounds.
    Iterative, so a value nested deeper than Python's stack is refused, not crashed on."""
    stack: list[tuple[Any, _Link, int]] = [(value, None, 0)]
    while stack:
        item, link, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BoundsError(_spell(where, link), f"nests deeper than {MAX_DEPTH} levels")
        kind = type(item)
        if kind in _SCALARS:
            problem = _scalar_problem(item)
            if problem:
                raise BoundsError(_spell(where, link), problem)
        elif item is None or kind is bool:
            continue
        elif isinstance(item, _Bad):
            raise BoundsError(_spell(where, link), item.problem)
        elif isinstance(item, dict):
            if len(item) > MAX_LIST_ITEMS:
                raise BoundsError(_spell(where, link), f"has more than {MAX_LIST_ITEMS} members")
            for key, member in item.items():
                if isinstance(key, str) and (problem := _scalar_problem(str(key))):
                    raise BoundsError(_spell(where, (link, key, False)), problem)
                stack.append((member, (link, key, False), depth + 1))
        elif isinstance(item, list | tuple):
            if len(item) > MAX_LIST_ITEMS:
                raise BoundsError(_spell(where, link), f"has more than {MAX_LIST_ITEMS} items")
            inner = depth + 1
            for i, member in enumerate(item):
                # Plain scalars are checked here, not pushed: a log batch is mostly [ts, ordinal, text].
                if type(member) in _SCALARS and inner <= MAX_DEPTH:
                    if problem := _scalar_problem(member):
                        raise BoundsError(_spell(where, (link, i, True)), problem)
                else:
                    stack.append((member, (link, i, True), inner))
        elif isinstance(item, str | int | float):  # a subclass (an enum member, say): as its plain value
            plain = str(item) if isinstance(item, str) else int(item) if isinstance(item, int) else float(item)
            if problem := _scalar_problem(plain):
                raise BoundsError(_spell(where, link), problem)


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
