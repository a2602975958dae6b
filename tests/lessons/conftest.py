"""The lessons' tests need what the real-Docker tests need: an engine and the example images."""

from tests.integration.conftest import docker_executor  # noqa: F401 (a fixture, used by name)
