"""Runs a scenario: the real control plane and simulated agents on a fake clock, tick by tick.

The cluster is `LocalCluster` with a `FakeClock` and one `FakeExecutor` per agent: the store, the
operations, the controllers and the scheduler are the real ones, and every agent speaks the real
HTTP agent protocol (register, long-poll, task-state reports). Time moves only here: each tick
applies the events due, moves the clock by `tick_s`, wakes the service loop (by a nudge of the
change feed) and waits, in real time, until nothing is at work (the service loop waits after the
store's latest change, every agent's worker is idle and its long-poll parked, and the store has
stayed so for SETTLE_QUIET_S), then runs the instance controller's pass and waits again. So a
tick takes as long as the work it causes, and the sample taken at its end is the settled state,
the same in every run of the same scenario and seed.

Health checks are the simulator's to answer: a container with one is marked healthy, or unhealthy
for the share of a rollout's new tasks that the scenario says fail (the n-th new container of a
revision fails when floor(n x share) grows), one container at a time and only once the cluster has
settled from the answer before, so that the order the service controller learns of them in is the
same in every run.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from agent.executor.base import Executor
from agent.executor.fake import FakeExecutor
from orchestrator.core.clock import FakeClock
from orchestrator.core.ids import SeededIds
from orchestrator.core.settings import Settings
from orchestrator.core.store import Store, instance_key
from orchestrator.local import LocalCluster
from orchestrator.simulate.scenario import Event, Scenario, ServiceSpec

log = structlog.get_logger("orchestrator.simulate")

CLUSTER = "default"
# Real seconds everything must stay idle for a tick to count as settled, and the most one
# tick may take before the simulator gives up waiting (and says so in the timeline).
SETTLE_QUIET_S = 0.1
SETTLE_LIMIT_S = 60.0
# Agents never wake on a timer of their own: assignments and fake-engine events wake them.
AGENT_POLL_S = 3600.0
START = 1_700_000_000.0
START_WAVE = 100
REVISION_LABEL = "sim.revision"
# The service events the timeline carries (words in the message, the timeline's name for it).
DEPLOYMENT_OUTCOMES = (
    ("deployment completed", "deployment completed"),
    ("deployment failed", "deployment failed"),
    ("rolling back to deployment", "rolled back"),
)


@dataclass
class AgentSpec:
    name: str
    zone: str
    instance_type: str
    cpu: int
    memory: int
    attributes: dict[str, str]


@dataclass
class Simulation:
    scenario: Scenario
    seed: int
    work_dir: Path | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.scenario
        self.clock = FakeClock(START)
        self.settings = Settings(
            health_grace_s=s.health_grace_s,
            heartbeat_interval_s=5.0,
            disconnected_after_s=s.disconnected_after_s,
            lost_after_s=s.lost_after_s,
            # One datapoint per tick: the simulator closes the metric period itself (see `_metrics`).
            metric_period_s=s.tick_s,
            service_timer_s=1.0,
            service_sweep_s=s.tick_s,
            placement_seed=self.seed,
            agent_poll_max_s=AGENT_POLL_S,
            # A tick's placements are one pass already, and a settled tick waits for every long-poll.
            agent_answer_gather_s=0.0,
        )
        self.specs: dict[str, AgentSpec] = {}
        for group in s.instances:
            for _ in range(group.count):
                n = sum(1 for a in self.specs.values() if a.zone == group.zone) + 1
                name = f"{group.zone}-{n:04d}"
                self.specs[name] = AgentSpec(
                    name, group.zone, group.instance_type, group.cpu, group.memory, dict(group.attributes)
                )
        self.executors: dict[str, FakeExecutor] = {}
        self.down: dict[str, float] = {}  # agent name -> when it comes back (inf: until restored)
        self.health_seen: dict[str, int] = defaultdict(int)  # task definition -> new containers seen
        self.health_failed: dict[str, int] = defaultdict(int)
        self.failing_share: dict[str, float] = {}  # revision tag -> share of its health checks failing
        self.rollouts: dict[str, int] = defaultdict(int)  # service -> rollouts so far
        # Load curves: what each container has used so far (CPU ns) and each agent's last samples.
        self.loaded = {svc.name: svc for svc in s.services if svc.load or svc.autoscaling}
        self.cpu_ns: dict[tuple[str, str], int] = defaultdict(int)  # by (agent, container id): ids repeat
        self.reported: dict[str, dict[str, Any]] = {}
        self.utilization: dict[str, dict[str, float | None]] = {}
        self.unsettled_ticks = 0
        self.event_ids: dict[str, int] = defaultdict(int)  # service -> the last service event read
        # Whether any revision has a health check: only then must settling look at every container.
        self.health_checked = False

    # -- running -------------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="orch-sim-") as tmp:
            data = self.work_dir or Path(tmp)
            self.cluster = LocalCluster(
                data,
                executor_factory=FakeExecutor,
                settings=self.settings,
                clock=self.clock,
                ids=SeededIds(self.seed),
                poll_wait_s=AGENT_POLL_S,
                pass_interval_s=AGENT_POLL_S,
                agent_cpu=2048,
                agent_memory=8192,
                agent_metric_period_s=AGENT_POLL_S,
                # No scenario execs into a task or reads its logs: two threads and a poll less per agent.
                agent_exec_relay=False,
                agent_ship_logs=False,
            )
            # The autoscaler and the instance controller run once per tick of the fake clock, never
            # on real time: an instance pass at a moment an agent was between two long-polls
            # judged it by its last heartbeat, minutes ago in simulated time, and found it lost.
            background = self.cluster.plane.background
            background.remove_periodic("autoscaling")
            background.remove_periodic("instances")
            # The service controller passes only when the agents are settled (see `_quiet`).
            background.stepped()
            try:
                self._start([*self.specs])
                self._services()
                self._settle()
                self._loop()
            finally:
                self.cluster.close(remove_containers=False)
        return self.lines

    def _loop(self) -> None:
        s = self.scenario
        pending = sorted(s.events, key=lambda e: e.at)
        steps = math.ceil(s.duration_s / s.tick_s)
        self._sample(0.0)
        for step in range(1, steps + 1):
            t = step * s.tick_s
            self.clock.advance(s.tick_s)
            for name, back in sorted(self.down.items()):
                if back <= t:
                    del self.down[name]
            returning = [n for n in sorted(self.specs) if n not in self.cluster.agents and n not in self.down]
            if returning:
                self._start(returning)
            while pending and pending[0].at <= t:
                self._apply(pending.pop(0), t)
            self._metrics(t)
            self._settle()
            self._sample(t)

    def _t(self) -> float:
        return round(self.clock.now() - START, 3)

    # -- agents --------------------------------------------------------------------------------

    def _executor(self, name: str) -> Executor:
        # A restarted agent finds its containers where it left them, as on a real host.
        return self.executors.setdefault(name, FakeExecutor(clock=self.clock.now))

    def _start(self, names: list[str]) -> None:
        # In waves: a thousand registrations at once queue on the store's one writer for longer
        # than an agent's HTTP timeout, and a registration retried after its answer was lost
        # finds its name taken.
        for i in range(0, len(names), START_WAVE):
            self._start_wave(names[i : i + START_WAVE])

    def _start_wave(self, names: list[str]) -> None:
        for name in names:
            spec = self.specs[name]
            self.cluster.start_agent(
                name,
                spec.zone,
                cpu=spec.cpu,
                memory=spec.memory,
                attributes=spec.attributes,
                instance_type=spec.instance_type,
                executor=self._executor(name),
                wait=False,
            )
        # Registrations queue on the store's one writer: allow for a thousand of them on a busy machine.
        limit = 60 + 0.25 * len(names)
        deadline = time.monotonic() + limit
        for name in names:
            if not self.cluster.agents[name].agent.registered.wait(timeout=max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"simulated agent {name} did not register within {limit:g} s")

    def _stop(self, names: list[str], back_at: float) -> None:
        names = [n for n in names if n in self.cluster.agents]
        self.cluster.stop_agents(names)
        for name in names:
            self.down[name] = back_at

    def _zone(self, zone: str, count: int = 0) -> list[str]:
        names = sorted(n for n, a in self.specs.items() if a.zone == zone)
        return names[:count] if count else names

    # -- the scenario's services and events ----------------------------------------------------

    def _register(self, svc: ServiceSpec, health: bool, tag: str) -> str:
        # The label tells the simulator, looking at a container, which revision it runs.
        container: dict[str, Any] = {
            "cpu": svc.cpu,
            "memory": svc.memory,
            "command": ["sleep", "86400"],
            "dockerLabels": {REVISION_LABEL: tag},
        }
        if health:
            self.health_checked = True
            container["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}
        return self.cluster.register(svc.name, **container)

    def _services(self) -> None:
        for svc in self.scenario.services:
            td = self._register(svc, svc.health_check, f"{svc.name}#0")
            body: dict[str, Any] = {
                "serviceName": svc.name,
                "taskDefinition": td,
                "desiredCount": svc.desired,
                "placementStrategy": [dict(p) for p in svc.placement_strategy],
                "placementConstraints": [dict(p) for p in svc.placement_constraints],
                "deploymentConfiguration": {
                    "minimumHealthyPercent": svc.minimum_healthy_percent,
                    "maximumPercent": svc.maximum_percent,
                    "deploymentCircuitBreaker": {"enable": svc.circuit_breaker, "rollback": svc.rollback},
                },
            }
            self.cluster.api("POST", f"/v1/clusters/{CLUSTER}/services", body)
            self._note("service created", service=svc.name, desired=svc.desired, taskDefinition=td)
            if svc.autoscaling is not None:
                self._autoscaling(svc)

    def _autoscaling(self, svc: ServiceSpec) -> None:
        a = svc.autoscaling
        assert a is not None
        base = f"/v1/clusters/{CLUSTER}/services/{svc.name}"
        self.cluster.api("PUT", f"{base}/scalable-target", {"MinCapacity": a.min, "MaxCapacity": a.max})
        metric = "ECSServiceAverageCPUUtilization" if a.metric == "cpu" else "ECSServiceAverageMemoryUtilization"
        policy = {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": a.target,
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                "ScaleOutCooldown": a.scale_out_cooldown_s,
                "ScaleInCooldown": a.scale_in_cooldown_s,
            },
        }
        self.cluster.api("PUT", f"{base}/scaling-policies/{svc.name}-{a.metric}", policy)
        self._note("autoscaling", service=svc.name, min=a.min, max=a.max, metric=a.metric, target=a.target)

    def _apply(self, event: Event, t: float) -> None:
        if event.kind == "zone_lost":
            names = self._zone(event.zone)
            self._stop(names, math.inf)
            self._note("zone lost", zone=event.zone, instances=len(names))
        elif event.kind == "zone_restored":
            names = [n for n in self._zone(event.zone) if n in self.down]
            for name in names:
                del self.down[name]
            self._start(names)
            self._note("zone restored", zone=event.zone, instances=len(names))
        elif event.kind == "flap":
            names = self._zone(event.zone, event.count)
            self._stop(names, t + event.down_s)
            self._note("agents flap", zone=event.zone, instances=len(names), down_s=event.down_s)
        elif event.kind == "drain":
            names = self._zone(event.zone, event.count)
            for name in names:
                if name in self.cluster.agents:
                    ident = self.cluster.instance_id(name)
                    self.cluster.api("POST", f"/v1/clusters/{CLUSTER}/container-instances/{ident}/drain")
            self._note("instances drained", zone=event.zone, instances=len(names))
        elif event.kind == "rollout":
            svc = next(s for s in self.scenario.services if s.name == event.service)
            health = svc.health_check or event.failing_health_share > 0
            self.rollouts[svc.name] += 1
            tag = f"{svc.name}#{self.rollouts[svc.name]}"
            td = self._register(svc, health, tag)
            self.failing_share[tag] = event.failing_health_share
            self.cluster.api("PATCH", f"/v1/clusters/{CLUSTER}/services/{svc.name}", {"taskDefinition": td})
            self._note("rollout", service=svc.name, taskDefinition=td, failingHealthShare=event.failing_health_share)
        elif event.kind == "scale":
            self.cluster.api(
                "PATCH", f"/v1/clusters/{CLUSTER}/services/{event.service}", {"desiredCount": event.desired}
            )
            self._note("scaled", service=event.service, desired=event.desired)

    def _note(self, what: str, **detail: Any) -> None:
        self.lines.append({"t": self._t(), "event": what, **detail})

    # -- load curves and the autoscaler ---------------------------------------------------------

    def _metrics(self, t: float) -> None:
        """The tick's metric period: each loaded service's demand at `t`, shared evenly by its
        running containers, is what they used over the tick; their agents report it over the agent
        protocol (the agent's own code works out CPU units from the two samples), then the
        autoscaler closes the period and evaluates every target, as its periodic job would."""
        if not self.loaded:
            return
        running: dict[str, list[tuple[str, str]]] = defaultdict(list)  # service -> (agent, container)
        for name in sorted(self.cluster.agents):
            for c in self.executors[name].list({}):
                service = c.labels.get(REVISION_LABEL, "").partition("#")[0]
                if c.running and service in self.loaded:
                    running[service].append((name, c.id))
        reporting: set[str] = set()
        for service, containers in sorted(running.items()):
            cpu, memory = self.loaded[service].demand(t)
            n = len(containers)
            for name, cid in containers:
                # CPU units are 1/1024 of a core: a task using u units for tick_s seconds adds
                # u / 1024 x tick_s seconds of CPU time.
                used = self.cpu_ns[(name, cid)] = self.cpu_ns[(name, cid)] + round(
                    cpu / n / 1024 * self.scenario.tick_s * 1e9
                )
                self.executors[name].set_usage(cid, used, round(memory / n * 1024 * 1024))
                reporting.add(name)
        for name in sorted(reporting):
            self.reported[name] = self.cluster.agents[name].agent.report_metrics(self.reported.get(name, {}))
        plane = self.cluster.plane
        points = plane.metrics.close_period()
        self.utilization = {
            name: {"cpu": p.cpu_utilization, "memory": p.memory_utilization}
            for (cluster, name), p in points.items()
            if cluster == CLUSTER and name in self.loaded
        }
        plane.autoscaler.tick_targets()

    # -- settling ------------------------------------------------------------------------------

    def _answer_health(self) -> bool:
        """Mark the first container still `starting` (by revision, agent, container) healthy or
        unhealthy; True if there was one. One at a time, each once the cluster has settled from the
        one before: answered in batches, the agents' reports reached the service controller split
        over its passes differently from run to run, and a healthy task seen before or after a
        failed one resets or grows the failure count (and the retry delay), so runs differed."""
        if not self.health_checked:
            return False  # listing a thousand executors every 20 ms was most of a tick's time
        starting: list[tuple[str, str, str]] = []
        for name in sorted(self.executors):
            ex = self.executors[name]
            for c in ex.list({}):
                if c.running and c.health == "starting":
                    starting.append((c.labels.get(REVISION_LABEL, ""), name, c.id))
        if not starting:
            return False
        td, name, cid = min(starting)
        share = self.failing_share.get(td, 0.0)
        self.health_seen[td] += 1
        failing = math.floor(self.health_seen[td] * share) > self.health_failed[td]
        if failing:
            self.health_failed[td] += 1
        self.executors[name].set_health(cid, "unhealthy" if failing else "healthy")
        return True

    def _busy(self) -> str:
        """Which agent is still at work ("" once none is): its worker not idle, or its long-poll not
        parked. A quiet store alone is not enough: on a busy machine a starved thread can be quiet
        for longer than SETTLE_QUIET_S mid-tick, and the sample then catches a tick half done (two
        runs of one seed differed so)."""
        plane = self.cluster.plane
        agents = {name: running.agent for name, running in self.cluster.agents.items()}
        working = sorted(name for name, agent in agents.items() if not agent.idle)
        if working:
            return f"agent {working[0]} (of {len(working)}) in a worker pass"
        keys = {instance_key(agent.session.instance_arn): name for name, agent in agents.items()}
        polling = sorted(keys[k] for k in set(keys) - plane.store.waited_on(keys))
        return f"agent {polling[0]} (of {len(polling)}) not in its long-poll" if polling else ""

    def _settle(self) -> None:
        """Let the tick's work run out, then judge the agents' silence, then let that run out.
        The instance pass comes only once the cluster is settled: then every connected agent is
        parked in its long-poll (which counts as heard from), and only the ones the scenario
        stopped are silent."""
        store = self.cluster.plane.store
        store.nudge("simulate:tick")
        began = time.monotonic()
        if not self._quiet(began):
            return
        position = store.position
        self.cluster.plane.background.instances.reconcile()
        if store.position != position:
            self._quiet(began)

    def _quiet(self, began: float) -> bool:
        """Wait until nothing is at work; False (and a line in the timeline) if the tick does not
        settle within SETTLE_LIMIT_S of `began`. Each time the agents have settled, the service
        controller runs one pass over what they changed, or else one health check is answered:
        so every pass and every answer comes after the same changes in every run."""
        store, background = self.cluster.plane.store, self.cluster.plane.background
        last, quiet_since = store.position, time.monotonic()
        busy = ""
        while time.monotonic() - began < SETTLE_LIMIT_S:
            time.sleep(0.02)
            now_pos = store.position
            busy = self._busy()
            if now_pos != last or busy:
                last, quiet_since = now_pos, time.monotonic()
            elif time.monotonic() - quiet_since < SETTLE_QUIET_S:
                continue
            elif background.parked_at != now_pos:
                background.step()
            elif not self._answer_health():
                return True
        self.unsettled_ticks += 1
        self._note("tick did not settle", limit_s=SETTLE_LIMIT_S, busy=busy or "store still changing")
        return False

    # -- sampling ------------------------------------------------------------------------------

    def _sample(self, t: float) -> None:
        store = self.cluster.plane.store
        zone_of: dict[str, str] = {}
        up: dict[str, int] = defaultdict(int)
        cpu_total: dict[str, int] = defaultdict(int)
        cpu_of = {svc.name: svc.cpu for svc in self.scenario.services}
        with store.read():
            for inst in store.list_instances(CLUSTER):
                zone = inst.attribute_map().get("ecs.availability-zone", "")
                zone_of[inst.containerInstanceArn] = zone
                if inst.agentConnected and inst.status == "ACTIVE":
                    up[zone] += 1
                    cpu_total[zone] += next(r.integerValue or 0 for r in inst.registeredResources if r.name == "CPU")
            counts = store.task_counts(CLUSTER)
            services = {svc.serviceName: svc for svc in store.list_services(CLUSTER)}
            self._note_deployments(store)
        running: dict[str, int] = defaultdict(int)
        cpu_used: dict[str, int] = defaultdict(int)
        per_service: dict[str, dict[str, int]] = {n: {"running": 0, "pending": 0} for n in cpu_of}
        for arn, group, _desired, last, n in counts:
            name = group.removeprefix("service:")
            zone = zone_of.get(arn, "")
            if last == "RUNNING":
                running[zone] += n
                cpu_used[zone] += n * cpu_of.get(name, 0)
            if name in per_service:
                per_service[name]["running" if last == "RUNNING" else "pending"] += n
        zones = {}
        for zone in self.scenario.zones:
            util = cpu_used[zone] / cpu_total[zone] if cpu_total[zone] else 0.0
            zones[zone] = {"instances": up[zone], "running": running[zone], "cpuUtilization": round(util, 4)}
        svcs: dict[str, dict[str, Any]] = {}
        for name in sorted(per_service):
            svc = services.get(name)
            primary = svc.deployments[0] if svc and svc.deployments else None
            svcs[name] = {
                "desired": svc.desiredCount if svc else 0,
                "running": per_service[name]["running"],
                "pending": per_service[name]["pending"],
                "deployments": len(svc.deployments) if svc else 0,
                "rollout": primary.rolloutState if primary else "",
                "taskDefinition": primary.taskDefinition.rpartition("/")[2] if primary else "",
                "failedTasks": sum(d.failedTasks for d in svc.deployments) if svc else 0,
            }
            if name in self.loaded:
                measured = self.utilization.get(name, {})
                cpu, memory = measured.get("cpu"), measured.get("memory")
                svcs[name]["cpuUtilization"] = round(cpu, 2) if cpu is not None else None
                svcs[name]["memoryUtilization"] = round(memory, 2) if memory is not None else None
        self.lines.append({"t": t, "zones": zones, "services": svcs})

    def _note_deployments(self, store: Store) -> None:
        """The services' own events about their deployments, at the times they happened: a
        rollout usually ends within one tick, so no sample would show that it failed and rolled back."""
        for svc in self.scenario.services:
            for event in reversed(store.list_events(CLUSTER, svc.name, after_id=self.event_ids[svc.name])):
                self.event_ids[svc.name] = int(event["id"])
                outcome = next((what for words, what in DEPLOYMENT_OUTCOMES if words in event["message"]), None)
                if outcome:
                    t = round(event["createdAt"] - START, 3)
                    self.lines.append({"t": t, "event": outcome, "service": svc.name, "message": event["message"]})


def run(scenario: Scenario, seed: int | None = None) -> list[dict[str, Any]]:
    sim = Simulation(scenario, scenario.seed if seed is None else seed)
    return sim.run()
