"""The SSM Parameter Store operations the AWS JSON 1.1 endpoint serves (target prefix `AmazonSSM`).

Only the wire: which SSM operations are served, by which `Operations` method, and the error
body's message key. Everything else (SigV4 with signing name `ssm`, shaping the output by the
botocore model) is the endpoint's common path in `ecs.py`; validation is in
`orchestrator.operations.parameters`.
"""

from __future__ import annotations

from collections.abc import Mapping

SERVICE = "ssm"
TARGET_PREFIX = "AmazonSSM"
MESSAGE_KEY = "message"

OPERATIONS: Mapping[str, str] = {
    "PutParameter": "put_parameter",
    "GetParameter": "get_parameter",
    "GetParameters": "get_parameters",
    "DeleteParameter": "delete_parameter",
    "DescribeParameters": "describe_parameters",
}
