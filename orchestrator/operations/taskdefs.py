"""Task definition actions: Register, Describe, List, Deregister; and resolving a reference.

Registration takes exactly the JSON that `aws ecs register-task-definition --cli-input-json`
takes, and holds to the one rule: every member is honoured or refused by name
(`taskdef_fields` says which, `taskdef_values` which values, `workload_policy` what the server
allows tasks to do to their host). What passes is stored and returned as given.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import ValidationError

from orchestrator.core import tags
from orchestrator.core.errors import (
    TASK_DEFINITION_INACTIVE,
    TASK_DEFINITION_NOT_DESCRIBED,
    TASK_DEFINITION_NOT_FOUND,
    ClientException,
    InvalidParameterException,
)
from orchestrator.core.models import (
    ContainerDefinition,
    PlacementConstraintModel,
    TaskDefinition,
    task_definition_arn,
)
from orchestrator.operations import taskdef_fargate, workload_policy
from orchestrator.operations.common import Context, opt_str, page_bounds, req_str
from orchestrator.operations.secrets import check_secret_members
from orchestrator.operations.tags import wants_tags
from orchestrator.operations.taskdef_fields import check_members
from orchestrator.operations.taskdef_network import check_network
from orchestrator.operations.taskdef_roles import check_roles
from orchestrator.operations.taskdef_values import ContainerMembers, check_container_values, check_task_values
from orchestrator.operations.taskdef_volumes import check_volumes

FAMILY_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_TASK_DEFINITION_CONSTRAINTS = 10


def pydantic_message(err: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the field path the way the JSON spells it."""
    parts = []
    for e in err.errors():
        path = prefix
        for loc in e["loc"]:
            path += f"[{loc}]" if isinstance(loc, int) else (f".{loc}" if path else str(loc))
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "is required"
        parts.append(f"{path}: {msg}")
    return "; ".join(parts)


def parse_reference(ref: str) -> tuple[str, int | None]:
    """'family', 'family:3' or a task definition ARN -> (family, revision or None)."""
    if ref.startswith("arn:"):
        ref = ref.split(":task-definition/", 1)[-1]
    family, sep, rev = ref.partition(":")
    if not family:
        raise InvalidParameterException(f"taskDefinition {ref!r} is not family, family:revision or an ARN.")
    if not sep:
        return family, None
    if not rev.isdigit() or int(rev) < 1:
        raise InvalidParameterException(f"taskDefinition {ref!r}: the revision must be a positive integer.")
    return family, int(rev)


def resolve_task_definition(ctx: Context, ref: str, missing: str = TASK_DEFINITION_NOT_DESCRIBED) -> TaskDefinition:
    """The named revision, or the latest ACTIVE one of a family, as ECS resolves it.

    `missing` is the ClientException's message when there is none: ECS words it differently for
    the describe calls and for the calls that launch from it.
    """
    family, rev = parse_reference(ref)
    store = ctx.store
    if rev is None:
        rev = store.latest_revision(family, status="ACTIVE")
        if not rev:
            raise ClientException(missing)
    td = store.get_task_definition(family, rev)
    if td is None:
        raise ClientException(missing)
    return td


def launchable_task_definition(ctx: Context, ref: str) -> TaskDefinition:
    """The revision CreateService, UpdateService, RunTask or StartTask launches from: it must exist and be ACTIVE."""
    td = resolve_task_definition(ctx, ref, TASK_DEFINITION_NOT_FOUND)
    if td.status != "ACTIVE":
        raise InvalidParameterException(TASK_DEFINITION_INACTIVE)
    return td


