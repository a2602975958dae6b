"""Application Auto Scaling's TagResource, UntagResource and ListTagsForResource, on scalable targets.

ECS has operations of the same names with other inputs (`resourceArn`, a list of `{key, value}`);
these take AAS's (`ResourceARN`, a `Tags` map, `TagKeys`) and only ever a scalable target's ARN, as
AAS tags nothing else. The endpoint dispatches AAS's to the `autoscaling_`-prefixed methods here.
Tags are kept where every other resource's are (`orchestrator.core.tags`, keyed by the ARN), so a
scalable target's tags go when it is deregistered. Errors are AAS's: ValidationException for bad
input, ResourceNotFoundException for an ARN that names no registered target of ours, and
TooManyTagsException when the target would carry more than AWS's 50 user tags.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.autoscaling import records
from orchestrator.core import tags
from orchestrator.core.errors import ResourceNotFoundException, TooManyTagsException, ValidationException
from orchestrator.core.store import Store
from orchestrator.operations.common import Context

# The botocore model's pattern for AmazonResourceName, and its limits on tags.
ARN_RE = re.compile(r"^arn:.+:application-autoscaling:.+:[0-9]+:scalable-target\/[a-zA-Z0-9-]+$")
MAX_ARN = 1011
MAX_TAG_KEYS = 200
MAX_TAGS_PER_TARGET = 50  # AWS's user-defined tag limit per resource


def _constraint(value: Any, member: str, rule: str) -> ValidationException:
    # AWS's wording for a request member that breaks the model's constraints.
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    )


def _resource_arn(req: dict[str, Any]) -> str:
    arn = req.get("ResourceARN")
    if not isinstance(arn, str) or not arn:
        raise ValidationException("ResourceARN is required: the ARN of a scalable target (DescribeScalableTargets).")
    if len(arn) > MAX_ARN:
        raise _constraint(arn, "resourceARN", f"Member must have length less than or equal to {MAX_ARN}")
    if not ARN_RE.match(arn):
        raise _constraint(arn, "resourceARN", f"Member must satisfy regular expression pattern: {ARN_RE.pattern}")
    return arn


def _registered(store: Store, arn: str) -> str:
    """`arn` if it names a scalable target registered here, else AAS's ResourceNotFoundException."""
    if not any(t.scalable_target_arn == arn for t in records.list_targets(store)):
        raise ResourceNotFoundException(f"The specified resource doesn't exist: {arn}.")
    return arn


def check_tag_map(raw: Any, member: str = "Tags") -> dict[str, str]:
    """`raw` as AAS's tag map, or ValidationException naming the tag that breaks AWS's tag rules."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValidationException(f"{member} must be an object of string keys and string values.")
    for key, value in raw.items():
        if not 1 <= len(key) <= tags.MAX_KEY:
            raise _constraint(key, f"{member.lower()}.key", f"Member must have length between 1 and {tags.MAX_KEY}")
        if len(value) > tags.MAX_VALUE:
            raise _constraint(
                value, f"{member.lower()}.value", f"Member must have length less than or equal to {tags.MAX_VALUE}"
            )
        if key.lower().startswith(tags.RESERVED_PREFIX):
            raise ValidationException(f"{member}: tag keys beginning with 'aws:' are reserved for AWS use ({key}).")
    return dict(raw)


def get_tag_map(store: Store, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags.get_tags(store, arn)}


def put_tag_map(store: Store, arn: str, new: dict[str, str]) -> None:
    """Add or overwrite `new` on `arn`, refused whole if the target would carry too many tags."""
    merged = {**get_tag_map(store, arn), **new}
    if len(merged) > MAX_TAGS_PER_TARGET:
        raise TooManyTagsException(
            f"The request contains too many tags: a scalable target can have at most {MAX_TAGS_PER_TARGET} tags, "
            f"this would make {len(merged)}. Try the request again with fewer tags."
        )
    tags.set_tags(store, arn, [{"key": k, "value": v} for k, v in merged.items()])


class AutoscalingTagOps:
    ctx: Context

    def autoscaling_tag_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = _resource_arn(req)
        if "Tags" not in req:
            raise ValidationException("Tags is required: the tags to add, as an object of keys and values.")
        new = check_tag_map(req["Tags"])
        with self.ctx.store.write() as s:
            put_tag_map(s, _registered(s, arn), new)
        return {}

    def autoscaling_untag_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = _resource_arn(req)
        keys = req.get("TagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValidationException("TagKeys is required: a list of the tag keys to remove.")
        if len(keys) > MAX_TAG_KEYS:
            raise _constraint(keys, "tagKeys", f"Member must have length less than or equal to {MAX_TAG_KEYS}")
        for key in keys:
            if not 1 <= len(key) <= tags.MAX_KEY:
                raise _constraint(key, "tagKeys.member", f"Member must have length between 1 and {tags.MAX_KEY}")
        with self.ctx.store.write() as s:
            tags.remove_tags(s, _registered(s, arn), keys)
        return {}

    def autoscaling_list_tags_for_resource(self, req: dict[str, Any]) -> dict[str, Any]:
        arn = _resource_arn(req)
        with self.ctx.store.read() as s:
            return {"Tags": get_tag_map(s, _registered(s, arn))}
