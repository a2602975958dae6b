"""AWS Secrets Manager, locally: CreateSecret, PutSecretValue, GetSecretValue, DeleteSecret.

A secret is one store document (kind `sm-secret`, key = its name) with its versions, each value
sealed under the master key bound to the secret's ARN and the version id. Staging labels move as
in Secrets Manager: a new AWSCURRENT version makes the old one AWSPREVIOUS. ARNs end in `-` and six
random characters, as AWS's do, and a SecretId may be the name, the full ARN or the ARN without
that suffix. DeleteSecret schedules the deletion (RecoveryWindowInDays, default 30) or, with
ForceDeleteWithoutRecovery, deletes at once; a secret scheduled for deletion refuses every call
and is gone for good once its window has passed (there is no RestoreSecret yet). Refused by name:
Tags, replica regions, Type, CrossAccountPrimaryARN, RotationToken, a KmsKeyId other than the
default `alias/aws/secretsmanager`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from orchestrator.core.errors import ApiError
from orchestrator.core.models import arn_prefix
from orchestrator.operations.common import Context
from orchestrator.security.parameters import SealedValues

log = structlog.get_logger("orchestrator.operations.secrets_manager")

DOC_KIND = "sm-secret"
DEFAULT_KEY_ID = "alias/aws/secretsmanager"
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
MAX_VALUE = 65536
UNSTAGED_KEPT = 100
DAY_S = 86400.0
_NAME = re.compile(r"[A-Za-z0-9/_+=.@\-]{1,512}")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CREATE_REFUSED = {
    "Tags": "tags on secrets are not supported yet; remove Tags",
    "AddReplicaRegions": "there is one region here; remove AddReplicaRegions",
    "ForceOverwriteReplicaSecret": "there is one region here; remove ForceOverwriteReplicaSecret",
    "Type": "managed external secrets are not supported; remove Type",
    "CrossAccountPrimaryARN": "there is one account here; remove CrossAccountPrimaryARN",
}


class InvalidParameterException(ApiError):
    code = "InvalidParameterException"


class InvalidRequestException(ApiError):
    code = "InvalidRequestException"


class ResourceExistsException(ApiError):
    code = "ResourceExistsException"
    rest_status = 409


class ResourceNotFoundException(ApiError):
    code = "ResourceNotFoundException"
    rest_status = 404


def secret_arn_prefix() -> str:
    return f"{arn_prefix('secretsmanager')}:secret:"


def _not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("Secrets Manager can't find the specified secret.")


class SecretsManagerOps:
    ctx: Context

    @property
    def _asm_box(self) -> SealedValues:
        path = self.ctx.master_key_path
        if path is None:
            raise InvalidRequestException("This control plane has no master key, so it keeps no secrets.")
        return SealedValues(path)

    def create_secret(self, req: dict[str, Any]) -> dict[str, Any]:
        for member, why in _CREATE_REFUSED.items():
            if req.get(member):
                raise InvalidParameterException(f"{member}: {why}.")
        _known(
            req,
            {"Name", "ClientRequestToken", "Description", "KmsKeyId", "SecretBinary", "SecretString"}
            | set(_CREATE_REFUSED),
            "CreateSecret",
        )
        name = req.get("Name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidParameterException(
                "Name must be 1 to 512 characters of letters, digits and /_+=.@- (e.g. prod/db-pass)."
            )
        kms = req.get("KmsKeyId")
        if kms is not None and kms not in (DEFAULT_KEY_ID, f"{arn_prefix('kms')}:{DEFAULT_KEY_ID}"):
            raise InvalidParameterException(
                f"KmsKeyId {kms!r}: only the default key {DEFAULT_KEY_ID} is supported (values are sealed with "
                "the control plane's master key); remove KmsKeyId."
            )
        description = req.get("Description")
        if description is not None and (not isinstance(description, str) or len(description) > 2048):
            raise InvalidParameterException("Description must be a string of at most 2048 characters.")
        value = _value(req, required=False)
        version_id = _token(req)
        now = self.ctx.clock.now()
        box = self._asm_box
        with self.ctx.store.write() as s:
            existing = s.get_doc(DOC_KIND, name)
            if existing is not None and not self._asm_purged(s, existing, now):
                if existing.get("DeletedDate") is not None:
                    raise InvalidRequestException(
                        "You can't create this secret because a secret with this name is already scheduled for "
                        "deletion."
                    )
                raise ResourceExistsException(f"The operation failed because the secret {name} already exists.")
            arn = f"{secret_arn_prefix()}{name}-{''.join(secrets.choice(_SUFFIX) for _ in range(6))}"
            doc: dict[str, Any] = {"Name": name, "ARN": arn, "CreatedDate": now, "LastChangedDate": now, "versions": {}}
            if description:
                doc["Description"] = description
            if value is not None:
                _add_version(doc, box, version_id, value, [CURRENT], now)
            s.put_doc(DOC_KIND, name, doc)
        log.info("secret created", name=name)
        out: dict[str, Any] = {"ARN": arn, "Name": name}
        if value is not None:
            out["VersionId"] = version_id
        return out

    def put_secret_value(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("RotationToken"):
            raise InvalidParameterException("RotationToken: there is no rotation here; remove RotationToken.")
        _known(
            req,
            {"SecretId", "ClientRequestToken", "SecretBinary", "SecretString", "VersionStages", "RotationToken"},
            "PutSecretValue",
        )
        value = _value(req, required=True)
        assert value is not None
        stages = req.get("VersionStages") or [CURRENT]
        if not isinstance(stages, list) or not all(isinstance(x, str) and 1 <= len(x) <= 256 for x in stages):
            raise InvalidParameterException("VersionStages must be a list of staging labels (strings).")
        version_id = _token(req)
        now = self.ctx.clock.now()
        box = self._asm_box
        with self.ctx.store.write() as s:
            doc = self._asm_live(s, req.get("SecretId"), now)
            earlier = doc["versions"].get(version_id)
            if earlier is not None:
                # Idempotent on ClientRequestToken, as Secrets Manager: the same value again is a no-op.
                if box.unseal(earlier["sealed"], f"{doc['ARN']}:{version_id}") != value[1]:
                    raise ResourceExistsException(
                        f"A version with ClientRequestToken {version_id} already exists with another value."
                    )
                return {
                    "ARN": doc["ARN"],
                    "Name": doc["Name"],
                    "VersionId": version_id,
                    "VersionStages": earlier["stages"],
                }
            _add_version(doc, box, version_id, value, list(dict.fromkeys(stages)), now)
            doc["LastChangedDate"] = now
            s.put_doc(DOC_KIND, doc["Name"], doc)
        log.info("secret value put", name=doc["Name"], version_id=version_id)
        return {
            "ARN": doc["ARN"],
            "Name": doc["Name"],
            "VersionId": version_id,
            "VersionStages": doc["versions"][version_id]["stages"],
        }

    def get_secret_value(self, req: dict[str, Any]) -> dict[str, Any]:
        _known(req, {"SecretId", "VersionId", "VersionStage"}, "GetSecretValue")
        with self.ctx.store.read() as s:
            doc = self._asm_live(s, req.get("SecretId"), self.ctx.clock.now())
        version_id, entry = _pick(doc, req.get("VersionId"), req.get("VersionStage"))
        plain = self._asm_box.unseal(entry["sealed"], f"{doc['ARN']}:{version_id}")
        out: dict[str, Any] = {
            "ARN": doc["ARN"],
            "Name": doc["Name"],
            "VersionId": version_id,
            "VersionStages": entry["stages"],
            "CreatedDate": entry["CreatedDate"],
        }
        out["SecretBinary" if entry["kind"] == "binary" else "SecretString"] = plain
        return out

    def delete_secret(self, req: dict[str, Any]) -> dict[str, Any]:
        _known(req, {"SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"}, "DeleteSecret")
        force = req.get("ForceDeleteWithoutRecovery", False)
        window = req.get("RecoveryWindowInDays")
        if not isinstance(force, bool):
            raise InvalidParameterException("ForceDeleteWithoutRecovery must be true or false.")
        if force and window is not None:
            raise InvalidParameterException(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
            )
        if window is None:
            window = 30
        if isinstance(window, bool) or not isinstance(window, int) or not 7 <= window <= 30:
            raise InvalidParameterException("RecoveryWindowInDays must be an integer from 7 to 30.")
        now = self.ctx.clock.now()
        with self.ctx.store.write() as s:
            doc = self._asm_live(s, req.get("SecretId"), now)
            deletion = now if force else now + window * DAY_S
            if force:
                s.delete_doc(DOC_KIND, doc["Name"])
            else:
                doc["DeletedDate"] = now
                doc["DeletionDate"] = deletion
                s.put_doc(DOC_KIND, doc["Name"], doc)
        log.info("secret deleted", name=doc["Name"], force=force, recovery_window_days=None if force else window)
        return {"ARN": doc["ARN"], "Name": doc["Name"], "DeletionDate": deletion}

    def secret_value(self, secret_id: str, version_id: str | None, stage: str | None) -> str:
        """A secret version's SecretString, for a task; raises ResourceNotFoundException or InvalidRequestException."""
        got = self.get_secret_value(
            {k: v for k, v in (("SecretId", secret_id), ("VersionId", version_id), ("VersionStage", stage)) if v}
        )
        if "SecretString" not in got:
            raise InvalidRequestException(f"secret {got['ARN']} holds SecretBinary; a task can only take SecretString.")
        return str(got["SecretString"])

    def secret_arn(self, secret_id: str) -> str | None:
        """The ARN of the secret a SecretId (name, full ARN, ARN without its suffix) resolves to, or None
        (an execution role's grant compares references by it)."""
        with self.ctx.store.read() as s:
            doc = self._asm_lookup(s, secret_id)
        return str(doc["ARN"]) if doc is not None else None

    # -- lookup --------------------------------------------------------------------------------

    def _asm_purged(self, s: Any, doc: Mapping[str, Any], now: float) -> bool:
        """Whether a secret scheduled for deletion is past its window: gone, as if deleted (its row
        is overwritten by the next CreateSecret of that name)."""
        return doc.get("DeletionDate") is not None and now >= float(doc["DeletionDate"])

    def _asm_live(self, s: Any, secret_id: Any, now: float) -> dict[str, Any]:
        if not isinstance(secret_id, str) or not secret_id:
            raise InvalidParameterException("SecretId is required: the secret's name or ARN.")
        doc = self._asm_lookup(s, secret_id)
        if doc is None or self._asm_purged(s, doc, now):
            raise _not_found()
        if doc.get("DeletedDate") is not None:
            raise InvalidRequestException(
                "You can't perform this operation on the secret because it was marked for deletion."
            )
        return doc

    def _asm_lookup(self, s: Any, secret_id: str) -> dict[str, Any] | None:
        prefix = secret_arn_prefix()
        if not secret_id.startswith("arn:"):
            return s.get_doc(DOC_KIND, secret_id)
        if not secret_id.startswith(prefix):
            return None
        rest = secret_id[len(prefix) :]
        # A full ARN names the secret and its suffix exactly; a partial ARN is the name alone.
        name, dash, suffix = rest.rpartition("-")
        if dash and len(suffix) == 6:
            doc = s.get_doc(DOC_KIND, name)
            if doc is not None and doc["ARN"] == secret_id:
                return doc
        return s.get_doc(DOC_KIND, rest)


