"""Elastic Load Balancing v2 actions, the part ECS uses: load balancers, target groups, listeners, targets.

Requests and results are shaped as botocore's elbv2 model shapes them (PascalCase), so the Query
endpoint, the REST API and the CLI share these methods. Everything is checked before anything
is written; errors carry ELB's names (LoadBalancerNotFound, TargetGroupNotFound,
DuplicateLoadBalancerName, ValidationError, ...). Only what the local data plane (HAProxy on
this host) can honour is accepted: members it cannot honour (subnets, security groups,
certificates, ...) are refused by name, never stored and ignored.

The load balancer listens on the control plane's host (`Settings.lb_address`, loopback by
default; both schemes alike) and its DNSName is that address. The targets controller
(`reconcile/targets.py`) makes HAProxy follow what these methods store.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

from orchestrator.core import elb
from orchestrator.core.context import Context
from orchestrator.core.errors import ApiError, ValidationError

NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
MATCHER_RE = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")
MAX_TARGETS_PER_CALL = 500


class LoadBalancerNotFound(ApiError):
    code = "LoadBalancerNotFound"
    rest_status = 404


class TargetGroupNotFound(ApiError):
    code = "TargetGroupNotFound"
    rest_status = 404


class ListenerNotFound(ApiError):
    code = "ListenerNotFound"
    rest_status = 404


class DuplicateLoadBalancerName(ApiError):
    code = "DuplicateLoadBalancerName"
    rest_status = 409


class DuplicateTargetGroupName(ApiError):
    code = "DuplicateTargetGroupName"
    rest_status = 409


class DuplicateListener(ApiError):
    code = "DuplicateListener"
    rest_status = 409


class ResourceInUse(ApiError):
    code = "ResourceInUse"
    rest_status = 409


class InvalidTarget(ApiError):
    code = "InvalidTarget"


class TargetGroupAssociationLimit(ApiError):
    code = "TargetGroupAssociationLimit"


class IncompatibleProtocols(ApiError):
    code = "IncompatibleProtocols"


class InvalidConfigurationRequest(ApiError):
    code = "InvalidConfigurationRequest"


class DuplicateTagKeys(ApiError):
    code = "DuplicateTagKeys"


class UnsupportedProtocol(ApiError):
    code = "UnsupportedProtocol"


def _refuse(req: dict[str, Any], names: tuple[str, ...], why: str) -> None:
    given = [n for n in names if req.get(n) not in (None, [], {})]
    if given:
        raise ValidationError(f"{', '.join(given)} cannot be honoured here: {why}")


def _name(req: dict[str, Any], what: str) -> str:
    name = req.get("Name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"Name is required: the {what}'s name.")
    if not NAME_RE.match(name):
        raise ValidationError(
            f"Name {name!r} is not valid: 1 to 32 letters, digits and hyphens, not starting or ending with a hyphen."
        )
    if what == "load balancer" and name.lower().startswith("internal-"):
        raise ValidationError("Name cannot begin with 'internal-'.")
    return name


def _int(req: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    value = req.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, got {value!r}.")
    if not lo <= value <= hi:
        raise ValidationError(f"{name} must be between {lo} and {hi}, got {value}.")
    return value


def _choice(req: dict[str, Any], name: str, allowed: tuple[str, ...], default: str, refused: str = "") -> str:
    value = req.get(name, default)
    if value not in allowed:
        extra = f" ({refused})" if refused else ""
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}{extra}.")
    return str(value)


def _tags(req: dict[str, Any]) -> list[dict[str, str]]:
    tags = req.get("Tags") or []
    keys = [t.get("Key") for t in tags]
    if any(not k for k in keys):
        raise ValidationError("Every tag needs a Key.")
    if len(set(keys)) != len(keys):
        raise DuplicateTagKeys("A tag key was specified more than once.")
    return [{"Key": t["Key"], **({"Value": t["Value"]} if "Value" in t else {})} for t in tags]


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without our own `_` members."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _page(items: list[Any], req: dict[str, Any]) -> tuple[list[Any], str | None]:
    size = _int(req, "PageSize", 1, 400, 400) or 400
    marker = req.get("Marker")
    start = 0
    if marker:
        if not str(marker).isdigit():
            raise ValidationError("Marker is not valid; pass the NextMarker of the previous page.")
        start = int(marker)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


HTTP_DEFAULTS = {"interval": 30, "timeout": 5, "healthy": 5, "unhealthy": 2}
TCP_DEFAULTS = {"interval": 30, "timeout": 10, "healthy": 5, "unhealthy": 2}


class Elbv2Ops:
    ctx: Context

    # -- load balancers --------------------------------------------------------------------

    def create_load_balancer(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _name(req, "load balancer")
        lb_type = _choice(req, "Type", ("application", "network"), "application", "gateway is not supported")
        scheme = _choice(req, "Scheme", ("internet-facing", "internal"), "internet-facing")
        _choice(req, "IpAddressType", ("ipv4",), "ipv4", "the local load balancer listens on IPv4")
        _refuse(
            req,
            ("Subnets", "SubnetMappings", "SecurityGroups", "CustomerOwnedIpv4Pool", "EnablePrefixForIpv6SourceNat"),
            "the load balancer listens on the control plane's host, with no VPC",
        )
        tags = _tags(req)
        from orchestrator.lb import haproxy_binary

        if haproxy_binary() is None:
            raise InvalidConfigurationRequest(
                "haproxy is not installed on the control plane's host: run `make setup` "
                "(scripts/ensure-haproxy.sh installs Debian's haproxy)."
            )
        now = self.ctx.clock.now()
        address = self.ctx.settings.lb_address
        with self.ctx.store.write() as s:
            for existing in elb.all_of(s, elb.LB):
                if existing["LoadBalancerName"] == name:
                    if existing["Type"] == lb_type and existing["Scheme"] == scheme:
                        return {"LoadBalancers": [_public(existing)]}  # ELB: idempotent with the same settings
                    raise DuplicateLoadBalancerName(f"A load balancer with the name '{name}' already exists.")
            ident = elb.new_id()
            arn = elb.lb_arn("app" if lb_type == "application" else "net", name, ident)
            doc = {
                "LoadBalancerArn": arn,
                "DNSName": address,
                "CanonicalHostedZoneId": "Z00LOCAL",
                "CreatedTime": now,
                "LoadBalancerName": name,
                "Scheme": scheme,
                "VpcId": "vpc-local",
                "State": {"Code": "active"},
                "Type": lb_type,
                "AvailabilityZones": [],
                "SecurityGroups": [],
                "IpAddressType": "ipv4",
                "_id": ident,
                "_tags": tags,
            }
            elb.put(s, elb.LB, arn, doc)
        return {"LoadBalancers": [_public(doc)]}

    def _lb(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref:
            raise ValidationError("LoadBalancerArn is required.")
        doc = elb.get(self.ctx.store, elb.LB, ref)
        if doc is None:
            raise LoadBalancerNotFound(f"Load balancer '{ref}' not found.")
        return doc

    def describe_load_balancers(self, req: dict[str, Any]) -> dict[str, Any]:
        arns, names = req.get("LoadBalancerArns") or [], req.get("Names") or []
        if arns and names:
            raise ValidationError("LoadBalancerArns and Names cannot be used together.")
        with self.ctx.store.read() as s:
            docs = elb.all_of(s, elb.LB)
        if arns:
            by_arn = {d["LoadBalancerArn"]: d for d in docs}
            missing = [a for a in arns if a not in by_arn]
            if missing:
                raise LoadBalancerNotFound(f"One or more load balancers not found: {', '.join(missing)}.")
            docs = [by_arn[a] for a in arns]
        elif names:
            by_name = {d["LoadBalancerName"]: d for d in docs}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise LoadBalancerNotFound(f"Load balancers '[{', '.join(missing)}]' not found")
            docs = [by_name[n] for n in names]
        page, nxt = _page(docs, req)
        out: dict[str, Any] = {"LoadBalancers": [_public(d) for d in page]}
        if nxt:
            out["NextMarker"] = nxt
        return out

    def delete_load_balancer(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = req.get("LoadBalancerArn")
        if not isinstance(arn, str) or not arn:
            raise ValidationError("LoadBalancerArn is required.")
        with self.ctx.store.write() as s:
            if elb.get(s, elb.LB, arn) is None:
                return {}  # ELB: deleting a load balancer that does not exist succeeds
            for listener in elb.listeners_of(s, arn):
                elb.delete(s, elb.LISTENER, listener["ListenerArn"])
            elb.delete(s, elb.LB, arn)
        return {}

    # -- target groups ---------------------------------------------------------------------

    def _health_check(self, req: dict[str, Any], base: dict[str, Any], protocol: str) -> dict[str, Any]:
        """The health-check members of `req` over `base` (a stored group, or defaults), checked."""
        hc_protocol = _choice(
            req, "HealthCheckProtocol", ("HTTP", "TCP"), base.get("HealthCheckProtocol", protocol), "no HTTPS here"
        )
        if protocol == "HTTP" and hc_protocol != "HTTP":
            raise ValidationError("Health check protocol TCP is not supported for target groups with protocol HTTP.")
        port = req.get("HealthCheckPort", base.get("HealthCheckPort", "traffic-port"))
        if port != "traffic-port" and not (str(port).isdigit() and 1 <= int(port) <= 65535):
            raise ValidationError(f"HealthCheckPort must be 'traffic-port' or a port 1-65535, got {port!r}.")
        defaults = HTTP_DEFAULTS if hc_protocol == "HTTP" else TCP_DEFAULTS
        interval = _int(req, "HealthCheckIntervalSeconds", 5, 300, base.get("HealthCheckIntervalSeconds"))
        timeout = _int(req, "HealthCheckTimeoutSeconds", 2, 120, base.get("HealthCheckTimeoutSeconds"))
        healthy = _int(req, "HealthyThresholdCount", 2, 10, base.get("HealthyThresholdCount"))
        unhealthy = _int(req, "UnhealthyThresholdCount", 2, 10, base.get("UnhealthyThresholdCount"))
        interval = interval or defaults["interval"]
        timeout = timeout or defaults["timeout"]
        if timeout >= interval:
            raise ValidationError(
                f"HealthCheckTimeoutSeconds ({timeout}) must be smaller than HealthCheckIntervalSeconds ({interval})."
            )
        out: dict[str, Any] = {
            "HealthCheckProtocol": hc_protocol,
            "HealthCheckPort": str(port),
            "HealthCheckEnabled": bool(req.get("HealthCheckEnabled", base.get("HealthCheckEnabled", True))),
            "HealthCheckIntervalSeconds": interval,
            "HealthCheckTimeoutSeconds": timeout,
            "HealthyThresholdCount": healthy or defaults["healthy"],
            "UnhealthyThresholdCount": unhealthy or defaults["unhealthy"],
        }
        if hc_protocol == "HTTP":
            path = req.get("HealthCheckPath", base.get("HealthCheckPath", "/"))
            if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024 or " " in path:
                raise ValidationError(f"HealthCheckPath must start with '/' (at most 1024 characters), got {path!r}.")
            matcher = req.get("Matcher") or base.get("Matcher") or {"HttpCode": "200"}
            if matcher.get("GrpcCode"):
                raise ValidationError("Matcher.GrpcCode cannot be honoured here: only HTTP1 target groups exist.")
            code = str(matcher.get("HttpCode", "200")).replace(" ", "")
            if not MATCHER_RE.match(code) or any(not 200 <= int(c) <= 499 for c in re.split(r"[-,]", code)):
                raise ValidationError(
                    f"Matcher.HttpCode must be codes 200-499 as '200', '200,202' or '200-299', got {code!r}."
                )
            out["HealthCheckPath"] = path
            out["Matcher"] = {"HttpCode": code}
        elif req.get("HealthCheckPath") or req.get("Matcher"):
            raise ValidationError("HealthCheckPath and Matcher apply only to HTTP health checks.")
        return out

    def create_target_group(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _name(req, "target group")
        target_type = _choice(req, "TargetType", ("instance", "ip"), "instance", "lambda and alb are not supported")
        protocol = _choice(req, "Protocol", ("HTTP", "TCP"), "", "HTTPS, TLS and UDP are not supported here")
        port = _int(req, "Port", 1, 65535)
        if port is None:
            raise ValidationError("Port is required for target groups of type instance or ip.")
        _choice(req, "ProtocolVersion", ("HTTP1",), "HTTP1", "only HTTP1 is supported")
        _choice(req, "IpAddressType", ("ipv4",), "ipv4")
        health = self._health_check(req, {}, protocol)
        tags = _tags(req)
        with self.ctx.store.write() as s:
            for existing in elb.all_of(s, elb.TG):
                if existing["TargetGroupName"] == name:
                    raise DuplicateTargetGroupName(f"A target group with the name '{name}' already exists.")
            ident = elb.new_id()
            arn = elb.tg_arn(name, ident)
            doc = {
                "TargetGroupArn": arn,
                "TargetGroupName": name,
                "Protocol": protocol,
                "Port": port,
                "VpcId": req.get("VpcId") or "vpc-local",
                **health,
                "TargetType": target_type,
                "ProtocolVersion": "HTTP1" if protocol == "HTTP" else None,
                "IpAddressType": "ipv4",
                "_id": ident,
                "_tags": tags,
                "_attributes": {"deregistration_delay.timeout_seconds": str(elb.DEFAULT_DEREGISTRATION_DELAY_S)},
            }
            doc = {k: v for k, v in doc.items() if v is not None}
            elb.put(s, elb.TG, arn, doc)
        return {"TargetGroups": [self._tg_wire(doc)]}

    def _tg_wire(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {**_public(doc), "LoadBalancerArns": elb.load_balancers_of_group(self.ctx.store, doc["TargetGroupArn"])}

    def _tg(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref:
            raise ValidationError("TargetGroupArn is required.")
        doc = elb.get(self.ctx.store, elb.TG, ref)
        if doc is None:
            raise TargetGroupNotFound(f"Target groups '{ref}' not found")
        return doc

    def describe_target_groups(self, req: dict[str, Any]) -> dict[str, Any]:
        arns, names, lb = req.get("TargetGroupArns") or [], req.get("Names") or [], req.get("LoadBalancerArn")
        if sum(bool(x) for x in (arns, names, lb)) > 1:
            raise ValidationError("Use only one of LoadBalancerArn, TargetGroupArns and Names.")
        with self.ctx.store.read() as s:
            docs = elb.all_of(s, elb.TG)
            if lb:
                self._lb(lb)
                wanted = {g for lst in elb.listeners_of(s, lb) for g, _ in elb.forwarded_groups(lst)}
                docs = [d for d in docs if d["TargetGroupArn"] in wanted]
            elif arns:
                by_arn = {d["TargetGroupArn"]: d for d in docs}
                missing = [a for a in arns if a not in by_arn]
                if missing:
                    raise TargetGroupNotFound(f"One or more target groups not found: {', '.join(missing)}.")
                docs = [by_arn[a] for a in arns]
            elif names:
                by_name = {d["TargetGroupName"]: d for d in docs}
                missing = [n for n in names if n not in by_name]
                if missing:
                    raise TargetGroupNotFound(f"Target groups '[{', '.join(missing)}]' not found")
                docs = [by_name[n] for n in names]
            page, nxt = _page(docs, req)
            out: dict[str, Any] = {"TargetGroups": [self._tg_wire(d) for d in page]}
        if nxt:
            out["NextMarker"] = nxt
        return out

    def modify_target_group(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.write() as s:
            doc = self._tg(req.get("TargetGroupArn"))
            health = self._health_check(req, doc, doc["Protocol"])
            doc.update(health)
            elb.put(s, elb.TG, doc["TargetGroupArn"], doc)
            return {"TargetGroups": [self._tg_wire(doc)]}

    ATTRIBUTES = {
        "deregistration_delay.timeout_seconds": (0, 3600),
    }
    # Attributes ELB has and we keep at their only value here; any other value is refused.
    FIXED_ATTRIBUTES = {
        "stickiness.enabled": "false",
        "load_balancing.algorithm.type": "round_robin",
        "slow_start.duration_seconds": "0",
    }

    def _attributes_wire(self, doc: dict[str, Any]) -> list[dict[str, str]]:
        attrs = {**self.FIXED_ATTRIBUTES, **doc.get("_attributes", {})}
        return [{"Key": k, "Value": v} for k, v in sorted(attrs.items())]

    def modify_target_group_attributes(self, req: dict[str, Any]) -> dict[str, Any]:
        attributes = req.get("Attributes") or []
        if not attributes:
            raise ValidationError("Attributes is required: at least one Key and Value.")
        with self.ctx.store.write() as s:
            doc = self._tg(req.get("TargetGroupArn"))
            changes = {}
            for attr in attributes:
                key, value = attr.get("Key"), str(attr.get("Value", ""))
                if key in self.ATTRIBUTES:
                    lo, hi = self.ATTRIBUTES[key]
                    if not value.isdigit() or not lo <= int(value) <= hi:
                        raise ValidationError(f"{key} must be an integer from {lo} to {hi}, got {value!r}.")
                    changes[key] = str(int(value))
                elif key in self.FIXED_ATTRIBUTES:
                    if value.lower() != self.FIXED_ATTRIBUTES[key]:
                        raise ValidationError(
                            f"{key} can only be {self.FIXED_ATTRIBUTES[key]} here (the local load balancer does not "
                            f"implement other values), got {value!r}."
                        )
                else:
                    supported = ", ".join(sorted([*self.ATTRIBUTES, *self.FIXED_ATTRIBUTES]))
                    raise ValidationError(f"Target group attribute key '{key}' is not supported here ({supported}).")
            doc.setdefault("_attributes", {}).update(changes)
            elb.put(s, elb.TG, doc["TargetGroupArn"], doc)
            return {"Attributes": self._attributes_wire(doc)}

    def describe_target_group_attributes(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.read():
            return {"Attributes": self._attributes_wire(self._tg(req.get("TargetGroupArn")))}

    def delete_target_group(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.write() as s:
            arn = req.get("TargetGroupArn")
            doc = self._tg(arn)
            users = elb.load_balancers_of_group(s, doc["TargetGroupArn"])
            if users:
                raise ResourceInUse(
                    f"Target group '{arn}' is currently in use by a listener or a rule of {', '.join(users)}."
                )
            for target in elb.targets_of(s, doc["TargetGroupArn"]):
                elb.delete(s, elb.TARGET, elb.target_key(doc["TargetGroupArn"], target["Id"], target["Port"]))
            elb.delete(s, elb.TG, doc["TargetGroupArn"])
        return {}

    # -- listeners -------------------------------------------------------------------------

    def _actions(self, raw: Any, lb: dict[str, Any], protocol: str, listener_arn: str | None) -> list[dict[str, Any]]:
        if not raw:
            raise ValidationError("DefaultActions is required: one forward action.")
        if len(raw) != 1 or raw[0].get("Type") != "forward":
            raise ValidationError(
                "DefaultActions must be one action of Type forward (redirect, fixed-response and authentication "
                "actions are not supported here)."
            )
        action = raw[0]
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if action.get("ForwardConfig", {}).get("TargetGroupStickinessConfig", {}).get("Enabled"):
            raise ValidationError("ForwardConfig.TargetGroupStickinessConfig cannot be enabled here.")
        pairs: list[tuple[str, int]] = []
        if groups:
            for g in groups:
                weight = g.get("Weight", 1)
                if not isinstance(weight, int) or not 0 <= weight <= 999:
                    raise ValidationError(f"Weight must be 0-999, got {weight!r}.")
                pairs.append((str(g.get("TargetGroupArn") or ""), weight))
            if action.get("TargetGroupArn") and action["TargetGroupArn"] not in dict(pairs):
                raise ValidationError("TargetGroupArn and ForwardConfig name different target groups.")
        elif action.get("TargetGroupArn"):
            pairs = [(action["TargetGroupArn"], 1)]
        else:
            raise ValidationError("A forward action needs TargetGroupArn or ForwardConfig.TargetGroups.")
        if len(pairs) > 5:
            raise ValidationError("A forward action can name at most 5 target groups.")
        if sum(w for _, w in pairs) == 0:
            raise ValidationError("At least one target group of a forward action needs a weight above 0.")
        for arn, _ in pairs:
            tg = self._tg(arn)
            if tg["Protocol"] != protocol:
                raise IncompatibleProtocols(
                    f"Listener protocol '{protocol}' is not compatible with target group protocol '{tg['Protocol']}'."
                )
            for other in elb.load_balancers_of_group(self.ctx.store, arn):
                if other != lb["LoadBalancerArn"]:
                    raise TargetGroupAssociationLimit(
                        f"The target group '{arn}' is already associated with load balancer '{other}'; a target "
                        "group can be used by one load balancer only."
                    )
        out: dict[str, Any] = {"Type": "forward", "Order": 1}
        if len(pairs) == 1 and not groups:
            out["TargetGroupArn"] = pairs[0][0]
        out["ForwardConfig"] = {"TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in pairs]}
        if len(pairs) == 1:
            out["TargetGroupArn"] = pairs[0][0]
        return [out]

    def create_listener(self, req: dict[str, Any]) -> dict[str, Any]:
        _refuse(
            req,
            ("Certificates", "SslPolicy", "AlpnPolicy", "MutualAuthentication"),
            "TLS listeners need certificates, which this load balancer does not manage",
        )
        port = _int(req, "Port", 1, 65535)
        with self.ctx.store.write() as s:
            lb = self._lb(req.get("LoadBalancerArn"))
            allowed = ("HTTP",) if lb["Type"] == "application" else ("TCP",)
            protocol = req.get("Protocol") or allowed[0]
            if protocol not in allowed:
                raise UnsupportedProtocol(
                    f"Protocol '{protocol}' is not supported for {lb['Type']} load balancers here; use {allowed[0]}."
                )
            if port is None:
                raise ValidationError("Port is required.")
            for lst in elb.all_of(s, elb.LISTENER):
                if lst["Port"] == port:
                    if lst["LoadBalancerArn"] == lb["LoadBalancerArn"]:
                        raise DuplicateListener("A listener already exists on this port for this load balancer.")
                    raise DuplicateListener(
                        f"Port {port} is already used by a listener of {lst['LoadBalancerArn']} on this host."
                    )
            if not _port_free(lb["DNSName"], port):
                raise InvalidConfigurationRequest(
                    f"Port {port} on {lb['DNSName']} is in use by another program on this host; pick another port."
                )
            ident = elb.new_id()
            arn = elb.listener_arn(lb["LoadBalancerArn"], ident)
            doc = {
                "ListenerArn": arn,
                "LoadBalancerArn": lb["LoadBalancerArn"],
                "Port": port,
                "Protocol": protocol,
                "DefaultActions": self._actions(
                    req.get("DefaultActions"), lb, "HTTP" if protocol == "HTTP" else "TCP", None
                ),
                "_id": ident,
                "_tags": _tags(req),
            }
            elb.put(s, elb.LISTENER, arn, doc)
        return {"Listeners": [_public(doc)]}

    def describe_listeners(self, req: dict[str, Any]) -> dict[str, Any]:
        lb, arns = req.get("LoadBalancerArn"), req.get("ListenerArns") or []
        if lb and arns:
            raise ValidationError("LoadBalancerArn and ListenerArns cannot be used together.")
        if not lb and not arns:
            raise ValidationError("Either LoadBalancerArn or ListenerArns must be given.")
        with self.ctx.store.read() as s:
            if lb:
                self._lb(lb)
                docs = elb.listeners_of(s, lb)
            else:
                docs = []
                for arn in arns:
                    doc = elb.get(s, elb.LISTENER, arn)
                    if doc is None:
                        raise ListenerNotFound(f"One or more listeners not found: {arn}.")
                    docs.append(doc)
        page, nxt = _page(docs, req)
        out: dict[str, Any] = {"Listeners": [_public(d) for d in page]}
        if nxt:
            out["NextMarker"] = nxt
        return out

    def delete_listener(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = req.get("ListenerArn")
        with self.ctx.store.write() as s:
            if not isinstance(arn, str) or elb.get(s, elb.LISTENER, arn) is None:
                raise ListenerNotFound(f"Listener '{arn}' not found.")
            elb.delete(s, elb.LISTENER, arn)
        return {}

    # -- targets ---------------------------------------------------------------------------

    def _targets(self, req: dict[str, Any], required: bool = True) -> list[dict[str, Any]]:
        targets = req.get("Targets") or []
        if required and not targets:
            raise ValidationError("Targets is required: at least one target with an Id.")
        if len(targets) > MAX_TARGETS_PER_CALL:
            raise ValidationError(f"At most {MAX_TARGETS_PER_CALL} targets per call.")
        for t in targets:
            if not t.get("Id"):
                raise ValidationError("Every target needs an Id.")
            if t.get("Port") is not None:
                _int(t, "Port", 1, 65535)
        return list(targets)

    def _address(self, tg: dict[str, Any], target_id: str) -> str:
        """Where HAProxy reaches a target: an instance's host address, or the target's own IP."""
        if tg["TargetType"] == "ip":
            try:
                return str(ipaddress.IPv4Address(target_id))
            except ValueError:
                raise InvalidTarget(f"The IP address '{target_id}' is not a valid IPv4 address.") from None
        for inst in self.ctx.store.list_instances():
            if inst.ec2InstanceId == target_id:
                if inst.status == "INACTIVE":
                    break
                # Agents share this host unless they say where they are.
                return inst.attribute_map().get("orch.host-address") or "127.0.0.1"
        raise InvalidTarget(f"The following targets are not valid instances: '{target_id}'.")

    def register_targets(self, req: dict[str, Any], *, task_arn: str | None = None) -> dict[str, Any]:
        targets = self._targets(req)
        now = self.ctx.clock.now()
        with self.ctx.store.write() as s:
            tg = self._tg(req.get("TargetGroupArn"))
            resolved = [(t["Id"], int(t.get("Port") or tg["Port"]), self._address(tg, t["Id"])) for t in targets]
            for target_id, port, address in resolved:
                key = elb.target_key(tg["TargetGroupArn"], target_id, port)
                existing = elb.get(s, elb.TARGET, key)
                if existing is not None and existing.get("_state") == "registered":
                    continue
                elb.put(
                    s,
                    elb.TARGET,
                    key,
                    {
                        "TargetGroupArn": tg["TargetGroupArn"],
                        "Id": target_id,
                        "Port": port,
                        "_address": address,
                        "_state": "registered",
                        "_registeredAt": now,
                        "_task": task_arn or (existing or {}).get("_task"),
                        "_health": {
                            "State": elb.INITIAL,
                            "Reason": "Elb.RegistrationInProgress",
                            "Description": "Target registration is in progress",
                        },
                    },
                )
        return {}

    def deregister_targets(self, req: dict[str, Any]) -> dict[str, Any]:
        targets = self._targets(req)
        now = self.ctx.clock.now()
        with self.ctx.store.write() as s:
            tg = self._tg(req.get("TargetGroupArn"))
            keys = [elb.target_key(tg["TargetGroupArn"], t["Id"], int(t.get("Port") or tg["Port"])) for t in targets]
            missing = [k.split("|", 1)[1].replace("|", ":") for k in keys if elb.get(s, elb.TARGET, k) is None]
            if missing:
                raise InvalidTarget(f"The following targets are not registered in target group: {', '.join(missing)}.")
            for key in keys:
                elb.start_draining(s, key, now, elb.deregistration_delay(tg))
        return {}

    def describe_tags(self, req: dict[str, Any]) -> dict[str, Any]:
        arns = req.get("ResourceArns") or []
        if not arns or len(arns) > 20:
            raise ValidationError("ResourceArns must name 1 to 20 load balancers, target groups or listeners.")
        out = []
        with self.ctx.store.read() as s:
            for arn in arns:
                doc = elb.get(s, elb.LB, arn) or elb.get(s, elb.TG, arn) or elb.get(s, elb.LISTENER, arn)
                if doc is None:
                    if ":targetgroup/" in arn:
                        raise TargetGroupNotFound(f"Target groups '{arn}' not found")
                    if ":listener/" in arn:
                        raise ListenerNotFound(f"Listener '{arn}' not found.")
                    raise LoadBalancerNotFound(f"Load balancer '{arn}' not found.")
                out.append({"ResourceArn": arn, "Tags": doc.get("_tags", [])})
        return {"TagDescriptions": out}

    def describe_target_health(self, req: dict[str, Any]) -> dict[str, Any]:
        _refuse(req, ("Include",), "anomaly detection is not part of this load balancer's health checks")
        asked = self._targets(req, required=False)
        with self.ctx.store.read() as s:
            tg = self._tg(req.get("TargetGroupArn"))
            docs = elb.targets_of(s, tg["TargetGroupArn"])
            in_use = bool(elb.load_balancers_of_group(s, tg["TargetGroupArn"]))
        by_key = {(d["Id"], d["Port"]): d for d in docs}
        if asked:
            wanted = [(t["Id"], int(t.get("Port") or tg["Port"])) for t in asked]
        else:
            wanted = sorted(by_key, key=lambda k: (k[0], k[1]))
        out = []
        for target_id, port in wanted:
            doc = by_key.get((target_id, port))
            hc_port = tg["HealthCheckPort"] if tg["HealthCheckPort"] != "traffic-port" else str(port)
            if doc is None:
                health = {
                    "State": elb.UNUSED,
                    "Reason": "Target.NotRegistered",
                    "Description": "Target is not registered to the target group",
                }
            elif not in_use and doc.get("_state") == "registered":
                health = {
                    "State": elb.UNUSED,
                    "Reason": "Target.NotInUse",
                    "Description": "Target group is not configured to receive traffic from the load balancer",
                }
            else:
                health = {k: v for k, v in doc.get("_health", {}).items() if v}
            out.append({"Target": {"Id": target_id, "Port": port}, "HealthCheckPort": hc_port, "TargetHealth": health})
        return {"TargetHealthDescriptions": out}
