"""The ECS cluster query language: `memberOf` placement constraints and ListContainerInstances filters.

`parse` turns an expression into an `Expr` tree once; `Expr.evaluate` then answers for one
`InstanceView` without re-parsing (regexes compiled, numbers, booleans and dates converted at parse
time), because placement evaluates every constraint on every instance for every task.

Grammar (word operators and `and`/`or`/`not` are case-insensitive; so are the subject keywords,
but never attribute names):

    expression := or_expr
    or_expr    := and_expr (('||' | 'or') and_expr)*
    and_expr   := unary (('&&' | 'and') unary)*
    unary      := ('!' | 'not') unary | '(' or_expr ')' | condition
    condition  := subject operator [argument]

Operators: `==` equals, `!=` not_equals, `>` greater_than, `>=` greater_than_equal, `<` less_than,
`<=` less_than_equal, `exists`, `!exists` not_exists (no argument), `in`, `!in` not_in (a list
`[a, b]`), `=~` matches, `!~` not_matches (a Python regex that must match the whole value).
Arguments are bare words (letters, digits and `. - * : / _ @ + \\`) or quoted strings ('...' or
"..."; a backslash escapes the quote or a backslash, any other backslash is kept so regexes like
'\\d+' read naturally). A bare regex runs to the next whitespace, `&&`, `||` or unbalanced `)`.

Semantics, including the choices AWS leaves open:
- A value that is absent (a missing attribute; an empty agentVersion or ec2InstanceId) makes the
  positive operators `==`, `=~`, `in`, `>`, `>=`, `<`, `<=` and `exists` false and their negations
  `!=`, `!~`, `!in` and `!exists` true. So `a != x` is always `not(a == x)`, and a constraint
  such as `attribute:stack != prod` admits instances that carry no `stack` attribute at all.
  Ordering comparisons are false on both sides (`<` and `>=` are both false when missing).
- `==` on strings is exact string equality. `>`, `>=`, `<`, `<=` compare numerically when both
  sides are decimal numbers, otherwise as strings; agentVersion compares dotted versions
  component-wise first (1.10.0 > 1.9.0).
- registeredAt takes a date (2016-06-01) or an ISO timestamp (2016-06-01T00:00:00Z; no zone
  means UTC) and denotes the whole span of the precision written: `registeredAt == 2016-06-01`
  is any time that day, `< 2016-06-01` is before it starts, `<= 2016-06-01` before it ends.
- task:group asks about the instance's non-stopped tasks: `==` some task has the group, `!=` none
  has, `in` some task has one of them, `!in` none has any, `=~` some group matches, `!~` none
  matches, `exists` the instance runs any task, `!exists` it runs none.
- agentConnected takes true/false; runningTasksCount takes an integer. Operators that make no
  sense for a subject (`>` on task:group, `=~` on a count) are rejected at parse time.
Every error is a `PlacementError` whose message says what to fix and whose `position` is the
0-based offset where parsing failed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from scheduler.types import InstanceView, PlacementError

MAX_EXPRESSION_LENGTH = 2000
# Deep nesting would otherwise hit Python's recursion limit in the parser and evaluator; no real
# constraint comes close.
_MAX_NESTING = 64
_CACHE_SIZE = 1024

_SUBJECTS_HINT = (
    "expected one of agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, "
    "runningTasksCount, task:group"
)
_WORD_EXTRA = frozenset(".-*:/_@+\\")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9._/\\-]{1,128}")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_VERSION = re.compile(r"\d+(?:\.\d+)*", re.ASCII)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?)?",
    re.IGNORECASE | re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Canonical operator -> the word form; the symbol is the canonical spelling.
_OPERATOR_WORDS = {
    "==": "equals",
    "!=": "not_equals",
    ">": "greater_than",
    ">=": "greater_than_equal",
    "<": "less_than",
    "<=": "less_than_equal",
    "exists": "exists",
    "!exists": "not_exists",
    "in": "in",
    "!in": "not_in",
    "=~": "matches",
    "!~": "not_matches",
}
_WORD_TO_OPERATOR = {word: op for op, word in _OPERATOR_WORDS.items()}
_OPERATORS_HINT = "expected one of " + ", ".join(
    f"{op}/{word}" if op != word else op for op, word in _OPERATOR_WORDS.items()
)
_NO_ARGUMENT = frozenset({"exists", "!exists"})
_LIST_OPERATORS = frozenset({"in", "!in"})
_REGEX_OPERATORS = frozenset({"=~", "!~"})
_ORDERING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_ALL_OPERATORS = frozenset(_OPERATOR_WORDS)
_EQUALITY_OPERATORS = frozenset({"==", "!=", "in", "!in", "exists", "!exists"})

_ALLOWED: dict[str, frozenset[str]] = {
    "agentConnected": _EQUALITY_OPERATORS,
    "agentVersion": _ALL_OPERATORS,
    "attribute": _ALL_OPERATORS,
    "ec2InstanceId": _ALL_OPERATORS,
    "registeredAt": _ALL_OPERATORS - _REGEX_OPERATORS,
    "runningTasksCount": _ALL_OPERATORS - _REGEX_OPERATORS,
    "task:group": _EQUALITY_OPERATORS | _REGEX_OPERATORS,
}
_SUBJECT_KEYWORDS = {name.lower(): name for name in _ALLOWED if name != "attribute"}
_DYNAMIC_SUBJECTS = frozenset({"runningTasksCount", "task:group"})

Test = Callable[[InstanceView], bool]


class Expr:
    """A parsed expression. `dynamic` is True when placing tasks can change the result."""

    __slots__ = ("dynamic",)

    def __init__(self, dynamic: bool) -> None:
        self.dynamic = dynamic

    def evaluate(self, instance: InstanceView) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class _Condition(Expr):
    __slots__ = ("_test", "_text")

    def __init__(self, subject: str, test: Test, text: str) -> None:
        super().__init__(subject in _DYNAMIC_SUBJECTS)
        self._test = test
        self._text = text

    def evaluate(self, instance: InstanceView) -> bool:
        return self._test(instance)

    def __str__(self) -> str:
        return self._text


class _And(Expr):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Expr, ...]) -> None:
        super().__init__(any(child.dynamic for child in children))
        self.children = children

    def evaluate(self, instance: InstanceView) -> bool:
        return all(child.evaluate(instance) for child in self.children)

    def __str__(self) -> str:
        return " && ".join(f"({child})" if isinstance(child, _Or) else str(child) for child in self.children)


class _Or(Expr):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Expr, ...]) -> None:
        super().__init__(any(child.dynamic for child in children))
        self.children = children

    def evaluate(self, instance: InstanceView) -> bool:
        return any(child.evaluate(instance) for child in self.children)

    def __str__(self) -> str:
        return " || ".join(str(child) for child in self.children)


class _Not(Expr):
    __slots__ = ("child",)

    def __init__(self, child: Expr) -> None:
        super().__init__(child.dynamic)
        self.child = child

    def evaluate(self, instance: InstanceView) -> bool:
        return not self.child.evaluate(instance)

    def __str__(self) -> str:
        return f"!({self.child})"


def parse(expression: str) -> Expr:
    """Parse a cluster query expression; raise PlacementError(message, position) if it is malformed."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise PlacementError(
            f"expression is {len(expression)} characters long; shorten it to at most "
            f"{MAX_EXPRESSION_LENGTH} characters (the excess starts at position {MAX_EXPRESSION_LENGTH})",
            MAX_EXPRESSION_LENGTH,
        )
    return _Parser(expression).parse()


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(expression: str) -> Expr:
    return parse(expression)


