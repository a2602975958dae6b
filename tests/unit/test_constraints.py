"""Tests for the cluster query language in scheduler.constraints: meaning, errors and algebraic laws."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.constraints import MAX_EXPRESSION_LENGTH, Expr, matches, parse
from scheduler.types import InstanceView, PlacementError

JUNE_1_2016 = 1464739200.0  # 2016-06-01T00:00:00Z
DAY = 86400.0

BASE_ATTRIBUTES = {
    "ecs.instance-type": "t2.small",
    "ecs.availability-zone": "us-east-1a",
    "stack": "prod",
    "cores": "8",
    "ecs.capability.docker-remote-api.1.17": "",
}


def instance(attributes: Mapping[str, str] | None = None, **fields: Any) -> InstanceView:
    """An ACTIVE, connected instance; tests override only what the case is about."""
    values: dict[str, Any] = {
        "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc",
        "instance_id": "abc",
        "status": "ACTIVE",
        "agent_connected": True,
        "attributes": BASE_ATTRIBUTES if attributes is None else attributes,
        "registered_cpu": 2048,
        "registered_memory": 4096,
        "remaining_cpu": 2048,
        "remaining_memory": 4096,
        "used_tcp_ports": frozenset(),
        "used_udp_ports": frozenset(),
        "task_groups": {},
        "running_tasks_count": 0,
        "registered_at": JUNE_1_2016 + 3600,
        "agent_version": "1.50.2",
        "ec2_instance_id": "i-abcd1234",
    }
    values.update(fields)
    return InstanceView(**values)


DEFAULT = instance()
BUSY = instance(task_groups={"service:database": 2, "family:batch": 1}, running_tasks_count=3)
# A group whose tasks all stopped may linger with a zero count; it must not count as present.
EMPTIED = instance(task_groups={"service:database": 0}, running_tasks_count=0)
BARE = instance(attributes={}, agent_version="", ec2_instance_id="")
DISCONNECTED = instance(agent_connected=False)

EVALUATION_CASES = [
    # --- the examples from the ECS developer guide, verbatim ---
    ("attribute:ecs.instance-type =~ t2.*", DEFAULT, True),  # full-match regex on an attribute
    ("attribute:ecs.instance-type =~ t2.*", instance({"ecs.instance-type": "m5.large"}), False),
    ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", DEFAULT, True),
    ("attribute:ecs.availability-zone in [us-east-1c, us-east-1b]", DEFAULT, False),
    ("not(task:group == service:database)", DEFAULT, True),  # no tasks at all: no database task
    ("not(task:group == service:database)", BUSY, False),  # holds a database task
    ("not(task:group == service:database)", EMPTIED, True),  # zero count means no task
    ("runningTasksCount == 1", instance(running_tasks_count=1), True),
    ("runningTasksCount == 1", DEFAULT, False),
    (
        "attribute:ecs.instance-type == t2.small and attribute:ecs.availability-zone != us-east-1d",
        DEFAULT,
        True,
    ),
    (
        "attribute:ecs.instance-type == t2.small and attribute:ecs.availability-zone != us-east-1a",
        DEFAULT,
        False,  # second half fails
    ),
    ("agentConnected == true", DEFAULT, True),
    ("agentConnected == true", DISCONNECTED, False),
    ("attribute:stack exists", DEFAULT, True),
    ("attribute:stack exists", BARE, False),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", DEFAULT, True),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", instance(ec2_instance_id="i-0000"), False),
    ("task:group == service:production", instance(task_groups={"service:production": 1}), True),
    ("task:group == service:production", BUSY, False),
    ("registeredAt < 2016-06-01", instance(registered_at=JUNE_1_2016 - 1), True),
    ("registeredAt < 2016-06-01", instance(registered_at=JUNE_1_2016), False),  # the day has begun
    # --- every operator in its word form, case-insensitive ---
    ("attribute:stack equals prod", DEFAULT, True),
    ("attribute:stack EQUALS prod", DEFAULT, True),  # word operators ignore case
    ("attribute:stack not_equals prod", DEFAULT, False),
    ("attribute:cores greater_than 4", DEFAULT, True),
    ("attribute:cores greater_than_equal 8", DEFAULT, True),
    ("attribute:cores less_than 8", DEFAULT, False),
    ("attribute:cores less_than_equal 8", DEFAULT, True),
    ("attribute:stack Exists", DEFAULT, True),
    ("attribute:stack not_exists", DEFAULT, False),
    ("attribute:stack not_exists", BARE, True),
    ("attribute:stack In [dev, prod]", DEFAULT, True),
    ("attribute:stack not_in [dev, prod]", DEFAULT, False),
    ("attribute:stack matches pr.d", DEFAULT, True),
    ("attribute:stack not_matches pr.d", DEFAULT, False),
    # --- symbol forms not covered above ---
    ("attribute:stack != dev", DEFAULT, True),
    ("attribute:cores > 10", DEFAULT, False),
    ("attribute:cores >= 9", DEFAULT, False),
    ("attribute:cores < 10", DEFAULT, True),  # numeric: "8" < "10" would be False as strings
    ("attribute:cores <= 7.5", DEFAULT, False),  # decimals are numbers too
    ("attribute:stack !exists", DEFAULT, False),
    ("attribute:stack !in [dev, test]", DEFAULT, True),
    ("attribute:stack !~ dev.*", DEFAULT, True),
    # --- numeric versus string comparison ---
    ("attribute:stack > pro", DEFAULT, True),  # not numbers: plain string order
    ("attribute:cores > abc", DEFAULT, False),  # one side is not a number: "8" < "abc" as strings
    ("attribute:ecs.instance-type < t3", DEFAULT, True),
    # --- regexes: full match, groups, classes, quoting ---
    ("attribute:ecs.instance-type =~ t2", DEFAULT, False),  # a prefix is not a full match
    ("attribute:ecs.instance-type =~ (t2|m5)\\.[a-z]+", DEFAULT, True),  # parens inside a bare regex
    ("attribute:ecs.instance-type =~ 't2\\.\\w+'", DEFAULT, True),  # quoted; \. and \w survive
    ("(attribute:ecs.instance-type =~ t2.*)", DEFAULT, True),  # the unbalanced ')' ends the regex
    ("attribute:ecs.instance-type =~ t2.*&&attribute:stack == prod", DEFAULT, True),  # '&&' ends it
    ('attribute:stack =~ "p.*"', DEFAULT, True),  # double quotes
    # --- missing attributes: positive operators false, negations true ---
    ("attribute:missing == x", DEFAULT, False),
    ("attribute:missing != x", DEFAULT, True),
    ("attribute:missing > 1", DEFAULT, False),
    ("attribute:missing >= 1", DEFAULT, False),
    ("attribute:missing < 1", DEFAULT, False),  # both < and >= are false: ordering needs a value
    ("attribute:missing <= 1", DEFAULT, False),
    ("attribute:missing in [x, y]", DEFAULT, False),
    ("attribute:missing !in [x, y]", DEFAULT, True),
    ("attribute:missing =~ .*", DEFAULT, False),  # even a match-anything regex needs a value
    ("attribute:missing !~ .*", DEFAULT, True),
    ("attribute:missing exists", DEFAULT, False),
    ("attribute:missing !exists", DEFAULT, True),
    # --- a valueless attribute (ECS capability style) exists and equals the empty string ---
    ("attribute:ecs.capability.docker-remote-api.1.17 exists", DEFAULT, True),
    ("attribute:ecs.capability.docker-remote-api.1.17 == ''", DEFAULT, True),
    # --- attribute names with slashes, underscores, dashes ---
    ("attribute:team/owner_id-2 == a", instance({"team/owner_id-2": "a"}), True),
    # --- quoted values: spaces, escapes, operators inside quotes ---
    ("attribute:note == 'has space'", instance({"note": "has space"}), True),
    ("attribute:note == 'it\\'s'", instance({"note": "it's"}), True),  # escaped quote
    ("attribute:note == 'a && b'", instance({"note": "a && b"}), True),  # '&&' inside quotes is text
    ("attribute:note == 'and'", instance({"note": "and"}), True),  # quoting lets a keyword be a value
    # --- agentConnected ---
    ("agentConnected == false", DISCONNECTED, True),
    ("agentConnected != true", DISCONNECTED, True),
    ("agentConnected == TRUE", DEFAULT, True),  # booleans ignore case
    ("agentConnected in [true, false]", DISCONNECTED, True),
    ("agentConnected !in [true]", DEFAULT, False),
    ("agentConnected exists", DISCONNECTED, True),  # every instance has a connection state
    ("agentConnected !exists", DEFAULT, False),
    # --- agentVersion: dotted versions compare component-wise ---
    ("agentVersion == 1.50.2", DEFAULT, True),
    ("agentVersion > 1.9.0", DEFAULT, True),  # 50 > 9, though "1.50.2" < "1.9.0" as strings
    ("agentVersion >= 1.50.2.0", DEFAULT, True),  # trailing zeros do not matter
    ("agentVersion < 1.50.10", DEFAULT, True),
    ("agentVersion <= 1.50", DEFAULT, False),  # 1.50.2 is after 1.50(.0)
    ("agentVersion =~ 1\\.50\\..*", DEFAULT, True),
    ("agentVersion exists", BARE, False),  # an empty version means unknown
    ("agentVersion != 1.50.2", BARE, True),
    ("agentVersion > 1.0.0", instance(agent_version="dev-build"), True),  # not a version: strings
    # --- ec2InstanceId ---
    ("ec2InstanceId == i-abcd1234", DEFAULT, True),
    ("ec2InstanceId =~ i-abcd.*", DEFAULT, True),
    ("ec2InstanceId exists", BARE, False),
    ("ec2InstanceId !in [i-abcd1234]", BARE, True),
    # --- runningTasksCount ---
    ("runningTasksCount != 0", BUSY, True),
    ("runningTasksCount > 2", BUSY, True),
    ("runningTasksCount >= 4", BUSY, False),
    ("runningTasksCount < 3", BUSY, False),
    ("runningTasksCount <= 3", BUSY, True),
    ("runningTasksCount in [0, 1]", DEFAULT, True),
    ("runningTasksCount !in [0, 1]", BUSY, True),
    ("runningTasksCount exists", DEFAULT, True),  # every instance has a count
    ("runningTasksCount < -1", DEFAULT, False),  # negative numbers parse
    # --- registeredAt: dates are whole days, timestamps are seconds ---
    ("registeredAt == 2016-06-01", DEFAULT, True),  # 01:00 that day is "on" that day
    ("registeredAt != 2016-06-01", DEFAULT, False),
    ("registeredAt != 2016-06-02", DEFAULT, True),
    ("registeredAt <= 2016-06-01", DEFAULT, True),  # before the day ends
    ("registeredAt > 2016-06-01", DEFAULT, False),  # after the day ends
    ("registeredAt >= 2016-06-01", DEFAULT, True),
    ("registeredAt > 2016-05-31", DEFAULT, True),
    ("registeredAt == 2016-06-01T01:00:00Z", DEFAULT, True),
    ("registeredAt == 2016-06-01T01:00:01Z", DEFAULT, False),
    ("registeredAt < 2016-06-01T01:00:00.5Z", DEFAULT, True),  # fractional seconds
    ("registeredAt == 2016-06-01T01:00", DEFAULT, True),  # minute precision, no zone means UTC
    ("registeredAt == 2016-06-01T03:00:00+02:00", DEFAULT, True),  # offsets convert to UTC
    ("registeredAt == '2016-06-01 01:00:00'", DEFAULT, True),  # a space separator, quoted
    ("registeredAt in [2015-01-01, 2016-06-01]", DEFAULT, True),
    ("registeredAt !in [2015-01-01, 2016-06-02]", DEFAULT, True),
    ("registeredAt exists", DEFAULT, True),
    # --- task:group: a question about the instance's tasks ---
    ("task:group == service:database", BUSY, True),
    ("task:group != service:database", BUSY, False),  # some task has it, so "!=" is false
    ("task:group != service:web", BUSY, True),
    ("task:group in [service:web, family:batch]", BUSY, True),  # any of them
    ("task:group !in [service:web, family:batch]", BUSY, False),
    ("task:group !in [service:web]", BUSY, True),
    ("task:group exists", BUSY, True),  # any task at all
    ("task:group exists", DEFAULT, False),
    ("task:group exists", EMPTIED, False),
    ("task:group !exists", EMPTIED, True),
    ("task:group =~ service:.*", BUSY, True),
    ("task:group =~ service:.*", EMPTIED, False),  # the only service group holds no task
    ("task:group !~ service:.*", BUSY, False),
    ("task:group !~ service:.*", DEFAULT, True),
    # --- combinators, precedence, parentheses ---
    ("attribute:stack == dev or attribute:stack == prod", DEFAULT, True),
    ("attribute:stack == dev || attribute:stack == prod", DEFAULT, True),
    ("attribute:stack == prod && attribute:cores == 8", DEFAULT, True),
    ("attribute:stack == prod AND attribute:cores == 9", DEFAULT, False),  # connectives ignore case
    # and binds tighter: true || (false && false) is true; (true || false) && false would be false.
    ("attribute:stack == prod or attribute:stack == dev and attribute:cores == 9", DEFAULT, True),
    ("(attribute:stack == prod or attribute:stack == dev) and attribute:cores == 9", DEFAULT, False),
    # false && false || true: and first, so (false && false) || true is true.
    ("attribute:stack == dev and attribute:cores == 9 or attribute:cores == 8", DEFAULT, True),
    ("!(attribute:stack == prod)", DEFAULT, False),
    ("! attribute:stack == prod", DEFAULT, False),  # not applies to the condition after it
    ("not attribute:stack == dev and attribute:cores == 8", DEFAULT, True),  # not binds tightest
    ("NOT(attribute:stack == prod)", DEFAULT, False),
    ("!!(attribute:stack == prod)", DEFAULT, True),
    ("not not attribute:stack exists", DEFAULT, True),
    ("((attribute:stack == prod))", DEFAULT, True),
    ("attribute:stack==prod&&attribute:cores>=8", DEFAULT, True),  # no spaces needed around symbols
    ("  attribute:stack == prod  ", DEFAULT, True),  # surrounding whitespace is ignored
    ("attribute:stack == prod and(attribute:cores == 8)", DEFAULT, True),
    # --- subject keywords ignore case; attribute names do not ---
    ("RUNNINGTASKSCOUNT == 0", DEFAULT, True),
    ("attribute:STACK exists", DEFAULT, False),
]


@pytest.mark.parametrize(("expression", "node", "expected"), EVALUATION_CASES)
def test_evaluate(expression: str, node: InstanceView, expected: bool) -> None:
    assert parse(expression).evaluate(node) is expected
    # The cached entry point must agree with a fresh parse.
    assert matches(expression, node) is expected


BAD_EXPRESSIONS = [
    # (expression, position, a fragment the message must contain)
    ("", 0, "expression is empty"),
    ("   ", 3, "expression is empty"),  # the position is past the whitespace
    ("foo == 1", 0, "unknown subject 'foo' at position 0; expected one of agentConnected, agentVersion"),
    ("attribute:stack", 15, "expected an operator after 'attribute:stack' at position 15"),
    ("attribute:stack ", 16, "expected an operator after 'attribute:stack' at position 16"),
    ("attribute:stack = prod", 16, "expected an operator after 'attribute:stack' but found '='"),
    ("attribute:stack is prod", 16, "unknown operator 'is'"),
    ("attribute:stack !foo", 16, "unknown operator '!foo'"),
    ("attribute: == x", 10, "attribute name missing"),
    ("attribute:a*b exists", 10, "invalid attribute name 'a*b'"),
    ("task:owner == x", 0, "unknown subject 'task:owner'"),
    ("attribute:stack ==", 18, "expected a value after '=='"),
    ("attribute:stack == )", 19, "expected a value after '==' but found ')'"),
    ("attribute:stack == and", 19, "quote it"),  # a bare keyword is never a value
    ("attribute:stack == [a, b]", 19, "'==' takes a single value, not a list"),
    ("attribute:stack in prod", 19, "expected a list like [a, b] after 'in'"),
    ("attribute:stack in", 18, "expected a list like [a, b] after 'in'"),
    ("attribute:stack in [a, b", 24, "unclosed list opened at position 19"),
    ("attribute:stack in [a,", 22, "unclosed list opened at position 19"),
    ("attribute:stack in [a b]", 22, "unexpected 'b' in the list"),
    ("attribute:stack in []", 20, "empty list"),
    ("attribute:stack in [a,,b]", 22, "expected a list value but found ','"),
    ("attribute:stack in [a,]", 22, "expected a list value but found ']'"),
    ("attribute:stack =~ 't2[.*'", 22, "invalid regular expression 't2[.*'"),  # points at the '['
    ("attribute:stack =~ (t2", 19, "invalid regular expression '(t2'"),
    ("attribute:stack =~", 18, "expected a regular expression after '=~'"),
    ("attribute:stack == 'prod", 24, "unterminated string starting at position 19"),
    ("attribute:stack exists prod", 23, "'exists' takes no argument"),
    ("attribute:stack == prod extra", 24, "unexpected 'extra'"),  # trailing garbage
    ("attribute:stack == prod)", 23, "there is no open parenthesis to close"),
    ("(attribute:stack == prod", 24, "unclosed parenthesis opened at position 0: expected ')'"),
    ("(attribute:stack == prod x)", 25, "to close the parenthesis opened at position 0"),
    ("()", 1, "empty parentheses"),
    ("attribute:stack == prod and", 27, "expected a condition after 'and'"),
    ("attribute:stack == prod ||", 26, "expected a condition after 'or'"),
    ("(attribute:stack == prod and)", 28, "expected a condition after 'and'"),
    ("not", 3, "expected a condition after 'not'"),
    ("!", 1, "expected a condition after '!'"),
    ("== prod", 0, "expected a condition but found '='"),
    ("agentConnected == maybe", 18, "true or false"),
    ("agentConnected in [true, maybe]", 25, "true or false"),  # points at the bad list item
    ("agentConnected > true", 15, "operator '>' does not apply to agentConnected"),
    ("runningTasksCount == many", 21, "whole number"),
    ("runningTasksCount == 1.5", 21, "whole number"),
    ("runningTasksCount =~ 1.*", 18, "operator '=~' does not apply to runningTasksCount"),
    ("registeredAt < yesterday", 15, "registeredAt compares with a date or time"),
    ("registeredAt < 2016-02-30", 15, "is not a valid date"),
    ("registeredAt < 2016-06-01T00:00:00+25:00", 15, "not a valid UTC offset"),
    ("registeredAt =~ 2016.*", 13, "operator '=~' does not apply to registeredAt"),
    ("task:group > service:web", 11, "operator '>' does not apply to task:group"),
    ("x" * (MAX_EXPRESSION_LENGTH + 1), MAX_EXPRESSION_LENGTH, "at most 2000 characters"),
    # Absurd nesting must fail cleanly rather than exhaust Python's recursion limit.
    ("(" * 1000 + "attribute:a exists" + ")" * 1000, MAX_EXPRESSION_LENGTH, "at most 2000"),
    ("(" * 500 + "attribute:a exists" + ")" * 500, 64, "nests deeper than 64 levels"),
    ("!" * 100 + "attribute:a exists", 64, "nests deeper than 64 levels"),
]


@pytest.mark.parametrize(("expression", "position", "fragment"), BAD_EXPRESSIONS)
def test_bad_expression(expression: str, position: int, fragment: str) -> None:
    with pytest.raises(PlacementError) as caught:
        parse(expression)
    assert caught.value.position == position
    message = str(caught.value)
    assert fragment in message
    # Every message names where it failed, so a user can find the spot without the attribute.
    assert f"at position {position}" in message


def test_matches_reports_errors_like_parse() -> None:
    with pytest.raises(PlacementError) as caught:
        matches("attribute:stack ==", DEFAULT)
    assert caught.value.position == 18


def test_maximum_length_is_inclusive() -> None:
    # Exactly 2000 characters is allowed; padding with spaces keeps the expression valid.
    expression = "attribute:stack exists".ljust(MAX_EXPRESSION_LENGTH)
    assert len(expression) == MAX_EXPRESSION_LENGTH
    assert parse(expression).evaluate(DEFAULT) is True


@pytest.mark.parametrize(
    ("expression", "dynamic"),
    [
        ("attribute:stack == prod", False),  # attributes do not change as tasks are placed
        ("agentConnected == true and registeredAt > 2016-01-01", False),
        ("ec2InstanceId exists or agentVersion > 1.0", False),
        ("runningTasksCount < 3", True),  # placing a task raises the count
        ("task:group != service:web", True),  # placing a task adds its group
        ("not(task:group == service:web)", True),  # negation keeps dynamism
        ("attribute:stack == prod and (agentConnected == true or runningTasksCount == 0)", True),
    ],
)
def test_dynamic(expression: str, dynamic: bool) -> None:
    assert parse(expression).dynamic is dynamic


@pytest.mark.parametrize(
    ("expression", "canonical"),
    [
        # Word forms render as symbols, and and/or/not as &&/||/!.
        (
            "attribute:stack equals prod AND not attribute:x exists",
            "attribute:stack == prod && !(attribute:x exists)",
        ),
        # An 'or' inside an 'and' keeps its parentheses; redundant ones go.
        ("((attribute:a exists ) )", "attribute:a exists"),
        (
            "(attribute:a exists or attribute:b exists) and attribute:c exists",
            "(attribute:a exists || attribute:b exists) && attribute:c exists",
        ),
        # Values that are not bare words are quoted, with escapes.
        ("attribute:n in ['a b', \"it's\", plain]", "attribute:n in ['a b', 'it\\'s', plain]"),
    ],
)
def test_canonical_text(expression: str, canonical: str) -> None:
    assert str(parse(expression)) == canonical


# ---------------------------------------------------------------------------------------------
# Properties over generated expressions and instances.

ATTRIBUTE_NAMES = ("zone", "type", "stack")
VALUES = ("a", "b", "t2.small", "10", "9", "1.9.0", "")
GROUPS = ("service:web", "service:db", "family:batch")


def _string_arguments() -> list[str]:
    return ["a", "b", "t2.small", "10", "9", "1.10.0", "''", "'with space'"]


def _conditions() -> tuple[list[str], list[tuple[str, str]]]:
    """Every simple condition over a small universe, plus (positive, negated) operator pairs."""
    conditions: list[str] = []
    pairs: list[tuple[str, str]] = []

    def add_pair(positive: str, negative: str) -> None:
        conditions.extend((positive, negative))
        pairs.append((positive, negative))

    string_subjects = [f"attribute:{name}" for name in ATTRIBUTE_NAMES] + ["agentVersion", "ec2InstanceId"]
    for subject in string_subjects:
        add_pair(f"{subject} exists", f"{subject} !exists")
        for argument in _string_arguments():
            add_pair(f"{subject} == {argument}", f"{subject} != {argument}")
            conditions.extend(f"{subject} {op} {argument}" for op in (">", ">=", "<", "<="))
        add_pair(f"{subject} in [a, '10', 1.9.0]", f"{subject} !in [a, '10', 1.9.0]")
        for regex in ("t2.*", "[0-9]+", "'a|b'", ".*"):
            add_pair(f"{subject} =~ {regex}", f"{subject} !~ {regex}")
    for group in GROUPS:
        add_pair(f"task:group == {group}", f"task:group != {group}")
    add_pair("task:group in [service:web, family:batch]", "task:group !in [service:web, family:batch]")
    add_pair("task:group =~ service:.*", "task:group !~ service:.*")
    add_pair("task:group exists", "task:group !exists")
    for count in ("0", "1", "3"):
        add_pair(f"runningTasksCount == {count}", f"runningTasksCount != {count}")
        conditions.extend(f"runningTasksCount {op} {count}" for op in (">", ">=", "<", "<="))
    add_pair("runningTasksCount in [0, 2]", "runningTasksCount !in [0, 2]")
    add_pair("agentConnected == true", "agentConnected != true")
    add_pair("agentConnected in [false]", "agentConnected !in [false]")
    for moment in ("2016-06-01", "2016-06-01T12:00:00Z"):
        add_pair(f"registeredAt == {moment}", f"registeredAt != {moment}")
        conditions.extend(f"registeredAt {op} {moment}" for op in (">", ">=", "<", "<="))
    return conditions, pairs


CONDITIONS, NEGATION_PAIRS = _conditions()
WORD_FORMS = {
    "==": "equals",
    "!=": "not_equals",
    ">": "greater_than",
    ">=": "greater_than_equal",
    "<": "less_than",
    "<=": "less_than_equal",
    "!exists": "not_exists",
    "!in": "not_in",
    "=~": "matches",
    "!~": "not_matches",
}

instances = st.builds(
    instance,
    attributes=st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), st.sampled_from(VALUES)),
    agent_connected=st.booleans(),
    task_groups=st.dictionaries(st.sampled_from(GROUPS), st.integers(0, 2)),
    running_tasks_count=st.integers(0, 4),
    registered_at=st.sampled_from([JUNE_1_2016 - 1, JUNE_1_2016, JUNE_1_2016 + 43200, JUNE_1_2016 + DAY]),
    agent_version=st.sampled_from(["", "1.9.0", "1.10.0", "10", "a"]),
    ec2_instance_id=st.sampled_from(["", "a", "b", "t2.small"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # Random spellings of the connectives exercise both forms; parentheses keep the tree shape known.
    and_word = st.sampled_from(["and", "&&", "AND"])
    or_word = st.sampled_from(["or", "||", "Or"])
    not_word = st.sampled_from(["not", "!", "NOT "])
    return st.one_of(
        st.tuples(children, and_word, children).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(children, or_word, children).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(not_word, children).map(lambda t: f"{t[0]}({t[1]})"),
    )


expressions = st.recursive(st.sampled_from(CONDITIONS), _combine, max_leaves=8)


@given(expressions, instances)
def test_not_is_negation(expression: str, node: InstanceView) -> None:
    assert parse(f"not({expression})").evaluate(node) is not parse(expression).evaluate(node)
    assert parse(f"!({expression})").evaluate(node) is not parse(expression).evaluate(node)


@given(expressions, expressions, instances)
def test_and_or_agree_with_python(left: str, right: str, node: InstanceView) -> None:
    a, b = parse(left).evaluate(node), parse(right).evaluate(node)
    assert parse(f"({left}) and ({right})").evaluate(node) is (a and b)
    assert parse(f"({left}) && ({right})").evaluate(node) is (a and b)
    assert parse(f"({left}) or ({right})").evaluate(node) is (a or b)
    assert parse(f"({left}) || ({right})").evaluate(node) is (a or b)


@given(st.sampled_from(CONDITIONS), st.sampled_from(CONDITIONS), st.sampled_from(CONDITIONS), instances)
def test_and_binds_tighter_than_or(a: str, b: str, c: str, node: InstanceView) -> None:
    x, y, z = (parse(e).evaluate(node) for e in (a, b, c))
    assert parse(f"{a} or {b} and {c}").evaluate(node) is (x or (y and z))
    assert parse(f"{a} and {b} or {c}").evaluate(node) is ((x and y) or z)


@given(st.sampled_from(NEGATION_PAIRS), instances)
def test_negated_operators_are_exact_negations(pair: tuple[str, str], node: InstanceView) -> None:
    # The missing-value rule is chosen so this holds for every subject, present or missing.
    positive, negative = pair
    assert parse(negative).evaluate(node) is not parse(positive).evaluate(node)


@given(st.sampled_from(CONDITIONS), instances)
def test_word_and_symbol_forms_agree(condition: str, node: InstanceView) -> None:
    subject, symbol, *rest = condition.split(" ", 2)
    word = WORD_FORMS.get(symbol, symbol)
    reworded = " ".join([subject, word.upper(), *rest])
    assert parse(reworded).evaluate(node) is parse(condition).evaluate(node)


@given(expressions, instances)
def test_canonical_text_round_trips(expression: str, node: InstanceView) -> None:
    parsed = parse(expression)
    again = parse(str(parsed))
    assert again.evaluate(node) is parsed.evaluate(node)
    assert str(again) == str(parsed)  # the canonical text is a fixed point
    assert again.dynamic is parsed.dynamic


GRAMMAR_ALPHABET = st.sampled_from(
    [
        *list("()[],'\"!=~<>&| \\.*-:"),
        "attribute:",
        "task:group",
        "and",
        "or",
        "not",
        "in",
        "a",
        "1",
        "exists",
    ]
)


@given(st.one_of(st.text(max_size=60), st.lists(GRAMMAR_ALPHABET, max_size=30).map("".join)))
def test_any_text_parses_or_fails_with_a_position(text: str) -> None:
    # Fuzz: never an IndexError/RecursionError/re.error, and the position lies within the text.
    try:
        parsed = parse(text)
    except PlacementError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(text)
        assert f"at position {error.position}" in str(error)
    else:
        assert isinstance(parsed, Expr)
        assert isinstance(parsed.evaluate(DEFAULT), bool)
