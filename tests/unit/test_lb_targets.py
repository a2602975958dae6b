"""The targets controller over a fake data plane and a fake clock: tasks become targets, a task to
stop keeps its container while its target drains, health comes back from HAProxy's view; and the
pure parts (ELB health from HAProxy's, the spec, the configuration HAProxy accepts) as tables."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core import elb
from orchestrator.core.clock import FakeClock
from orchestrator.lb import ServerStats, Spec, haproxy_binary
from orchestrator.lb.haproxy import render
from orchestrator.operations import Operations
from orchestrator.reconcile import targets
from orchestrator.reconcile.services import ServiceController
from tests.builders import control_plane, instance, task_definition


def stats(status: str, check: str, code: str = "") -> ServerStats:
    return ServerStats("b", "s", status, check, code, "", 0, 0, 0)


GROUP = {"HealthCheckIntervalSeconds": 5, "UnhealthyThresholdCount": 2, "HealthCheckEnabled": True}
REGISTERED_AT = 1000.0

# (why, target state, HAProxy's view, admitted, seconds since registration, ever healthy) -> (State, Reason)
HEALTH = [
    ("just registered, no check yet", "registered", None, False, 0, False, ("initial", "Elb.RegistrationInProgress")),
    (
        "first check not run",
        "registered",
        stats("DOWN", "INI"),
        False,
        1,
        False,
        ("initial", "Elb.RegistrationInProgress"),
    ),
    (
        "1 of 2 passes",
        "registered",
        stats("DOWN 1/2", "L7OK", "200"),
        False,
        6,
        False,
        ("initial", "Elb.InitialHealthChecking"),
    ),
    ("up and admitted", "registered", stats("UP", "L7OK", "200"), True, 11, False, ("healthy", None)),
    # Up but not yet given its weight: not healthy until the data plane admits it.
    (
        "up, not admitted",
        "registered",
        stats("UP", "L7OK", "200"),
        False,
        11,
        False,
        ("initial", "Elb.InitialHealthChecking"),
    ),
    # A new target failing: initial until 5 s x 2 checks have passed, then unhealthy.
    (
        "failing within 10 s",
        "registered",
        stats("DOWN", "L7STS", "404"),
        False,
        9,
        False,
        ("initial", "Elb.InitialHealthChecking"),
    ),
    (
        "failing after 10 s",
        "registered",
        stats("DOWN", "L7STS", "404"),
        False,
        10,
        False,
        ("unhealthy", "Target.ResponseCodeMismatch"),
    ),
    (
        "was healthy, now 500",
        "registered",
        stats("DOWN", "L7STS", "500"),
        True,
        60,
        True,
        ("unhealthy", "Target.ResponseCodeMismatch"),
    ),
    ("was healthy, times out", "registered", stats("DOWN", "L4TOUT"), True, 60, True, ("unhealthy", "Target.Timeout")),
    (
        "was healthy, refused",
        "registered",
        stats("DOWN", "L4CON"),
        True,
        60,
        True,
        ("unhealthy", "Target.FailedHealthChecks"),
    ),
    (
        "deregistered",
        "draining",
        stats("DRAIN", "L7OK", "200"),
        True,
        60,
        True,
        ("draining", "Target.DeregistrationInProgress"),
    ),
]


@pytest.mark.parametrize(
    ("why", "state", "view", "admitted", "age", "ever", "want"), HEALTH, ids=[h[0] for h in HEALTH]
)
def test_elb_health_from_haproxys_view(
    why: str, state: str, view: ServerStats | None, admitted: bool, age: float, ever: bool, want: tuple[str, str | None]
) -> None:
    target = {"_state": state, "_registeredAt": REGISTERED_AT, "_everHealthy": ever}
    got = targets.target_health(target, GROUP, view, admitted, REGISTERED_AT + age)
    assert (got["State"], got.get("Reason")) == want


def test_codes_are_described_as_elb_describes_them() -> None:
    got = targets.target_health({"_everHealthy": True}, GROUP, stats("DOWN", "L7STS", "502"), True, 0)
    assert got["Description"] == "Health checks failed with these codes: [502]"


def _tg(name: str, protocol: str = "HTTP", **extra: Any) -> dict[str, Any]:
    return {
        "TargetGroupArn": f"arn:tg/{name}",
        "TargetGroupName": name,
        "_id": "1",
        "Protocol": protocol,
        "Port": 80,
        "HealthCheckProtocol": protocol,
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 5,
        "HealthCheckTimeoutSeconds": 2,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200-299"},
        "HealthCheckEnabled": True,
        **extra,
    }


def _spec() -> Spec:
    lbs = [{"LoadBalancerArn": "arn:lb/a", "LoadBalancerName": "a", "DNSName": "127.0.0.1"}]
    listeners = [
        {
            "ListenerArn": "arn:l/1",
            "LoadBalancerArn": "arn:lb/a",
            "Port": 18080,
            "Protocol": "HTTP",
            "DefaultActions": [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": "arn:tg/blue", "Weight": 3},
                            {"TargetGroupArn": "arn:tg/green", "Weight": 1},
                        ]
                    },
                }
            ],
        }
    ]
    groups = [_tg("blue"), _tg("green"), _tg("idle")]
    tgts = [
        {"TargetGroupArn": "arn:tg/blue", "Id": "i-1", "Port": 32768, "_address": "127.0.0.1", "_state": "registered"},
        {"TargetGroupArn": "arn:tg/blue", "Id": "i-2", "Port": 32769, "_address": "127.0.0.1", "_state": "draining"},
        {"TargetGroupArn": "arn:tg/idle", "Id": "i-3", "Port": 32770, "_address": "127.0.0.1", "_state": "registered"},
    ]
    return targets.build_spec(lbs, listeners, groups, tgts)


def test_the_spec_has_a_frontend_per_listener_and_a_backend_per_used_group() -> None:
    spec = _spec()
    [fe] = spec.frontends
    assert (fe.address, fe.port, fe.mode) == ("127.0.0.1", 18080, "http")
    assert fe.backends == (("tg_blue_1", 3), ("tg_green_1", 1))
    # The idle group is no listener's: HAProxy does not check its targets.
    assert [b.name for b in spec.backends] == ["tg_blue_1", "tg_green_1"]
    blue = spec.backends[0]
    assert [(s.name, s.state) for s in blue.servers] == [("i-1_32768", "ready"), ("i-2_32769", "drain")]
    assert (blue.health.interval_s, blue.health.rise, blue.health.fall, blue.health.codes) == (5, 2, 3, "200-299")


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    binary = haproxy_binary()
    assert binary, "haproxy is not installed: make setup (scripts/ensure-haproxy.sh) installs it"
    config = tmp_path / "haproxy.cfg"
    text = render(_spec(), tmp_path, admitted={("tg_blue_1", "i-1_32768")})
    config.write_text(text)
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # 3:1 by a random pick in [0, 4): below 3 is blue, the rest green.
    assert "use_backend tg_blue_1 if { var(txn.pick) -m int lt 3 }" in text
    assert "default_backend tg_green_1" in text
    # The admitted server keeps its weight across a restart; a new one waits at 0.
    assert "server i-1_32768 127.0.0.1:32768 weight 100 check inter 5s rise 2 fall 3" in text
    assert "server i-2_32769 127.0.0.1:32769 weight 0 check" in text


# -- the controller ------------------------------------------------------------------------------


class FakePlane:
    def __init__(self) -> None:
        self.spec = Spec()
        self.up: set[str] = set()
        self._admitted: set[tuple[str, str]] = set()

    def apply(self, spec: Spec) -> None:
        self.spec = spec

    def stats(self) -> list[ServerStats]:
        return [
            ServerStats(
                b.name,
                s.name,
                "UP" if s.name in self.up else "DOWN",
                "L7OK" if s.name in self.up else "INI",
                "200",
                "",
                0,
                0,
                0,
            )
            for b in self.spec.backends
            for s in b.servers
        ]

    def admit(self, stats: list[ServerStats]) -> None:
        self._admitted |= {(s.backend, s.server) for s in stats if s.up}

    def admitted(self, backend: str, server: str) -> bool:
        return (backend, server) in self._admitted

    def stop(self) -> None:
        pass

    def seed_admitted(self, servers: set[tuple[str, str]]) -> None:
        self._admitted |= servers


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    o = control_plane(tmp_path)
    instance(o, "a", "us-east-1a")
    task_definition(o, "web", portMappings=[{"containerPort": 80, "hostPort": 0}])
    return o


def _running(o: Operations, task: dict[str, Any], host_port: int) -> None:
    o.report_task_states(
        task["containerInstanceArn"],
        [
            {
                "taskArn": task["taskArn"],
                "lastStatus": "RUNNING",
                "containers": [
                    {
                        "name": "app",
                        "lastStatus": "RUNNING",
                        "networkBindings": [{"containerPort": 80, "hostPort": host_port, "protocol": "tcp"}],
                    }
                ],
            }
        ],
    )


def test_a_service_task_is_a_target_healthy_only_when_haproxy_says_so_and_drains_before_it_stops(
    ops: Operations,
) -> None:
    from tests.integration.test_load_balancing import free_port

    lb = ops.create_load_balancer({"Name": "lb"})["LoadBalancers"][0]["LoadBalancerArn"]
    tg = ops.create_target_group({"Name": "tg", "Protocol": "HTTP", "Port": 80})["TargetGroups"][0]["TargetGroupArn"]
    ops.modify_target_group_attributes(
        {"TargetGroupArn": tg, "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]}
    )
    ops.create_listener(
        {"LoadBalancerArn": lb, "Port": free_port(), "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}
    )
    lbs = [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]
    svc = ops.create_service({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1, "loadBalancers": lbs})
    assert svc["service"]["loadBalancers"] == lbs
    services = ServiceController(ops.ctx)
    services.reconcile_all()
    [task] = ops.describe_tasks({"tasks": [a for a in ops.list_tasks({})["taskArns"]]})["tasks"]
    _running(ops, task, 32768)
    plane = FakePlane()
    controller = targets.TargetController(ops.ctx, plane)  # type: ignore[arg-type]
    controller.tick()
    [d] = ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"]
    assert d["Target"]["Port"] == 32768
    assert d["TargetHealth"]["State"] == "initial"
    store = ops.ctx.store
    row = store.get_task(task["taskArn"])
    service_row = store.get_service("default", "web")
    assert row is not None and service_row is not None
    assert targets.is_healthy(store, service_row, row) is False

    plane.up.add("i-" + d["Target"]["Id"][2:] + "_32768")
    controller.tick()
    assert ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"][0]["TargetHealth"] == {
        "State": "healthy"
    }
    assert targets.is_healthy(store, service_row, row) is True

    # Stopping: the agent is told to keep the container while the target drains 5 s.
    ops.stop_task({"task": task["taskArn"]})
    arn = task["containerInstanceArn"]
    assert [t["desiredStatus"] for t in ops.assignments(arn, 0, 0)["tasks"]] == ["RUNNING"]
    controller.tick()
    [d] = ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"]
    assert d["TargetHealth"]["State"] == "draining"
    assert plane.spec.backends[0].servers[0].state == "drain"
    clock = ops.ctx.clock
    assert isinstance(clock, FakeClock)
    clock.advance(4.9)
    controller.tick()
    assert [t["desiredStatus"] for t in ops.assignments(arn, 0, 0)["tasks"]] == ["RUNNING"]
    clock.advance(0.1)
    controller.tick()
    assert ops.describe_target_health({"TargetGroupArn": tg})["TargetHealthDescriptions"] == []
    assert [t["desiredStatus"] for t in ops.assignments(arn, 0, 0)["tasks"]] == ["STOPPED"]
    assert plane.spec.backends[0].servers == ()


def test_load_balancers_of_a_service_are_checked(ops: Operations) -> None:
    from orchestrator.core.errors import InvalidParameterException

    tg = ops.create_target_group({"Name": "tg", "Protocol": "HTTP", "Port": 80})["TargetGroups"][0]["TargetGroupArn"]
    cases = [
        ([{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}], "does not have an associated load"),
        ([{"targetGroupArn": tg + "x", "containerName": "app", "containerPort": 80}], "does not exist"),
        ([{"loadBalancerName": "classic", "containerName": "app", "containerPort": 80}], "Classic"),
    ]
    for lbs, words in cases:
        with pytest.raises(InvalidParameterException) as err:
            ops.create_service({"serviceName": "web", "taskDefinition": "web:1", "loadBalancers": lbs})
        assert words in err.value.message
    assert ops.ctx.store.get_service("default", "web") is None
    assert elb.all_of(ops.ctx.store, elb.TARGET) == []
