"""SSM Parameter Store, locally: PutParameter, GetParameter, GetParameters, DeleteParameter, DescribeParameters.

Each parameter is one store document (kind `ssm-parameter`, key = its name) holding its metadata
and every kept version's value sealed under the master key (String values too: nothing a
parameter holds is in the database in the clear). Names, errors and shapes follow botocore's
`ssm` model. What we do not do is refused by name: `Tier` Advanced / Intelligent-Tiering,
`Policies`, `Tags`, a `KeyId` other than the default `alias/aws/ssm`, `DataType` other than
`text`, DescribeParameters' `Shared`; a `StringList` is stored and returned as SSM does (one
comma-separated string).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from orchestrator.core.errors import ApiError
from orchestrator.core.models import arn_prefix
from orchestrator.operations.common import Context
from orchestrator.security.parameters import SealedValues

log = structlog.get_logger("orchestrator.operations.parameters")

DOC_KIND = "ssm-parameter"
DEFAULT_KEY_ID = "alias/aws/ssm"
TYPES = ("String", "StringList", "SecureString")
MAX_NAME = 2048
MAX_VALUE = 4096  # the Standard tier's limit
MAX_DEPTH = 15
VERSIONS_KEPT = 100  # as SSM: the 101st PutParameter drops the oldest version
MAX_GET_PARAMETERS = 10
_NAME_CHARS = re.compile(r"[a-zA-Z0-9_.\-/]+")
_PUT_MEMBERS = {"Name", "Description", "Value", "Type", "KeyId", "Overwrite", "AllowedPattern", "Tags", "Tier"}


class ValidationException(ApiError):
    code = "ValidationException"


class ParameterNotFound(ApiError):
    code = "ParameterNotFound"
    rest_status = 404


class ParameterAlreadyExists(ApiError):
    code = "ParameterAlreadyExists"
    rest_status = 409


class ParameterVersionNotFound(ApiError):
    code = "ParameterVersionNotFound"
    rest_status = 404


class InvalidKeyId(ApiError):
    code = "InvalidKeyId"


class UnsupportedParameterType(ApiError):
    code = "UnsupportedParameterType"


class HierarchyLevelLimitExceededException(ApiError):
    code = "HierarchyLevelLimitExceededException"


class ParameterPatternMismatchException(ApiError):
    code = "ParameterPatternMismatchException"


class InvalidAllowedPatternException(ApiError):
    code = "InvalidAllowedPatternException"


class InvalidFilterKey(ApiError):
    code = "InvalidFilterKey"


class InvalidFilterOption(ApiError):
    code = "InvalidFilterOption"


class InvalidNextToken(ApiError):
    code = "InvalidNextToken"


def parameter_arn(name: str) -> str:
    """`arn:aws:ssm:<region>:<account>:parameter/<name>`; a leading `/` of the name is not doubled."""
    return f"{arn_prefix('ssm')}:parameter/{name.lstrip('/')}"


def check_name(name: Any, member: str = "Name") -> str:
    """A parameter name as SSM allows it; raises ValidationException naming what is wrong."""
    if not isinstance(name, str) or not name:
        raise ValidationException(f"{member} is required: a parameter name such as db-pass or /app/db-pass.")
    if len(name) > MAX_NAME:
        raise ValidationException(f"{member} is longer than {MAX_NAME} characters.")
    if not _NAME_CHARS.fullmatch(name):
        raise ValidationException(
            f"{member} {name!r} may only contain letters, digits and . - _ / (a hierarchy starts with /)."
        )
    bare = name.lstrip("/").lower()
    if bare.startswith(("aws", "ssm")):
        raise ValidationException(f"{member} {name!r}: names beginning with aws or ssm are reserved.")
    if "/" in name.strip("/") and not name.startswith("/"):
        raise ValidationException(f"{member} {name!r}: a parameter name with a hierarchy must begin with /.")
    if name.count("/") > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException(f"{member} {name!r} has more than {MAX_DEPTH} levels.")
    return name


def split_selector(ref: str) -> tuple[str, int | None]:
    """`name:3` -> (`name`, 3); a parameter ARN gives its name. Labels are not supported (refused)."""
    name, version = ref, None
    if ref.startswith("arn:"):
        prefix = f"{arn_prefix('ssm')}:parameter/"
        if not ref.startswith(prefix):
            raise ValidationException(f"{ref!r} is not a parameter ARN of this region and account ({prefix}NAME).")
        name = ref[len(prefix) :]
    head, colon, tail = name.rpartition(":")
    if colon:
        if not tail.isdigit():
            raise ValidationException(f"{ref!r}: only a version number selector (name:3) is supported, not labels.")
        name, version = head, int(tail)
    return name, version


class ParameterStoreOps:
    ctx: Context

    @property
    def _ssm_sealer(self) -> SealedValues:
        path = self.ctx.master_key_path
        if path is None:
            raise ValidationException("This control plane has no master key, so it keeps no parameters.")
        return SealedValues(path)

    def _ssm_find(self, s: Any, name: str) -> tuple[str, dict[str, Any]] | None:
        # An ARN's path loses the leading `/` of a hierarchical name: try both spellings.
        for key in (name, "/" + name) if not name.startswith("/") else (name,):
            doc = s.get_doc(DOC_KIND, key)
            if doc is not None:
                return key, doc
        return None

    def put_parameter(self, req: dict[str, Any]) -> dict[str, Any]:
        _refuse(req, "Policies", "parameter policies (expiration, notification) are not supported; remove Policies")
        _refuse(req, "Tags", "tags on parameters are not supported yet; remove Tags")
        unknown = sorted(set(req) - _PUT_MEMBERS - {"Policies", "DataType"})
        if unknown:
            raise ValidationException(f"{', '.join(unknown)}: not a member of PutParameter's request; remove it.")
        name = check_name(req.get("Name"))
        value = req.get("Value")
        if not isinstance(value, str) or not value:
            raise ValidationException("Value is required and must be a non-empty string.")
        if len(value) > MAX_VALUE:
            raise ValidationException(f"Value is longer than {MAX_VALUE} characters (the Standard tier's limit).")
        tier = req.get("Tier") or "Standard"
        if tier != "Standard":
            raise ValidationException(f"Tier {tier} is not supported: only Standard (values up to 4 KB); remove Tier.")
        data_type = req.get("DataType") or "text"
        if data_type != "text":
            raise ValidationException(f"DataType {data_type} is not supported: only text (no AMI validation here).")
        kind = req.get("Type")
        overwrite = req.get("Overwrite") is True
        key_id = req.get("KeyId")
        pattern = req.get("AllowedPattern")
        description = req.get("Description")
        if kind is not None and kind not in TYPES:
            raise UnsupportedParameterType(f"Type {kind!r} is not one of {', '.join(TYPES)}.")
        if key_id is not None and key_id not in (DEFAULT_KEY_ID, f"{arn_prefix('kms')}:alias/aws/ssm"):
            raise InvalidKeyId(
                f"KeyId {key_id!r}: only the default key {DEFAULT_KEY_ID} is supported (values are sealed with the "
                "control plane's master key); remove KeyId."
            )
        if key_id is not None and kind not in (None, "SecureString"):
            raise InvalidKeyId("KeyId applies to SecureString parameters only.")
        if description is not None and (not isinstance(description, str) or len(description) > 1024):
            raise ValidationException("Description must be a string of at most 1024 characters.")
        if pattern is not None:
            if not isinstance(pattern, str) or len(pattern) > 1024:
                raise InvalidAllowedPatternException(
                    "AllowedPattern must be a regular expression of at most 1024 characters."
                )
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise InvalidAllowedPatternException(
                    f"AllowedPattern is not a valid regular expression: {err}."
                ) from None
            if not compiled.fullmatch(value):
                raise ParameterPatternMismatchException(
                    f"Parameter value, cannot be validated against allowedPattern: {pattern}"
                )
        sealer = self._ssm_sealer
        now = self.ctx.clock.now()
        with self.ctx.store.write() as s:
            doc = s.get_doc(DOC_KIND, name)
            if doc is not None and not overwrite:
                raise ParameterAlreadyExists(
                    "The parameter already exists. To overwrite this value, set the overwrite option in the "
                    "request to true."
                )
            if doc is None and kind is None:
                raise ValidationException("Type is required for a new parameter: String, StringList or SecureString.")
            if doc is not None and pattern is None:
                old_pattern = doc.get("AllowedPattern")
                if old_pattern and not re.fullmatch(old_pattern, value):
                    raise ParameterPatternMismatchException(
                        f"Parameter value, cannot be validated against allowedPattern: {old_pattern}"
                    )
            version = int(doc["Version"]) + 1 if doc else 1
            history = list(doc.get("versions", [])) if doc else []
            kind = kind or (doc or {}).get("Type", "String")
            history.append(
                {
                    "Version": version,
                    "Type": kind,
                    "LastModifiedDate": now,
                    "sealed": sealer.seal(value, f"{name}:{version}"),
                }
            )
            body = {
                "Name": name,
                "Type": kind,
                "Version": version,
                "LastModifiedDate": now,
                "DataType": "text",
                "Tier": "Standard",
                "versions": history[-VERSIONS_KEPT:],
            }
            for member, given in (("Description", description), ("AllowedPattern", pattern)):
                kept = given if given is not None else (doc or {}).get(member)
                if kept:
                    body[member] = kept
            if kind == "SecureString":
                body["KeyId"] = DEFAULT_KEY_ID
            s.put_doc(DOC_KIND, name, body)
        log.info("parameter put", name=name, type=kind, version=version)
        return {"Version": version, "Tier": "Standard"}

    def get_parameter(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req.get("Name")
        if not isinstance(ref, str) or not ref:
            raise ValidationException("Name is required.")
        decrypt = _bool(req, "WithDecryption")
        with self.ctx.store.read() as s:
            return {"Parameter": self._ssm_read(s, ref, decrypt)}

    def get_parameters(self, req: dict[str, Any]) -> dict[str, Any]:
        names = req.get("Names")
        if not isinstance(names, list) or not names or len(names) > MAX_GET_PARAMETERS:
            raise ValidationException(f"Names must list 1 to {MAX_GET_PARAMETERS} parameter names.")
        if not all(isinstance(n, str) and n for n in names):
            raise ValidationException("Names must hold parameter names as strings.")
        decrypt = _bool(req, "WithDecryption")
        found, invalid = [], []
        with self.ctx.store.read() as s:
            for ref in dict.fromkeys(names):
                try:
                    found.append(self._ssm_read(s, ref, decrypt))
                except (ParameterNotFound, ParameterVersionNotFound, ValidationException):
                    invalid.append(ref)
        return {"Parameters": found, "InvalidParameters": invalid}

    def delete_parameter(self, req: dict[str, Any]) -> dict[str, Any]:
        ref = req.get("Name")
        if not isinstance(ref, str) or not ref:
            raise ValidationException("Name is required.")
        name, version = split_selector(ref)
        if version is not None:
            raise ValidationException("DeleteParameter takes a name, not a name:version selector.")
        with self.ctx.store.write() as s:
            hit = self._ssm_find(s, name)
            if hit is None:
                raise ParameterNotFound(f"Parameter {ref} not found.")
            s.delete_doc(DOC_KIND, hit[0])
        log.info("parameter deleted", name=hit[0])
        return {}

    def describe_parameters(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("Shared"):
            raise ValidationException("Shared is not supported: there is no Resource Access Manager here; remove it.")
        tests = _filters(req)
        max_results = req.get("MaxResults", 50)
        if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= 50:
            raise ValidationException("MaxResults must be an integer from 1 to 50.")
        token = req.get("NextToken")
        start = 0
        if token is not None:
            if not isinstance(token, str) or not token.isdigit():
                raise InvalidNextToken(
                    "NextToken is not one this endpoint returned; pass the previous page's NextToken."
                )
            start = int(token)
        with self.ctx.store.read() as s:
            docs = [d for _, d in s.list_docs(DOC_KIND)]
        matching = [d for d in docs if all(t(d) for t in tests)]
        page = matching[start : start + max_results]
        out: dict[str, Any] = {"Parameters": [_metadata(d) for d in page]}
        if start + max_results < len(matching):
            out["NextToken"] = str(start + max_results)
        return out

    def _ssm_read(self, s: Any, ref: str, decrypt: bool) -> dict[str, Any]:
        name, version = split_selector(ref)
        hit = self._ssm_find(s, name)
        if hit is None:
            raise ParameterNotFound(f"Parameter {ref} not found.")
        key, doc = hit
        entry = doc["versions"][-1]
        if version is not None:
            entry = next((v for v in doc["versions"] if v["Version"] == version), None)
            if entry is None:
                raise ParameterVersionNotFound(f"Systems Manager could not find version {version} of {name}.")
        out: dict[str, Any] = {
            "Name": key,
            "Type": entry["Type"],
            "Version": entry["Version"],
            "LastModifiedDate": entry["LastModifiedDate"],
            "ARN": parameter_arn(key),
            "DataType": doc.get("DataType", "text"),
        }
        if version is not None:
            out["Selector"] = f":{version}"
        if entry["Type"] == "SecureString" and not decrypt:
            out["Value"] = entry["sealed"]  # the ciphertext, as SSM returns it without WithDecryption
        else:
            out["Value"] = self._ssm_sealer.unseal(entry["sealed"], f"{key}:{entry['Version']}")
        return out

    def parameter_key(self, ref: str) -> str | None:
        """The stored name a parameter name or ARN (with or without a version) resolves to, or None
        (an execution role's grant compares references by it)."""
        try:
            name, _ = split_selector(ref)
        except ValidationException:
            return None
        with self.ctx.store.read() as s:
            hit = self._ssm_find(s, name)
        return hit[0] if hit is not None else None

    def parameter_value(self, name: str) -> str | None:
        """The current plain value of `name` (a name or parameter ARN), or None if there is none."""
        try:
            with self.ctx.store.read() as s:
                return str(self._ssm_read(s, name, True)["Value"])
        except (ParameterNotFound, ParameterVersionNotFound, ValidationException):
            return None


def _metadata(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        k: doc[k]
        for k in (
            "Name",
            "Type",
            "KeyId",
            "LastModifiedDate",
            "Description",
            "AllowedPattern",
            "Version",
            "Tier",
            "DataType",
        )
        if k in doc
    }
    out["ARN"] = parameter_arn(str(doc["Name"]))
    out["Policies"] = []
    return out


def _bool(req: Mapping[str, Any], member: str) -> bool:
    value = req.get(member, False)
    if not isinstance(value, bool):
        raise ValidationException(f"{member} must be true or false.")
    return value


def _refuse(req: Mapping[str, Any], member: str, why: str) -> None:
    if req.get(member):
        raise ValidationException(f"{member}: {why}.")


_FILTER_KEYS = ("Name", "Type", "KeyId")


def _filters(req: Mapping[str, Any]) -> list[Any]:
    """DescribeParameters' Filters (legacy: Name, Type, KeyId, values matched exactly... by prefix for Name)
    and ParameterFilters (Name with Equals or BeginsWith, Type and KeyId with Equals) as predicates."""
    tests: list[Any] = []
    for f in req.get("Filters") or []:
        key, values = f.get("Key"), f.get("Values") or []
        if key not in _FILTER_KEYS:
            raise InvalidFilterKey(f"Filters Key {key!r} is not supported: use Name, Type or KeyId.")
        if key == "Name":
            tests.append(lambda d, v=tuple(values): any(str(d.get("Name", "")).startswith(x) for x in v))
        else:
            tests.append(lambda d, k=key, v=tuple(values): d.get(k) in v)
    for f in req.get("ParameterFilters") or []:
        key, option, values = f.get("Key"), f.get("Option") or "Equals", tuple(f.get("Values") or ())
        if key not in _FILTER_KEYS:
            raise InvalidFilterKey(f"ParameterFilters Key {key!r} is not supported here: use Name, Type or KeyId.")
        if option not in ("Equals", "BeginsWith") or (option == "BeginsWith" and key != "Name"):
            raise InvalidFilterOption(
                f"ParameterFilters Option {option!r} is not supported for {key}: use Equals"
                + (" or BeginsWith." if key == "Name" else ".")
            )
        if option == "BeginsWith":
            tests.append(lambda d, v=values: any(str(d.get("Name", "")).startswith(x) for x in v))
        else:
            tests.append(lambda d, k=key, v=values: d.get(k) in v)
    return tests
