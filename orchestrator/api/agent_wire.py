"""The agent protocol's requests as typed, bounded models: what an agent may send, and nothing else.

Each body is parsed here before any operation runs, so a wrongly typed member (`exitCode: "abc"`,
`startedAt: "yesterday"`, `runtimeId: [1, 2]`), an out-of-range number, an over-long string or a
lone surrogate is refused with a 400 that names the member, and the store never sees it. Models
are strict (no "12" for 12) and forbid members they do not define: every member is honoured or
refused, never dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.bounds import INT32_MAX, Arn, Int32, Name, Port, Reason, Text, Timestamp
from orchestrator.core.errors import InvalidParameterException

Status = Literal[
    "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"
]
Secret = Annotated[Text, Field(max_length=512)]
AttributeValue = Annotated[Text, Field(max_length=128)]


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Registration(_Wire):
    joinToken: Secret
    cluster: Name | None = None
    name: Name | None = None
    zone: Name
    cpu: Annotated[int, Field(ge=1, le=INT32_MAX)]
    memory: Annotated[int, Field(ge=1, le=INT32_MAX)]
    instanceType: Name | None = None
    osType: Name | None = None
    cpuArchitecture: Name | None = None
    attributes: (
        Annotated[dict[Annotated[Text, Field(min_length=1, max_length=128)], AttributeValue], Field(max_length=100)]
        | None
    ) = None
    agentVersion: Name | None = None
    dockerVersion: Name | None = None
    containerInstanceArn: Arn | None = None
    credential: Secret | None = None
    hostAddress: Any = None  # any type here: the operation checks it is an IPv4 address and says so
    gpus: Any = None  # GPU ids; the operation checks them and says what is wrong
    fargate: Any = None  # true: join the managed Fargate pool (orchestrator/core/fargate.py)


class Binding(_Wire):
    bindIP: Name = "0.0.0.0"
    containerPort: Port
    hostPort: Port
    protocol: Literal["tcp", "udp"] = "tcp"


class ContainerReport(_Wire):
    name: Name
    lastStatus: Status | None = None
    runtimeId: Name | None = None
    exitCode: Int32 | None = None
    reason: Reason | None = None
    healthStatus: Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"] | None = None
    networkBindings: Annotated[list[Binding], Field(max_length=100)] | None = None


class NetworkInterfaceReport(_Wire):
    """An awsvpc task's namespace as the agent made it: the sandbox's address on the agent's network."""

    privateIPv4Address: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}$", max_length=15)]
    macAddress: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")] | None = None
    networkInterfaceId: Name | None = None


class TaskReport(_Wire):
    taskArn: Arn
    lastStatus: Status | None = None
    startedAt: Timestamp | None = None
    stopCode: Name | None = None
    stoppedReason: Reason | None = None
    containers: Annotated[list[ContainerReport], Field(max_length=100)] | None = None
    networkInterface: NetworkInterfaceReport | None = None


class TaskStates(_Wire):
    tasks: Annotated[list[TaskReport], Field(max_length=1000)]


class Sample(_Wire):
    taskId: Name
    container: Name | None = None
    memoryMiB: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    cpuUnits: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    at: Timestamp | None = None


class Metrics(_Wire):
    samples: Annotated[list[Sample], Field(max_length=10_000)]


M = TypeVar("M", bound=BaseModel)


def where(loc: tuple[Any, ...]) -> str:
    """`("tasks", 0, "containers", 1, "exitCode")` -> `tasks[0].containers[1].exitCode`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(model: type[M], body: Any) -> M:
    """`body` as `model`, or InvalidParameterException naming every member that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as err:
        problems = [f"{where(e['loc']) or 'body'}: {e['msg']}" for e in err.errors(include_url=False)[:10]]
        raise InvalidParameterException("; ".join(problems) + ".") from None


def plain(model: BaseModel) -> dict[str, Any]:
    """What the operations take: the members that were sent, as plain values."""
    return model.model_dump(exclude_none=True)
