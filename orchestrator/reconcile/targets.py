"""The targets controller: ECS services' tasks as ELB targets, and HAProxy kept in line with the store.

Each tick:
1. (decide over the store, apply in one transaction) every RUNNING task of a service with
   `loadBalancers` is registered in each named target group, as ECS does: an `instance` group
   gets its instance and the host port of the named container port (bridge and host mode), an
   `ip` group the task's own IP and the container port (awsvpc); a target whose task is to
   stop is deregistered (draining), and removed once the group's deregistration delay has passed
   or at once when its task has already stopped; removal wakes the task's agent, which until then
   was told to keep the container running (`core/elb.stop_held`).
2. the data plane (`orchestrator.lb`) is made to match the load balancers, listeners, target
   groups and targets in the store;
3. HAProxy's per-server state becomes each target's ELB health (initial, healthy, unhealthy,
   draining) with ELB's reason codes, written back only when it changed.

The service controller asks `is_healthy(store, service, task)` (a task behind a load balancer
counts as healthy only when its targets are) and `unhealthy_targets(store, task)` (to replace it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.core import elb, fargate, task_network
from orchestrator.core.context import Context
from orchestrator.core.models import Service, Task, arn_id
from orchestrator.core.store import Store
from orchestrator.lb import Backend, DataPlane, Frontend, HealthCheck, Server, ServerStats, Spec

log = structlog.get_logger("orchestrator.reconcile.targets")

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def service_groups(service: Service) -> list[str]:
    return [lb["targetGroupArn"] for lb in elb.service_load_balancers(service) if lb.get("targetGroupArn")]


def is_healthy(store: Store, service: Service, task: Task) -> bool | None:
    """None when the service has no load balancer; else whether every target of the task is healthy."""
    groups = service_groups(service)
    if not groups:
        return None
    return elb.is_healthy(store, task, groups)


def unhealthy_targets(store: Store, task: Task) -> list[dict[str, Any]]:
    return elb.unhealthy_groups(store, task)


def snapshot_of(store: Store, service: Service, tasks: list[Task]) -> dict[str, Any]:
    """What the service controller's snapshot needs about `tasks` of `service` (its live ones):
    `lb_healthy` (None without a load balancer) and `lb_failing` (task ARN -> event, stop reason)."""
    if not service_groups(service):
        return {"lb_healthy": None, "lb_failing": {}}
    healthy, failing = {}, {}
    for t in tasks:
        healthy[t.taskArn] = bool(is_healthy(store, service, t))
        bad = unhealthy_targets(store, t)
        if bad:
            failing[t.taskArn] = (unhealthy_message(t, bad[0]), stop_reason(bad[0]))
    return {"lb_healthy": healthy, "lb_failing": failing}


def unhealthy_message(task: Task, target: dict[str, Any]) -> str:
    """ECS's service event for a target that failed its load balancer health checks."""
    health = target.get("_health", {})
    return (
        f"(instance {target['Id']}) (port {target['Port']}) is unhealthy in (target-group "
        f"{target['TargetGroupArn']}) due to (reason {health.get('Description') or health.get('Reason')})."
    )


def stop_reason(target: dict[str, Any]) -> str:
    return f"Task failed ELB health checks in (target-group {target['TargetGroupArn']})"


def backend_name(tg: dict[str, Any]) -> str:
    return f"tg_{tg['TargetGroupName']}_{tg['_id']}"


def server_name(target: dict[str, Any]) -> str:
    return _SAFE.sub("_", f"{target['Id']}_{target['Port']}")


def _health_check(tg: dict[str, Any]) -> HealthCheck:
    port = tg.get("HealthCheckPort", "traffic-port")
    return HealthCheck(
        protocol=tg.get("HealthCheckProtocol", "HTTP"),
        path=tg.get("HealthCheckPath", "/"),
        port=None if port == "traffic-port" else int(port),
        interval_s=int(tg["HealthCheckIntervalSeconds"]),
        timeout_s=int(tg["HealthCheckTimeoutSeconds"]),
        rise=int(tg["HealthyThresholdCount"]),
        fall=int(tg["UnhealthyThresholdCount"]),
        codes=(tg.get("Matcher") or {}).get("HttpCode", "200"),
        enabled=bool(tg.get("HealthCheckEnabled", True)),
    )


