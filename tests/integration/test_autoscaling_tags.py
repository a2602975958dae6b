"""Application Auto Scaling's TagResource, UntagResource and ListTagsForResource, through boto3 over HTTP.

The same operation names exist in ECS with other inputs: these must reach the scalable-target
tags with AAS's validation and errors, and never ECS's tag code (which would refuse `ResourceARN`).
A real control plane; agents run the fake executor, since no container is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster
from tests.integration.ecs_wire import TASK_DEFINITION
from tests.integration.test_scheduled_actions import clients

TARGET = {
    "ServiceNamespace": "ecs",
    "ResourceId": "service/default/web",
    "ScalableDimension": "ecs:service:DesiredCount",
}
# A well-formed scalable-target ARN that was never registered here.
UNKNOWN_ARN = (
    "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/0e0123456789abcdef0123456789abcdef"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("aas-tags")) / "data", executor_factory=FakeExecutor)
    try:
        c.start_agents(1)
        ecs, scaling = clients(c)
        ecs.register_task_definition(**TASK_DEFINITION)
        ecs.create_service(cluster="default", serviceName="web", taskDefinition="sleeper", desiredCount=1)
        yield ecs, scaling
    finally:
        c.close()


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_tags_given_at_registration_are_listed_added_to_and_removed(world: tuple[Any, Any]) -> None:
    _, scaling = world
    arn = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=3, Tags={"team": "web"})[
        "ScalableTargetARN"
    ]
    try:
        assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "web"}
        scaling.tag_resource(ResourceARN=arn, Tags={"team": "api", "env": "dev"})
        # An existing key takes the new value, as AAS documents.
        assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "api", "env": "dev"}
        scaling.untag_resource(ResourceARN=arn, TagKeys=["team", "absent"])
        assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "dev"}
    finally:
        scaling.deregister_scalable_target(**TARGET)
    # Deregistered: the ARN names nothing any more, and a new registration starts untagged.
    with pytest.raises(ClientError) as err:
        scaling.list_tags_for_resource(ResourceARN=arn)
    assert _code(err)[0] == "ResourceNotFoundException"
    again = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=3)["ScalableTargetARN"]
    try:
        assert again != arn
        assert scaling.list_tags_for_resource(ResourceARN=again)["Tags"] == {}
    finally:
        scaling.deregister_scalable_target(**TARGET)


@pytest.mark.parametrize(
    ("call", "code", "words"),
    [
        (lambda s, arn: s.list_tags_for_resource(ResourceARN=UNKNOWN_ARN), "ResourceNotFoundException", UNKNOWN_ARN),
        (lambda s, arn: s.tag_resource(ResourceARN=UNKNOWN_ARN, Tags={"a": "b"}), "ResourceNotFoundException", "exist"),
        (lambda s, arn: s.untag_resource(ResourceARN=UNKNOWN_ARN, TagKeys=["a"]), "ResourceNotFoundException", "exist"),
        # An ECS ARN is not a scalable target: AAS's pattern refuses it before any lookup.
        (
            lambda s, arn: s.list_tags_for_resource(ResourceARN="arn:aws:ecs:us-east-1:000000000000:cluster/default"),
            "ValidationException",
            "resourceARN",
        ),
        (lambda s, arn: s.tag_resource(ResourceARN=arn, Tags={"aws:owner": "x"}), "ValidationException", "aws:"),
        (lambda s, arn: s.tag_resource(ResourceARN=arn, Tags={"k": "v" * 257}), "ValidationException", "tags.value"),
        # 50 is AWS's per-resource limit: 51 new keys cannot all fit.
        (
            lambda s, arn: s.tag_resource(ResourceARN=arn, Tags={f"k{i}": "v" for i in range(51)}),
            "TooManyTagsException",
            "at most 50",
        ),
    ],
)
def test_bad_tag_requests_get_aas_errors_and_change_nothing(
    world: tuple[Any, Any], call: Any, code: str, words: str
) -> None:
    _, scaling = world
    arn = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=3, Tags={"keep": "me"})[
        "ScalableTargetARN"
    ]
    try:
        with pytest.raises(ClientError) as err:
            call(scaling, arn)
        got_code, message = _code(err)
        assert got_code == code
        assert words in message
        assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"keep": "me"}
    finally:
        scaling.deregister_scalable_target(**TARGET)


def test_ecs_tag_calls_still_reach_ecs_objects(world: tuple[Any, Any]) -> None:
    ecs, _ = world
    arn = ecs.describe_services(cluster="default", services=["web"])["services"][0]["serviceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "web"}])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "web"}]
