"""ECS objects as pydantic models, named and shaped as in the ECS API (camelCase on purpose).

What the API returns is `model.wire()`: ECS field names, epoch-second timestamps, no nulls. The
same dicts serve the REST API, the CLI's `-o json` and the AWS JSON 1.1 endpoint.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"
# One region per control plane, as an ECS endpoint serves one region: every ARN names it. Set once
# at start-up (`set_region`) from `Settings.region`; a process runs one control plane's region.
_region = [DEFAULT_REGION]


def region() -> str:
    return _region[0]


def set_region(name: str) -> None:
    _region[0] = name


def arn_prefix(service: str = "ecs") -> str:
    """`arn:aws:<service>:<region>:<account>` of this control plane."""
    return f"arn:aws:{service}:{_region[0]}:{ACCOUNT}"


# Task lastStatus in lifecycle order; a task's lastStatus only moves forward along this list.
TASK_STATUS_ORDER = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
TASK_STATUS_RANK = {s: i for i, s in enumerate(TASK_STATUS_ORDER)}

DEFAULT_RESERVED_TCP_PORTS = (22, 2375, 2376, 51678, 51679)


class EcsModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def cluster_arn(cluster: str) -> str:
    return f"{arn_prefix()}:cluster/{cluster}"


def service_arn(cluster: str, name: str) -> str:
    return f"{arn_prefix()}:service/{cluster}/{name}"


def task_arn(cluster: str, task_id: str) -> str:
    return f"{arn_prefix()}:task/{cluster}/{task_id}"


def instance_arn(cluster: str, instance_id: str) -> str:
    return f"{arn_prefix()}:container-instance/{cluster}/{instance_id}"


def task_definition_arn(family: str, revision: int) -> str:
    return f"{arn_prefix()}:task-definition/{family}:{revision}"


def arn_id(arn: str) -> str:
    """The last path part of an ARN (task id, instance id, service name), or the input itself."""
    return arn.rsplit("/", 1)[-1]


class KeyValuePair(EcsModel):
    name: str
    value: str = ""


class PortMapping(EcsModel):
    containerPort: int = Field(ge=0, le=65535)
    hostPort: int | None = Field(default=None, ge=0, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"


class HealthCheck(EcsModel):
    command: list[str] = Field(min_length=1)
    interval: int = Field(default=30, ge=5, le=300)
    timeout: int = Field(default=5, ge=2, le=60)
    retries: int = Field(default=3, ge=1, le=10)
    startPeriod: int | None = Field(default=None, ge=0, le=300)


class ResourceRequirement(EcsModel):
    """containerDefinitions[].resourceRequirements: GPU with a count as a string, as ECS takes it."""

    type: str  # GPU honoured; the others are refused at registration by value
    value: str | None = None


class ContainerDefinition(EcsModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")
    image: str = Field(min_length=1)
    cpu: int = Field(default=0, ge=0)
    memory: int | None = Field(default=None, gt=0)
    memoryReservation: int | None = Field(default=None, gt=0)
    essential: bool = True
    command: list[str] | None = None
    entryPoint: list[str] | None = None
    environment: list[KeyValuePair] = Field(default_factory=list)
    portMappings: list[PortMapping] = Field(default_factory=list)
    healthCheck: HealthCheck | None = None
    stopTimeout: int | None = Field(default=None, ge=0, le=120)
    workingDirectory: str | None = None
    user: str | None = None
    resourceRequirements: list[ResourceRequirement] | None = None


class PlacementConstraintModel(EcsModel):
    type: Literal["distinctInstance", "memberOf"]
    expression: str | None = None


class PlacementStrategyModel(EcsModel):
    type: Literal["spread", "binpack", "random"]
    field: str | None = None


class TaskDefinition(EcsModel):
    taskDefinitionArn: str
    family: str
    revision: int
    status: Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] = "ACTIVE"
    containerDefinitions: list[ContainerDefinition]
    cpu: str | None = None
    memory: str | None = None
    # As registered: ECS leaves it out when registration named none, and the task then runs in bridge mode.
    networkMode: str | None = None
    placementConstraints: list[PlacementConstraintModel] = Field(default_factory=list)
    # Only what the caller asked for: ECS leaves it out when registration named none.
    requiresCompatibilities: list[str] | None = None
    compatibilities: list[str] = Field(default_factory=lambda: ["EC2"])
    registeredAt: float | None = None
    deregisteredAt: float | None = None
    deleteRequestedAt: float | None = None

    def family_revision(self) -> str:
        return f"{self.family}:{self.revision}"

    @property
    def network_mode(self) -> str:
        """The mode the task runs in: the registered one, or ECS's default (bridge on Linux)."""
        return self.networkMode or "bridge"


class DeploymentCircuitBreaker(EcsModel):
    enable: bool = False
    rollback: bool = False


class DeploymentConfiguration(EcsModel):
    maximumPercent: int = Field(default=200, ge=0)
    minimumHealthyPercent: int = Field(default=100, ge=0)
    deploymentCircuitBreaker: DeploymentCircuitBreaker = Field(default_factory=DeploymentCircuitBreaker)


class Deployment(EcsModel):
    id: str
    status: Literal["PRIMARY", "ACTIVE", "INACTIVE"] = "PRIMARY"
    taskDefinition: str
    desiredCount: int = 0
    pendingCount: int = 0
    runningCount: int = 0
    failedTasks: int = 0
    createdAt: float
    updatedAt: float
    launchType: str = "EC2"
    platformVersion: str | None = None  # FARGATE only
    platformFamily: str | None = None
    rolloutState: Literal["IN_PROGRESS", "COMPLETED", "FAILED"] = "IN_PROGRESS"
    rolloutStateReason: str | None = None


class ServiceEvent(EcsModel):
    id: str
    createdAt: float
    message: str


