"""The workload policy's allowlist of host paths: `--allow-host-path PREFIX` lets bind mounts from
under PREFIX register without rule host-bind-mounts; the Docker socket keeps its own rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.core.errors import ApiError
from orchestrator.core.settings import Settings
from orchestrator.operations.workload_policy import (
    holds_docker_socket,
    is_under,
    normalise_host_path,
    parse_allow,
    parse_host_paths,
)
from tests.builders import container, control_plane

NORMALISED = [
    # (as written, normalised)
    ("/srv/data", "/srv/data"),
    ("/srv/data/", "/srv/data"),
    ("//srv///data", "/srv/data"),  # repeated slashes, a leading // too
    ("/srv/./data", "/srv/data"),
    ("/srv/data/../../etc", "/etc"),  # two levels up from /srv/data
    ("/../../etc/passwd", "/etc/passwd"),  # `..` above the root stays at the root
    ("/", "/"),
]


@pytest.mark.parametrize(("written", "clean"), NORMALISED)
def test_normalise(written: str, clean: str) -> None:
    assert normalise_host_path(written) == clean


UNDER = [
    # (path, prefix, under?)
    ("/srv/data", "/srv/data", True),  # the prefix itself
    ("/srv/data/site", "/srv/data", True),
    ("/srv/data2", "/srv/data", False),  # a sibling that merely starts with the same letters
    ("/srv", "/srv/data", False),  # above the prefix
    ("/etc", "/", True),  # `/` allows everything
]


@pytest.mark.parametrize(("path", "prefix", "under"), UNDER)
def test_is_under(path: str, prefix: str, under: bool) -> None:
    assert is_under(path, prefix) is under


@pytest.mark.parametrize(
    ("path", "holds"),
    [
        ("/var/run/docker.sock", True),
        ("/run/docker.sock", True),
        ("/run", True),  # the directory holding the socket hands it over as well
        ("/var", True),
        ("/", True),
        ("/run/user", False),
        ("/srv/docker.sock", False),
    ],
)
def test_holds_docker_socket(path: str, holds: bool) -> None:
    assert holds_docker_socket(path) is holds


def test_parse_host_paths() -> None:
    assert parse_host_paths(["/srv/data/", "/srv/data", "/tmp/x/../y"]) == ("/srv/data", "/tmp/y")
    with pytest.raises(ValueError, match="--allow-host-path 'data': give an absolute path"):
        parse_host_paths(["data"])


def _register(ops: Any, source: str) -> dict[str, Any]:
    req = {
        "family": "x",
        "containerDefinitions": [container(mountPoints=[{"sourceVolume": "v", "containerPath": "/data"}])],
        "volumes": [{"name": "v", "host": {"sourcePath": source}}],
    }
    result: dict[str, Any] = ops.register_task_definition(req)
    return result


REGISTRATIONS = [
    # (sourcePath, --allow, --allow-host-path, None if it registers else words the error must contain)
    ("/srv/data", [], ["/srv/data"], None),
    ("/srv/data/site/", [], ["/srv/data"], None),
    ("/srv/data/../data/site", [], ["/srv/data"], None),  # normalised: /srv/data/site
    ("/srv/data2", [], ["/srv/data"], ["rule host-bind-mounts", "--allow-host-path /srv/data2", "host-bind-mounts`"]),
    # escapes the prefix by `..`: /srv/data/../../etc is /etc
    ("/srv/data/../../etc", [], ["/srv/data"], ["(normalised: /etc)", "--allow-host-path /etc", "allows: /srv/data"]),
    ("/etc", [], [], ["rule host-bind-mounts", "this server allows: none", "orchestrator dev"]),
    ("/etc", ["host-bind-mounts"], [], None),  # the rule allows any path
    # the Docker socket keeps its own rule under an allowed prefix, and with host-bind-mounts
    ("/var/run/docker.sock", [], ["/var/run"], ["rule docker-socket", "--allow docker-socket"]),
    ("/run", [], ["/"], ["rule docker-socket"]),  # the directory that holds it
    ("/var/run/docker.sock", ["host-bind-mounts"], [], ["rule docker-socket"]),
    ("/var/run/docker.sock", ["docker-socket"], ["/var/run"], None),
    # docker-socket alone does not make its path an allowed bind mount
    ("/var/run/docker.sock", ["docker-socket"], [], ["rule host-bind-mounts"]),
]  # fmt: skip


@pytest.mark.parametrize(("source", "allow", "prefixes", "words"), REGISTRATIONS)
def test_registration_against_the_allowlist(
    tmp_path: Path, source: str, allow: list[str], prefixes: list[str], words: list[str] | None
) -> None:
    ops = control_plane(tmp_path, Settings(allow=parse_allow(allow), allow_host_paths=parse_host_paths(prefixes)))
    if words is None:
        td = _register(ops, source)["taskDefinition"]
        assert td["volumes"][0]["host"]["sourcePath"] == source  # kept as written
        return
    with pytest.raises(ApiError) as info:
        _register(ops, source)
    assert info.value.code == "ClientException"
    for word in words:
        assert word in info.value.message, info.value.message
    assert ops.list_task_definitions({})["taskDefinitionArns"] == []


def test_the_cli_refuses_a_relative_prefix() -> None:
    from orchestrator.cli.main import cli

    result = CliRunner().invoke(cli, ["dev", "--allow-host-path", "srv"])
    assert result.exit_code == 2
    assert "give an absolute path" in result.output
