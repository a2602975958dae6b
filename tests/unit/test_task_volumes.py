"""What a task definition's volumes become on the agent: Docker volumes to have first, and mounts.

Pure: `agent.container_spec` turns the stored task and task definition into VolumeSpecs and the
container's Mounts; the fake executor shows the create-or-must-exist rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.container_spec import container_spec, task_volumes
from agent.executor.base import ExecutorError, Mount, VolumeSpec
from agent.executor.fake import FakeExecutor

TASK = {"taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/abc123", "overrides": {}}
OURS = {"orch.managed": "true", "orch.instance": "i1", "orch.task": "abc123", "orch.volume-scope": "task"}


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        # host {} (and no host at all): a task-scoped local volume, named after the task
        ({"name": "data", "host": {}}, VolumeSpec("orch-abc123-data", labels=OURS)),
        ({"name": "data"}, VolumeSpec("orch-abc123-data", labels=OURS)),
        # a task-scoped driver volume keeps its driver, options and labels beside ours
        (
            {"name": "data", "dockerVolumeConfiguration": {"driver": "local", "driverOpts": {"type": "tmpfs"},
                                                           "labels": {"team": "web"}}},
            VolumeSpec("orch-abc123-data", driver_opts={"type": "tmpfs"}, labels={"team": "web", **OURS}),
        ),
        # shared: the volume's own name, none of our labels (it outlives the task), created only
        # when autoprovision says so
        (
            {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
            VolumeSpec("cache", create=True),
        ),
        ({"name": "cache", "dockerVolumeConfiguration": {"scope": "shared"}}, VolumeSpec("cache", create=False)),
    ],
)  # fmt: skip
def test_the_docker_volumes_a_task_needs(volume: dict[str, Any], expected: VolumeSpec) -> None:
    assert task_volumes(TASK, {"volumes": [volume]}, "i1") == [expected]


def test_a_host_path_is_a_bind_mount_and_makes_no_volume() -> None:
    td = {
        # mounted as the workload policy judged it: /srv/data/../site//x/ is /srv/site/x
        "volumes": [{"name": "srv", "host": {"sourcePath": "/srv/data/../site//x/"}}, {"name": "tmp", "host": {}}],
        "containerDefinitions": [],
    }
    cdef = {
        "name": "web",
        "image": "orch/web",
        "mountPoints": [
            {"sourceVolume": "srv", "containerPath": "/www", "readOnly": True},
            {"sourceVolume": "tmp", "containerPath": "/scratch"},
        ],
        "volumesFrom": [{"sourceContainer": "init", "readOnly": True}],
    }
    assert [v.name for v in task_volumes(TASK, td, "i1")] == ["orch-abc123-tmp"]
    spec = container_spec(TASK, cdef, "default", "i1", td=td)
    assert spec.mounts == (
        Mount("/srv/site/x", "/www", read_only=True, bind=True),
        Mount("orch-abc123-tmp", "/scratch"),
    )
    assert spec.volumes_from == (("orch-abc123-init", True),)


def test_a_shared_volume_without_autoprovision_must_exist() -> None:
    executor = FakeExecutor()
    with pytest.raises(ExecutorError, match="does not exist"):
        executor.ensure_volume(VolumeSpec("cache", create=False))
    executor.ensure_volume(VolumeSpec("cache"))
    executor.ensure_volume(VolumeSpec("cache", create=False))  # now it does
    assert executor.remove_volumes({"orch.task": "abc123"}) == 0  # not ours to remove
