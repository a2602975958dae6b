"""A row that could not be read back cannot be written: random values of random types (huge and
non-finite numbers, lone surrogates, over-long strings, wrong types) set on tasks, instances,
task definitions and documents either go into the store and read back equal, through every read
that lists them, or are refused with InvalidParameterException and leave the store as it was."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import (
    Container,
    ContainerDefinition,
    ContainerInstance,
    KeyValuePair,
    Task,
    TaskDefinition,
    task_arn,
    task_definition_arn,
)
from orchestrator.core.store import Store

SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc80b"])
TEXT = st.one_of(st.text(max_size=20), SURROGATES, st.just("x" * 300_000))
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
VALUE = st.recursive(
    SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6
)

TASK_FIELDS = ("lastStatus", "startedAt", "stoppedReason", "stopCode", "group", "cpu", "overrides")
CONTAINER_FIELDS = ("exitCode", "reason", "runtimeId", "lastStatus", "networkBindings", "healthStatus")
INSTANCE_FIELDS = ("statusReason", "runningTasksCount", "ec2InstanceId", "agentConnected")


def _store() -> Store:
    return Store(Path(tempfile.mkdtemp()) / "db.sqlite")


def _task(n: int) -> Task:
    arn = task_arn("default", f"{n:032x}")
    return Task(
        taskArn=arn,
        clusterArn="arn:aws:ecs:us-east-1:000000000000:cluster/default",
        taskDefinitionArn=task_definition_arn("web", 1),
        group="family:web",
        createdAt=1.0,
        containers=[Container(containerArn=arn + "/app", taskArn=arn, name="app", image="orch/busybox")],
    )


def _write_or_refused(store: Store, write: Any) -> bool:
    try:
        with store.write():
            write()
    except InvalidParameterException:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(TASK_FIELDS + tuple(f"containers.{f}" for f in CONTAINER_FIELDS)),
    value=VALUE,
    update=st.booleans(),
)
def test_a_task_with_any_value_is_stored_readably_or_refused(field: str, value: Any, update: bool) -> None:
    store = _store()
    task = _task(1)
    if update:
        with store.write():
            store.insert_task(task)
        task = store.get_task(task.taskArn) or task
    target: Any = task.containers[0] if field.startswith("containers.") else task
    setattr(target, field.rsplit(".", 1)[-1], value)  # as an unvalidated copy of a report once did
    written = _write_or_refused(store, lambda: store.update_task(task) if update else store.insert_task(task))
    # Every read still works, whatever happened.
    listed = store.list_tasks()
    got = store.get_task(task.taskArn)
    if written:
        assert got is not None and got.wire() == Task.model_validate_json(got.model_dump_json()).wire()
        assert [t.taskArn for t in listed] == [task.taskArn]
    elif update:
        assert got is not None and got.version == 1  # the refused update changed nothing
    else:
        assert got is None and listed == []
    store.close()


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(INSTANCE_FIELDS), value=VALUE)
def test_an_instance_with_any_value_is_stored_readably_or_refused(field: str, value: Any) -> None:
    store = _store()
    inst = ContainerInstance(
        containerInstanceArn="arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + "a" * 32,
        ec2InstanceId="i-1",
        registeredAt=1.0,
    )
    setattr(inst, field, value)
    written = _write_or_refused(store, lambda: store.insert_instance(inst, "h", heartbeat_at=1.0))
    assert len(store.list_instances()) == (1 if written else 0)
    store.close()


@settings(max_examples=80, deadline=None)
@given(name=TEXT, value=TEXT, family=TEXT)
def test_a_task_definition_with_any_text_is_stored_readably_or_refused(name: str, value: str, family: str) -> None:
    store = _store()
    td = TaskDefinition(
        taskDefinitionArn=task_definition_arn("web", 1),
        family="web",
        revision=1,
        containerDefinitions=[
            ContainerDefinition(name="app", image="i", environment=[KeyValuePair(name=name, value=value)])
        ],
    )
    td.family = family
    written = _write_or_refused(store, lambda: store.put_task_definition(td))
    listed = store.list_task_definitions()
    assert len(listed) == (1 if written else 0)
    if written:
        assert listed[0].containerDefinitions[0].environment[0].name == name
    store.close()


@settings(max_examples=80, deadline=None)
@given(body=st.dictionaries(TEXT, VALUE, max_size=4))
def test_a_document_with_any_value_is_stored_readably_or_refused(body: dict[str, Any]) -> None:
    store = _store()
    written = _write_or_refused(store, lambda: store.put_doc("credential", "k", body))
    docs = store.list_docs("credential")
    assert len(docs) == (1 if written else 0)
    if written:
        # Read back equal, and encodable as the UTF-8 JSON every response is.
        assert _same(docs[0][1], body)
        assert json.dumps(docs[0][1], ensure_ascii=False).encode("utf-8")
    store.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
