"""Application Auto Scaling scheduled actions: schedule parsing, the API, carrying one out, triggers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from orchestrator.core.errors import ApiError
from orchestrator.jobs import trigger_for
from orchestrator.operations import Operations
from orchestrator.operations.scheduled_actions import parse_schedule
from tests.builders import control_plane, instance, service, task_definition

RID = "service/default/web"
BASE = {"ServiceNamespace": "ecs", "ResourceId": RID, "ScalableDimension": "ecs:service:DesiredCount"}


@pytest.mark.parametrize(
    ("schedule", "parsed"),
    [
        ("at(2027-01-01T08:00:00)", {"at": "2027-01-01T08:00:00"}),
        ("rate(1 hour)", {"rate": [1, "hours"]}),
        ("rate(5 minutes)", {"rate": [5, "minutes"]}),
        ("cron(0 8 ? * MON-FRI *)", {"cron": ["0", "8", "?", "*", "MON-FRI", "*"]}),
        ("cron(30 22 1 * ? *)", {"cron": ["30", "22", "1", "*", "?", "*"]}),
    ],
)
def test_schedules_aws_accepts(schedule: str, parsed: dict) -> None:
    assert parse_schedule(schedule) == parsed


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ("at(2027-13-01T08:00:00)", "date"),
        ("rate(1 hours)", "1 hour"),
        ("rate(5 minute)", "minutes"),
        ("rate(0 minutes)", "at least 1"),
        ("cron(0 8 * * *)", "6 fields"),
        ("cron(0 8 1 * 1 *)", "'?'"),
        ("cron(0 8 L * ? *)", "L, W and #"),
        ("cron(0 8 ? * 6#3 *)", "L, W and #"),
        ("every day", "at(yyyy"),
    ],
)
def test_schedules_aws_refuses(schedule: str, named: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_schedule(schedule)
    assert err.value.code == "ValidationException" and named in err.value.message


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "i1", "us-east-1a", cpu=4096, memory=4096)
    task_definition(o, "web")
    service(o, "web", desired=2)
    o.register_scalable_target({**BASE, "MinCapacity": 1, "MaxCapacity": 4})
    return o


def test_put_describe_and_delete(ops: Operations) -> None:
    ops.put_scheduled_action(
        {
            **BASE,
            "ScheduledActionName": "morning",
            "Schedule": "cron(0 8 ? * MON-FRI *)",
            "Timezone": "Europe/Paris",
            "ScalableTargetAction": {"MinCapacity": 3, "MaxCapacity": 6},
        }
    )
    # A second Put changes only what it names.
    ops.put_scheduled_action({**BASE, "ScheduledActionName": "morning", "ScalableTargetAction": {"MaxCapacity": 8}})
    (action,) = ops.describe_scheduled_actions({"ServiceNamespace": "ecs"})["ScheduledActions"]
    assert (action["Schedule"], action["Timezone"]) == ("cron(0 8 ? * MON-FRI *)", "Europe/Paris")
    assert action["ScalableTargetAction"] == {"MaxCapacity": 8}
    assert action["ScheduledActionARN"].startswith("arn:aws:autoscaling:us-east-1:000000000000:scheduledAction:")
    assert ops.describe_scheduled_actions({"ServiceNamespace": "ecs", "ScheduledActionNames": ["other"]}) == {
        "ScheduledActions": []
    }
    ops.delete_scheduled_action({**BASE, "ScheduledActionName": "morning"})
    assert ops.describe_scheduled_actions({"ServiceNamespace": "ecs"})["ScheduledActions"] == []
    with pytest.raises(ApiError) as err:
        ops.delete_scheduled_action({**BASE, "ScheduledActionName": "morning"})
    assert err.value.code == "ObjectNotFoundException"


@pytest.mark.parametrize(
    ("req", "code", "named"),
    [
        ({"Schedule": "rate(1 hour)", "Timezone": "Mars/Olympus"}, "ValidationException", "Timezone"),
        (
            {"Schedule": "rate(1 hour)", "ScalableTargetAction": {"MinCapacity": 5, "MaxCapacity": 2}},
            "ValidationException",
            "MinCapacity",
        ),
        ({}, "ValidationException", "Schedule is required"),
        ({"Schedule": "rate(1 hour)", "ResourceId": "service/default/ghost"}, "ObjectNotFoundException", "ghost"),
    ],
)
def test_put_refuses(ops: Operations, req: dict, code: str, named: str) -> None:
    with pytest.raises(ApiError) as err:
        ops.put_scheduled_action({**BASE, "ScheduledActionName": "x", **req})
    assert err.value.code == code and named in err.value.message


def test_running_an_action_moves_the_bounds_and_the_desired_count_and_records_activities(ops: Operations) -> None:
    ops.put_scheduled_action(
        {**BASE, "ScheduledActionName": "peak", "Schedule": "rate(1 hour)", "ScalableTargetAction": {"MinCapacity": 3}}
    )
    assert ops.run_scheduled_action(f"{RID}/peak")
    (target,) = ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 4)
    # Desired 2 is below the new minimum 3: it moves to 3, as Application Auto Scaling does.
    assert ops.describe_services({"services": ["web"]})["services"][0]["desiredCount"] == 3
    activities = ops.describe_scaling_activities({"ServiceNamespace": "ecs", "ResourceId": RID})["ScalingActivities"]
    descriptions = [a["Description"] for a in activities]
    assert "Setting min capacity to 3 and max capacity to 4" in descriptions
    assert "Setting desired count to 3." in descriptions
    assert all("scheduled action name peak was triggered" in a["Cause"] for a in activities[:2])
    assert not ops.run_scheduled_action(f"{RID}/gone")


def test_an_action_outside_its_window_does_nothing(ops: Operations) -> None:
    now = ops.ctx.clock.now()
    ops.put_scheduled_action(
        {
            **BASE,
            "ScheduledActionName": "later",
            "Schedule": "rate(1 hour)",
            "StartTime": now + 3600,
            "ScalableTargetAction": {"MinCapacity": 4},
        }
    )
    assert not ops.run_scheduled_action(f"{RID}/later")
    assert ops.describe_scalable_targets({"ServiceNamespace": "ecs"})["ScalableTargets"][0]["MinCapacity"] == 1


def test_triggers_follow_the_schedule_and_the_time_zone() -> None:
    base = {"CreationTime": 1_700_000_000.0}
    at = trigger_for({**base, "Schedule": "at(2027-01-01T08:00:00)", "Timezone": "Europe/Paris"})
    assert isinstance(at, DateTrigger)
    assert at.run_date == dt.datetime(2027, 1, 1, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
    rate = trigger_for({**base, "Schedule": "rate(15 minutes)"})
    assert isinstance(rate, IntervalTrigger) and rate.interval == dt.timedelta(minutes=15)
    cron = trigger_for({**base, "Schedule": "cron(0 8 ? * 2-6 *)", "Timezone": "America/New_York"})
    assert isinstance(cron, CronTrigger)
    # AWS's weekdays 2-6 are Monday to Friday: from Saturday 2027-01-02 the next run is Monday 08:00 New York.
    after = dt.datetime(2027, 1, 2, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert cron.get_next_fire_time(None, after) == dt.datetime(2027, 1, 4, 8, 0, tzinfo=ZoneInfo("America/New_York"))