def matches(expression: str, instance: InstanceView) -> bool:
    """Whether `instance` satisfies `expression`; the parse is cached across calls."""
    return _parse_cached(expression).evaluate(instance)


def _fail(message: str, position: int, hint: str = "") -> PlacementError:
    text = f"{message} at position {position}"
    return PlacementError(f"{text}; {hint}" if hint else text, position)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in _WORD_EXTRA


def _quote(value: str) -> str:
    """Render a value so that parsing it back yields the same value."""
    bare = value and all(_is_word_char(c) for c in value) and value.lower() not in ("and", "or", "not")
    if bare:
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def _version(text: str) -> tuple[int, ...] | None:
    return tuple(int(part) for part in text.split(".")) if _VERSION.fullmatch(text) else None


class _Parser:
    """Recursive descent over the raw text; the lexer is driven by the parser because what a
    token is depends on where it appears (a bare regex may contain '(' and '[', a value may not)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.op_start = 0

    # -- lexing helpers -------------------------------------------------------------------------

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    def peek_word(self) -> str:
        end = self.pos
        while end < len(self.text) and _is_word_char(self.text[end]):
            end += 1
        return self.text[self.pos : end]

    def describe_next(self) -> str:
        word = self.peek_word()
        shown = word if word else self.text[self.pos]
        return f"'{shown[:30]}'"

    def peek_connective(self) -> str | None:
        """'and' / 'or' if one starts here, without consuming it."""
        if self.startswith("&&"):
            return "and"
        if self.startswith("||"):
            return "or"
        word = self.peek_word().lower()
        return word if word in ("and", "or") else None

    def take_connective(self, kind: str) -> bool:
        self.skip_space()
        if self.peek_connective() != kind:
            return False
        self.pos += 2 if self.text[self.pos] in "&|" else len(kind)
        return True

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> Expr:
        self.skip_space()
        if self.at_end():
            raise _fail(
                "expression is empty",
                self.pos,
                "write a condition such as 'attribute:ecs.instance-type == t2.small'",
            )
        expr = self.parse_or()
        self.skip_space()
        if not self.at_end():
            if self.text[self.pos] == ")":
                raise _fail("unexpected ')'", self.pos, "there is no open parenthesis to close; remove it")
            raise _fail(
                f"unexpected {self.describe_next()}",
                self.pos,
                "expected 'and', 'or' or the end of the expression",
            )
        return expr

    def parse_or(self) -> Expr:
        children = [self.parse_and()]
        while self.take_connective("or"):
            children.append(self.parse_operand("or"))
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def parse_and(self) -> Expr:
        children = [self.parse_unary()]
        while self.take_connective("and"):
            children.append(self.parse_operand("and", unary=True))
        return children[0] if len(children) == 1 else _And(tuple(children))

    def parse_operand(self, after: str, unary: bool = False) -> Expr:
        self.skip_space()
        if self.at_end() or self.text[self.pos] == ")":
            raise _fail(f"expected a condition after '{after}'", self.pos)
        return self.parse_unary() if unary else self.parse_and()

    def parse_unary(self) -> Expr:
        self.skip_space()
        start = self.pos
        if self.at_end():
            raise _fail("expected a condition", start, "the expression ends too early")
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise _fail(f"expression nests deeper than {_MAX_NESTING} levels", start, "simplify it")
        try:
            char = self.text[start]
            if char == "!" or (char in "nN" and self.peek_word().lower() == "not"):
                self.pos += 1 if char == "!" else 3
                self.skip_space()
                if self.at_end():
                    raise _fail(f"expected a condition after '{self.text[start : self.pos].strip()}'", self.pos)
                return _Not(self.parse_unary())
            if char == "(":
                return self.parse_group()
            return self.parse_condition()
        finally:
            self.depth -= 1

    def parse_group(self) -> Expr:
        opened = self.pos
        self.pos += 1
        self.skip_space()
        if self.startswith(")"):
            raise _fail("empty parentheses", self.pos, "put a condition between '(' and ')'")
        expr = self.parse_or()
        self.skip_space()
        if self.at_end():
            raise _fail(
                f"unclosed parenthesis opened at position {opened}: expected ')'",
                self.pos,
            )
        if self.text[self.pos] != ")":
            raise _fail(
                f"unexpected {self.describe_next()}",
                self.pos,
                f"expected 'and', 'or' or ')' to close the parenthesis opened at position {opened}",
            )
        self.pos += 1
        return expr

    def parse_condition(self) -> Expr:
        start = self.pos
        raw = self.peek_word()
        if not raw:
            raise _fail(f"expected a condition but found {self.describe_next()}", start, _SUBJECTS_HINT)
        self.pos += len(raw)
        subject, name = self.resolve_subject(raw, start)
        self.skip_space()
        op = self.parse_operator(raw)
        if op not in _ALLOWED[subject]:
            allowed = ", ".join(o for o in _OPERATOR_WORDS if o in _ALLOWED[subject])
            shown = "attribute:<name>" if subject == "attribute" else subject
            raise _fail(f"operator '{op}' does not apply to {shown}", self.op_start, f"use one of {allowed}")
        subject_text = f"attribute:{name}" if subject == "attribute" else subject
        if op in _NO_ARGUMENT:
            test = _build_test(subject, name, op, [], [])
            self.reject_argument_after(op)
            return _Condition(subject, test, f"{subject_text} {op}")
        self.skip_space()
        if op in _LIST_OPERATORS:
            items = self.parse_list(op)
            rendered = "[" + ", ".join(_quote(value) for value, _ in items) + "]"
        else:
            if op not in _REGEX_OPERATORS and self.startswith("["):
                raise _fail(
                    f"'{op}' takes a single value, not a list",
                    self.pos,
                    "use 'in' to test against a list",
                )
            # Point at the first character inside quotes so regex error offsets line up.
            start = self.pos + (1 if self.startswith("'") or self.startswith('"') else 0)
            value = self.parse_regex_text(op) if op in _REGEX_OPERATORS else self.parse_value(op)
            items = [(value, start)]
            rendered = _quote(value)
        test = _build_test(subject, name, op, [value for value, _ in items], [at for _, at in items])
        return _Condition(subject, test, f"{subject_text} {op} {rendered}")

    def resolve_subject(self, raw: str, start: int) -> tuple[str, str]:
        if raw[:10].lower() == "attribute:":
            name = raw[10:]
            if not name:
                raise _fail(
                    "attribute name missing after 'attribute:'",
                    start + 10,
                    "write e.g. attribute:ecs.instance-type",
                )
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise _fail(
                    f"invalid attribute name '{name}'",
                    start + 10,
                    "names are 1-128 letters, digits, '.', '-', '_', '/' or '\\'",
                )
            return "attribute", name
        subject = _SUBJECT_KEYWORDS.get(raw.lower())
        if subject is None:
            raise _fail(f"unknown subject '{raw}'", start, _SUBJECTS_HINT)
        return subject, ""

    def parse_operator(self, subject_text: str) -> str:
        self.op_start = start = self.pos
        if self.at_end():
            raise _fail(f"expected an operator after '{subject_text}'", start, _OPERATORS_HINT)
        text = self.text
        for symbol in ("==", "!=", ">=", "<=", "=~", "!~"):
            if text.startswith(symbol, start):
                self.pos += 2
                return symbol
        if text[start] in "<>":
            self.pos += 1
            return text[start]
        bang = text[start] == "!"
        if bang:
            self.pos += 1
        word = self.peek_word()
        if bang and word.lower() in ("in", "exists"):
            self.pos += len(word)
            return "!" + word.lower()
        op = None if bang else _WORD_TO_OPERATOR.get(word.lower())
        if op is None:
            self.pos = start
            if not word and not bang:
                raise _fail(
                    f"expected an operator after '{subject_text}' but found {self.describe_next()}",
                    start,
                    _OPERATORS_HINT,
                )
            shown = ("!" if bang else "") + word
            raise _fail(f"unknown operator '{shown}'", start, _OPERATORS_HINT)
        self.pos += len(word)
        return op

    def reject_argument_after(self, op: str) -> None:
        save = self.pos
        self.skip_space()
        if self.at_end() or self.peek_connective() or self.text[self.pos] == ")":
            self.pos = save
            return
        if self.text[self.pos] in "['\"" or _is_word_char(self.text[self.pos]):
            raise _fail(f"'{op}' takes no argument but found {self.describe_next()}", self.pos, "remove it")
        self.pos = save

    def parse_value(self, op: str) -> str:
        start = self.pos
        if self.at_end():
            raise _fail(f"expected a value after '{op}'", start, "the expression ends too early")
        char = self.text[start]
        if char in "'\"":
            return self.parse_quoted()
        word = self.peek_word()
        if not word:
            raise _fail(f"expected a value after '{op}' but found {self.describe_next()}", start)
        if word.lower() in ("and", "or", "not"):
            raise _fail(
                f"expected a value after '{op}' but found '{word}'",
                start,
                f"quote it ('{word}') if you mean the word itself",
            )
        self.pos += len(word)
        return word

    def parse_quoted(self) -> str:
        start = self.pos
        quote = self.text[start]
        out: list[str] = []
        pos = start + 1
        text = self.text
        while pos < len(text):
            char = text[pos]
            if char == quote:
                self.pos = pos + 1
                return "".join(out)
            if char == "\\" and pos + 1 < len(text) and text[pos + 1] in (quote, "\\"):
                out.append(text[pos + 1])
                pos += 2
                continue
            out.append(char)
            pos += 1
        raise _fail(f"unterminated string starting at position {start}: expected a closing {quote}", len(text))

    def parse_list(self, op: str) -> list[tuple[str, int]]:
        opened = self.pos
        if not self.startswith("["):
            if self.at_end():
                raise _fail(f"expected a list like [a, b] after '{op}'", self.pos, "the expression ends too early")
            raise _fail(f"expected a list like [a, b] after '{op}' but found {self.describe_next()}", self.pos)
        self.pos += 1
        self.skip_space()
        if self.startswith("]"):
            raise _fail("empty list", self.pos, "put at least one value between '[' and ']'")
        values: list[tuple[str, int]] = []
        while True:
            self.skip_space()
            if self.at_end():
                raise _fail(f"unclosed list opened at position {opened}: expected a value or ']'", self.pos)
            if self.startswith("]") or self.startswith(","):
                raise _fail(
                    f"expected a list value but found '{self.text[self.pos]}'",
                    self.pos,
                    "remove the extra ','",
                )
            item_start = self.pos
            values.append((self.parse_value("," if values else "["), item_start))
            self.skip_space()
            if self.at_end():
                raise _fail(f"unclosed list opened at position {opened}: expected ',' or ']'", self.pos)
            char = self.text[self.pos]
            self.pos += 1
            if char == "]":
                return values
            if char != ",":
                self.pos -= 1
                raise _fail(
                    f"unexpected {self.describe_next()} in the list opened at position {opened}",
                    self.pos,
                    "separate values with ',' and close the list with ']'",
                )

    def parse_regex_text(self, op: str) -> str:
        start = self.pos
        if self.at_end():
            raise _fail(f"expected a regular expression after '{op}'", start, "the expression ends too early")
        if self.text[start] in "'\"":
            return self.parse_quoted()
        text = self.text
        pos, depth = start, 0
        while pos < len(text):
            char = text[pos]
            if char.isspace() or text.startswith("&&", pos) or text.startswith("||", pos):
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            elif char == "\\":
                pos += 1  # an escaped character never closes a group or ends the regex
            pos += 1
        pos = min(pos, len(text))
        if pos == start:
            raise _fail(f"expected a regular expression after '{op}' but found {self.describe_next()}", start)
        self.pos = pos
        return text[start:pos]


def _build_test(subject: str, name: str, op: str, values: list[str], positions: list[int]) -> Test:
    """Specialise the condition into one closure with every argument pre-converted.

    `values` holds the argument (one item, a list's items, or nothing); `positions` where each starts.
    """
    if subject == "task:group":
        return _task_group_test(op, values, positions)
    if subject == "agentConnected":
        return _bool_test(op, [_to_bool(v, at) for v, at in zip(values, positions, strict=True)])
    if subject == "runningTasksCount":
        return _count_test(op, [_to_int(v, at) for v, at in zip(values, positions, strict=True)])
    if subject == "registeredAt":
        return _time_test(op, [_to_span(v, at) for v, at in zip(values, positions, strict=True)])
    getter: Callable[[InstanceView], str | None]
    if subject == "attribute":
        getter = lambda instance: instance.attributes.get(name)  # noqa: E731
    elif subject == "agentVersion":
        getter = lambda instance: instance.agent_version or None  # noqa: E731
    else:
        getter = lambda instance: instance.ec2_instance_id or None  # noqa: E731
    return _string_test(op, values, positions, getter, versioned=subject == "agentVersion")


def _compile_regex(pattern: str, arg_start: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        offset = error.pos if error.pos is not None else 0
        raise _fail(
            f"invalid regular expression '{pattern}': {error.msg}",
            arg_start + offset,
            "fix the pattern, or quote it and escape special characters with '\\'",
        ) from None


def _string_test(
    op: str,
    values: list[str],
    positions: list[int],
    get: Callable[[InstanceView], str | None],
    versioned: bool,
) -> Test:
    if op == "exists":
        return lambda instance: get(instance) is not None
    if op == "!exists":
        return lambda instance: get(instance) is None
    if op in _LIST_OPERATORS:
        choices = frozenset(values)
        if op == "in":
            return lambda instance: get(instance) in choices
        return lambda instance: get(instance) not in choices
    value = values[0]
    if op == "==":
        return lambda instance: get(instance) == value
    if op == "!=":
        return lambda instance: get(instance) != value
    if op in _REGEX_OPERATORS:
        fullmatch = _compile_regex(value, positions[0]).fullmatch
        if op == "=~":

            def matches_regex(instance: InstanceView) -> bool:
                actual = get(instance)
                return actual is not None and fullmatch(actual) is not None

            return matches_regex

        def not_matches_regex(instance: InstanceView) -> bool:
            actual = get(instance)
            return actual is None or fullmatch(actual) is None

        return not_matches_regex
    compare = _ORDERING[op]
    wanted_number = _number(value)
    wanted_version = _version(value) if versioned else None

    def ordered(instance: InstanceView) -> bool:
        actual = get(instance)
        if actual is None:
            return False
        if wanted_version is not None:
            actual_version = _version(actual)
            if actual_version is not None:
                # 1.10 and 1.10.0 are the same version, so pad the shorter with zeros.
                width = max(len(actual_version), len(wanted_version))
                padded_actual = actual_version + (0,) * (width - len(actual_version))
                padded_wanted = wanted_version + (0,) * (width - len(wanted_version))
                return bool(compare(padded_actual, padded_wanted))
        if wanted_number is not None:
            actual_number = _number(actual)
            if actual_number is not None:
                return bool(compare(actual_number, wanted_number))
        return bool(compare(actual, value))

    return ordered


def _task_group_test(op: str, values: list[str], positions: list[int]) -> Test:
    # A group whose count has dropped to zero holds no task, so only positive counts count.
    def has(instance: InstanceView, group: str) -> bool:
        return instance.task_groups.get(group, 0) > 0

    def any_task(instance: InstanceView) -> bool:
        return any(count > 0 for count in instance.task_groups.values())

    if op == "exists":
        return any_task
    if op == "!exists":
        return lambda instance: not any_task(instance)
    if op in _LIST_OPERATORS:
        groups = tuple(dict.fromkeys(values))
        if op == "in":
            return lambda instance: any(has(instance, group) for group in groups)
        return lambda instance: not any(has(instance, group) for group in groups)
    value = values[0]
    if op == "==":
        return lambda instance: has(instance, value)
    if op == "!=":
        return lambda instance: not has(instance, value)
    fullmatch = _compile_regex(value, positions[0]).fullmatch

    def any_match(instance: InstanceView) -> bool:
        return any(count > 0 and fullmatch(group) is not None for group, count in instance.task_groups.items())

    if op == "=~":
        return any_match
    return lambda instance: not any_match(instance)


def _to_bool(text: str, position: int) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise _fail(f"agentConnected compares with true or false, not '{text}'", position)
    return lowered == "true"


def _bool_test(op: str, wanted: list[bool]) -> Test:
    # Every instance has a connection state, so it always "exists".
    if op == "exists":
        return lambda instance: True
    if op == "!exists":
        return lambda instance: False
    choices = frozenset(wanted)
    if op in ("==", "in"):
        return lambda instance: instance.agent_connected in choices
    return lambda instance: instance.agent_connected not in choices


def _to_int(text: str, position: int) -> int:
    if not _INTEGER.fullmatch(text):
        raise _fail(f"runningTasksCount compares with a whole number, not '{text}'", position)
    return int(text)


def _count_test(op: str, values: list[int]) -> Test:
    if op == "exists":
        return lambda instance: True
    if op == "!exists":
        return lambda instance: False
    if op in _LIST_OPERATORS:
        choices = frozenset(values)
        if op == "in":
            return lambda instance: instance.running_tasks_count in choices
        return lambda instance: instance.running_tasks_count not in choices
    wanted = values[0]
    if op == "==":
        return lambda instance: instance.running_tasks_count == wanted
    if op == "!=":
        return lambda instance: instance.running_tasks_count != wanted
    compare = _ORDERING[op]
    return lambda instance: bool(compare(instance.running_tasks_count, wanted))


def _to_span(text: str, position: int) -> tuple[float, float]:
    """The [start, end) epoch-second span a date or timestamp denotes, at the precision written."""
    hint = "use a date like 2016-06-01 or a timestamp like 2016-06-01T00:00:00Z"
    found = _TIMESTAMP.fullmatch(text)
    if not found:
        raise _fail(f"registeredAt compares with a date or time, not '{text}'", position, hint)
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    offset = timedelta(0)
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise _fail(f"'{zone}' is not a valid UTC offset", position, hint)
        offset = (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=timezone(offset),
        )
    except ValueError as error:
        raise _fail(f"'{text}' is not a valid date ({error})", position, hint) from None
    start = (moment - _EPOCH).total_seconds()
    if fraction:
        start += int(fraction) / 10 ** len(fraction)
        width = 10.0 ** -len(fraction)
    elif second is not None:
        width = 1.0
    elif hour is not None:
        width = 60.0
    else:
        width = 86400.0
    return start, start + width


def _time_test(op: str, spans: list[tuple[float, float]]) -> Test:
    # Every instance has a registration time, so it always "exists".
    if op == "exists":
        return lambda instance: True
    if op == "!exists":
        return lambda instance: False

    def within(instance: InstanceView) -> bool:
        moment = instance.registered_at
        return any(low <= moment < high for low, high in spans)

    if op in ("==", "in"):
        return within
    if op in ("!=", "!in"):
        return lambda instance: not within(instance)
    low, high = spans[0]
    if op == "<":
        return lambda instance: instance.registered_at < low
    if op == "<=":
        return lambda instance: instance.registered_at < high
    if op == ">":
        return lambda instance: instance.registered_at >= high
    return lambda instance: instance.registered_at >= low