class Service(EcsModel):
    serviceArn: str
    serviceName: str
    clusterArn: str
    status: Literal["ACTIVE", "DRAINING", "INACTIVE"] = "ACTIVE"
    desiredCount: int = 0
    runningCount: int = 0
    pendingCount: int = 0
    launchType: str = "EC2"
    platformVersion: str | None = None  # FARGATE only: as given (LATEST by default)
    platformFamily: str | None = None
    taskDefinition: str
    deploymentConfiguration: DeploymentConfiguration = Field(default_factory=DeploymentConfiguration)
    deployments: list[Deployment] = Field(default_factory=list)
    events: list[ServiceEvent] = Field(default_factory=list)
    placementConstraints: list[PlacementConstraintModel] = Field(default_factory=list)
    placementStrategy: list[PlacementStrategyModel] = Field(default_factory=list)
    schedulingStrategy: str = "REPLICA"
    healthCheckGracePeriodSeconds: int | None = None
    # Kept and returned as given (load balancing and service discovery act on them when they exist).
    loadBalancers: list[dict[str, Any]] = Field(default_factory=list)
    serviceRegistries: list[dict[str, Any]] = Field(default_factory=list)
    roleArn: str | None = None
    networkConfiguration: dict[str, Any] | None = None
    deploymentController: dict[str, Any] = Field(default_factory=lambda: {"type": "ECS"})
    propagateTags: str = "NONE"
    enableECSManagedTags: bool = False
    enableExecuteCommand: bool = False
    createdAt: float
    createdBy: str = f"arn:aws:iam::{ACCOUNT}:root"


class NetworkBinding(EcsModel):
    bindIP: str = "0.0.0.0"
    containerPort: int
    hostPort: int
    protocol: str = "tcp"


class Container(EcsModel):
    containerArn: str
    taskArn: str
    name: str
    image: str
    lastStatus: str = "PENDING"
    exitCode: int | None = None
    reason: str | None = None
    runtimeId: str | None = None
    networkBindings: list[NetworkBinding] = Field(default_factory=list)
    # awsvpc: [{attachmentId, privateIpv4Address}], the task's own address (core/task_network).
    networkInterfaces: list[dict[str, Any]] = Field(default_factory=list)
    healthStatus: Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"] | None = None
    cpu: str | None = None
    memory: str | None = None
    memoryReservation: str | None = None
    gpuIds: list[str] | None = None  # the instance's GPUs given to this container, as ECS shows them


class Task(EcsModel):
    taskArn: str
    clusterArn: str
    taskDefinitionArn: str
    containerInstanceArn: str | None = None
    availabilityZone: str | None = None
    lastStatus: str = "PROVISIONING"
    desiredStatus: Literal["RUNNING", "STOPPED"] = "RUNNING"
    group: str
    startedBy: str | None = None
    launchType: str = "EC2"
    cpu: str | None = None
    memory: str | None = None
    containers: list[Container] = Field(default_factory=list)
    healthStatus: Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"] = "UNKNOWN"
    createdAt: float
    startedAt: float | None = None
    stoppingAt: float | None = None
    stoppedAt: float | None = None
    stopCode: str | None = None
    stoppedReason: str | None = None
    enableExecuteCommand: bool = False
    overrides: dict[str, Any] | None = None
    networkConfiguration: dict[str, Any] | None = None
    # awsvpc: the task's ElasticNetworkInterface attachment (core/task_network).
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    platformVersion: str | None = None  # FARGATE tasks only, as ECS
    platformFamily: str | None = None
    version: int = 1

    def wire(self) -> dict[str, Any]:
        out = super().wire()
        if self.launchType == "FARGATE":
            # ECS shows no container instance for a Fargate task; ours is the managed pool's.
            out.pop("containerInstanceArn", None)
        return out


class Resource(EcsModel):
    name: str
    type: Literal["INTEGER", "STRINGSET", "LONG", "DOUBLE"]
    integerValue: int | None = None
    stringSetValue: list[str] | None = None
    longValue: int | None = None
    doubleValue: float | None = None


class Attribute(EcsModel):
    name: str = Field(min_length=1, max_length=128)
    value: str | None = Field(default=None, max_length=128)
    targetType: str | None = None
    targetId: str | None = None


class VersionInfo(EcsModel):
    agentVersion: str = ""
    agentHash: str | None = None
    dockerVersion: str | None = None


class ContainerInstance(EcsModel):
    containerInstanceArn: str
    ec2InstanceId: str
    status: Literal["REGISTERING", "ACTIVE", "DRAINING", "DEREGISTERING", "INACTIVE"] = "ACTIVE"
    statusReason: str | None = None
    agentConnected: bool = True
    runningTasksCount: int = 0
    pendingTasksCount: int = 0
    registeredResources: list[Resource] = Field(default_factory=list)
    remainingResources: list[Resource] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    versionInfo: VersionInfo = Field(default_factory=VersionInfo)
    registeredAt: float
    version: int = 1

    def attribute_map(self) -> dict[str, str]:
        return {a.name: a.value or "" for a in self.attributes}

    def resource(self, name: str, which: Literal["registered", "remaining"] = "registered") -> int:
        for r in self.registeredResources if which == "registered" else self.remainingResources:
            if r.name == name:
                return r.integerValue or 0
        return 0


class Cluster(EcsModel):
    clusterArn: str
    clusterName: str
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    registeredContainerInstancesCount: int = 0
    runningTasksCount: int = 0
    pendingTasksCount: int = 0
    activeServicesCount: int = 0
    # UpdateClusterSettings' settings; containerInsights is the only one ECS defines.
    settings: list[dict[str, str]] = Field(default_factory=lambda: [{"name": "containerInsights", "value": "disabled"}])
