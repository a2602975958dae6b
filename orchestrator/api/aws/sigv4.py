"""Verification of AWS Signature Version 4 on incoming requests to the ECS-compatible endpoint.

Pure: the caller hands over the request as received plus a lookup from access key id to secret, and
gets back who signed it or an `ApiError` named, worded and statused the way AWS answers, because the
aws CLI and boto3 show those to the user as-is. Only the `Authorization` header form is accepted
(presigned query-string signatures are an S3 habit no ECS client uses).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

from orchestrator.core.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


@dataclass(frozen=True)
class SignedIdentity:
    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: float,
    *,
    max_skew_s: float = 300,
    service: str | None = None,
    region: str | None = None,
    allow_unsigned_payload: bool = False,
) -> SignedIdentity:
    """Check the SigV4 `Authorization` header of one request and return who signed it.

    `path` and `query` are the raw, still percent-encoded parts of the request target (ASGI's
    `raw_path` split at `?`), because the signature covers the bytes the client put on the wire.
    `headers` may repeat a name in `.items()` (as Starlette's `Headers` does); repeated values are
    combined the way the signer combines them. `service` and `region`, when given, pin the
    credential scope. `now` is epoch seconds.
    """
    values = _header_values(headers.items())
    auth_header = _single(values, "authorization")
    if auth_header is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    auth = _parse_authorization(auth_header)

    if "host" not in auth.signed_headers:
        raise IncompleteSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    amz_date = _single(values, "x-amz-date")
    if amz_date is None:
        raise IncompleteSignatureException(
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={auth_header}"
        )
    if "x-amz-date" not in auth.signed_headers:
        raise IncompleteSignatureException("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    signed_at = _parse_amz_date(amz_date)
    if auth.date != amz_date[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if service is not None and auth.service != service:
        raise IncompleteSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
    if region is not None and auth.region != region:
        raise IncompleteSignatureException(f"Credential should be scoped to a valid region, not '{auth.region}'. ")
    _check_skew(amz_date, signed_at, now, max_skew_s)

    payload_hash = _payload_hash(_single(values, "x-amz-content-sha256"), body, allow_unsigned_payload)

    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException(INVALID_TOKEN_MESSAGE)

    signed_header_list = ";".join(auth.signed_headers)
    canonical_headers = "".join(
        f"{name}:{','.join(_trim_all(v) for v in values.get(name, []))}\n" for name in auth.signed_headers
    )
    scope = f"{auth.date}/{auth.region}/{auth.service}/{TERMINATOR}"
    key = _signing_key(secret, auth.date, auth.region, auth.service)
    provided = auth.signature.encode("utf-8")
    # Two spellings of the canonical query: AWS's (decode, then re-encode every key and value) and
    # the bytes as sent, which is what botocore signs when a query arrives pre-encoded in the URL.
    # Both are functions of the request as received, so accepting either admits no other request.
    for canonical_query in dict.fromkeys((_canonical_query(query), _raw_sorted_query(query))):
        canonical_request = "\n".join(
            (
                method.upper(),
                _canonical_path(path),
                canonical_query,
                canonical_headers,
                signed_header_list,
                payload_hash,
            )
        )
        string_to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
        )
        expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode("ascii"), provided):
            return SignedIdentity(access_key_id=auth.access_key_id, region=auth.region, service=auth.service)
    raise InvalidSignatureException(MISMATCH_MESSAGE)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _header_values(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(name.lower().strip(), []).append(value)
    return values


def _single(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    if not found:
        return None
    return ",".join(found)


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'. Only {ALGORITHM} is accepted.")
    params: dict[str, str] = {}
    for piece in rest.split(","):
        name, eq, value = piece.strip().partition("=")
        if not eq or not name:
            raise IncompleteSignatureException(
                f"'{piece.strip()}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{header}'."
            )
        params[name] = value.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not params.get(p)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing) + f" Authorization={header}"
        )
    credential = params["Credential"]
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise IncompleteSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        )
    if not access_key_id or not region or not service:
        raise IncompleteSignatureException(
            f"Credential should name a key id, a region and a service, got '{credential}'"
        )
    if len(date) != 8 or not date.isdigit():
        raise IncompleteSignatureException(f"Credential should be scoped to a date in YYYYMMDD form, not '{date}'. ")
    signed = tuple(sorted(h.strip().lower() for h in params["SignedHeaders"].split(";") if h.strip()))
    return _Authorization(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=params["Signature"],
    )


def _parse_amz_date(value: str) -> float:
    try:
        parsed = time.strptime(value, AMZ_DATE_FORMAT)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 16:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )
    return float(calendar.timegm(parsed))


def _format_amz_date(epoch: float) -> str:
    return time.strftime(AMZ_DATE_FORMAT, time.gmtime(epoch))


def _check_skew(amz_date: str, signed_at: float, now: float, max_skew_s: float) -> None:
    minutes = f"{max_skew_s / 60:g} min."
    if signed_at < now - max_skew_s:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {_format_amz_date(now - max_skew_s)} "
            f"({_format_amz_date(now)} - {minutes})"
        )
    if signed_at > now + max_skew_s:
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {_format_amz_date(now + max_skew_s)} "
            f"({_format_amz_date(now)} + {minutes})"
        )


def _payload_hash(declared: str | None, body: bytes, allow_unsigned_payload: bool) -> str:
    actual = hashlib.sha256(body).hexdigest()
    if declared is None:
        return actual
    declared = declared.strip()
    if declared == UNSIGNED_PAYLOAD:
        if not allow_unsigned_payload:
            raise IncompleteSignatureException("This endpoint requires a signed payload; got UNSIGNED-PAYLOAD.")
        return declared
    if declared.startswith("STREAMING-"):
        raise IncompleteSignatureException(f"Streaming payload signing ('{declared}') is not supported.")
    if not hmac.compare_digest(declared.lower().encode("utf-8"), actual.encode("ascii")):
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    # The signer hashed the header's own spelling, so that is what goes into the canonical request.
    return declared


def _canonical_path(raw_path: str) -> str:
    # Non-S3 services canonicalise the path as sent (already percent-encoded) after removing dot
    # segments and empty segments, then encode it once more: '%' in the wire form becomes '%25'.
    if not raw_path:
        return "/"
    kept: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    normalized = "/".join(kept)
    if raw_path.startswith("/"):
        normalized = "/" + normalized
    if raw_path.endswith("/") and kept:
        normalized += "/"
    return quote(normalized, safe="/~")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for piece in query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


def _canonical_query(query: str) -> str:
    # '+' decodes to a space because clients that form-encode their parameters (botocore's `params`
    # among them) send spaces that way while signing them as %20.
    encoded = [
        (quote(unquote_plus(name), safe="-_.~"), quote(unquote_plus(value), safe="-_.~"))
        for name, value in _query_pairs(query)
    ]
    return "&".join(f"{name}={value}" for name, value in sorted(encoded))


def _raw_sorted_query(query: str) -> str:
    return "&".join(f"{name}={value}" for name, value in sorted(_query_pairs(query)))


def _trim_all(value: str) -> str:
    return " ".join(value.split())
