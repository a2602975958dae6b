"""What node agents call: register, long-poll for assignments (which is also the heartbeat), and
report task state. An agent only ever sees and reports the tasks of its own instance."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from orchestrator.core import elb, fargate
from orchestrator.core.context import DEFAULT_CLUSTER
from orchestrator.core.errors import AccessDeniedException, InvalidParameterException
from orchestrator.core.lifecycle import apply_report, checked_containers, record_heartbeat
from orchestrator.core.models import (
    DEFAULT_RESERVED_TCP_PORTS,
    Attribute,
    ContainerInstance,
    Task,
    VersionInfo,
    arn_id,
    instance_arn,
)
from orchestrator.core.placing import resources
from orchestrator.core.store import INSTANCE_ID_LENGTH, Store, instance_key
from orchestrator.operations.clusters import ensure_active_cluster
from orchestrator.operations.common import Context, cluster_name, opt_int, opt_str, require_cluster
from orchestrator.operations.instances import check_attribute
from orchestrator.security.auth import credential_matches, new_instance_credential
from orchestrator.security.secrets import hash_token

AGENT_VERSION = "0.1.0"


def _host_address(value: Any) -> str | None:
    """The IPv4 address an agent publishes its task ports on; shown as attribute orch.host-address."""
    if value is None:
        return None
    try:
        address = ipaddress.IPv4Address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or address.is_unspecified or address.is_multicast:
        raise InvalidParameterException(
            f"hostAddress must be an IPv4 address of the instance, such as 10.0.0.7 (got {str(value)[:64]!r})."
        )
    return str(address)


MAX_GPUS = 64
GPU_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _gpu_ids(value: Any) -> list[str] | None:
    """The GPU ids an agent offers (nvidia-smi's UUIDs, or device indices), in its order; None: no GPUs."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) > MAX_GPUS or not all(isinstance(g, str) for g in value):
        raise InvalidParameterException(f"gpus must be a list of at most {MAX_GPUS} GPU ids (strings).")
    for g in value:
        if not GPU_ID.fullmatch(g):
            raise InvalidParameterException(
                f"gpus: {g[:64]!r} is not a GPU id (1-128 letters, digits, '.', '_', ':' or '-', such as GPU-<uuid> "
                "or a device index)."
            )
    if len(set(value)) != len(value):
        raise InvalidParameterException("gpus: each GPU id may be listed once.")
    return list(value)


def _refuse_taken_name(store: Store, cluster: str, name: str) -> None:
    """One live instance per name in a cluster: a join token must not let anyone take over the name
    (and with it the place in tables and commands) of an instance that is still registered."""
    # Matched in SQL: parsing every instance row per registration made a fleet's joining quadratic.
    for other in store.instance_arns_with_attribute(cluster, "orch.name", name)[:1]:
        raise InvalidParameterException(
            f"name: an instance named {name!r} is already registered in cluster {cluster} "
            f"({arn_id(other)}). Deregister it first (orchestrator instance deregister "
            f"{name} --force) or register under another --name."
        )


class AgentOps:
    ctx: Context

    def register_instance(self, req: dict[str, Any]) -> dict[str, Any]:
        name = opt_str(req, "name") or ""
        zone = opt_str(req, "zone") or ""
        if not zone:
            raise InvalidParameterException("zone is required (e.g. us-east-1a).")
        cpu = opt_int(req, "cpu", None, lo=1)
        memory = opt_int(req, "memory", None, lo=1)
        if cpu is None or memory is None:
            raise InvalidParameterException("cpu (units) and memory (MiB) are required.")
        attrs = req.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise InvalidParameterException("attributes must be an object of name -> value.")
        for k, v in attrs.items():
            check_attribute(k, v, f"attributes[{k}]")
        builtin = {
            "ecs.availability-zone": zone,
            "ecs.instance-type": opt_str(req, "instanceType") or "local.custom",
            "ecs.os-type": opt_str(req, "osType") or "linux",
            "ecs.cpu-architecture": opt_str(req, "cpuArchitecture") or "x86_64",
            "ecs.ami-id": "ami-local",
        }
        if name:
            builtin["orch.name"] = name
        gpus = _gpu_ids(req.get("gpus"))
        host_address = _host_address(req.get("hostAddress"))
        if host_address:
            builtin["orch.host-address"] = host_address
        all_attrs = {**builtin, **{str(k): str(v) for k, v in attrs.items()}}
        previous = opt_str(req, "containerInstanceArn")
        now = self.ctx.clock.now()
        pool = req.get("fargate") is True
        if req.get("fargate") not in (None, True, False):
            raise InvalidParameterException("fargate must be true (join the managed Fargate pool) or false.")
        if pool and gpus:
            raise InvalidParameterException("gpus: Fargate offers no GPUs; register a Fargate agent without --gpus.")
        with self.ctx.store.write() as s:
            wanted = cluster_name(req.get("cluster"))
            if wanted == DEFAULT_CLUSTER and not pool:
                # As with the ECS agent: the first instance to join `default` creates it; any
                # other cluster must have been created first.
                ensure_active_cluster(s, wanted)
            # A pool instance belongs to no cluster of the user's (see orchestrator/core/fargate.py).
            pool_name = fargate.POOL_CLUSTER if pool else require_cluster(self.ctx, wanted).clusterName
            inst = s.get_instance(previous) if previous else None
            if inst is not None and (
                inst.status == "INACTIVE" or not credential_matches(s, inst.containerInstanceArn, req.get("credential"))
            ):
                inst = None
            if inst is not None and fargate.is_pool_instance(inst.containerInstanceArn) != pool:
                inst = None  # it moved between the pool and a cluster: a new instance
            resumed = inst is not None
            if name and not resumed:
                _refuse_taken_name(s, pool_name, name)
            if inst is None:
                ids = self.ctx.ids
                instance_id = ids.hex("container-instance", INSTANCE_ID_LENGTH // 2, basis=name or "")
                arn = instance_arn(pool_name, instance_id)
                inst = ContainerInstance(
                    containerInstanceArn=arn,
                    ec2InstanceId="i-" + ids.hex("ec2-instance", 9, basis=name or "")[:17],
                    registeredAt=now,
                )
            else:
                instance_id = arn_id(inst.containerInstanceArn)
            inst.registeredResources = resources(cpu, memory, DEFAULT_RESERVED_TCP_PORTS, [], gpus)
            inst.attributes = [Attribute(name=k, value=v) for k, v in sorted(all_attrs.items())]
            inst.agentConnected = True
            inst.versionInfo = VersionInfo(
                agentVersion=opt_str(req, "agentVersion") or AGENT_VERSION, dockerVersion=opt_str(req, "dockerVersion")
            )
            credential = new_instance_credential(instance_id)
            if resumed:
                s.update_instance(inst)
                s.replace_credential(inst.containerInstanceArn, hash_token(credential))
                s.heartbeat(inst.containerInstanceArn, now)
            else:
                s.insert_instance(inst, hash_token(credential), heartbeat_at=now)
        return {
            "containerInstanceArn": inst.containerInstanceArn,
            "credential": credential,
            "heartbeatIntervalSeconds": self.ctx.settings.heartbeat_interval_s,
        }

    def heartbeat(self, arn: str) -> None:
        store, now = self.ctx.store, self.ctx.clock.now()
        liveness = store.instance_liveness(arn)
        if liveness is not None and liveness[1] and liveness[0] != "INACTIVE":
            store.beat(arn, now)  # the usual case: nothing to change, so no commit
            return
        with store.write() as s:
            record_heartbeat(s, arn, now)

    def assignments(self, arn: str, since: int, wait_s: float) -> dict[str, Any]:
        """The tasks this instance must run or stop, once something changed after `since`
        (blocking this thread while it waits; the HTTP route waits without a thread)."""
        wait_s, asked_at = self.ask_assignments(arn, wait_s)
        seq = self.ctx.store.wait_for([instance_key(arn)], since, wait_s)
        return self.answer_assignments(arn, since, seq, asked_at)

    def ask_assignments(self, arn: str, wait_s: float) -> tuple[float, float]:
        """The start of a long-poll: a heartbeat; (how long it may wait, when it asked)."""
        self.heartbeat(arn)
        return max(0.0, min(wait_s, self.ctx.settings.agent_poll_max_s)), self.ctx.clock.monotonic()

    def answer_assignments(self, arn: str, since: int, seq: int, asked_at: float) -> dict[str, Any]:
        """The end of a long-poll: `seq` is what the wait on the instance's key returned."""
        store = self.ctx.store
        if self.ctx.clock.monotonic() - asked_at >= 1.0:
            # Heard from again as the answer leaves: the agent asks anew at once, so its silence
            # counts from here, not from when this (long) poll began.
            self.heartbeat(arn)
        if 0 < since <= store.position and seq <= since:
            # Nothing of this instance changed (and this is the feed the agent counted on): say
            # so instead of sending every task again, which is what an idle fleet costs.
            liveness = store.instance_liveness(arn)
            return {"seq": since, "unchanged": True, "instanceStatus": liveness[0] if liveness else "INACTIVE"}
        # The rows read below are at least as new as `seq`: the agent's next `since` misses nothing.
        wires = self.ctx.task_wires
        held = self.ctx.last_answers.held(arn, since)
        with store.read() as s:

            def shown(task: Task) -> Task:
                # A task to stop keeps running while its load balancer target drains (ECS deregisters first).
                return task.model_copy(update={"desiredStatus": "RUNNING"}) if elb.stop_held(s, task) else task

            liveness = s.instance_liveness(arn)  # its status from the columns: no instance row parsed
            rows = s.instance_task_rows(arn)
            # A task to stop is always sent: whether it is shown stopping depends on more than its row.
            tasks = [
                wires.wire(task_arn, text, shown if desired == "STOPPED" else None)
                for task_arn, desired, text in rows
                if held is None or desired == "STOPPED" or held.get(task_arn) != text
            ]
            tds = {}
            for t in tasks:
                if t["taskDefinitionArn"] not in tds:
                    td = s.get_task_definition_by_arn(t["taskDefinitionArn"])
                    if td is not None:
                        tds[t["taskDefinitionArn"]] = td.wire()
        self.ctx.last_answers.sent(arn, seq, {task_arn: text for task_arn, _, text in rows})
        answer: dict[str, Any] = {
            "seq": seq,
            "instanceStatus": liveness[0] if liveness else "INACTIVE",
            "tasks": tasks,
            "taskDefinitions": tds,
        }
        if held is not None:
            # Every task of the instance, in order; `tasks` has only those that changed since the last answer.
            answer["taskArns"] = [task_arn for task_arn, _, _ in rows]
        return answer

    def report_task_states(self, arn: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
        now = self.ctx.clock.now()
        accepted = 0
        with self.ctx.store.write() as s:
            for report in reports:
                task = s.get_task(str(report.get("taskArn", "")))
                if task is None:
                    continue
                if task.containerInstanceArn != arn:
                    raise AccessDeniedException("An agent may only report the tasks of its own container instance.")
                checked = checked_containers(s.get_task_definition_by_arn(task.taskDefinitionArn))
                if apply_report(task, report, now, checked):
                    # Not echoed back to the agent: it knows what it reported (it keeps its own
                    # reports over the assignment's), and a second answer per report cost the
                    # control plane more than the report itself.
                    s.update_task(task, wake_agent=False)
                accepted += 1
            s.heartbeat(arn, now)
        return {"accepted": accepted}

    def report_metrics(self, arn: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
        for i, sample in enumerate(samples):
            if not isinstance(sample, dict) or not isinstance(sample.get("taskId"), str):
                raise InvalidParameterException(f"samples[{i}] must be an object with a taskId.")
        if self.ctx.metrics_sink is not None:
            self.ctx.metrics_sink(arn, samples)
        return {"accepted": len(samples)}
