"""GPUs end to end without a GPU: an agent offers them, RunTask and services place by them, each
task's containers get their own GPU ids, and the worker asks the engine for exactly those devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent import gpus
from agent.executor.base import ContainerSpec
from agent.executor.docker import create_arguments
from agent.executor.fake import FakeExecutor
from agent.worker import Worker
from orchestrator.core.errors import ApiError
from orchestrator.operations import Operations
from orchestrator.reconcile.services import ServiceController
from tests.builders import container, control_plane


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    return control_plane(tmp_path)


def gpu_instance(ops: Operations, name: str, ids: list[str]) -> str:
    arn: str = ops.register_instance(
        {"name": name, "zone": "us-east-1a", "cpu": 4096, "memory": 4096, "gpus": ids or None}
    )["containerInstanceArn"]
    return arn


def gpu_taskdef(ops: Operations, family: str, *per_container: int) -> str:
    cdefs = [
        container(name=f"c{i}", resourceRequirements=[{"type": "GPU", "value": str(n)}] if n else None)
        for i, n in enumerate(per_container)
    ]
    ops.register_task_definition({"family": family, "containerDefinitions": cdefs})
    return family


def resource(inst: dict[str, Any], which: str, name: str) -> Any:
    return next((r for r in inst[which] if r["name"] == name), None)


def test_instances_register_gpus_as_ecs_shows_them(ops: Operations) -> None:
    with_gpus = gpu_instance(ops, "g", ["GPU-aaa", "GPU-bbb"])
    without = gpu_instance(ops, "plain", [])
    described = ops.describe_container_instances({"containerInstances": [with_gpus, without]})["containerInstances"]
    by_arn = {i["containerInstanceArn"]: i for i in described}
    gpu = {"name": "GPU", "type": "STRINGSET", "stringSetValue": ["GPU-aaa", "GPU-bbb"]}
    assert resource(by_arn[with_gpus], "registeredResources", "GPU") == gpu
    assert resource(by_arn[with_gpus], "remainingResources", "GPU") == gpu
    # An instance without GPUs shows no GPU resource at all, as on ECS.
    assert resource(by_arn[without], "registeredResources", "GPU") is None


@pytest.mark.parametrize("bad", [["GPU 0"], ["0", "0"], "0", [1]])
def test_bad_gpu_ids_are_refused(ops: Operations, bad: Any) -> None:
    with pytest.raises(ApiError, match="gpus"):
        ops.register_instance({"name": "g", "zone": "us-east-1a", "cpu": 1024, "memory": 1024, "gpus": bad})


def test_run_task_places_by_gpu_count_and_gives_each_container_its_gpus(ops: Operations) -> None:
    gpu_instance(ops, "one", ["GPU-1a"])
    two = gpu_instance(ops, "two", ["GPU-2a", "GPU-2b"])
    # c0 needs 1 GPU, c1 none, c2 needs 1: 2 GPUs for the task, so only "two" can take it.
    gpu_taskdef(ops, "train", 1, 0, 1)
    out = ops.run_task({"taskDefinition": "train"})
    (task,) = out["tasks"]
    assert task["containerInstanceArn"] == two
    assert [c.get("gpuIds") for c in task["containers"]] == [["GPU-2a"], None, ["GPU-2b"]]
    (inst,) = ops.describe_container_instances({"containerInstances": [two]})["containerInstances"]
    assert resource(inst, "remainingResources", "GPU")["stringSetValue"] == []
    # Both of "two"'s GPUs are held, "one" has 1 < 2: RESOURCE:GPU, naming the filter.
    again = ops.run_task({"taskDefinition": "train"})
    assert again["tasks"] == []
    (failure,) = again["failures"]
    assert failure["reason"] == "RESOURCE:GPU"
    assert "insufficient GPU" in failure["detail"]
    explanation = ops.explain_task({"task": task["taskArn"]})["explanation"]
    assert {f["filter"] for f in explanation["filters"]} == {"gpu"}
    # Once the task stops, its GPUs are free again.
    ops.stop_task({"task": task["taskArn"]})
    ops.report_task_states(two, [{"taskArn": task["taskArn"], "lastStatus": "STOPPED"}])
    (inst,) = ops.describe_container_instances({"containerInstances": [two]})["containerInstances"]
    assert resource(inst, "remainingResources", "GPU")["stringSetValue"] == ["GPU-2a", "GPU-2b"]


def test_a_service_never_gives_one_gpu_to_two_tasks(ops: Operations) -> None:
    arn = gpu_instance(ops, "four", ["g0", "g1", "g2", "g3"])
    gpu_taskdef(ops, "infer", 1)
    ops.create_service({"serviceName": "infer", "taskDefinition": "infer", "desiredCount": 6})
    ServiceController(ops.ctx).reconcile("default", "infer")
    tasks = ops.describe_tasks({"tasks": ops.list_tasks({"serviceName": "infer"})["taskArns"]})["tasks"]
    # 4 GPUs, 1 per task: 4 tasks, each with a different GPU; the other 2 wait for GPUs.
    given = [c["gpuIds"][0] for t in tasks for c in t["containers"]]
    assert sorted(given) == ["g0", "g1", "g2", "g3"]
    assert all(t["containerInstanceArn"] == arn for t in tasks)


def test_the_worker_asks_the_engine_for_the_tasks_gpus(ops: Operations) -> None:
    arn = gpu_instance(ops, "g", ["GPU-x", "GPU-y", "GPU-z"])
    gpu_taskdef(ops, "train", 2)
    (task,) = ops.run_task({"taskDefinition": "train"})["tasks"]
    td = ops.describe_task_definition({"taskDefinition": "train"})["taskDefinition"]
    fake = FakeExecutor()
    sent: list[Any] = []
    worker = Worker(fake, sent.append, "default", arn.rsplit("/", 1)[-1], inline=True)
    worker.assign({"tasks": [task], "taskDefinitions": {td["taskDefinitionArn"]: td}})
    worker.reconcile()
    (spec,) = fake.runs
    assert spec.gpu_ids == ("GPU-x", "GPU-y")
    # What the Docker executor sends for it: one NVIDIA device request for exactly those GPUs.
    _, host, _ = create_arguments(spec)
    (request,) = host["device_requests"]
    assert (request["Driver"], request["DeviceIDs"], request["Capabilities"]) == (
        "nvidia",
        ["GPU-x", "GPU-y"],
        [["gpu"]],
    )
    # A container without GPUs asks for no device at all.
    assert "device_requests" not in create_arguments(ContainerSpec(name="n", image="i", labels={}))[1]


NVIDIA_SMI = """GPU 0: Tesla T4 (UUID: GPU-8f6b1c4e-0000-1111-2222-333344445555)
GPU 1: Tesla T4 (UUID: GPU-9a7c2d5f-0000-1111-2222-333344445555)
"""


def test_gpu_detection_and_the_count_option(tmp_path: Path) -> None:
    assert gpus.parse_nvidia_smi(NVIDIA_SMI) == [
        "GPU-8f6b1c4e-0000-1111-2222-333344445555",
        "GPU-9a7c2d5f-0000-1111-2222-333344445555",
    ]
    for name in ("nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    # No nvidia-smi: the /dev/nvidia<N> devices, nvidiactl and nvidia-uvm are not GPUs.
    assert gpus.detect(smi=lambda: "", dev=tmp_path) == ["0", "1"]
    assert gpus.detect(smi=lambda: NVIDIA_SMI, dev=tmp_path)[0].startswith("GPU-8f6b")
    # --gpus N: the first N detected, then the next free indices; 0: none; no option: all detected.
    assert gpus.offered(None, ["a", "b"]) == ["a", "b"]
    assert gpus.offered(1, ["a", "b"]) == ["a"]
    assert gpus.offered(3, ["a"]) == ["a", "0", "1"]
    assert gpus.offered(0, ["a"]) == []
