"""AWS JSON 1.1 wire pieces, checked against botocore's parser and a real boto3 client."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.parsers
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.api.aws import sigv4
from orchestrator.api.aws.awsjson import (
    AUTOSCALING,
    CONTENT_TYPE,
    ECS,
    LOGS,
    SECRETSMANAGER,
    SERVICES,
    SSM,
    TARGET_PREFIXES,
    dumps,
    error_body,
    load_model,
    operation_names,
    parse_body,
    parse_target,
    target_for,
    to_wire,
)
from orchestrator.core.errors import (
    ApiError,
    ClusterNotFoundException,
    InvalidSignatureException,
    ObjectNotFoundException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)

TARGETS = [
    ("ecs", "AmazonEC2ContainerServiceV20141113.CreateCluster", (ECS, "CreateCluster")),
    ("autoscaling", "AnyScaleFrontendService.PutScalingPolicy", (AUTOSCALING, "PutScalingPolicy")),
    ("surrounding space", " AmazonEC2ContainerServiceV20141113.ListTasks ", (ECS, "ListTasks")),
]


@pytest.mark.parametrize(("name", "header", "expected"), TARGETS, ids=[t[0] for t in TARGETS])
def test_parse_target(name: str, header: str, expected: tuple[str, str]) -> None:
    assert parse_target(header) == expected
    assert target_for(*expected) == header.strip()


BAD_TARGETS = [
    ("missing", None),
    ("empty", ""),
    ("no operation", "AmazonEC2ContainerServiceV20141113"),
    ("empty operation", "AmazonEC2ContainerServiceV20141113."),
    ("unknown prefix", "AmazonEC2ContainerServiceV20990101.CreateCluster"),
    ("other service's operation", "AnyScaleFrontendService.CreateCluster"),
    ("unknown operation", "AmazonEC2ContainerServiceV20141113.LaunchRocket"),
    ("wrong case", "AmazonEC2ContainerServiceV20141113.createCluster"),
]


@pytest.mark.parametrize(("name", "header"), BAD_TARGETS, ids=[t[0] for t in BAD_TARGETS])
def test_unknown_targets_are_unknown_operations(name: str, header: str | None) -> None:
    with pytest.raises(UnknownOperationException) as caught:
        parse_target(header)
    assert caught.value.status == 400
    assert caught.value.code == "UnknownOperationException"


def test_target_prefixes_match_the_models() -> None:
    for prefix, service in TARGET_PREFIXES.items():
        metadata = load_model(service)["metadata"]
        assert (metadata["targetPrefix"], metadata["jsonVersion"], metadata["protocol"]) == (
            prefix,
            "1.1",
            "json",
        )
    assert set(SERVICES) == {ECS, AUTOSCALING, LOGS, SSM, SECRETSMANAGER}
    with pytest.raises(KeyError):
        load_model("s3")
    with pytest.raises(KeyError):
        target_for("s3", "GetObject")


def test_the_operations_the_cli_needs_are_in_the_models() -> None:
    ecs_needed = {
        "CreateCluster",
        "DescribeServices",
        "RunTask",
        "StopTask",
        "PutAttributes",
        "UpdateContainerInstancesState",
        "DeregisterTaskDefinition",
    }
    autoscaling_needed = {
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "DescribeScalingActivities",
        "DeleteScalingPolicy",
    }
    assert ecs_needed <= operation_names(ECS)
    assert autoscaling_needed <= operation_names(AUTOSCALING)


ERRORS: list[tuple[str, str, ApiError, dict[str, str]]] = [
    (
        ECS,
        "DescribeClusters",
        ClusterNotFoundException("Cluster not found."),
        {"__type": "ClusterNotFoundException", "message": "Cluster not found."},
    ),
    (
        ECS,
        "ListClusters",
        InvalidSignatureException(sigv4.MISMATCH_MESSAGE),
        {"__type": "InvalidSignatureException", "message": sigv4.MISMATCH_MESSAGE},
    ),
    (
        AUTOSCALING,
        "DescribeScalableTargets",
        ValidationException("1 validation error detected"),
        {"__type": "ValidationException", "Message": "1 validation error detected"},
    ),
    (
        AUTOSCALING,
        "DeleteScalingPolicy",
        ObjectNotFoundException("No scaling policy found"),
        {"__type": "ObjectNotFoundException", "Message": "No scaling policy found"},
    ),
]


@pytest.mark.parametrize(("service", "operation", "error", "body"), ERRORS, ids=[e[2].code for e in ERRORS])
def test_botocore_parses_error_bodies(service: str, operation: str, error: ApiError, body: dict[str, str]) -> None:
    assert error_body(service, error) == body
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    parsed = botocore.parsers.create_parser("json").parse(
        {
            "status_code": error.status,
            "headers": {"x-amzn-requestid": "req-1", "content-type": CONTENT_TYPE},
            "body": dumps(error_body(service, error)),
        },
        model.output_shape,
    )
    assert parsed["Error"] == {"Code": error.code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


UTC_NOON = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))
FALSY = {"a": 0, "b": False, "c": "", "d": [], "e": {}}
WIRE_CASES: list[tuple[str, Any, Any]] = [
    ("aware datetime", UTC_NOON, 1704110400.0),
    ("naive datetime is utc", dt.datetime(2024, 1, 1, 12, 0), 1704110400.0),
    ("other zone", dt.datetime(2024, 1, 1, 13, 0, 0, 500000, tzinfo=PLUS_ONE), 1704110400.5),
    ("none member dropped", {"a": None, "b": 1}, {"b": 1}),
    (
        "nested",
        {"services": [{"createdAt": UTC_NOON, "tags": None, "deployments": ({"x": None, "n": 0},)}]},
        {"services": [{"createdAt": 1704110400.0, "deployments": [{"n": 0}]}]},
    ),
    ("none in list dropped", [1, None, 2], [1, 2]),
    ("falsy values kept", FALSY, FALSY),
    ("scalars untouched", "x", "x"),
]


@pytest.mark.parametrize(("name", "value", "expected"), WIRE_CASES, ids=[c[0] for c in WIRE_CASES])
def test_to_wire(name: str, value: Any, expected: Any) -> None:
    assert to_wire(value) == expected
    assert json.loads(dumps(value)) == expected


BODIES: list[tuple[str, bytes, dict[str, Any] | None]] = [
    ("object", b'{"cluster": "default"}', {"cluster": "default"}),
    ("empty", b"", {}),
    ("blank", b" \n", {}),
    ("not json", b"{cluster", None),
    ("array", b"[1]", None),
    ("bad utf-8", b'{"a": "\xff"}', None),
]


@pytest.mark.parametrize(("name", "body", "expected"), BODIES, ids=[b[0] for b in BODIES])
def test_parse_body(name: str, body: bytes, expected: dict[str, Any] | None) -> None:
    if expected is None:
        with pytest.raises(SerializationException):
            parse_body(body)
    else:
        assert parse_body(body) == expected


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


AKID, SECRET = "AKIAABCDEFGHIJKLMNOP", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = dt.datetime(2024, 1, 1, 12, 0, 0)
NOW = SIGNED_AT.replace(tzinfo=dt.UTC).timestamp()


def _fake_endpoint(results: dict[str, Any]) -> Callable[..., AWSResponse]:
    """A before-send hook standing in for the HTTP server: verify, route, answer."""

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        path, _, query = request.url.partition("://")[2].partition("/")[2].partition("?")
        # On the wire every header is text; the prepared request still holds some as bytes.
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        headers["Host"] = "127.0.0.1:8080"
        service = ECS
        try:
            service, operation = parse_target(headers.get("X-Amz-Target"))
            sigv4.verify(request.method, "/" + path, query, headers, body, {AKID: SECRET}.get, NOW, service=service)
            parse_body(body)
            result = results[operation]
            if isinstance(result, ApiError):
                raise result
            status, payload = 200, dumps(result)
        except ApiError as exc:
            status, payload = exc.status, dumps(error_body(service, exc))
        response_headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": "req-1"}
        return AWSResponse(request.url, status, response_headers, _Raw(payload))

    return answer


def _client(service: str, results: dict[str, Any], secret: str = SECRET) -> Any:
    client = boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:8080",
        aws_access_key_id=AKID,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    client.meta.events.register("before-send", _fake_endpoint(results))
    return client


def test_boto3_round_trip_through_verifier_and_wire_format() -> None:
    created = dt.datetime(2024, 1, 1, 11, 0, tzinfo=dt.UTC)
    results = {
        "DescribeClusters": {"clusters": [{"clusterName": "default", "status": "ACTIVE", "tags": None}]},
        "DeleteCluster": ClusterNotFoundException("Cluster not found."),
        "DescribeScalableTargets": {
            "ScalableTargets": [
                {
                    "ServiceNamespace": "ecs",
                    "ResourceId": "service/default/web",
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "MinCapacity": 1,
                    "MaxCapacity": 4,
                    "RoleARN": "arn:aws:iam::000000000000:role/x",
                    "CreationTime": created,
                }
            ]
        },
        "DeleteScalingPolicy": ObjectNotFoundException("No scaling policy found"),
    }
    # The client signs with the wall clock; pin it to the `now` the verifier is given.
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        ecs = _client(ECS, results)
        autoscaling = _client(AUTOSCALING, results)
        clusters = ecs.describe_clusters(clusters=["default"])["clusters"]
        with pytest.raises(ClientError) as missing:
            ecs.delete_cluster(cluster="nope")
        targets = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        with pytest.raises(ClientError) as no_policy:
            autoscaling.delete_scaling_policy(
                PolicyName="p",
                ServiceNamespace="ecs",
                ResourceId="service/default/web",
                ScalableDimension="ecs:service:DesiredCount",
            )
        with pytest.raises(ClientError) as bad_signature:
            _client(ECS, results, secret="x" * 40).describe_clusters()
    assert clusters == [{"clusterName": "default", "status": "ACTIVE"}]
    assert missing.value.response["Error"] == {
        "Code": "ClusterNotFoundException",
        "Message": "Cluster not found.",
    }
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert targets[0]["CreationTime"] == created
    assert no_policy.value.response["Error"] == {
        "Code": "ObjectNotFoundException",
        "Message": "No scaling policy found",
    }
    assert bad_signature.value.response["Error"] == {
        "Code": "InvalidSignatureException",
        "Message": sigv4.MISMATCH_MESSAGE,
    }