def _known(req: Mapping[str, Any], members: set[str], operation: str) -> None:
    unknown = sorted(set(req) - members)
    if unknown:
        raise InvalidParameterException(f"{', '.join(unknown)}: not a member of {operation}'s request; remove it.")


def _value(req: Mapping[str, Any], *, required: bool) -> tuple[str, str] | None:
    """(kind, value): ("string", SecretString) or ("binary", SecretBinary as its base64 text)."""
    text, blob = req.get("SecretString"), req.get("SecretBinary")
    if text is not None and blob is not None:
        raise InvalidParameterException("You can't specify both a binary secret value and a string secret value.")
    if text is None and blob is None:
        if required:
            raise InvalidParameterException("You must provide either SecretString or SecretBinary.")
        return None
    value = text if text is not None else blob
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        raise InvalidParameterException(f"The secret value must be a string of at most {MAX_VALUE} characters.")
    return ("string" if text is not None else "binary", value)


def _token(req: Mapping[str, Any]) -> str:
    token = req.get("ClientRequestToken")
    if token is None:
        return str(uuid.uuid4())
    if not isinstance(token, str) or not 32 <= len(token) <= 64:
        raise InvalidParameterException("ClientRequestToken must be 32 to 64 characters (a UUID, for example).")
    return token


def _add_version(
    doc: dict[str, Any], box: SealedValues, version_id: str, value: tuple[str, str], stages: list[str], now: float
) -> None:
    versions: dict[str, Any] = doc["versions"]
    for stage in stages:
        for entry in versions.values():
            if stage in entry["stages"]:
                entry["stages"].remove(stage)
                if stage == CURRENT:
                    # The version that was current becomes previous; whoever was previous loses it.
                    for other in versions.values():
                        if PREVIOUS in other["stages"]:
                            other["stages"].remove(PREVIOUS)
                    entry["stages"].append(PREVIOUS)
    kind, plain = value
    versions[version_id] = {
        "kind": kind,
        "sealed": box.seal(plain, f"{doc['ARN']}:{version_id}"),
        "stages": stages,
        "CreatedDate": now,
    }
    unstaged = [vid for vid, e in versions.items() if not e["stages"]]
    for vid in unstaged[: max(0, len(unstaged) - UNSTAGED_KEPT)]:
        del versions[vid]


def _pick(doc: Mapping[str, Any], version_id: Any, stage: Any) -> tuple[str, dict[str, Any]]:
    versions: dict[str, Any] = doc["versions"]
    if version_id is not None:
        entry = versions.get(version_id) if isinstance(version_id, str) else None
        if entry is None or (stage is not None and stage not in entry["stages"]):
            raise ResourceNotFoundException(
                f"Secrets Manager can't find the specified secret value for VersionId: {version_id}"
            )
        return str(version_id), entry
    wanted = stage if stage is not None else CURRENT
    for vid, entry in versions.items():
        if wanted in entry["stages"]:
            return str(vid), entry
    raise ResourceNotFoundException(
        f"Secrets Manager can't find the specified secret value for staging label: {wanted}"
    )
