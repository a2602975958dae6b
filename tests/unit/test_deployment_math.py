"""The rolling-update arithmetic as tables: deployment bounds, what one pass may start and stop, the
circuit-breaker threshold, the start-failure retry delay, and how `svc update --wait` reads the
outcome of a deployment. Pure functions, no store, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cli.services import EXIT_COMPLETED, EXIT_FAILED, outcome_of
from orchestrator.reconcile.service_decide import Step, bounds, breaker_threshold, plan_step, retry_delay


@pytest.mark.parametrize(
    ("desired", "min_pct", "max_pct", "expected"),
    [
        # (most RUNNING + PENDING = floor(desired x max / 100), fewest healthy = ceil(desired x min / 100))
        (4, 50, 200, (8, 2)),  # 4 x 200 / 100 = 8; 4 x 50 / 100 = 2
        (2, 75, 200, (4, 2)),  # 2 x 75 / 100 = 1.5 -> ceil 2
        (3, 100, 125, (3, 3)),  # 3 x 125 / 100 = 3.75 -> floor 3
        (3, 100, 100, (3, 3)),
        (6, 100, 200, (12, 6)),
        (6, 50, 100, (6, 3)),
        (3, 50, 150, (4, 2)),  # 4.5 -> 4; 1.5 -> 2
        (1, 0, 100, (1, 0)),
        (1, 1, 101, (1, 1)),  # 1.01 -> 1; 0.01 -> 1
        (7, 33, 133, (9, 3)),  # 9.31 -> 9; 2.31 -> 3
        (10, 90, 110, (11, 9)),
        (0, 100, 200, (0, 0)),
        (10000, 100, 200, (20000, 10000)),
    ],
)
def test_bounds_round_max_down_and_min_up(desired: int, min_pct: int, max_pct: int, expected: tuple[int, int]) -> None:
    assert bounds(desired, min_pct, max_pct) == expected


@pytest.mark.parametrize(
    ("case", "desired", "min_pct", "max_pct", "counts", "expected"),
    [
        # counts = (live, healthy, current, healthy_outgoing) at the start of the first pass of an
        # update: every old task healthy, no new task yet, unless the case says otherwise.
        (
            "ECS: desired 4, min 50 -> may stop 2 first",
            4,
            50,
            100,
            (4, 4, 0, 4),
            Step(start=0, stop=2, stuck=False),
        ),  # max 4 - live 4 = 0 to start; 4 healthy - min 2 = 2 to stop
        (
            "desired 4, min 50, max 200 -> start 4 and stop 2 at once",
            4,
            50,
            200,
            (4, 4, 0, 4),
            Step(start=4, stop=2, stuck=False),
        ),  # max 8 - 4 live = 4; 4 - ceil(2) = 2
        (
            "ECS: desired 2, min 75 -> can stop none",
            2,
            75,
            200,
            (2, 2, 0, 2),
            Step(start=2, stop=0, stuck=False),
        ),  # ceil(1.5) = 2 healthy needed; max 4 - 2 = 2 to start
        (
            "ECS: desired 3, max 125 -> can start none",
            3,
            100,
            125,
            (3, 3, 0, 3),
            Step(start=0, stop=0, stuck=True),
        ),  # floor(3.75) = 3 = live; 3 healthy - 3 = 0
        (
            "desired 3, max 125, min 50 -> start none, stop 1",
            3,
            50,
            125,
            (3, 3, 0, 3),
            Step(start=0, stop=1, stuck=False),
        ),  # 3 - ceil(1.5) = 1
        ("ECS: min = max = 100 -> stuck", 5, 100, 100, (5, 5, 0, 5), Step(start=0, stop=0, stuck=True)),
        (
            "min = max = 100 with a task still starting is not stuck yet",
            5,
            100,
            100,
            (5, 4, 0, 4),
            Step(start=0, stop=0, stuck=False),
        ),
        (
            "default 100/200, desired 6: start 6, stop none",
            6,
            100,
            200,
            (6, 6, 0, 6),
            Step(start=6, stop=0, stuck=False),
        ),
        (
            "100/200 half way: 6 old + 6 new healthy -> stop all 6 old",
            6,
            100,
            200,
            (12, 12, 6, 6),
            Step(start=0, stop=6, stuck=False),
        ),  # 12 healthy - min 6 = 6
        (
            "100/200 with the new tasks not healthy yet -> wait",
            6,
            100,
            200,
            (12, 6, 6, 6),
            Step(start=0, stop=0, stuck=False),
        ),
        (
            "50/100, desired 6: stop 3 first",
            6,
            50,
            100,
            (6, 6, 0, 6),
            Step(start=0, stop=3, stuck=False),
        ),  # 6 - ceil(3) = 3
        (
            "50/100 while 3 old tasks are still stopping -> nothing yet",
            6,
            50,
            100,
            (6, 3, 0, 3),
            Step(start=0, stop=0, stuck=False),
        ),  # live 6 counts the stopping ones; 3 healthy = min
        ("50/100 once they stopped -> start 3", 6, 50, 100, (3, 3, 0, 3), Step(start=3, stop=0, stuck=False)),
        ("50/100, 3 new healthy -> stop the other 3 old", 6, 50, 100, (6, 6, 3, 3), Step(start=0, stop=3, stuck=False)),
        ("min 0 -> stop every old task at once", 4, 0, 100, (4, 4, 0, 4), Step(start=0, stop=4, stuck=False)),
        (
            "scale out, no deployment: start the missing 2",
            6,
            100,
            200,
            (4, 4, 4, 0),
            Step(start=2, stop=0, stuck=False),
        ),
        (
            "scale out under max 100 with a full service",
            6,
            100,
            100,
            (6, 6, 6, 0),
            Step(start=0, stop=0, stuck=False),
        ),  # nothing is missing, so nothing is stuck
        (
            "draining 2 of 6 under 100/200: start 2 elsewhere first",
            6,
            100,
            200,
            (6, 6, 4, 2),
            Step(start=2, stop=0, stuck=False),
        ),
        ("draining 2 of 6 under 100/100 -> stuck", 6, 100, 100, (6, 6, 4, 2), Step(start=0, stop=0, stuck=True)),
        (
            "desired 0 stops every healthy task",
            0,
            100,
            200,
            (3, 3, 0, 3),
            Step(start=0, stop=3, stuck=False),
        ),  # min ceil(0) = 0
    ],
)
def test_one_pass_starts_and_stops_within_the_bounds(
    case: str, desired: int, min_pct: int, max_pct: int, counts: tuple[int, int, int, int], expected: Step
) -> None:
    live, healthy, current, healthy_outgoing = counts
    step = plan_step(
        desired, min_pct, max_pct, live=live, healthy=healthy, current=current, healthy_outgoing=healthy_outgoing
    )
    assert step == expected, case
    max_tasks, min_healthy = bounds(desired, min_pct, max_pct)
    # Whatever one pass does, it never takes the service out of its bounds.
    assert live + step.start <= max(max_tasks, live), case
    assert healthy - step.stop >= min(min_healthy, healthy), case


@pytest.mark.parametrize(
    ("desired", "threshold"),
    [
        (0, 3),  # ceil(0) = 0 -> at least 3
        (1, 3),
        (4, 3),  # ceil(2) = 2 -> 3
        (6, 3),  # ceil(3) = 3
        (7, 4),  # ceil(3.5) = 4
        (10, 5),
        (399, 200),  # ceil(199.5) = 200
        (401, 200),  # ceil(200.5) = 201 -> at most 200
        (10000, 200),
    ],
)
def test_circuit_breaker_threshold_is_half_desired_clamped_to_3_and_200(desired: int, threshold: int) -> None:
    assert breaker_threshold(desired) == threshold


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        # base 5 s x 2^(failures - 3), at most 900 s (15 minutes)
        (0, 0.0),
        (2, 0.0),
        (3, 5.0),  # 5 x 2^0
        (4, 10.0),  # 5 x 2^1
        (5, 20.0),
        (10, 640.0),  # 5 x 2^7
        (11, 900.0),  # 5 x 2^8 = 1280 -> 900
        (5000, 900.0),  # still 15 minutes: no overflow, never given up
    ],
)
def test_retry_delay_grows_to_fifteen_minutes(failures: int, delay: float) -> None:
    assert retry_delay(failures, 5.0, 900.0) == delay


def _svc(*deployments: tuple[str, str, float], running: int = 4, desired: int = 4) -> dict[str, Any]:
    rows = [{"id": i, "rolloutState": state, "createdAt": created} for i, state, created in deployments]
    return {"runningCount": running, "desiredCount": desired, "deployments": rows}


@pytest.mark.parametrize(
    ("case", "svc", "expected"),
    [
        # Ours is ecs-svc/2, created at t = 20; ecs-svc/1 was created at t = 10 and ecs-svc/3 at t = 30.
        ("still rolling", _svc(("ecs-svc/2", "IN_PROGRESS", 20), ("ecs-svc/1", "COMPLETED", 10)), None),
        (
            "completed but the old tasks still stop",
            _svc(("ecs-svc/2", "COMPLETED", 20), ("ecs-svc/1", "COMPLETED", 10)),
            None,
        ),
        ("completed, not all running yet", _svc(("ecs-svc/2", "COMPLETED", 20), running=3), None),
        ("completed and settled", _svc(("ecs-svc/2", "COMPLETED", 20)), EXIT_COMPLETED),
        ("failed without rollback", _svc(("ecs-svc/2", "FAILED", 20), ("ecs-svc/1", "COMPLETED", 10)), EXIT_FAILED),
        ("rolling back", _svc(("ecs-svc/1", "IN_PROGRESS", 10), ("ecs-svc/2", "FAILED", 20)), None),
        ("rolled back and settled", _svc(("ecs-svc/1", "COMPLETED", 10)), EXIT_FAILED),
        ("superseded and settled", _svc(("ecs-svc/3", "COMPLETED", 30)), EXIT_FAILED),
    ],
)
def test_svc_update_wait_outcome(case: str, svc: dict[str, Any], expected: int | None) -> None:
    outcome = outcome_of(svc, "ecs-svc/2", 20.0)
    assert (outcome.code if outcome else None) == expected, case
    if outcome is not None and case.startswith("rolled back"):
        assert outcome.message == "deployment ecs-svc/2 failed; the service rolled back to ecs-svc/1"
    if outcome is not None and case.startswith("superseded"):
        assert outcome.message == "deployment ecs-svc/2 was superseded by ecs-svc/3"
