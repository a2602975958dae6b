"""The Secrets Manager operations the AWS JSON 1.1 endpoint serves (target prefix `secretsmanager`).

Only the wire: which operations are served, by which `Operations` method, and the error body's
message key (Secrets Manager capitalises it). The rest is the endpoint's common path in `ecs.py`;
validation is in `orchestrator.operations.secrets_manager`.
"""

from __future__ import annotations

from collections.abc import Mapping

SERVICE = "secretsmanager"
TARGET_PREFIX = "secretsmanager"
MESSAGE_KEY = "Message"

OPERATIONS: Mapping[str, str] = {
    "CreateSecret": "create_secret",
    "PutSecretValue": "put_secret_value",
    "GetSecretValue": "get_secret_value",
    "DeleteSecret": "delete_secret",
}
