"""Errors the operations raise, named as ECS and Application Auto Scaling name them.

Both front doors (REST and the AWS JSON 1.1 endpoint) turn an `ApiError` into a 4xx whose body
carries `code` as the error name and `message` saying what to fix. Nothing else becomes a 4xx.
"""

from __future__ import annotations

# ECS's own wording for the common refusals: scripts match on these, so they are ECS's to the
# letter (each with the report it was taken from, in tests/unit/test_ecs_error_wording.py).
CLUSTER_NOT_FOUND = "Cluster not found."
SERVICE_NOT_FOUND = "Service not found."
SERVICE_NOT_ACTIVE = "Service was not ACTIVE."
# DescribeTaskDefinition (and DeregisterTaskDefinition) on a revision or family that does not exist.
TASK_DEFINITION_NOT_DESCRIBED = "Unable to describe task definition."
# CreateService, UpdateService, RunTask and StartTask on one that does not exist.
TASK_DEFINITION_NOT_FOUND = "TaskDefinition not found."
TASK_DEFINITION_INACTIVE = "TaskDefinition is inactive"
# RunTask in a cluster that has no container instances at all (EC2 launch type).
NO_CONTAINER_INSTANCES = "No Container Instances were found in your cluster."


class ApiError(Exception):
    code = "ClientException"
    # `status` is what the AWS wire returns (ECS answers 400 for every client error); the REST API
    # answers `rest_status`, which says more: 404 for what does not exist, 409 for a conflict.
    status = 400
    rest_status: int | None = None

    @classmethod
    def http_status(cls) -> int:
        return cls.rest_status or cls.status

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientException(ApiError):
    code = "ClientException"


class InvalidParameterException(ApiError):
    code = "InvalidParameterException"


class ClusterNotFoundException(ApiError):
    rest_status = 404
    code = "ClusterNotFoundException"


class ClusterContainsServicesException(ApiError):
    rest_status = 409
    code = "ClusterContainsServicesException"


class ClusterContainsContainerInstancesException(ApiError):
    rest_status = 409
    code = "ClusterContainsContainerInstancesException"


class ClusterContainsTasksException(ApiError):
    rest_status = 409
    code = "ClusterContainsTasksException"


class ServiceNotFoundException(ApiError):
    rest_status = 404
    code = "ServiceNotFoundException"


class ResourceNotFoundException(ApiError):
    code = "ResourceNotFoundException"


class TargetNotFoundException(ApiError):
    code = "TargetNotFoundException"


class ServiceNotActiveException(ApiError):
    rest_status = 409
    code = "ServiceNotActiveException"


class AccessDeniedException(ApiError):
    code = "AccessDeniedException"
    status = 403


class UnauthorizedError(ApiError):
    """No or a wrong bearer token on the REST API."""

    code = "UnrecognizedClientException"
    status = 401


class ValidationException(ApiError):
    """Application Auto Scaling's name for bad input."""

    code = "ValidationException"


class ValidationError(ApiError):
    """Elastic Load Balancing's name for bad input, from its wire format and its operations alike."""

    code = "ValidationError"


class ObjectNotFoundException(ApiError):
    rest_status = 404
    """Application Auto Scaling's name for a missing scalable target or policy."""

    code = "ObjectNotFoundException"


class MissingAuthenticationTokenException(ApiError):
    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(ApiError):
    code = "IncompleteSignatureException"


class UnrecognizedClientException(ApiError):
    """An access key id the endpoint does not know (the REST API's 401 is `UnauthorizedError`)."""

    code = "UnrecognizedClientException"


class InvalidSignatureException(ApiError):
    code = "InvalidSignatureException"


class UnknownOperationException(ApiError):
    code = "UnknownOperationException"


class SerializationException(ApiError):
    code = "SerializationException"


class TooManyTagsException(ApiError):
    """Application Auto Scaling's name for a tag request that would leave a resource over its limit."""

    code = "TooManyTagsException"


class ThrottlingException(ApiError):
    """Too many requests from one caller; retry after a pause (botocore retries it on its own)."""

    code = "ThrottlingException"
    status = 429
