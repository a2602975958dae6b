"""ELBv2 on the wire and in the operations: botocore's own serializer and parser against ours, and
bad input refused with ELB's error names while changing nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer

from orchestrator.api.aws import query
from orchestrator.core.errors import ApiError
from orchestrator.operations import Operations
from tests.builders import control_plane, instance

MODEL = botocore.session.get_session().get_service_model("elbv2")


def botocore_body(operation: str, params: dict[str, Any]) -> bytes:
    request = QuerySerializer().serialize_to_request(params, MODEL.operation_model(operation))
    body = request["body"]
    from urllib.parse import urlencode

    return urlencode(body).encode() if isinstance(body, dict) else body


def botocore_parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    op = MODEL.operation_model(operation)
    parsed: dict[str, Any] = QueryParser().parse(
        {"body": body, "headers": {}, "status_code": status}, op.output_shape if status == 200 else None
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("DescribeLoadBalancers", {"Names": ["a", "b"], "PageSize": 10}),
        (
            "CreateTargetGroup",
            {
                "Name": "web",
                "Protocol": "HTTP",
                "Port": 80,
                "HealthCheckEnabled": False,
                "Matcher": {"HttpCode": "200-299"},
                "Tags": [{"Key": "k", "Value": "v"}],
            },
        ),
        (
            "CreateListener",
            {
                "LoadBalancerArn": "arn:lb",
                "Port": 8080,
                "DefaultActions": [
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [{"TargetGroupArn": "a", "Weight": 3}, {"TargetGroupArn": "b", "Weight": 1}]
                        },
                    }
                ],
            },
        ),
        ("RegisterTargets", {"TargetGroupArn": "arn:tg", "Targets": [{"Id": "i-1", "Port": 32768}, {"Id": "i-2"}]}),
    ],
)
def test_what_botocore_sends_decodes_to_its_parameters(operation: str, params: dict[str, Any]) -> None:
    action, decoded = query.parse_request(botocore_body(operation, params))
    assert action == operation
    assert decoded == params


def test_what_we_answer_botocore_parses_back() -> None:
    result = {
        "TargetHealthDescriptions": [
            {
                "Target": {"Id": "i-1", "Port": 32768},
                "HealthCheckPort": "32768",
                "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch", "Description": "x<y"},
                "NotInModel": "dropped",
            }
        ]
    }
    parsed = botocore_parse("DescribeTargetHealth", query.response_xml("DescribeTargetHealth", result, "r-1"))
    del result["TargetHealthDescriptions"][0]["NotInModel"]
    assert parsed == result


def test_errors_parse_as_elbs() -> None:
    from orchestrator.operations.elbv2 import TargetGroupNotFound

    body = query.error_xml(TargetGroupNotFound("Target groups 'x' not found"), "r-1")
    parsed = botocore_parse("DescribeTargetHealth", body, status=400)
    assert parsed["Error"]["Code"] == "TargetGroupNotFound"
    assert parsed["Error"]["Message"] == "Target groups 'x' not found"


def test_unknown_action_and_version_are_refused() -> None:
    with pytest.raises(query.InvalidAction):
        query.parse_request(b"Action=DescribeEverything&Version=2015-12-01")
    with pytest.raises(query.InvalidAction):
        query.parse_request(b"Action=DescribeLoadBalancers&Version=2012-06-01")
    with pytest.raises(query.MissingAction):
        query.parse_request(b"Version=2015-12-01")


# -- operations ---------------------------------------------------------------------------------


def _digest(ops: Operations) -> str:
    h = hashlib.sha256()
    with ops.ctx.store.read():
        for row in ops.ctx.store._rows("SELECT * FROM documents ORDER BY 1, 2"):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "a", "us-east-1a")
    return o


def lb(o: Operations, name: str = "web-lb") -> str:
    arn: str = o.create_load_balancer({"Name": name})["LoadBalancers"][0]["LoadBalancerArn"]
    return arn


def tg(o: Operations, name: str = "web-tg", **extra: Any) -> str:
    arn: str = o.create_target_group({"Name": name, "Protocol": "HTTP", "Port": 80, **extra})["TargetGroups"][0][
        "TargetGroupArn"
    ]
    return arn


def listener(o: Operations, lb_arn: str, tg_arn: str, port: int = 0) -> str:
    from tests.integration.test_load_balancing import free_port

    arn: str = o.create_listener(
        {
            "LoadBalancerArn": lb_arn,
            "Protocol": "HTTP",
            "Port": port or free_port(),
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg_arn}],
        }
    )["Listeners"][0]["ListenerArn"]
    return arn


BAD: list[tuple[str, Callable[[Operations], Any], str, str]] = [
    ("name with a space", lambda o: o.create_load_balancer({"Name": "a b"}), "ValidationError", "Name"),
    ("internal- prefix", lambda o: o.create_load_balancer({"Name": "internal-x"}), "ValidationError", "internal-"),
    ("gateway type", lambda o: o.create_load_balancer({"Name": "g", "Type": "gateway"}), "ValidationError", "Type"),
    (
        "subnets",
        lambda o: o.create_load_balancer({"Name": "s", "Subnets": ["subnet-1"]}),
        "ValidationError",
        "Subnets",
    ),
    (
        "duplicate load balancer",
        lambda o: o.create_load_balancer({"Name": "web-lb", "Type": "network"}),
        "DuplicateLoadBalancerName",
        "web-lb",
    ),
    ("duplicate target group", lambda o: tg(o), "DuplicateTargetGroupName", "web-tg"),
    ("HTTPS target group", lambda o: tg(o, "t2", Protocol="HTTPS"), "ValidationError", "Protocol"),
    # Interval 5 s, timeout 5 s: the timeout must be shorter than the interval.
    (
        "timeout not below interval",
        lambda o: tg(o, "t3", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5),
        "ValidationError",
        "HealthCheckTimeoutSeconds",
    ),
    ("interval below 5 s", lambda o: tg(o, "t4", HealthCheckIntervalSeconds=4), "ValidationError", "between 5"),
    ("matcher 600", lambda o: tg(o, "t5", Matcher={"HttpCode": "200-600"}), "ValidationError", "Matcher.HttpCode"),
    ("path without slash", lambda o: tg(o, "t6", HealthCheckPath="health"), "ValidationError", "HealthCheckPath"),
    (
        "unknown attribute",
        lambda o: o.modify_target_group_attributes(
            {"TargetGroupArn": tg_of(o), "Attributes": [{"Key": "slow_start.duration_seconds", "Value": "30"}]}
        ),
        "ValidationError",
        "slow_start",
    ),
    (
        "delay above an hour",
        lambda o: o.modify_target_group_attributes(
            {
                "TargetGroupArn": tg_of(o),
                "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}],
            }
        ),
        "ValidationError",
        "3600",
    ),
    ("target group in use", lambda o: o.delete_target_group({"TargetGroupArn": tg_of(o)}), "ResourceInUse", "in use"),
    (
        "unknown instance",
        lambda o: o.register_targets({"TargetGroupArn": tg_of(o), "Targets": [{"Id": "i-missing"}]}),
        "InvalidTarget",
        "i-missing",
    ),
    (
        "deregister what is not registered",
        lambda o: o.deregister_targets({"TargetGroupArn": tg_of(o), "Targets": [{"Id": "i-missing"}]}),
        "InvalidTarget",
        "not registered",
    ),
    (
        "TCP listener on an application load balancer",
        lambda o: o.create_listener({"LoadBalancerArn": lb_of(o), "Protocol": "TCP", "Port": 1, "DefaultActions": []}),
        "UnsupportedProtocol",
        "TCP",
    ),
    (
        "listener with a certificate",
        lambda o: o.create_listener(
            {"LoadBalancerArn": lb_of(o), "Port": 1, "Certificates": [{"CertificateArn": "c"}]}
        ),
        "ValidationError",
        "Certificates",
    ),
    (
        "redirect action",
        lambda o: o.create_listener({"LoadBalancerArn": lb_of(o), "Port": 1, "DefaultActions": [{"Type": "redirect"}]}),
        "ValidationError",
        "forward",
    ),
    (
        "target group of another load balancer",
        lambda o: listener(o, lb(o, "other-lb"), tg_of(o)),
        "TargetGroupAssociationLimit",
        "one load balancer",
    ),
    (
        "missing load balancer",
        lambda o: o.describe_listeners({"LoadBalancerArn": "arn:x"}),
        "LoadBalancerNotFound",
        "x",
    ),
    (
        "missing target group",
        lambda o: o.describe_target_health({"TargetGroupArn": "arn:x"}),
        "TargetGroupNotFound",
        "arn:x",
    ),
]


def lb_of(o: Operations) -> str:
    arn: str = o.describe_load_balancers({"Names": ["web-lb"]})["LoadBalancers"][0]["LoadBalancerArn"]
    return arn


def tg_of(o: Operations) -> str:
    arn: str = o.describe_target_groups({"Names": ["web-tg"]})["TargetGroups"][0]["TargetGroupArn"]
    return arn


@pytest.mark.parametrize(("why", "call", "code", "names"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_elbs_error_and_changes_nothing(
    ops: Operations, why: str, call: Callable[[Operations], Any], code: str, names: str
) -> None:
    listener(ops, lb(ops), tg(ops))
    before = _digest(ops)
    with pytest.raises(ApiError) as err:
        call(ops)
    assert err.value.code == code, err.value.message
    assert names in err.value.message
    if why != "target group of another load balancer":  # that case made its own load balancer first
        assert _digest(ops) == before


def test_defaults_are_elbs(ops: Operations) -> None:
    group = ops.describe_target_groups({"TargetGroupArns": [tg(ops)]})["TargetGroups"][0]
    # ELB's HTTP defaults: every 30 s, 5 s timeout, healthy after 5, unhealthy after 2, status 200.
    assert (
        group["HealthCheckIntervalSeconds"],
        group["HealthCheckTimeoutSeconds"],
        group["HealthyThresholdCount"],
        group["UnhealthyThresholdCount"],
        group["Matcher"],
        group["HealthCheckPath"],
        group["HealthCheckPort"],
    ) == (30, 5, 5, 2, {"HttpCode": "200"}, "/", "traffic-port")
    attrs = ops.describe_target_group_attributes({"TargetGroupArn": group["TargetGroupArn"]})["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "300"} in attrs


def test_target_health_of_a_group_no_listener_uses_is_unused(ops: Operations) -> None:
    inst = ops.ctx.store.list_instances()[0].ec2InstanceId
    arn = tg(ops)
    ops.register_targets({"TargetGroupArn": arn, "Targets": [{"Id": inst, "Port": 32768}]})
    [d] = ops.describe_target_health({"TargetGroupArn": arn})["TargetHealthDescriptions"]
    assert d["Target"] == {"Id": inst, "Port": 32768}
    assert d["TargetHealth"]["State"] == "unused"
    assert d["TargetHealth"]["Reason"] == "Target.NotInUse"
    [d] = ops.describe_target_health({"TargetGroupArn": arn, "Targets": [{"Id": inst, "Port": 1}]})[
        "TargetHealthDescriptions"
    ]
    assert d["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_weighted_forward_is_kept(ops: Operations) -> None:
    lb_arn, a, b = lb(ops), tg(ops, "a"), tg(ops, "b")
    from tests.integration.test_load_balancing import free_port

    out = ops.create_listener(
        {
            "LoadBalancerArn": lb_arn,
            "Port": free_port(),
            "DefaultActions": [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [{"TargetGroupArn": a, "Weight": 3}, {"TargetGroupArn": b, "Weight": 1}]
                    },
                }
            ],
        }
    )["Listeners"][0]
    assert out["DefaultActions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": a, "Weight": 3},
        {"TargetGroupArn": b, "Weight": 1},
    ]
    groups = ops.describe_target_groups({"LoadBalancerArn": lb_arn})["TargetGroups"]
    assert sorted(g["TargetGroupArn"] for g in groups) == sorted([a, b])
    assert all(g["LoadBalancerArns"] == [lb_arn] for g in groups)


def test_deleting_a_load_balancer_deletes_its_listeners(ops: Operations) -> None:
    lb_arn, tg_arn = lb(ops), tg(ops)
    listener(ops, lb_arn, tg_arn)
    ops.delete_load_balancer({"LoadBalancerArn": lb_arn})
    assert ops.describe_load_balancers({})["LoadBalancers"] == []
    ops.delete_target_group({"TargetGroupArn": tg_arn})  # no longer in use
    assert ops.describe_target_groups({})["TargetGroups"] == []


def test_tags_given_at_creation_are_described(ops: Operations) -> None:
    arn = ops.create_load_balancer({"Name": "tagged", "Tags": [{"Key": "team", "Value": "web"}]})["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    assert ops.describe_tags({"ResourceArns": [arn]})["TagDescriptions"] == [
        {"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "web"}]}
    ]
    with pytest.raises(ApiError) as err:
        ops.create_target_group({"Name": "t", "Protocol": "HTTP", "Port": 80, "Tags": [{"Key": "a"}, {"Key": "a"}]})
    assert err.value.code == "DuplicateTagKeys"
