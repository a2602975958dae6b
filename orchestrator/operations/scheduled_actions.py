"""Application Auto Scaling scheduled actions: Put, Describe, Delete, and carrying one out.

A scheduled action sets a scalable target's MinCapacity and/or MaxCapacity at times given by
`at(yyyy-mm-ddThh:mm:ss)`, `rate(N minutes|hours|days)` or `cron(min hour day-of-month month
day-of-week year)`, read in `Timezone` (UTC by default) and bounded by StartTime/EndTime. The
control plane's job scheduler (`orchestrator/jobs.py`) owns the timing and calls
`run_scheduled_action` when one is due; running it changes the target's bounds, moves the
service's desired count into them as Application Auto Scaling does, and records both as scaling
activities. Cron's `L`, `W` and `#` are refused by name rather than misread.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.autoscaling import records
from orchestrator.autoscaling.model import Activity, parse_resource_id
from orchestrator.autoscaling.validation import validate_resource
from orchestrator.core.errors import ObjectNotFoundException, ValidationException
from orchestrator.core.models import ACCOUNT, region
from orchestrator.operations.common import Context

DOC_KIND = "scheduled_action"
NAME_RE = re.compile(r"^[^:/|]{1,256}$")
AT_RE = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON_RE = re.compile(r"^cron\(([^)]*)\)$")
CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*?,/#-]+$")
MAX_DESCRIBE = 50


def parse_schedule(schedule: str) -> dict[str, Any]:
    """`schedule` as the job scheduler needs it: {"at": iso} | {"rate": (n, unit)} | {"cron": fields}."""
    if m := AT_RE.match(schedule):
        try:
            dt.datetime.fromisoformat(m.group(1))
        except ValueError:
            raise ValidationException(f"Schedule {schedule!r}: {m.group(1)} is not a valid date and time") from None
        return {"at": m.group(1)}
    if m := RATE_RE.match(schedule):
        n, unit = int(m.group(1)), m.group(2)
        if n < 1:
            raise ValidationException(f"Schedule {schedule!r}: the rate must be at least 1")
        if (n == 1) != (not unit.endswith("s")):
            raise ValidationException(f"Schedule {schedule!r}: use '1 {unit.rstrip('s')}' or 'N {unit.rstrip('s')}s'")
        return {"rate": [n, unit.rstrip("s") + "s"]}
    if m := CRON_RE.match(schedule):
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ValidationException(
                f"Schedule {schedule!r}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)"
            )
        for f in fields:
            if not CRON_FIELD_RE.match(f):
                raise ValidationException(f"Schedule {schedule!r}: cron field {f!r} is not valid")
            if any(c in f.upper() for c in ("L", "W", "#")) and not _is_name(f):
                raise ValidationException(
                    f"Schedule {schedule!r}: cron's L, W and # are not supported by this endpoint ({f!r})"
                )
        if "?" not in (fields[2], fields[4]):
            raise ValidationException(f"Schedule {schedule!r}: one of day-of-month and day-of-week must be '?'")
        return {"cron": fields}
    raise ValidationException(
        f"Schedule {schedule!r} must be at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)"
    )


def _is_name(field: str) -> bool:
    # Month and weekday names (JAN, WED, ...) contain letters that are not cron operators.
    return all(part.isalpha() and len(part) == 3 for part in re.split(r"[,/-]", field) if not part.isdigit())


def _timezone(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationException("Timezone must be an IANA time zone name such as Europe/Paris")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationException(f"Timezone {value!r} is not a known IANA time zone") from None
    return value


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationException(f"{name} must be a timestamp")
    return float(value)


def _capacity(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationException("ScalableTargetAction must be an object with MinCapacity and/or MaxCapacity")
    out = {}
    for key in ("MinCapacity", "MaxCapacity"):
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationException(f"ScalableTargetAction.{key} must be a non-negative integer")
        out[key] = value
    unknown = sorted(set(raw) - {"MinCapacity", "MaxCapacity"})
    if unknown:
        raise ValidationException(f"ScalableTargetAction.{unknown[0]} is not a member of ScalableTargetAction")
    if "MinCapacity" in out and "MaxCapacity" in out and out["MinCapacity"] > out["MaxCapacity"]:
        raise ValidationException("ScalableTargetAction.MinCapacity must not exceed MaxCapacity")
    return out


def _key(resource_id: str, name: str) -> str:
    return f"{resource_id}/{name}"


class ScheduledActionOps:
    ctx: Context

    def put_scheduled_action(self, req: dict[str, Any]) -> dict[str, Any]:
        resource_id = validate_resource(req)
        name = req.get("ScheduledActionName")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValidationException("ScheduledActionName must be 1-256 characters without ':', '/' or '|'")
        schedule = req.get("Schedule")
        if schedule is not None and (not isinstance(schedule, str) or not schedule):
            raise ValidationException("Schedule must be at(...), rate(...) or cron(...)")
        parsed = parse_schedule(schedule) if schedule else None
        timezone = _timezone(req.get("Timezone"))
        start, end = _time(req.get("StartTime"), "StartTime"), _time(req.get("EndTime"), "EndTime")
        if start is not None and end is not None and start >= end:
            raise ValidationException("StartTime must be before EndTime")
        action = _capacity(req.get("ScalableTargetAction"))
        with self.ctx.store.write() as s:
            if records.get_target(s, resource_id) is None:
                raise ObjectNotFoundException(
                    f"No scalable target registered for service namespace: ecs, resource ID: {resource_id}, "
                    "scalable dimension: ecs:service:DesiredCount"
                )
            key = _key(resource_id, name)
            doc = s.get_doc(DOC_KIND, key)
            if doc is None:
                if parsed is None:
                    raise ValidationException("Schedule is required to create a scheduled action")
                doc = {
                    "ScheduledActionName": name,
                    "ScheduledActionARN": (
                        f"arn:aws:autoscaling:{region()}:{ACCOUNT}:scheduledAction:{uuid.uuid4()}:"
                        f"resource/ecs/{resource_id}:scheduledActionName/{name}"
                    ),
                    "ServiceNamespace": "ecs",
                    "ResourceId": resource_id,
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "CreationTime": self.ctx.clock.now(),
                }
            # PutScheduledAction updates what it names and keeps the rest, as AWS does.
            if schedule:
                doc["Schedule"] = schedule
            for member, value in (("Timezone", timezone), ("StartTime", start), ("EndTime", end)):
                if value is not None:
                    doc[member] = value
            if action:
                doc["ScalableTargetAction"] = action
            s.put_doc(DOC_KIND, key, doc)
        return {}

    def describe_scheduled_actions(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("ServiceNamespace") != "ecs":
            raise ValidationException("ServiceNamespace is required; only 'ecs' is supported here")
        names = req.get("ScheduledActionNames")
        if names is not None and (not isinstance(names, list) or len(names) > 50):
            raise ValidationException("ScheduledActionNames must be a list of at most 50 names")
        resource_id = req.get("ResourceId")
        if resource_id is not None:
            try:
                parse_resource_id(str(resource_id))
            except ValueError:
                raise ValidationException(f"ResourceId {resource_id!r} must be service/<cluster>/<service>") from None
        with self.ctx.store.read() as s:
            found = [doc for _, doc in s.list_docs(DOC_KIND)]
        found = [
            d
            for d in found
            if (names is None or d["ScheduledActionName"] in names)
            and (resource_id is None or d["ResourceId"] == resource_id)
        ]
        most = req.get("MaxResults") or MAX_DESCRIBE
        if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_DESCRIBE:
            raise ValidationException(f"MaxResults must be an integer from 1 to {MAX_DESCRIBE}")
        token = req.get("NextToken")
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        out: dict[str, Any] = {"ScheduledActions": found[start : start + most]}
        if start + most < len(found):
            out["NextToken"] = str(start + most)
        return out

    def delete_scheduled_action(self, req: dict[str, Any]) -> dict[str, Any]:
        resource_id = validate_resource(req)
        name = req.get("ScheduledActionName")
        with self.ctx.store.write() as s:
            key = _key(resource_id, str(name))
            if s.get_doc(DOC_KIND, key) is None:
                raise ObjectNotFoundException(f"No scheduled action found for name: {name}")
            s.delete_doc(DOC_KIND, key)
        return {}

    def scheduled_actions(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored action with its key, for the job scheduler."""
        with self.ctx.store.read() as s:
            return s.list_docs(DOC_KIND)

    def run_scheduled_action(self, key: str) -> bool:
        """Carry out the action stored under `key` now; False if it is gone or outside its window."""
        now = self.ctx.clock.now()
        with self.ctx.store.write() as s:
            doc = s.get_doc(DOC_KIND, key)
            if doc is None:
                return False
            if (doc.get("StartTime") and now < doc["StartTime"]) or (doc.get("EndTime") and now > doc["EndTime"]):
                return False
            target = records.get_target(s, doc["ResourceId"])
            if target is None:
                return False
            action = doc.get("ScalableTargetAction") or {}
            new_min = action.get("MinCapacity", target.min_capacity)
            new_max = action.get("MaxCapacity", target.max_capacity)
            if new_min > new_max:
                # One bound moved past the other: AWS moves the other with it.
                new_max, new_min = (new_min, new_min) if "MinCapacity" in action else (new_max, new_max)
            records.put_target(s, replace(target, min_capacity=new_min, max_capacity=new_max))
            cause = f"scheduled action name {doc['ScheduledActionName']} was triggered"
            activities = [
                Activity(
                    resource_id=doc["ResourceId"],
                    description=f"Setting min capacity to {new_min} and max capacity to {new_max}",
                    cause=cause,
                    start_time=now,
                    end_time=now,
                    status_code="Successful",
                    activity_id=str(uuid.uuid4()),
                    status_message=f"Successfully set min capacity to {new_min} and max capacity to {new_max}",
                )
            ]
            cluster, service = parse_resource_id(doc["ResourceId"])
            svc = s.get_service(cluster, service)
            if svc is not None and svc.status == "ACTIVE" and not new_min <= svc.desiredCount <= new_max:
                desired = min(max(svc.desiredCount, new_min), new_max)
                # UpdateService of the same Operations (ServiceOps), so the change opens no side door.
                ops: Any = self
                ops.update_service({"cluster": cluster, "service": service, "desiredCount": desired})
                activities.append(
                    Activity(
                        resource_id=doc["ResourceId"],
                        description=f"Setting desired count to {desired}.",
                        cause=f"minimum capacity was set to {new_min} and maximum capacity to {new_max} by {cause}",
                        start_time=now,
                        end_time=now,
                        status_code="Successful",
                        activity_id=str(uuid.uuid4()),
                        status_message=(
                            f"Successfully set desired count to {desired}. Change successfully fulfilled by ecs."
                        ),
                    )
                )
            records.add_activities(s, doc["ResourceId"], activities)
        return True
