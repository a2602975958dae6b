"""Task definition actions beyond registration: ListTaskDefinitionFamilies and DeleteTaskDefinitions.

Deleting follows ECS: only an INACTIVE (deregistered) revision can be deleted; it turns
DELETE_IN_PROGRESS, stays describable, and is never used for new tasks or services again.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import arn_prefix
from orchestrator.operations.common import Context, id_list, opt_str, paginate
from orchestrator.operations.taskdefs import parse_reference

FAMILY_STATUSES = ("ACTIVE", "INACTIVE", "ALL")
MAX_DELETE = 10


class TaskDefinitionFamilyOps:
    ctx: Context

    def list_task_definition_families(self, req: dict[str, Any]) -> dict[str, Any]:
        status = opt_str(req, "status", "ALL") or "ALL"
        if status not in FAMILY_STATUSES:
            raise InvalidParameterException(f"status must be ACTIVE, INACTIVE or ALL, got {status!r}.")
        prefix = opt_str(req, "familyPrefix", "") or ""
        if len(prefix) > 255:
            raise InvalidParameterException("familyPrefix may be at most 255 characters (a family's longest name).")
        with self.ctx.store.read() as s:
            tds = s.list_task_definitions(prefix)
        active = {t.family for t in tds if t.status == "ACTIVE"}
        every = sorted({t.family for t in tds})
        if status == "ACTIVE":
            families = [f for f in every if f in active]
        elif status == "INACTIVE":
            # ECS: a family is INACTIVE when none of its revisions is ACTIVE.
            families = [f for f in every if f not in active]
        else:
            families = every
        page, nxt = paginate(families, req)
        out: dict[str, Any] = {"families": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def delete_task_definitions(self, req: dict[str, Any]) -> dict[str, Any]:
        refs = id_list(req, "taskDefinitions", MAX_DELETE, "task definitions (family:revision or ARN)")
        deleted, failures = [], []
        with self.ctx.store.write() as s:
            for ref in refs:
                if ref.startswith("arn:") and not ref.startswith(f"{arn_prefix()}:task-definition/"):
                    failures.append({"arn": ref, "reason": "The specified task definition does not exist."})
                    continue
                family, revision = parse_reference(ref)
                if revision is None:
                    raise InvalidParameterException(
                        f"taskDefinitions: {ref} must name a revision (family:revision or a full ARN)."
                    )
                td = s.get_task_definition(family, revision)
                if td is None:
                    failures.append({"arn": ref, "reason": "The specified task definition does not exist."})
                    continue
                if td.status == "ACTIVE":
                    failures.append(
                        {
                            "arn": td.taskDefinitionArn,
                            "reason": "The specified task definition is still in ACTIVE status. "
                            "Please deregister the target and try again.",
                        }
                    )
                    continue
                if td.status == "INACTIVE":
                    td.status = "DELETE_IN_PROGRESS"
                    td.deleteRequestedAt = self.ctx.clock.now()
                    s.put_task_definition(td)
                deleted.append(td.wire())
        return {"taskDefinitions": deleted, "failures": failures}
