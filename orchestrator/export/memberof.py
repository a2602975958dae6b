"""`memberOf` expressions as Kubernetes node-affinity terms, for the part of the language that has one.

The cluster query language (see `scheduler/constraints.py`) asks about container instances;
Kubernetes node affinity asks about node labels with the operators In, NotIn, Exists and
DoesNotExist, its terms ORed and each term's expressions ANDed. So an expression translates when
every condition is `attribute:NAME` with `==`, `!=`, `in`, `!in`, `exists` or `!exists`: its
negations are pushed down to the conditions (NotIn and DoesNotExist, like `!=` and `!exists`,
hold on a node without the label, as in ECS) and the result is put in disjunctive normal form.

Anything else (ordering and regex operators, `task:group`, `ec2InstanceId`, `registeredAt`, ...)
raises `Untranslatable` naming the part, and the caller reports the whole constraint instead of
translating half of it: dropping one side of an `and` would loosen it, one side of an `or` tighten it.

ECS attributes become node labels: the well-known ones map to their Kubernetes names
(`ecs.availability-zone` -> `topology.kubernetes.io/zone`, ...); a custom attribute keeps its name
as the label key, which the nodes must then carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scheduler.constraints import parse
from scheduler.types import PlacementError

# ECS's built-in instance attributes with a well-known Kubernetes node label, and value maps where
# the two spell values differently.
NODE_LABELS = {
    "ecs.availability-zone": "topology.kubernetes.io/zone",
    "ecs.instance-type": "node.kubernetes.io/instance-type",
    "ecs.os-type": "kubernetes.io/os",
    "ecs.cpu-architecture": "kubernetes.io/arch",
}
LABEL_VALUES = {"kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}}
# Other ecs.* attributes describe EC2 things (AMI, VPC, subnet) no node label stands for.
_ECS_PREFIX = "ecs."
MAX_TERMS = 32  # a DNF blow-up beyond this is no longer something a person can read

_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*:/_@+\\")

_OPERATORS = {
    "==": "In",
    "equals": "In",
    "!=": "NotIn",
    "not_equals": "NotIn",
    "in": "In",
    "!in": "NotIn",
    "not_in": "NotIn",
    "exists": "Exists",
    "!exists": "DoesNotExist",
    "not_exists": "DoesNotExist",
}
_NEGATED = {"In": "NotIn", "NotIn": "In", "Exists": "DoesNotExist", "DoesNotExist": "Exists"}


class Untranslatable(Exception):
    """The expression, or a part of it named in the message, has no node-affinity equivalent."""


@dataclass(frozen=True)
class Requirement:
    """One node-selector requirement: `key operator values`."""

    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


Term = tuple[Requirement, ...]  # ANDed
# An expression tree: ("cond", Requirement) | ("not", node) | ("and" | "or", (node, ...)).
_Node = tuple[object, ...]


def label_key(attribute: str) -> str:
    """The node label an ECS attribute becomes; Untranslatable when there is none."""
    if attribute in NODE_LABELS:
        return NODE_LABELS[attribute]
    if attribute.startswith(_ECS_PREFIX):
        raise Untranslatable(f"attribute:{attribute} has no Kubernetes node label")
    prefix, _, name = attribute.rpartition("/")
    if not _LABEL_NAME.fullmatch(name) or (prefix and (len(prefix) > 253 or not _LABEL_PREFIX.fullmatch(prefix))):
        raise Untranslatable(f"attribute:{attribute} is not a valid Kubernetes label key")
    return attribute


def label_value(key: str, value: str) -> str:
    value = LABEL_VALUES.get(key, {}).get(value, value)
    if not _LABEL_VALUE.fullmatch(value):
        raise Untranslatable(f"{value!r} is not a valid Kubernetes label value")
    return value


def is_custom_label(key: str) -> bool:
    return key not in NODE_LABELS.values()


def translate(expression: str) -> list[Term]:
    """The node-selector terms (ORed) equivalent to one memberOf expression."""
    try:
        parse(expression)  # the project's own parser decides what is valid at all
    except PlacementError as err:
        raise Untranslatable(f"not a valid expression: {err}") from None
    parser = _Parser(expression)
    node = parser.parse_or()
    parser.skip_space()
    if not parser.at_end():
        raise Untranslatable(f"unexpected text at position {parser.pos}")
    return _dnf(node, negate=False)


def conjoin(left: list[Term], right: list[Term]) -> list[Term]:
    """(A or B) and (C or D) = AC or AD or BC or BD."""
    terms = [a + b for a in left for b in right]
    if len(terms) > MAX_TERMS:
        raise Untranslatable(f"it expands to {len(terms)} node-selector terms (more than {MAX_TERMS})")
    return terms


def _dnf(node: _Node, negate: bool) -> list[Term]:
    kind = node[0]
    if kind == "cond":
        req = node[1]
        assert isinstance(req, Requirement)
        return [(Requirement(req.key, _NEGATED[req.operator], req.values) if negate else req,)]
    if kind == "not":
        child = node[1]
        assert isinstance(child, tuple)
        return _dnf(child, not negate)
    children = node[1]
    assert isinstance(children, tuple)
    # De Morgan: a negated "and" is an "or" of the negations, and the other way round.
    if (kind == "or") != negate:
        terms = [t for child in children for t in _dnf(child, negate)]
        if len(terms) > MAX_TERMS:
            raise Untranslatable(f"it expands to {len(terms)} node-selector terms (more than {MAX_TERMS})")
        return terms
    result: list[Term] = [()]
    for child in children:
        result = conjoin(result, _dnf(child, negate))
    return result


class _Parser:
    """Recursive descent over the same grammar as scheduler.constraints, keeping the structure."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def word(self) -> str:
        end = self.pos
        while end < len(self.text) and self.text[end] in _WORD_CHARS:
            end += 1
        return self.text[self.pos : end]

    def connective(self, symbol: str, word: str) -> bool:
        self.skip_space()
        if self.text.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        if self.word().lower() == word:
            self.pos += len(word)
            return True
        return False

    def parse_or(self) -> _Node:
        children = [self.parse_and()]
        while self.connective("||", "or"):
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else ("or", tuple(children))

    def parse_and(self) -> _Node:
        children = [self.parse_unary()]
        while self.connective("&&", "and"):
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else ("and", tuple(children))

    def parse_unary(self) -> _Node:
        self.skip_space()
        if self.text.startswith("!", self.pos):
            self.pos += 1
            return ("not", self.parse_unary())
        if self.word().lower() == "not":
            self.pos += 3
            return ("not", self.parse_unary())
        if self.text.startswith("(", self.pos):
            self.pos += 1
            node = self.parse_or()
            self.skip_space()
            if not self.text.startswith(")", self.pos):
                raise Untranslatable(f"expected ')' at position {self.pos}")
            self.pos += 1
            return node
        return ("cond", self.parse_condition())

    def parse_condition(self) -> Requirement:
        subject = self.word()
        self.pos += len(subject)
        if subject[:10].lower() != "attribute:":
            if subject.lower() == "task:group":
                raise Untranslatable("task:group asks about the tasks an instance runs (pod affinity in Kubernetes)")
            raise Untranslatable(f"{subject} is a property of the instance that no node label carries")
        key = label_key(subject[10:])
        self.skip_space()
        op = self.parse_operator()
        if op not in _OPERATORS:
            raise Untranslatable(f"operator {op!r} (node affinity has only In, NotIn, Exists and DoesNotExist)")
        operator = _OPERATORS[op]
        if operator in ("Exists", "DoesNotExist"):
            return Requirement(key, operator)
        self.skip_space()
        values = self.parse_list() if op in ("in", "!in", "not_in") else [self.parse_value()]
        return Requirement(key, operator, tuple(label_value(key, v) for v in values))

    def parse_operator(self) -> str:
        for symbol in ("==", "!=", ">=", "<=", "=~", "!~", ">", "<"):
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return symbol
        bang = self.text.startswith("!", self.pos)
        if bang:
            self.pos += 1
        word = self.word().lower()
        self.pos += len(word)
        return ("!" if bang else "") + word

    def parse_value(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            return self.parse_quoted()
        value = self.word()
        self.pos += len(value)
        return value

    def parse_quoted(self) -> str:
        quote = self.text[self.pos]
        out: list[str] = []
        pos = self.pos + 1
        while pos < len(self.text):
            char = self.text[pos]
            if char == quote:
                self.pos = pos + 1
                return "".join(out)
            if char == "\\" and pos + 1 < len(self.text) and self.text[pos + 1] in (quote, "\\"):
                out.append(self.text[pos + 1])
                pos += 2
                continue
            out.append(char)
            pos += 1
        raise Untranslatable("unterminated string")

    def parse_list(self) -> list[str]:
        if not self.text.startswith("[", self.pos):
            raise Untranslatable(f"expected a list at position {self.pos}")
        self.pos += 1
        values: list[str] = []
        while True:
            self.skip_space()
            values.append(self.parse_value())
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return values
            raise Untranslatable(f"expected ',' or ']' at position {self.pos}")
