"""The `orchestrator` command as a person runs it: a real process against a real control plane
(agents use the fake executor so this stays fast), checking what it prints and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for

ORCH = str(Path(sys.executable).parent / "orchestrator")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("cli") / "data", executor_factory=FakeExecutor)
    c.start_agent("agent-1", "us-east-1a", instance_type="t3.small")
    c.start_agent("agent-2", "us-east-1b", instance_type="t3.small")
    c.start_agent("agent-3", "us-east-1c", instance_type="m5.large")
    yield c
    c.close()


def orch(cluster: LocalCluster, *args: str, expect: int = 0) -> str:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir), "COLUMNS": "200"}
    env["XDG_CONFIG_HOME"] = str(cluster.data_dir / "config")  # never the person's own contexts
    env.pop("ORCH_TOKEN", None)
    proc = subprocess.run([ORCH, *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == expect, f"{args} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def test_register_create_list_explain_plan(cluster: LocalCluster, tmp_path: Path) -> None:
    td = tmp_path / "td.json"
    td.write_text(
        json.dumps(
            {
                "family": "cliweb",
                "containerDefinitions": [
                    {"name": "web", "image": "orch/web:latest", "cpu": 128, "memory": 64, "essential": True}
                ],
            }
        )
    )
    registered = json.loads(orch(cluster, "taskdef", "register", "-f", str(td), "-o", "json"))
    assert registered["taskDefinition"]["family"] == "cliweb" and registered["taskDefinition"]["revision"] == 1

    orch(cluster, "svc", "create", "cliweb", "--taskdef", "cliweb:1", "--desired", "3")
    wait_for(lambda: len(cluster.running("cliweb")) == 3, 20, what="3 RUNNING")
    tasks = json.loads(orch(cluster, "task", "list", "--service", "cliweb", "-o", "json"))["tasks"]
    # 3 tasks over 3 zones: one in each.
    assert sorted(t["availabilityZone"] for t in tasks) == ["us-east-1a", "us-east-1b", "us-east-1c"]

    explained = orch(cluster, "task", "explain", tasks[0]["taskArn"].rsplit("/", 1)[-1])
    assert "instances considered" in explained and "chose" in explained

    plan = json.loads(orch(cluster, "svc", "plan", "cliweb", "--desired", "6", "-o", "json"))
    # 3 more tasks, one per zone again; nothing is changed by a plan.
    [step] = [s for s in plan["steps"] if s["starts"]]
    assert sorted(p["availabilityZone"] for p in step["starts"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    # A drain may stop a task only while the others are healthy (minimumHealthyPercent 100), so the
    # plan below depends on the tasks having served their health grace: wait for the steady state.
    wait_for(lambda: cluster.service("cliweb")["deployments"][0]["rolloutState"] == "COMPLETED", 20, what="steady")
    table = orch(cluster, "svc", "plan", "cliweb", "--drain", "agent-1")
    # Draining agent-1 moves its one task: start it elsewhere, then stop it.
    assert "draining" in table and "Step 1: start 1, stop 0" in table and "Step 2: start 0, stop 1" in table
    assert len(cluster.tasks("cliweb")) == 3

    events = orch(cluster, "svc", "events", "cliweb")
    assert "(service cliweb) has started 3 tasks" in events

    orch(cluster, "svc", "update", "cliweb", "--desired", "1")
    wait_for(lambda: len(cluster.tasks("cliweb")) == 1, 20, what="scale in to 1")


def test_instance_filter_uses_the_cluster_query_language(cluster: LocalCluster) -> None:
    found = json.loads(
        orch(cluster, "instance", "list", "--filter", "attribute:ecs.instance-type =~ m5.*", "-o", "json")
    )["containerInstances"]
    assert [next(a["value"] for a in i["attributes"] if a["name"] == "orch.name") for i in found] == ["agent-3"]
    out = orch(cluster, "instance", "list", "--filter", "attribute:ecs.instance-type ==", expect=1)
    assert "InvalidParameterException" in out and "position" in out


def test_errors_are_one_line_and_exit_non_zero(cluster: LocalCluster, tmp_path: Path) -> None:
    out = orch(cluster, "svc", "describe", "ghost", expect=1)
    assert "Service not found" in out or "ServiceNotFoundException" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    # What the CLI itself finds wrong before asking the control plane is a usage error: exit 2.
    assert "not valid JSON" in orch(cluster, "taskdef", "register", "-f", str(bad), expect=2)
    out = orch(cluster, "svc", "create", "x", "--taskdef", "cliweb:1", "--strategy", "pack:cpu", expect=2)
    assert "--strategy" in out