def build_spec(
    lbs: list[dict[str, Any]],
    listeners: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    targets: list[dict[str, Any]],
) -> Spec:
    """The data plane for the stored objects (pure): a frontend per listener, a backend per target group."""
    by_arn = {g["TargetGroupArn"]: g for g in groups}
    lb_by_arn = {lb["LoadBalancerArn"]: lb for lb in lbs}
    frontends = []
    used: set[str] = set()
    for lst in sorted(listeners, key=lambda x: x["ListenerArn"]):
        lb = lb_by_arn.get(lst["LoadBalancerArn"])
        if lb is None:
            continue
        pairs = [(backend_name(by_arn[g]), w) for g, w in elb.forwarded_groups(lst) if g in by_arn and w > 0]
        used.update(g for g, _ in elb.forwarded_groups(lst))
        frontends.append(
            Frontend(
                name=f"ln_{lb['LoadBalancerName']}_{lst['Port']}",
                address=lb["DNSName"],
                port=int(lst["Port"]),
                mode="http" if lst["Protocol"] == "HTTP" else "tcp",
                backends=tuple(pairs),
            )
        )
    backends = []
    for g in sorted(groups, key=lambda x: x["TargetGroupArn"]):
        if g["TargetGroupArn"] not in used:
            continue
        servers = tuple(
            Server(server_name(t), t["_address"], int(t["Port"]), "drain" if t.get("_state") == "draining" else "ready")
            for t in sorted(targets, key=lambda t: (t["Id"], t["Port"]))
            if t["TargetGroupArn"] == g["TargetGroupArn"]
        )
        backends.append(
            Backend(backend_name(g), "http" if g["Protocol"] == "HTTP" else "tcp", _health_check(g), servers)
        )
    return Spec(tuple(frontends), tuple(backends))


REASONS = {
    "L7STS": "Target.ResponseCodeMismatch",
    "L4TOUT": "Target.Timeout",
    "L6TOUT": "Target.Timeout",
    "L7TOUT": "Target.Timeout",
}


def target_health(
    target: dict[str, Any], group: dict[str, Any], stats: ServerStats | None, admitted: bool, now: float
) -> dict[str, str]:
    """ELB's health for one target from HAProxy's view of its server (pure)."""
    if target.get("_state") == "draining":
        return {
            "State": elb.DRAINING,
            "Reason": "Target.DeregistrationInProgress",
            "Description": "Target deregistration is in progress",
        }
    if not group.get("HealthCheckEnabled", True):
        return {
            "State": "unavailable",
            "Reason": "Target.HealthCheckDisabled",
            "Description": "Health checks are disabled",
        }
    # Admitted and up: healthy, also right after a restart of HAProxy, before its first new check.
    if stats is not None and stats.up and admitted:
        return {"State": elb.HEALTHY}
    if stats is None or stats.check_status in ("", "INI"):
        return {
            "State": elb.INITIAL,
            "Reason": "Elb.RegistrationInProgress",
            "Description": "Target registration is in progress",
        }
    failed = stats.check_status not in ("L7OK", "L6OK", "L4OK", "")
    ever = bool(target.get("_everHealthy"))
    # A new target is `initial` until it has had the time to fail UnhealthyThresholdCount checks.
    settling = now - float(target.get("_registeredAt", now)) < (
        int(group["HealthCheckIntervalSeconds"]) * int(group["UnhealthyThresholdCount"])
    )
    if not failed or (not ever and settling):
        return {
            "State": elb.INITIAL,
            "Reason": "Elb.InitialHealthChecking",
            "Description": "Initial health checks in progress",
        }
    reason = REASONS.get(stats.check_status, "Target.FailedHealthChecks")
    if reason == "Target.ResponseCodeMismatch":
        description = f"Health checks failed with these codes: [{stats.check_code}]"
    elif reason == "Target.Timeout":
        description = "Request timed out"
    else:
        description = "Health checks failed"
    return {"State": elb.UNHEALTHY, "Reason": reason, "Description": description}


