"""The parameter store, Secrets Manager and a task's secrets, on the operations with a fake clock.

The valueFrom grammar is a table; the stores are checked for the SSM and Secrets Manager rules a
client relies on (versions, Overwrite, staging labels, deletion windows) and for sealing at rest;
resolution for a starting task for what reaches the agent and what a missing reference does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.clock import FakeClock
from orchestrator.core.errors import AccessDeniedException, ApiError, ClientException
from orchestrator.core.store import Store
from orchestrator.operations import Context, Operations
from orchestrator.operations.secrets import ASM, SSM, ResourceInitializationError, SecretRef, parse_value_from
from tests.builders import container, instance

ARN_SM = "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf"

# (valueFrom, what it parses to). Secrets Manager ARNs: arn:aws:secretsmanager:R:A:secret:NAME
# is parts 0-6; then json-key (7), version-stage (8), version-id (9), each empty for its default.
VALUE_FROM: list[tuple[str, SecretRef]] = [
    ("db-pass", SecretRef(SSM, "db-pass")),
    ("/app/db-pass", SecretRef(SSM, "/app/db-pass")),
    (
        "arn:aws:ssm:us-east-1:000000000000:parameter/app/db-pass",
        SecretRef(SSM, "arn:aws:ssm:us-east-1:000000000000:parameter/app/db-pass"),
    ),
    (ARN_SM, SecretRef(ASM, ARN_SM)),
    (f"{ARN_SM}:password::", SecretRef(ASM, ARN_SM, "password")),
    (f"{ARN_SM}:password:AWSPREVIOUS:", SecretRef(ASM, ARN_SM, "password", "AWSPREVIOUS")),
    (f"{ARN_SM}::AWSPREVIOUS:", SecretRef(ASM, ARN_SM, None, "AWSPREVIOUS")),
    (f"{ARN_SM}:::v-1", SecretRef(ASM, ARN_SM, None, None, "v-1")),
    (f"{ARN_SM}:password::v-1", SecretRef(ASM, ARN_SM, "password", None, "v-1")),
    # a partial ARN (no random suffix) is still a secret ARN
    (
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod",
        SecretRef(ASM, "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod"),
    ),
]

BAD_VALUE_FROM: list[tuple[Any, str]] = [
    ("", "valueFrom is required"),
    (None, "valueFrom is required"),
    ("app/db-pass", "must begin with /"),  # a hierarchy without its leading slash
    ("aws-thing", "reserved"),
    ("db pass", "may only contain"),
    ("arn:aws:s3:::bucket/key", "only ssm and secretsmanager"),
    ("arn:aws:ssm:us-east-1:000000000000:document/x", "must name a parameter"),
    ("arn:aws:secretsmanager:us-east-1:000000000000:function:x", "must name a secret"),
    (f"{ARN_SM}:k:AWSCURRENT:v-1", "not both"),
    (f"{ARN_SM}:k:s:v:extra", "too many parts"),
]


@pytest.mark.parametrize(("value_from", "want"), VALUE_FROM, ids=[v[0][-40:] for v in VALUE_FROM])
def test_value_from_parses(value_from: str, want: SecretRef) -> None:
    assert parse_value_from(value_from) == want


@pytest.mark.parametrize(("value_from", "words"), BAD_VALUE_FROM, ids=[str(v[0])[-40:] for v in BAD_VALUE_FROM])
def test_bad_value_from_is_refused_saying_why(value_from: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_value_from(value_from)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ops(tmp_path: Path, clock: FakeClock) -> Operations:
    store = Store(tmp_path / "test.db")
    store.ensure_cluster("default")
    return Operations(Context(store=store, clock=clock, master_key_path=tmp_path / "master.key"))


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.code


def test_put_parameter_versions_overwrite_and_selectors(ops: Operations, tmp_path: Path) -> None:
    assert ops.put_parameter({"Name": "p", "Value": "one", "Type": "SecureString"})["Version"] == 1
    assert code_of(ops.put_parameter, {"Name": "p", "Value": "two"}) == "ParameterAlreadyExists"
    # Overwrite without Type keeps the type it had.
    assert ops.put_parameter({"Name": "p", "Value": "two", "Overwrite": True})["Version"] == 2
    got = ops.get_parameter({"Name": "p", "WithDecryption": True})["Parameter"]
    assert (got["Value"], got["Type"], got["Version"]) == ("two", "SecureString", 2)
    assert ops.get_parameter({"Name": "p:1", "WithDecryption": True})["Parameter"]["Value"] == "one"
    assert code_of(ops.get_parameter, {"Name": "p:9"}) == "ParameterVersionNotFound"
    assert ops.get_parameter({"Name": "p"})["Parameter"]["Value"].startswith("v1.")  # sealed without decryption
    # Sealed at rest, String or SecureString: the database file holds neither value.
    ops.put_parameter({"Name": "plain", "Value": "visible-or-not", "Type": "String"})
    raw = (tmp_path / "test.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("test.db-*"))
    assert b"two" not in raw and b"visible-or-not" not in raw


def test_put_parameter_refuses_what_it_does_not_do_by_name(ops: Operations) -> None:
    cases = [
        ({"Tier": "Advanced"}, "ValidationException", "Tier"),
        ({"Policies": '[{"Type":"Expiration"}]'}, "ValidationException", "Policies"),
        ({"Tags": [{"Key": "a", "Value": "b"}]}, "ValidationException", "Tags"),
        ({"KeyId": "alias/mine"}, "InvalidKeyId", "KeyId"),
        ({"DataType": "aws:ec2:image"}, "ValidationException", "DataType"),
        ({"Type": "Number"}, "UnsupportedParameterType", "Type"),
    ]
    for extra, code, word in cases:
        with pytest.raises(ApiError) as caught:
            ops.put_parameter({"Name": "x", "Value": "v", "Type": "SecureString", **extra})
        assert (caught.value.code, word in caught.value.message) == (code, True), extra
    assert ops.describe_parameters({})["Parameters"] == []  # nothing was stored


def test_allowed_pattern_is_honoured_on_later_versions_too(ops: Operations) -> None:
    ops.put_parameter({"Name": "port", "Value": "80", "Type": "String", "AllowedPattern": r"\d+"})
    assert code_of(ops.put_parameter, {"Name": "port", "Value": "http", "Overwrite": True}) == (
        "ParameterPatternMismatchException"
    )
    assert ops.put_parameter({"Name": "port", "Value": "8080", "Overwrite": True})["Version"] == 2


def test_get_parameters_lists_the_invalid_ones_and_delete_twice_is_not_found(ops: Operations) -> None:
    ops.put_parameter({"Name": "/a/b", "Value": "v", "Type": "String"})
    arn = "arn:aws:ssm:us-east-1:000000000000:parameter/a/b"
    got = ops.get_parameters({"Names": [arn, "nope"]})
    assert [p["Name"] for p in got["Parameters"]] == ["/a/b"] and got["InvalidParameters"] == ["nope"]
    ops.delete_parameter({"Name": "/a/b"})
    assert code_of(ops.delete_parameter, {"Name": "/a/b"}) == "ParameterNotFound"


def test_describe_parameters_filters_and_pages(ops: Operations) -> None:
    for i in range(5):
        ops.put_parameter({"Name": f"/app/p{i}", "Value": "v", "Type": "String" if i % 2 else "SecureString"})
    ops.put_parameter({"Name": "other", "Value": "v", "Type": "String"})
    begins = {"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/"]}]}
    # 5 under /app/, pages of 2: 2 + 2 + 1
    first = ops.describe_parameters({**begins, "MaxResults": 2})
    second = ops.describe_parameters({**begins, "MaxResults": 2, "NextToken": first["NextToken"]})
    third = ops.describe_parameters({**begins, "MaxResults": 2, "NextToken": second["NextToken"]})
    names = [p["Name"] for page in (first, second, third) for p in page["Parameters"]]
    assert names == [f"/app/p{i}" for i in range(5)] and "NextToken" not in third
    secure = ops.describe_parameters({"ParameterFilters": [{"Key": "Type", "Values": ["SecureString"]}]})
    assert [p["Name"] for p in secure["Parameters"]] == ["/app/p0", "/app/p2", "/app/p4"]
    assert code_of(ops.describe_parameters, {"ParameterFilters": [{"Key": "Label", "Values": ["x"]}]}) == (
        "InvalidFilterKey"
    )


def test_secret_stages_move_and_a_deleted_secret_waits_out_its_window(ops: Operations, clock: FakeClock) -> None:
    created = ops.create_secret({"Name": "s", "SecretString": "one"})
    assert created["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:s-")
    token = "t" * 32
    put = ops.put_secret_value({"SecretId": created["ARN"], "SecretString": "two", "ClientRequestToken": token})
    assert put["VersionId"] == token
    # The same token with the same value again is a no-op; with another value it is refused.
    assert (
        ops.put_secret_value({"SecretId": "s", "SecretString": "two", "ClientRequestToken": token})["VersionId"]
        == token
    )
    assert code_of(ops.put_secret_value, {"SecretId": "s", "SecretString": "3", "ClientRequestToken": token}) == (
        "ResourceExistsException"
    )
    assert ops.get_secret_value({"SecretId": "s"})["SecretString"] == "two"
    previous = ops.get_secret_value({"SecretId": "s", "VersionStage": "AWSPREVIOUS"})
    assert (previous["SecretString"], previous["VersionId"]) == ("one", created["VersionId"])
    # A partial ARN (without the random suffix) names the secret too.
    partial = "arn:aws:secretsmanager:us-east-1:000000000000:secret:s"
    assert ops.get_secret_value({"SecretId": partial})["SecretString"] == "two"
    deleted = ops.delete_secret({"SecretId": "s", "RecoveryWindowInDays": 7})
    assert deleted["DeletionDate"] == clock.now() + 7 * 86400
    assert code_of(ops.get_secret_value, {"SecretId": "s"}) == "InvalidRequestException"
    assert code_of(ops.create_secret, {"Name": "s", "SecretString": "x"}) == "InvalidRequestException"
    clock.advance(7 * 86400)
    assert code_of(ops.get_secret_value, {"SecretId": "s"}) == "ResourceNotFoundException"
    assert ops.create_secret({"Name": "s", "SecretString": "new"})["Name"] == "s"
    for refused in ({"Tags": [{"Key": "a"}]}, {"KmsKeyId": "alias/mine"}, {"AddReplicaRegions": [{"Region": "x"}]}):
        assert code_of(ops.create_secret, {"Name": "r", "SecretString": "v", **refused}) == "InvalidParameterException"


def placed_task(ops: Operations, cdef: dict[str, Any]) -> tuple[str, str]:
    arn = instance(ops, "a", "us-east-1a")
    ops.register_task_definition({"family": "f", "containerDefinitions": [container(**cdef)]})
    task = ops.run_task({"taskDefinition": "f:1"})["tasks"][0]
    return arn, str(task["taskArn"])


def test_a_task_gets_its_secrets_and_registry_auth_and_only_its_agent_does(ops: Operations) -> None:
    ops.put_parameter({"Name": "db-pass", "Value": "pw-9f3a1c", "Type": "SecureString"})
    secret = ops.create_secret({"Name": "reg", "SecretString": json.dumps({"username": "u", "password": "p"})})
    inst, task = placed_task(
        ops,
        {
            "secrets": [
                {"name": "DB", "valueFrom": "db-pass"},
                {"name": "USER", "valueFrom": f"{secret['ARN']}:username::"},
            ],
            "repositoryCredentials": {"credentialsParameter": secret["ARN"]},
        },
    )
    got = ops.resolve_task_secrets(inst, task)
    assert got == {
        "containers": [
            {
                "name": "app",
                "secrets": {"DB": "pw-9f3a1c", "USER": "u"},
                "repositoryCredentials": {"username": "u", "password": "p"},
            }
        ]
    }
    other = instance(ops, "b", "us-east-1b")
    with pytest.raises(AccessDeniedException):
        ops.resolve_task_secrets(other, task)
    assert "pw-9f3a1c" not in json.dumps(ops.describe_tasks({"tasks": [task]}))


def test_a_missing_secret_stops_the_task_with_ecs_reason_naming_only_the_reference(ops: Operations) -> None:
    inst, task = placed_task(ops, {"secrets": [{"name": "DB", "valueFrom": "/nope"}]})
    with pytest.raises(ResourceInitializationError) as caught:
        ops.resolve_task_secrets(inst, task)
    want = (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
        "unable to retrieve secrets from ssm: invalid parameters: /nope"
    )
    assert caught.value.message == want
    stopped = ops.describe_tasks({"tasks": [task]})["tasks"][0]
    assert (stopped["desiredStatus"], stopped["stopCode"], stopped["stoppedReason"]) == (
        "STOPPED",
        "TaskFailedToStart",
        want,
    )


def test_registration_checks_secret_references(ops: Operations) -> None:
    def register(**cdef: Any) -> None:
        ops.register_task_definition({"family": "g", "containerDefinitions": [container(**cdef)]})

    with pytest.raises(ClientException, match=r"secrets\[1\].name A is given twice"):
        register(secrets=[{"name": "A", "valueFrom": "a"}, {"name": "A", "valueFrom": "b"}])
    with pytest.raises(ClientException, match="also in environment"):
        register(secrets=[{"name": "A", "valueFrom": "a"}], environment=[{"name": "A", "value": "x"}])
    with pytest.raises(ClientException, match="credentialsParameter must be a Secrets Manager secret"):
        register(repositoryCredentials={"credentialsParameter": "arn:aws:ssm:us-east-1:000000000000:parameter/x"})
