"""Account settings: PutAccountSetting, PutAccountSettingDefault, ListAccountSettings, DeleteAccountSetting.

Stored per principal as ECS stores them (an explicit `principalArn`, else the account's root, which
is also where the account default lives), each returned with ECS's `type: user`. A setting is
honoured where it has a meaning here: `containerInsights` is the default of clusters created
without settings. Values that would change what this endpoint cannot change (short ARNs, ENI
trunking, FIPS, GuardDuty) are refused by name rather than stored and ignored.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.models import ACCOUNT
from orchestrator.core.store import Store
from orchestrator.operations.common import Context, opt_bool, opt_str, paginate, req_str

DOC_KIND = "account-setting"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"

# name -> (ECS's default, allowed values); None allows any value of ECS's format for that name.
SETTINGS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "serviceLongArnFormat": ("enabled", ("enabled", "disabled")),
    "taskLongArnFormat": ("enabled", ("enabled", "disabled")),
    "containerInstanceLongArnFormat": ("enabled", ("enabled", "disabled")),
    "awsvpcTrunking": ("disabled", ("enabled", "disabled")),
    "containerInsights": ("disabled", ("enabled", "disabled", "enhanced")),
    "fargateFIPSMode": ("disabled", ("enabled", "disabled")),
    "tagResourceAuthorization": ("on", ("on", "off")),
    "fargateTaskRetirementWaitPeriod": ("7", ("0", "7", "14")),
    "guardDutyActivate": ("off", ("on", "off")),
    "defaultLogDriverMode": ("non-blocking", ("blocking", "non-blocking")),
    "fargateEventWindows": ("disabled", ("enabled", "disabled")),
}

# Values we cannot act on, with why: refused, never stored.
CANNOT: dict[tuple[str, str], str] = {
    ("serviceLongArnFormat", "disabled"): "this endpoint always uses the long ARN format",
    ("taskLongArnFormat", "disabled"): "this endpoint always uses the long ARN format",
    ("containerInstanceLongArnFormat", "disabled"): "this endpoint always uses the long ARN format",
    ("awsvpcTrunking", "enabled"): "ENI trunking does not exist here",
    ("fargateFIPSMode", "enabled"): "FIPS mode is a Fargate setting; there is no Fargate here",
    ("guardDutyActivate", "on"): "GuardDuty runtime monitoring is not available here",
}


def _name(req: dict[str, Any]) -> str:
    name = req_str(req, "name")
    if name not in SETTINGS:
        raise InvalidParameterException(f"name must be one of {', '.join(SETTINGS)}, got {name!r}.")
    return name


def _value(name: str, req: dict[str, Any]) -> str:
    value = req_str(req, "value")
    allowed = SETTINGS[name][1]
    if allowed is not None and value not in allowed:
        raise InvalidParameterException(f"value for {name} must be one of {', '.join(allowed)}, got {value!r}.")
    if (name, value) in CANNOT:
        raise InvalidParameterException(f"{name} {value} is not supported by this endpoint: {CANNOT[(name, value)]}.")
    return value


def _principal(req: dict[str, Any]) -> str:
    principal = opt_str(req, "principalArn") or ROOT
    if not principal.startswith("arn:aws:iam::"):
        raise InvalidParameterException("principalArn must be an IAM user, role or root ARN.")
    if principal.split(":")[4] != ACCOUNT:
        raise InvalidParameterException(f"principalArn must belong to account {ACCOUNT}.")
    return principal


def _setting(name: str, value: str, principal: str) -> dict[str, str]:
    return {"name": name, "value": value, "principalArn": principal, "type": "user"}


def effective_setting(store: Store, name: str, principal: str = ROOT) -> str:
    """The principal's value, else the account default, else ECS's default."""
    for who in (principal, ROOT):
        doc = store.get_doc(DOC_KIND, f"{who}|{name}")
        if doc is not None:
            return str(doc["value"])
    return SETTINGS[name][0]


class AccountSettingOps:
    ctx: Context

    def put_account_setting(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _name(req)
        value = _value(name, req)
        principal = _principal(req)
        setting = _setting(name, value, principal)
        with self.ctx.store.write() as s:
            s.put_doc(DOC_KIND, f"{principal}|{name}", setting)
        return {"setting": setting}

    def put_account_setting_default(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("principalArn"):
            raise InvalidParameterException("principalArn is not an input of PutAccountSettingDefault.")
        return self.put_account_setting({"name": req.get("name"), "value": req.get("value")})

    def delete_account_setting(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _name(req)
        principal = _principal(req)
        key = f"{principal}|{name}"
        with self.ctx.store.write() as s:
            doc = s.get_doc(DOC_KIND, key)
            if doc is None:
                raise InvalidParameterException(f"No account setting {name} is set for {principal}.")
            s.delete_doc(DOC_KIND, key)
        return {"setting": _setting(name, str(doc["value"]), principal)}

    def list_account_settings(self, req: dict[str, Any]) -> dict[str, Any]:
        name = opt_str(req, "name")
        if name is not None and name not in SETTINGS:
            raise InvalidParameterException(f"name must be one of {', '.join(SETTINGS)}, got {name!r}.")
        value = opt_str(req, "value")
        if value is not None and name is None:
            raise InvalidParameterException("value can only be given together with name.")
        principal = _principal(req)
        effective = opt_bool(req, "effectiveSettings")
        names = [name] if name else list(SETTINGS)
        with self.ctx.store.read() as s:
            if effective:
                # What applies to the principal, setting by setting, as ECS answers effectiveSettings.
                found = [_setting(n, effective_setting(s, n, principal), principal) for n in names]
            else:
                found = []
                for n in names:
                    doc = s.get_doc(DOC_KIND, f"{principal}|{n}")
                    if doc is not None:
                        found.append(_setting(n, str(doc["value"]), principal))
        if value is not None:
            found = [f for f in found if f["value"] == value]
        page, nxt = paginate(found, req, default_max=10, hi=10)
        out: dict[str, Any] = {"settings": page}
        if nxt:
            out["nextToken"] = nxt
        return out