@dataclass
class _Registration:
    group: str
    target_id: str
    port: int
    task: Task
    address: str | None = None  # where HAProxy reaches it: the task's IP; None: its instance's address


class TargetController:
    def __init__(self, ctx: Context, dataplane: DataPlane) -> None:
        self.ctx = ctx
        self.dataplane = dataplane
        self.last_error = ""
        self._seeded = False

    def _known_healthy(self) -> set[tuple[str, str]]:
        with self.ctx.store.read() as s:
            groups = {g["TargetGroupArn"]: g for g in elb.all_of(s, elb.TG)}
            return {
                (backend_name(groups[t["TargetGroupArn"]]), server_name(t))
                for t in elb.all_of(s, elb.TARGET)
                if t["TargetGroupArn"] in groups and t.get("_health", {}).get("State") == elb.HEALTHY
            }

    def tick(self) -> None:
        self._sync_tasks()
        spec = self._spec()
        if not self._seeded:
            # A restarted control plane: targets healthy before keep taking traffic at once.
            self._seeded = True
            self.dataplane.seed_admitted(self._known_healthy())
        try:
            self.dataplane.apply(spec)
            self.last_error = ""
        except Exception as err:  # a bad data plane must not stop the registrations
            if str(err) != self.last_error:
                log.error("load balancer data plane not applied", error=str(err))
            self.last_error = str(err)
            return
        stats = self.dataplane.stats()
        self.dataplane.admit(stats)
        self._record_health(stats)
        if self.ctx.request_sink is not None:
            self.ctx.request_sink(self._request_counters(stats))

    def close(self) -> None:
        self.dataplane.stop()

    # -- 1. tasks as targets ---------------------------------------------------------------

    def _registrations(self, store: Store, svc: Service) -> list[_Registration]:
        out = []
        # A FARGATE service's tasks run on the managed pool, which no cluster lists.
        where = fargate.POOL_CLUSTER if svc.launchType == fargate.LAUNCH_TYPE else arn_id(svc.clusterArn)
        instances = {i.containerInstanceArn: i for i in store.list_instances(where, include_inactive=True)}
        tasks = store.list_tasks(arn_id(svc.clusterArn), group=f"service:{svc.serviceName}", desired_status="RUNNING")
        for lb in elb.service_load_balancers(svc):
            group = elb.get(store, elb.TG, lb.get("targetGroupArn", ""))
            if group is None:
                continue
            for task in tasks:
                if task.lastStatus != "RUNNING" or task.containerInstanceArn not in instances:
                    continue
                inst = instances[task.containerInstanceArn]
                if group["TargetType"] == "ip":
                    # An awsvpc task: its own IP (once its agent has reported it) and the container port.
                    ip = task_network.private_ip(task.attachments)
                    if ip is None or not isinstance(lb.get("containerPort"), int):
                        continue
                    out.append(_Registration(group["TargetGroupArn"], ip, int(lb["containerPort"]), task, ip))
                    continue
                port = _host_port(task, lb.get("containerName"), lb.get("containerPort"))
                if port is None:
                    continue
                out.append(_Registration(group["TargetGroupArn"], inst.ec2InstanceId, port, task))
        return out

    def _sync_tasks(self) -> None:
        store = self.ctx.store
        now = self.ctx.clock.now()
        with store.write() as s:
            targets = elb.all_of(s, elb.TARGET)
            balanced = s.services_with_load_balancers()
            if not targets and not balanced:
                return
            for svc in balanced:
                for reg in self._registrations(s, svc):
                    key = elb.target_key(reg.group, reg.target_id, reg.port)
                    if elb.get(s, elb.TARGET, key) is None:
                        self._register(s, reg, now)
            for t in targets:
                task_arn = t.get("_task")
                if not task_arn:
                    if t.get("_state") == "draining" and now >= float(t.get("_drainUntil", 0)):
                        elb.delete(s, elb.TARGET, elb.target_key(t["TargetGroupArn"], t["Id"], t["Port"]))
                    continue
                task = s.get_task(task_arn)
                key = elb.target_key(t["TargetGroupArn"], t["Id"], t["Port"])
                group = elb.get(s, elb.TG, t["TargetGroupArn"])
                if task is None or task.lastStatus == "STOPPED" or group is None:
                    elb.delete(s, elb.TARGET, key)
                    continue
                if task.desiredStatus == "STOPPED" and t.get("_state") != "draining":
                    elb.start_draining(s, key, now, elb.deregistration_delay(group))
                    log.info(
                        "target draining", task=arn_id(task_arn), target=key, delay_s=elb.deregistration_delay(group)
                    )
                elif t.get("_state") == "draining" and now >= float(t.get("_drainUntil", 0)):
                    elb.delete(s, elb.TARGET, key)
                    # The agent was told to keep the container; now it may stop it.
                    if task.containerInstanceArn:
                        s.touch(f"instance:{task.containerInstanceArn}")
                    log.info("target deregistered", task=arn_id(task_arn), target=key)

    def _register(self, store: Store, reg: _Registration, now: float) -> None:
        group = elb.get(store, elb.TG, reg.group)
        assert group is not None
        inst_addr = reg.address or "127.0.0.1"
        if reg.address is None and reg.task.containerInstanceArn:
            inst = store.get_instance(reg.task.containerInstanceArn)
            if inst is not None:
                inst_addr = inst.attribute_map().get("orch.host-address") or inst_addr
        elb.put(
            store,
            elb.TARGET,
            elb.target_key(reg.group, reg.target_id, reg.port),
            {
                "TargetGroupArn": reg.group,
                "Id": reg.target_id,
                "Port": reg.port,
                "_address": inst_addr,
                "_state": "registered",
                "_registeredAt": now,
                "_task": reg.task.taskArn,
                "_health": {
                    "State": elb.INITIAL,
                    "Reason": "Elb.RegistrationInProgress",
                    "Description": "Target registration is in progress",
                },
            },
        )
        log.info("target registered", task=arn_id(reg.task.taskArn), group=reg.group, port=reg.port)

    # -- 2. the data plane -----------------------------------------------------------------

    def _spec(self) -> Spec:
        with self.ctx.store.read() as s:
            return build_spec(
                elb.all_of(s, elb.LB), elb.all_of(s, elb.LISTENER), elb.all_of(s, elb.TG), elb.all_of(s, elb.TARGET)
            )

    # -- 3. health, and the request counters autoscaling reads -------------------------------

    def _request_counters(self, stats: list[ServerStats]) -> dict[str, dict[str, int]]:
        with self.ctx.store.read() as s:
            groups = {backend_name(g): g["TargetGroupArn"] for g in elb.all_of(s, elb.TG)}
        out: dict[str, dict[str, int]] = {}
        for st in stats:
            if st.backend in groups:
                out.setdefault(groups[st.backend], {})[st.server] = st.requests_total
        return out

    def _record_health(self, stats: list[ServerStats]) -> None:
        now = self.ctx.clock.now()
        by_server = {(st.backend, st.server): st for st in stats}
        with self.ctx.store.write() as s:
            groups = {g["TargetGroupArn"]: g for g in elb.all_of(s, elb.TG)}
            for t in elb.all_of(s, elb.TARGET):
                group = groups.get(t["TargetGroupArn"])
                if group is None:
                    continue
                backend, server = backend_name(group), server_name(t)
                health = target_health(
                    t, group, by_server.get((backend, server)), self.dataplane.admitted(backend, server), now
                )
                changed = health != t.get("_health")
                if health.get("State") == elb.HEALTHY and not t.get("_everHealthy"):
                    t["_everHealthy"] = True
                    changed = True
                if changed:
                    t["_health"] = health
                    elb.put(s, elb.TARGET, elb.target_key(t["TargetGroupArn"], t["Id"], t["Port"]), t)
                    # The task's service counts it healthy (or replaces it) on this news: wake it.
                    task = s.get_task(t["_task"]) if t.get("_task") else None
                    if task is not None and task.group.startswith("service:"):
                        s.touch(f"service:{arn_id(task.clusterArn)}/{task.group[len('service:') :]}")


def _host_port(task: Task, container: Any, container_port: Any) -> int | None:
    for c in task.containers:
        if c.name != container:
            continue
        for b in c.networkBindings:
            if b.containerPort == container_port and b.hostPort:
                return int(b.hostPort)
    return None
