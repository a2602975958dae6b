"""`svc plan` against the update it previews, task for task and step for step.

On one control plane (real SQLite store, fake clock, the test playing the agents), the plan of a
change is taken, then the change is made and the real controller runs pass by pass, the agents
doing between passes what the plan assumes (new tasks start and are healthy after the grace time,
tasks asked to stop stop). Each pass's starts (per instance) and stops (which tasks) must be the
plan's steps, in order. Covers scale-out, scale-in, rollouts under several bounds, forced
deployments, a placement change and a drain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import InvalidParameterException
from orchestrator.reconcile.plan import preview
from tests.unit.test_service_controller import GRACE_S, Rig

# One step: (tasks started per instance name, ARNs of the tasks stopped).
Step = tuple[dict[str, int], frozenset[str]]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "orchestrator.db")
    yield r
    r.store.close()


def names(rig: Rig) -> dict[str, str]:
    return {arn: f"i{n + 1}" for n, arn in enumerate(rig.instances)}


def plan(rig: Rig, **req: Any) -> dict[str, Any]:
    """What POST /services/web/plan answers (the route's two calls, without HTTP)."""
    p = rig.ops.plan_request({"service": "web", **req})
    c = p.change
    return preview(rig.ops.ctx, c.cluster, c.service, c.state, c.new_deployment, draining=p.draining)


def planned_steps(rig: Rig, data: dict[str, Any]) -> list[Step]:
    name = names(rig)
    return [
        (
            dict(sorted(Counter(name[s["containerInstanceArn"]] for s in step["starts"]).items())),
            frozenset(s["taskArn"] for s in step["stops"]),
        )
        for step in data["steps"]
        if step["starts"] or step["stops"]
    ]


def real_steps(rig: Rig, passes: int = 40) -> list[Step]:
    """Run the controller pass by pass until two passes in a row change no task; what each did."""
    name = names(rig)
    steps: list[Step] = []
    quiet = 0
    for _ in range(passes):
        before = {t.taskArn: t.desiredStatus for t in rig.tasks()}
        rig.reconcile()
        after = rig.tasks()
        started = Counter(name[t.containerInstanceArn or ""] for t in after if t.taskArn not in before)
        stopped = frozenset(
            t.taskArn for t in after if t.desiredStatus == "STOPPED" and before.get(t.taskArn) == "RUNNING"
        )
        if started or stopped:
            steps.append((dict(sorted(started.items())), stopped))
            quiet = 0
        else:
            quiet += 1
            if quiet == 2:
                return steps
        rig.start_pending()
        rig.finish_stops()
        rig.clock.advance(GRACE_S)
    raise AssertionError(f"the service did not settle in {passes} passes: {steps}")


def steady(rig: Rig, desired: int, **req: Any) -> None:
    rig.taskdef(), rig.taskdef()  # web:1 and web:2
    rig.create(desired, "web:1", **req)
    rig.settle()


@pytest.mark.parametrize(
    ("desired", "config", "req", "steps"),
    [
        # scale-out 3 -> 9 (100/200): one step starting 6, two per instance.
        (3, {}, {"desiredCount": 9}, 1),
        # scale-in 9 -> 4: one step stopping 5.
        (9, {}, {"desiredCount": 4}, 1),
        # rollout of 6 at 100/200: start 6 new, then stop the 6 old.
        (6, {}, {"taskDefinition": "web:2"}, 2),
        # rollout of 6 at 50/100: stop 3 / start 3 / stop 3 / start 3.
        (6, {"minimumHealthyPercent": 50, "maximumPercent": 100}, {"taskDefinition": "web:2"}, 4),
        # rollout of 5 at 100/150: start 2 / stop 2 / start 2 / stop 2 / start 1 / stop 1 (placements
        # after the first depend on which old tasks the plan stopped: it must pick the same).
        (5, {"minimumHealthyPercent": 100, "maximumPercent": 150}, {"taskDefinition": "web:2"}, 6),
        # forceNewDeployment, same revision, 100/200: start 4 / stop 4.
        (4, {}, {"forceNewDeployment": True}, 2),
        # forceNewDeployment and a scale-out at once, 50/200: max 14 - 4 live = 7 start, then stop 4.
        (4, {"minimumHealthyPercent": 50}, {"forceNewDeployment": True, "desiredCount": 7}, 2),
        # a placement change is a new deployment too: binpack on memory puts the 3 new on one instance.
        (3, {}, {"placementStrategy": [{"type": "binpack", "field": "memory"}]}, 2),
    ],
)
def test_the_plan_is_what_the_update_does(
    rig: Rig, desired: int, config: dict[str, int], req: dict[str, Any], steps: int
) -> None:
    steady(rig, desired, deploymentConfiguration=config) if config else steady(rig, desired)
    tasks_before = [t.model_dump() for t in rig.tasks()]
    data = plan(rig, **req)
    assert [t.model_dump() for t in rig.tasks()] == tasks_before, "a plan changed the tasks"
    expected = planned_steps(rig, data)
    assert len(expected) == steps and data["converged"]
    rig.update(**req)
    assert real_steps(rig) == expected
    assert data["final"]["deployments"][0]["rolloutState"] == "COMPLETED"
    assert len(rig.live()) == data["desiredCount"] == rig.svc().desiredCount


@pytest.mark.parametrize("ahead", [True, False])
def test_a_drain_is_planned_as_the_controller_then_does_it(rig: Rig, ahead: bool) -> None:
    steady(rig, 6)
    drained = rig.instances[0]
    if ahead:
        # Planned before the drain: drainInstances previews it (by the instance's name here).
        expected = planned_steps(rig, plan(rig, drainInstances=["i1"]))
        rig.ops.update_container_instances_state({"containerInstances": [drained], "status": "DRAINING"})
    else:
        # Planned during the drain, asking nothing of the service: what the controller does about it.
        rig.ops.update_container_instances_state({"containerInstances": [drained], "status": "DRAINING"})
        expected = planned_steps(rig, plan(rig))
    # 2 tasks on i1 replaced at 100/200: start 2 on i2/i3, then stop the 2 on i1.
    assert [sum(starts.values()) for starts, _ in expected] == [2, 0]
    assert [len(stops) for _, stops in expected] == [0, 2]
    assert real_steps(rig) == expected
    assert not [t for t in rig.live() if t.containerInstanceArn == drained]


def test_the_plan_names_each_task_where_and_why(rig: Rig) -> None:
    steady(rig, 3)
    data = plan(rig, taskDefinition="web:2")
    first, second = data["steps"][0], data["steps"][1]
    assert data["newDeployment"] and data["taskDefinition"].endswith("/web:2")
    assert {s["name"] for s in first["starts"]} == {"i1", "i2", "i3"}
    assert all(
        "instances considered" in s["reason"] and s["taskDefinition"].endswith("/web:2") for s in first["starts"]
    )
    assert {s["taskArn"] for s in second["stops"]} == {t.taskArn for t in rig.live()}
    assert all(s["reason"].startswith("Scaling activity initiated by") for s in second["stops"])
    assert any("deployment completed" in e for s in data["steps"] for e in s["events"])


def test_a_plan_that_cannot_place_says_so_and_bad_input_is_refused(rig: Rig) -> None:
    steady(rig, 3)
    big = rig.taskdef("big", memory=4000)
    # 4096 MB per instance, one 32 MB task of web:1 on each: 4000 MB fits beside it, on each.
    data = plan(rig, taskDefinition=big)
    assert data["unplaced"] == 0 and data["final"]["deployments"][0]["rolloutState"] == "COMPLETED"
    huge = rig.taskdef("huge", memory=5000)
    data = plan(rig, taskDefinition=huge)
    # 5000 MB fits nowhere: nothing starts, nothing old stops, the deployment never completes.
    assert data["unplaced"] == 3 and "memory" in data["failure"]
    assert [(s["starts"], s["stops"]) for s in data["steps"]] == [([], [])]
    assert data["final"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    with pytest.raises(InvalidParameterException, match="schedulerProfile"):
        plan(rig, schedulerProfile="nomad")
    with pytest.raises(InvalidParameterException, match="drainInstances: i9 is not registered"):
        plan(rig, drainInstances=["i9"])
    with pytest.raises(InvalidParameterException, match="DrainInstances cannot be empty"):
        plan(rig, drainInstances=[])
