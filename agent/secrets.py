"""A task's resolved secrets on the agent: which tasks need them, and how they join a container's spec.

The values come from the control plane (`/v1/agent/task-secrets`) as the task starts and live only
in the ContainerSpec handed to the executor (whose repr leaves them out); nothing here logs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from agent.executor.base import ContainerSpec


def needs_secrets(td: Mapping[str, Any]) -> bool:
    return any(c.get("secrets") or c.get("repositoryCredentials") for c in td.get("containerDefinitions") or [])


def with_secrets(spec: ContainerSpec, resolved: Mapping[str, Any] | None) -> ContainerSpec:
    """`spec` with the container's secret environment variables and registry credentials added."""
    if not resolved:
        return spec
    env = {**spec.environment, **{str(k): str(v) for k, v in (resolved.get("secrets") or {}).items()}}
    auth = resolved.get("repositoryCredentials")
    return dataclasses.replace(spec, environment=env, registry_auth=dict(auth) if auth else None)
