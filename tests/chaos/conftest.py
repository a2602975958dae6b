"""The chaos tests use the real-Docker fixtures of the integration tests (engine up, images built)."""

from tests.integration.conftest import docker_executor

__all__ = ["docker_executor"]
