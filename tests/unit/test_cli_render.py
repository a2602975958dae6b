"""The CLI's pure parts: plain tables, name and prefix matching, --query lifting, the context
precedence, and placement explanations as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import config
from orchestrator.cli.client import CliError
from orchestrator.cli.explain import explanation_lines
from orchestrator.cli.main import lift_global_options
from orchestrator.cli.output import format_table
from orchestrator.cli.resolve import match_instance, match_task

A = "0758a7fe5d2340ebb7f02e2b0753065e"
B = "06453337754800bbec3a81191b1cb6a4"
C = "1a091e94e0439c29a24e75137e76a98e"


def inst(ident: str, name: str, zone: str) -> dict[str, Any]:
    return {
        "containerInstanceArn": f"arn:aws:ecs:us-east-1:000000000000:container-instance/default/{ident}",
        "attributes": [{"name": "orch.name", "value": name}, {"name": "ecs.availability-zone", "value": zone}],
    }


INSTANCES = [inst(A, "agent-1", "us-east-1a"), inst(B, "agent-2", "us-east-1b"), inst(C, "agent-3", "us-east-1b")]


def test_tables_keep_every_cell_whole_and_aligned() -> None:
    text = format_table(["TASK", "NOTE"], [[A, "a b\nc"], ["x", None], ["y", ""]])
    # Widths: TASK is as wide as the 32-character id plus two blanks; newlines become blanks.
    assert text.splitlines() == [
        "TASK" + " " * 30 + "NOTE",
        A + "  a b c",
        "x" + " " * 33 + "-",
        "y" + " " * 33 + "-",
    ]


@pytest.mark.parametrize(
    ("ref", "want"),
    [
        ("agent-2", B),  # a name
        (A, A),  # a whole id
        ("1a", C),  # a unique prefix
        (f"arn:aws:ecs:us-east-1:000000000000:container-instance/default/{C}", C),  # an ARN
    ],
)
def test_an_instance_is_its_name_id_prefix_or_arn(ref: str, want: str) -> None:
    assert match_instance(ref, INSTANCES) == want


def test_an_ambiguous_instance_prefix_lists_the_matches_with_their_names() -> None:
    with pytest.raises(CliError) as err:
        match_instance("0", INSTANCES)  # A and B both start with 0
    assert err.value.code == 2 and f"{A} (agent-1)" in str(err.value) and f"{B} (agent-2)" in str(err.value)
    with pytest.raises(CliError, match="instance list"):
        match_instance("agent-9", INSTANCES)


def test_a_task_is_its_id_prefix_or_arn_and_a_shared_prefix_is_refused() -> None:
    ids = [A, B, C]
    assert match_task("07", ids) == A and match_task(C, ids) == C
    assert match_task(f"arn:aws:ecs:us-east-1:000000000000:task/default/{B}", ids) == B
    with pytest.raises(CliError) as err:
        match_task("0", ids)
    assert err.value.code == 2 and A in str(err.value) and B in str(err.value) and C not in str(err.value)


def test_query_is_lifted_to_the_root_wherever_it_is_given() -> None:
    assert lift_global_options(["task", "list", "--query", "tasks[]", "-o", "json"]) == [
        "--query",
        "tasks[]",
        "task",
        "list",
        "-o",
        "json",
    ]
    assert lift_global_options(["task", "list", "--query=x"]) == ["--query=x", "task", "list"]
    assert lift_global_options(["task", "--", "--query", "x"]) == ["task", "--", "--query", "x"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ORCH_SERVER", "ORCH_TOKEN", "ORCH_DATA_DIR", "ORCH_CLUSTER", "ORCH_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(config, "flag_server", None)
    monkeypatch.setattr(config, "flag_context", None)
    token = tmp_path / "admin.token"
    token.write_text("from-file\n")
    config.save(
        {
            "current": "dev",
            "contexts": {
                "dev": {"server": "http://127.0.0.1:9000", "tokenFile": str(token), "cluster": "blue"},
                "prod": {"server": "http://10.0.0.5:8420", "token": "prod-token"},
            },
        }
    )
    return tmp_path


def test_the_current_context_applies_when_nothing_overrides_it(home: Path) -> None:
    assert config.target() == config.Target(
        "http://127.0.0.1:9000", "from-file", str(home / "admin.token"), "blue", "context dev"
    )


def test_flags_and_variables_win_over_the_context(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CLUSTER", "green")
    monkeypatch.setenv("ORCH_TOKEN", "env-token")
    assert config.target() == config.Target("http://127.0.0.1:9000", "env-token", "ORCH_TOKEN", "green", "context dev")
    monkeypatch.setattr(config, "flag_context", "prod")
    assert config.target().server == "http://10.0.0.5:8420"


def test_a_context_token_is_never_sent_to_another_server(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "flag_context", "prod")
    monkeypatch.setattr(config, "flag_server", "http://127.0.0.1:1")
    found = config.target()
    # Neither prod's token nor its cluster: the default data dir's token (none here), cluster default.
    assert found.token != "prod-token" and found.cluster == "default"


def test_the_config_file_is_private(home: Path) -> None:
    assert (config.config_path().stat().st_mode & 0o777) == 0o600


ZONE_TIE = {
    "profile": "ecs",
    "group": "service:web",
    "considered": 3,
    "filters": [],
    "eligible": 3,
    "strategies": [
        {
            "strategy": "spread(attribute:ecs.availability-zone)",
            "candidates": 3,
            "ranking": [{"value": "us-east-1b", "tasks": 1}, {"value": "us-east-1a", "tasks": 1}],
            "chose": "us-east-1b",
            "tie": {"values": ["us-east-1a", "us-east-1b"], "tied": 2, "brokenBy": "spread(instanceId)"},
        },
        {
            "strategy": "spread(instanceId)",
            "ranking": [{"instance": C, "tasks": 0}, {"instance": B, "tasks": 1}],
            "chose": C,
        },
    ],
    "winner": {"instance": C, "zone": "us-east-1b"},
}


def test_an_explanation_is_a_row_per_instance_with_the_winner_marked_and_the_tie_named() -> None:
    lines = "\n".join(explanation_lines(ZONE_TIE, INSTANCES)).splitlines()
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in lines[1:4]}
    assert lines[0].split() == ["INSTANCE", "ZONE", "FILTERS", "SPREAD", "ZONE", "SPREAD", "INSTANCE"]
    # agent-3 (C, us-east-1b): its zone tied at 1 task, and it had 0 tasks: the winner.
    assert rows["agent-3"].startswith("*  agent-3") and rows["agent-3"].endswith("1 task (tie)  0 tasks (best)")
    # agent-2 (B) is in the same zone but had 1 task; agent-1's zone tied but lost at the next step.
    assert rows["agent-2"].endswith("1 task (tie)  1 task")
    assert rows["agent-1"].endswith("1 task (tie)  -")
    assert "tie at spread(attribute:ecs.availability-zone): us-east-1a and us-east-1b had 1 task each; " in (
        "\n".join(lines)
    )
    assert "spread(instanceId) settled it." in "\n".join(lines)


def test_a_dropped_instance_shows_the_filter_and_its_reason() -> None:
    explanation = {
        **ZONE_TIE,
        "filters": [{"filter": "memory", "removed": 1, "examples": [{"instance": A, "reason": "insufficient memory"}]}],
        "eligible": 2,
    }
    text = "\n".join(explanation_lines(explanation, INSTANCES))
    row = next(line for line in text.splitlines() if " agent-1 " in line)
    # Dropped before the strategies: no value in their columns.
    assert row.split()[2:] == ["dropped:", "insufficient", "memory", "-", "-"]