def validate_registration(
    req: dict[str, Any], allowed: frozenset[str] = frozenset(), host_paths_allowed: tuple[str, ...] = ()
) -> tuple[str, list[ContainerDefinition], dict[str, Any]]:
    """allowed: the workload policy rules this server allows (Settings.allow); host_paths_allowed:
    the host path prefixes bind mounts may come from (Settings.allow_host_paths)."""
    family = req_str(req, "family")
    if not FAMILY_RE.match(family):
        raise ClientException("family may contain up to 255 letters, numbers, hyphens and underscores.")
    raw = req.get("containerDefinitions")
    if not isinstance(raw, list) or not raw:
        raise ClientException("containerDefinitions is required: a list of at least one container.")
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            raise ClientException(f"containerDefinitions[{i}] must be an object.")
    check_members(req)
    check_secret_members(raw)
    task_cpu = _task_size(req, "cpu")
    task_memory = _task_size(req, "memory")
    # Before the general value rules: a FARGATE definition hears Fargate's own words first.
    taskdef_fargate.check(req, task_cpu, task_memory)
    check_task_values(req)
    containers = []
    members = []
    for i, c in enumerate(raw):
        if not c.get("image"):
            raise ClientException(f"containerDefinitions[{i}].image: Container.image should not be null or empty.")
        try:
            containers.append(ContainerDefinition.model_validate(c))
            members.append(ContainerMembers.model_validate(c))
        except ValidationError as err:
            raise ClientException(pydantic_message(err, f"containerDefinitions[{i}]")) from None
    names = [c.name for c in containers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ClientException(f"containerDefinitions: container names must be unique; repeated: {', '.join(dupes)}.")
    if not any(c.essential for c in containers):
        raise ClientException("containerDefinitions: at least one container must be essential.")
    for i, c in enumerate(containers):
        if task_memory is None and c.memory is None and c.memoryReservation is None:
            raise ClientException(
                f"containerDefinitions[{i}]: Invalid setting for container '{c.name}'. At least one of "
                "'memory' or 'memoryReservation' must be specified."
            )
        if c.memory is not None and c.memoryReservation is not None and c.memoryReservation > c.memory:
            raise ClientException(
                f"containerDefinitions[{i}]: memoryReservation ({c.memoryReservation}) must not exceed "
                f"memory ({c.memory})."
            )
        if c.healthCheck and c.healthCheck.command[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ClientException(f"containerDefinitions[{i}].healthCheck.command must start with CMD or CMD-SHELL.")
    check_volumes(req)
    mode = check_network(req, containers)
    check_roles(req)
    check_container_values(containers, members, task_cpu, task_memory)
    workload_policy.check(req, allowed, host_paths_allowed)
    constraints = req.get("placementConstraints") or []
    if not isinstance(constraints, list):
        raise ClientException("placementConstraints must be a list.")
    if len(constraints) > MAX_TASK_DEFINITION_CONSTRAINTS:
        raise ClientException(f"placementConstraints: at most {MAX_TASK_DEFINITION_CONSTRAINTS} are allowed.")
    parsed_constraints = []
    for i, pc in enumerate(constraints):
        try:
            model = PlacementConstraintModel.model_validate(pc)
        except ValidationError as err:
            raise ClientException(pydantic_message(err, f"placementConstraints[{i}]")) from None
        if model.type != "memberOf":
            raise ClientException(f"placementConstraints[{i}].type: task definitions accept only memberOf.")
        parsed_constraints.append(model)
    _check_expressions([c.expression or "" for c in parsed_constraints])
    extra = {k: v for k, v in req.items() if k not in ("family", "containerDefinitions", "compatibilities")}
    if req.get("networkMode") is not None:
        extra["networkMode"] = mode  # not filled in when none was named: ECS returns none then
    extra["compatibilities"] = taskdef_fargate.compatibilities(req, task_cpu, task_memory)
    if task_cpu is not None:
        extra["cpu"] = str(task_cpu)
    if task_memory is not None:
        extra["memory"] = str(task_memory)
    return family, containers, extra


def _check_expressions(expressions: list[str]) -> None:
    from scheduler import validate_placement
    from scheduler.types import PlacementConstraint, PlacementError

    try:
        validate_placement((), tuple(PlacementConstraint("memberOf", e) for e in expressions))
    except PlacementError as err:
        raise ClientException(f"placementConstraints: {err}") from None


# Far above any real instance (ECS's largest task is 192 vCPU and 1,536 GB), far below int64.
MAX_TASK_SIZE = 2**31 - 1


def _task_size(req: dict[str, Any], name: str) -> int | None:
    value = req.get(name)
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) > 32:
        raise ClientException(
            f"{name} must be a number of {'CPU units' if name == 'cpu' else 'MiB'}, at most 32 characters."
        )
    units = {"vcpu": 1024, "gb": 1024}
    for suffix, factor in units.items():
        if text.lower().endswith(suffix):
            try:
                amount = float(text[: -len(suffix)].strip())
            except ValueError:
                break
            # Finite and positive: "inf vcpu" once crashed the registration, "-1 GB" grew instances.
            if not math.isfinite(amount) or amount <= 0 or amount * factor > MAX_TASK_SIZE:
                break
            units_of = int(amount * factor)
            if units_of > 0:
                return units_of
            break
    if not text.isdigit() or int(text) <= 0 or int(text) > MAX_TASK_SIZE:
        raise ClientException(
            f"{name} must be a positive number of {'CPU units' if name == 'cpu' else 'MiB'}, got {value!r}."
        )
    return int(text)


class TaskDefinitionOps:
    ctx: Context

    def register_task_definition(self, req: dict[str, Any]) -> dict[str, Any]:
        family, containers, extra = validate_registration(
            req, self.ctx.settings.allow, self.ctx.settings.allow_host_paths
        )
        given_tags = tags.check_tags(req.get("tags"))
        with self.ctx.store.write() as s:
            revision = s.latest_revision(family) + 1
            body: dict[str, Any] = {
                **extra,
                "taskDefinitionArn": task_definition_arn(family, revision),
                "family": family,
                "revision": revision,
                "status": "ACTIVE",
                "containerDefinitions": [c.model_dump(mode="json", exclude_none=True) for c in containers],
                "registeredAt": self.ctx.clock.now(),
            }
            body.pop("tags", None)
            # An empty role (as tools that copy a described definition send) means none, as on ECS.
            for role in ("taskRoleArn", "executionRoleArn"):
                if body.get(role) == "":
                    body.pop(role)
            try:
                td = TaskDefinition.model_validate(body)
            except ValidationError as err:
                raise ClientException(pydantic_message(err)) from None
            s.put_task_definition(td)
            tags.set_tags(s, td.taskDefinitionArn, given_tags)
        out: dict[str, Any] = {"taskDefinition": td.wire()}
        if given_tags:
            out["tags"] = given_tags
        return out

    def describe_task_definition(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req_str(req, "taskDefinition")
        include_tags = wants_tags(req)
        with self.ctx.store.read() as s:
            td = resolve_task_definition(self.ctx, ref)
            out: dict[str, Any] = {"taskDefinition": td.wire()}
            if include_tags:
                out["tags"] = tags.get_tags(s, td.taskDefinitionArn)
        return out

    def list_task_definitions(self, req: dict[str, Any]) -> dict[str, Any]:
        status = opt_str(req, "status", "ACTIVE") or "ACTIVE"
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise InvalidParameterException("status must be ACTIVE or INACTIVE.")
        prefix = opt_str(req, "familyPrefix", "") or ""
        if len(prefix) > 255:
            raise InvalidParameterException("familyPrefix may be at most 255 characters (a family's longest name).")
        # familyPrefix is, as ECS documents it, the full family name. One more row than the page
        # tells whether another follows.
        start, size = page_bounds(req)
        refs = self.ctx.store.task_definition_refs(
            prefix, status, descending=opt_str(req, "sort", "ASC") == "DESC", offset=start, limit=size + 1
        )
        out: dict[str, Any] = {"taskDefinitionArns": [task_definition_arn(f, r) for f, r in refs[:size]]}
        if len(refs) > size:
            out["nextToken"] = str(start + size)
        return out

    def deregister_task_definition(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req_str(req, "taskDefinition")
        if parse_reference(ref)[1] is None:
            raise InvalidParameterException("taskDefinition must name a revision (family:revision) to deregister.")
        with self.ctx.store.write() as s:
            td = resolve_task_definition(self.ctx, ref)
            td.status = "INACTIVE"
            td.deregisteredAt = self.ctx.clock.now()
            s.put_task_definition(td)
        return {"taskDefinition": td.wire()}
