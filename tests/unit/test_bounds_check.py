"""`bounds.check` takes a quick walk first and the walk that names the member only when the quick
one finds something: both must agree on every value, in bounds or not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.bounds import INT64_MAX, MAX_DEPTH, MAX_STRING_CHARS, BoundsError, _walk, _within, check

# Scalars at and past every edge: the 64-bit range, NaN and infinities, lone surrogates, long text.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([INT64_MAX, INT64_MAX + 1, -(2**63), -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "é", "x" * (MAX_STRING_CHARS + 1)]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(["\ud800"])), inner, max_size=4),
    ),
    max_leaves=20,
)


def _walk_refuses(value: Any) -> bool:
    try:
        _walk(value, "")
    except BoundsError:
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_quick_walk_agrees_with_the_walk_that_names_the_member(value: Any) -> None:
    assert _within(value) == (not _walk_refuses(value))


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        # A leaf under MAX_DEPTH lists sits at depth MAX_DEPTH: allowed; one more level is not.
        (nested(MAX_DEPTH), False),
        (nested(MAX_DEPTH + 1), True),
        ({"a": [1, 2, {"b": "\ud800"}]}, True),
        ({"\ud800": 1}, True),
        ([INT64_MAX], False),
        ([INT64_MAX + 1], True),
        ({"x": float("nan")}, True),
        ({"ok": ["é", 1.5, None, True]}, False),
    ],
)
def test_check_refuses_what_is_out_of_bounds_and_names_where(value: Any, refused: bool) -> None:
    if not refused:
        check(value)
        return
    with pytest.raises(BoundsError) as err:
        check(value)
    assert err.value.where  # the member's path, found by the full walk
