"""The CLI's tables as a person copies from them: the real `orchestrator` process at 80 columns with
its output piped, against a real control plane (fake executor). Every id or name a table shows must
work as is in the command that takes it; prefixes, names, -o wide/yaml, --query, status, contexts,
the errors that say what to do, and the start-up imports are checked the same way."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.executor.fake import FakeExecutor
from orchestrator.local import LocalCluster
from tests.harness import wait_for

ORCH = str(Path(sys.executable).parent / "orchestrator")
TASKS = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("cli-ids") / "data", executor_factory=FakeExecutor)
    c.start_agent("agent-1", "us-east-1a")
    c.start_agent("agent-2", "us-east-1b")
    c.start_agent("agent-3", "us-east-1c")
    c.register("ids", image="orch/web:latest", cpu=128, memory=64)
    c.api(
        "POST", "/v1/clusters/default/services", {"serviceName": "ids", "taskDefinition": "ids", "desiredCount": TASKS}
    )
    wait_for(lambda: len(c.running("ids")) == TASKS, 30, what=f"{TASKS} RUNNING")
    yield c
    c.close()


def env_for(cluster: LocalCluster, **extra: str) -> dict[str, str]:
    env = {**os.environ, "ORCH_SERVER": cluster.url, "ORCH_DATA_DIR": str(cluster.data_dir), "COLUMNS": "80"}
    env["XDG_CONFIG_HOME"] = str(cluster.data_dir / "config")
    env.pop("ORCH_TOKEN", None)
    env.pop("ORCH_CLUSTER", None)
    env.update(extra)
    return env


def run(cluster: LocalCluster, *args: str, expect: int = 0, env: dict[str, str] | None = None) -> str:
    # stdout is a pipe here, as in `orchestrator task list | grep ...`
    proc = subprocess.run([ORCH, *args], capture_output=True, text=True, env=env or env_for(cluster), timeout=60)
    assert proc.returncode == expect, f"{args} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def column(table: str, header: str) -> list[str]:
    """The cells of one column of a plain table, by the header's position (cells never hold blanks
    in the id columns, so the cell is the word starting there)."""
    lines = table.strip("\n").splitlines()
    start = re.search(rf"(?:^|  ){re.escape(header)}(?:  |$)", lines[0])
    assert start is not None, f"no {header} column in {lines[0]!r}"
    at = start.start() + (2 if start.group().startswith("  ") else 0)
    return [line[at:].split(" ", 1)[0] for line in lines[1:]]


def last(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def name_of(inst: dict[str, Any]) -> str:
    return next(a["value"] for a in inst["attributes"] if a["name"] == "orch.name")


def test_every_task_id_in_task_list_works_in_describe_explain_and_the_list_by_instance(cluster: LocalCluster) -> None:
    want = {last(t["taskArn"]) for t in json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"]}
    table = run(cluster, "task", "list")
    assert "─" not in table and "│" not in table  # no box drawing when piped
    shown = column(table, "TASK")
    assert set(shown) == want and len(shown) == TASKS
    for ident in shown:
        described = json.loads(run(cluster, "task", "describe", ident, "-o", "json"))
        assert [last(t["taskArn"]) for t in described["tasks"]] == [ident] and not described["failures"]
        explained = run(cluster, "task", "explain", ident)
        assert f"Task {ident}:" in explained and "* chosen:" in explained
    # The instance column shows names, and each works as --instance.
    names = column(table, "INSTANCE")
    assert set(names) <= {"agent-1", "agent-2", "agent-3"}
    for name in set(names):
        listed = json.loads(run(cluster, "task", "list", "--instance", name, "-o", "json"))["tasks"]
        assert len(listed) == names.count(name)


def test_instance_list_names_and_ids_work_in_instance_describe(cluster: LocalCluster) -> None:
    instances = json.loads(run(cluster, "instance", "list", "-o", "json"))["containerInstances"]
    table = run(cluster, "instance", "list")
    by_name = dict(zip(column(table, "NAME"), column(table, "ID"), strict=True))
    assert by_name == {name_of(i): last(i["containerInstanceArn"]) for i in instances}
    for name, ident in by_name.items():
        for ref in (name, ident, ident[:6], f"arn:aws:ecs:us-east-1:000000000000:container-instance/default/{ident}"):
            got = json.loads(run(cluster, "instance", "describe", ref, "-o", "json"))["containerInstances"]
            assert [last(i["containerInstanceArn"]) for i in got] == [ident], ref


def test_service_names_and_deployment_ids_are_whole(cluster: LocalCluster) -> None:
    svc = json.loads(run(cluster, "svc", "describe", "ids", "-o", "json"))["services"][0]
    assert column(run(cluster, "svc", "list"), "NAME") == ["ids"]
    described = run(cluster, "svc", "describe", "ids")
    assert column(described[described.index("DEPLOYMENT  ") :], "DEPLOYMENT")[:1] == [svc["deployments"][0]["id"]]
    arn = json.loads(run(cluster, "svc", "describe", svc["serviceArn"], "-o", "json"))["services"][0]
    assert arn["serviceName"] == "ids"


def test_a_prefix_names_one_task_and_an_unknown_one_says_where_to_look(cluster: LocalCluster) -> None:
    ids = [last(t["taskArn"]) for t in json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"]]
    # The shortest prefix of ids[0] that no other id shares.
    n = next(n for n in range(1, 33) if sum(i.startswith(ids[0][:n]) for i in ids) == 1)
    got = json.loads(run(cluster, "task", "describe", ids[0][:n], "-o", "json"))["tasks"]
    assert [last(t["taskArn"]) for t in got] == [ids[0]]
    out = run(cluster, "task", "describe", "zzzz", expect=1)
    assert "task list" in out and out.count("\n") == 1


def test_an_ambiguous_prefix_lists_the_matches_and_exits_2(cluster: LocalCluster) -> None:
    ids = [last(t["taskArn"]) for t in json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"]]
    # The empty prefix is shared by all of them: the message names every match.
    out = run(cluster, "task", "describe", "", expect=2)
    assert "ambiguous" in out and all(i in out for i in ids)


def test_wide_yaml_and_query(cluster: LocalCluster) -> None:
    tasks = json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"]
    wide = run(cluster, "task", "list", "-o", "wide")
    assert set(column(wide, "TASK")) == {last(t["taskArn"]) for t in tasks}
    assert column(wide, "GROUP") == ["service:ids"] * TASKS
    assert set(column(wide, "INSTANCE ID")) == {last(t["containerInstanceArn"]) for t in tasks}
    doc = yaml.safe_load(run(cluster, "task", "list", "-o", "yaml"))
    assert {t["taskArn"] for t in doc["tasks"]} == {t["taskArn"] for t in tasks}
    # --query before or after the command, JSON or text.
    queried = json.loads(run(cluster, "task", "list", "-o", "json", "--query", "tasks[].taskArn"))
    assert sorted(queried) == sorted(t["taskArn"] for t in tasks)
    text = run(cluster, "--query", "length(tasks)", "task", "list")
    assert text.strip() == str(TASKS)
    out = run(cluster, "task", "list", "--query", "tasks[", expect=2)
    assert "JMESPath" in out


def test_status_shows_every_zone_instance_and_service(cluster: LocalCluster) -> None:
    out = run(cluster, "status")
    for word in ("us-east-1a", "us-east-1b", "us-east-1c", "agent-1", "agent-2", "agent-3"):
        assert re.search(rf"(^|\s){word}\s", out), word
    services = out[out.index("SERVICE ") :]
    assert column(services, "SERVICE")[0] == "ids"
    assert column(services, "DESIRED")[0] == str(TASKS) and column(services, "DEPLOYMENT")[0] == "COMPLETED"
    data = json.loads(run(cluster, "status", "-o", "json"))
    assert len(data["containerInstances"]) == 3 and [s["serviceName"] for s in data["services"]] == ["ids"]


def test_explain_and_plan_are_tables_with_the_winner_marked(cluster: LocalCluster) -> None:
    ident = last(json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"][0]["taskArn"])
    explanation = json.loads(run(cluster, "task", "explain", ident, "-o", "json"))["explanation"]
    table = run(cluster, "task", "explain", ident)
    header = table.splitlines()[1]
    assert "INSTANCE" in header and "SPREAD ZONE" in header and "SPREAD INSTANCE" in header
    marked = [line for line in table.splitlines()[2:] if line.startswith("*  ")]
    winner = explanation["winner"]["instance"]
    names = {
        last(i["containerInstanceArn"]): name_of(i)
        for i in cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    }
    assert len(marked) == 1 and marked[0].split()[1] == names[winner]
    assert "instances considered" in run(cluster, "task", "explain", ident, "-o", "text")
    plan = run(cluster, "svc", "plan", "ids", "--desired", str(TASKS + 2))
    # 2 more tasks: a table of where, then one explanation table each.
    assert "Step 1: start 2, stop 0" in plan and plan.count("* chosen:") == 2


def test_errors_say_what_to_do(cluster: LocalCluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = run(cluster, "task", "list", expect=1, env=env_for(cluster, ORCH_SERVER=dead))
    assert out.startswith(f"error: No control plane at {dead}") and "orchestrator dev" in out and out.count("\n") == 1
    out = run(cluster, "task", "list", expect=1, env=env_for(cluster, ORCH_TOKEN="wrong"))
    assert "refused the token from ORCH_TOKEN" in out and out.count("\n") == 1
    out = run(cluster, "task", "list", "--cluster", "nope", expect=1)
    assert "cluster list" in out and "--cluster" in out and out.count("\n") == 1
    assert run(cluster, "task", "list", "--bogus", expect=2)


def test_contexts_reach_the_cluster_without_variables(cluster: LocalCluster, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["COLUMNS"] = "80"
    token = str(cluster.data_dir / "admin.token")
    run(cluster, "context", "add", "here", "--server", cluster.url, "--token-file", token, "--use", env=env)
    config = tmp_path / "xdg" / "orchestrator" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert column(run(cluster, "context", "list", env=env), "NAME") == ["here"]
    assert len(column(run(cluster, "task", "list", env=env), "TASK")) == TASKS
    # A variable still wins over the context: here it points at nothing.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = run(cluster, "task", "list", expect=1, env={**env, "ORCH_SERVER": dead, "ORCH_TOKEN": "t"})
    assert "No control plane" in out
    # ... and the context's token is not sent to a server other than the context's.
    assert "No admin token" in run(cluster, "task", "list", expect=1, env={**env, "ORCH_SERVER": dead})
    run(cluster, "context", "add", "stored", "--server", cluster.url, "--token", cluster.plane.admin_token, env=env)
    other = run(cluster, "--context", "stored", "--server", cluster.url + "/", "task", "list", env=env)
    assert len(column(other, "TASK")) == TASKS  # the same server (a trailing slash aside): its token applies
    assert "No context 'ghost'" in run(cluster, "--context", "ghost", "task", "list", expect=2, env=env)


def test_completion_offers_names_and_ids_from_the_cluster(cluster: LocalCluster) -> None:
    def complete(words: str) -> list[str]:
        env = env_for(cluster, _ORCHESTRATOR_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD="3")
        proc = subprocess.run([ORCH], capture_output=True, text=True, env=env, timeout=60)
        return proc.stdout.split()

    assert complete("orchestrator svc describe ") == ["ids"]
    assert complete("orchestrator instance describe agent-") == ["agent-1", "agent-2", "agent-3"]
    ids = {last(t["taskArn"]) for t in json.loads(run(cluster, "task", "list", "-o", "json"))["tasks"]}
    assert ids <= set(complete("orchestrator task explain "))


def test_client_commands_import_neither_server_nor_docker() -> None:
    code = "import sys, orchestrator.cli.main; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    heavy = {"fastapi", "uvicorn", "docker", "httpx", "pydantic", "rich", "sqlite3", "structlog", "yaml", "jmespath"}
    assert not loaded & heavy, loaded & heavy
    assert not {m for m in loaded if m.startswith(("orchestrator.core", "orchestrator.api", "orchestrator.server"))}


@pytest.mark.docker
def test_dev_adds_and_selects_its_own_context(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    data = tmp_path / "data"
    argv = [ORCH, "dev", "--agents", "1", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    dev = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        config = tmp_path / "xdg" / "orchestrator" / "config.json"
        wait_for(lambda: config.exists() or dev.poll() is not None, 60, what="the dev context")
        assert dev.poll() is None, dev.stdout.read() if dev.stdout else ""
        saved = json.loads(config.read_text())
        assert saved["current"] == "dev"
        assert saved["contexts"]["dev"] == {
            "server": f"http://127.0.0.1:{port}",
            "tokenFile": str(data / "admin.token"),
        }

        # No ORCH_* variable at all: the context alone reaches the cluster.
        def listed() -> list[str]:
            proc = subprocess.run([ORCH, "instance", "list"], capture_output=True, text=True, env=env, timeout=60)
            return column(proc.stdout, "NAME") if proc.returncode == 0 and proc.stdout.startswith("NAME") else []

        assert wait_for(listed, 60, what="agent-1 listed through the dev context") == ["agent-1"]
    finally:
        dev.terminate()
        dev.wait(timeout=60)
