"""Errors the operations raise, named as ECS and Application Auto Scaling name them.

Both front doors (REST and the AWS JSON 1.1 endpoint) turn an `ApiError` into a 4xx whose body
carries `code` as the error name and `message` saying what to fix. Nothing else becomes a 4xx.
"""

from __future__ import annotations


class ApiError(Exception):
    code = "ClientException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientException(ApiError):
    code = "ClientException"


class InvalidParameterException(ApiError):
    code = "InvalidParameterException"


class ClusterNotFoundException(ApiError):
    code = "ClusterNotFoundException"


class ClusterContainsServicesException(ApiError):
    code = "ClusterContainsServicesException"


class ClusterContainsContainerInstancesException(ApiError):
    code = "ClusterContainsContainerInstancesException"


class ClusterContainsTasksException(ApiError):
    code = "ClusterContainsTasksException"


class ServiceNotFoundException(ApiError):
    code = "ServiceNotFoundException"


class ServiceNotActiveException(ApiError):
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


class ObjectNotFoundException(ApiError):
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
