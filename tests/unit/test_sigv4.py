"""SigV4 verification against requests signed by botocore's own signer, the client we must accept."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from orchestrator.api.aws.sigv4 import MISMATCH_MESSAGE, SignedIdentity, verify
from orchestrator.core.errors import (
    ApiError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

AKID = "AKIAABCDEFGHIJKLMNOP"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = dt.datetime(2024, 1, 1, 12, 0, 0)
NOW = float(calendar.timegm(SIGNED_AT.timetuple()))
ENDPOINT = "http://127.0.0.1:8080"
ECS_HEADERS = {
    "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
    "Content-Type": "application/x-amz-json-1.1",
}


@dataclasses.dataclass(frozen=True)
class Wire:
    """A request as the server sees it: raw path and query, headers, body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def sign(
    *,
    method: str = "POST",
    url: str = ENDPOINT + "/",
    body: bytes = b"{}",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    service: str = "ecs",
    region: str = "us-east-1",
    key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    at: dt.datetime = SIGNED_AT,
) -> Wire:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or ECS_HEADERS), params=params)
    # botocore reads the wall clock when signing; pin it so the test owns time.
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    wire_headers = dict(prepared.headers.items())
    # The HTTP client adds Host on the wire; the signer signed the same value.
    wire_headers["Host"] = parts.netloc
    body_bytes = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    return Wire(prepared.method, parts.path, parts.query, wire_headers, body_bytes)


def secrets_of(known: Mapping[str, str]) -> Callable[[str], str | None]:
    return known.get


def check(wire: Wire, *, now: float = NOW, **kwargs: Any) -> SignedIdentity:
    return verify(
        wire.method,
        wire.path,
        wire.query,
        wire.headers,
        wire.body,
        secrets_of({AKID: SECRET}),
        now,
        **kwargs,
    )


def with_header(wire: Wire, name: str, value: str | None) -> Wire:
    headers = {k: v for k, v in wire.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return dataclasses.replace(wire, headers=headers)


GOOD_CASES: list[tuple[str, Callable[[], Wire], dict[str, Any], SignedIdentity]] = [
    ("ecs json call", lambda: sign(), {}, SignedIdentity(AKID, "us-east-1", "ecs")),
    (
        "application auto scaling",
        lambda: sign(
            service="application-autoscaling",
            region="eu-west-1",
            headers={"X-Amz-Target": "AnyScaleFrontendService.DescribeScalableTargets"},
            body=b'{"ServiceNamespace": "ecs"}',
        ),
        {},
        SignedIdentity(AKID, "eu-west-1", "application-autoscaling"),
    ),
    (
        "session token signed",
        lambda: sign(token="FQoGZXIvYXdzEXAMPLE"),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    ("empty body GET", lambda: sign(method="GET", body=b""), {}, SignedIdentity(AKID, "us-east-1", "ecs")),
    (
        "special characters in path",
        lambda: sign(url=ENDPOINT + "/a%20b/c~d/%E2%9C%93/x:y@z/./skip/../end/", method="GET", body=b""),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "pre-encoded query in url",
        lambda: sign(url=ENDPOINT + "/?b=2&a=%2F&a=1&empty=&tilde=~&sp=x%20y", method="GET", body=b""),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "form-encoded params",
        lambda: sign(params={"z": "a b", "slash": "/", "plus": "+", "uni": "\u00e9t\u00e9", "q": "a=b&c"}),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "header value whitespace trimmed",
        lambda: sign(headers={**ECS_HEADERS, "X-Custom": "  a    b\t c  "}),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "matching x-amz-content-sha256",
        lambda: sign(headers={**ECS_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(b"{}").hexdigest()}),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "unsigned payload when allowed",
        lambda: sign(headers={**ECS_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}),
        {"allow_unsigned_payload": True},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "signed four minutes ago",
        lambda: sign(at=SIGNED_AT - dt.timedelta(minutes=4)),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "clock four minutes ahead",
        lambda: sign(at=SIGNED_AT + dt.timedelta(minutes=4)),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "pinned service and region",
        lambda: sign(),
        {"service": "ecs", "region": "us-east-1"},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
    (
        "lower-case header names",
        lambda: dataclasses.replace(sign(), headers={k.lower(): v for k, v in sign().headers.items()}),
        {},
        SignedIdentity(AKID, "us-east-1", "ecs"),
    ),
]


@pytest.mark.parametrize(("name", "make", "kwargs", "expected"), GOOD_CASES, ids=[c[0] for c in GOOD_CASES])
def test_botocore_signed_requests_verify(
    name: str, make: Callable[[], Wire], kwargs: dict[str, Any], expected: SignedIdentity
) -> None:
    assert check(make(), **kwargs) == expected


def _replace_auth(wire: Wire, old: str, new: str) -> Wire:
    return with_header(wire, "Authorization", wire.headers["Authorization"].replace(old, new))


BAD_CASES: list[tuple[str, Callable[[], Wire], dict[str, Any], type[ApiError], int, str]] = [
    (
        "no authorization header",
        lambda: with_header(sign(), "Authorization", None),
        {},
        MissingAuthenticationTokenException,
        403,
        "Missing Authentication Token",
    ),
    (
        "tampered body",
        lambda: dataclasses.replace(sign(), body=b'{"clusters": ["other"]}'),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "tampered signed header",
        lambda: with_header(sign(), "X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "tampered host",
        lambda: with_header(sign(), "Host", "127.0.0.1:9999"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "signed header dropped",
        lambda: with_header(sign(), "Content-Type", None),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "tampered path",
        lambda: dataclasses.replace(sign(), path="/other"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "tampered query",
        lambda: dataclasses.replace(sign(url=ENDPOINT + "/?a=1"), query="a=2"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "tampered method",
        lambda: dataclasses.replace(sign(), method="PUT"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "wrong secret",
        lambda: sign(secret="not-the-secret-not-the-secret-not-the-se"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
    (
        "unknown key",
        lambda: sign(key="AKIAUNKNOWNUNKNOWN22"),
        {},
        UnrecognizedClientException,
        400,
        "The security token included in the request is invalid.",
    ),
    (
        "expired",
        lambda: sign(at=SIGNED_AT - dt.timedelta(minutes=6)),
        {},
        InvalidSignatureException,
        400,
        "Signature expired: 20240101T115400Z is now earlier than 20240101T115500Z (20240101T120000Z - 5 min.)",
    ),
    (
        "from the future",
        lambda: sign(at=SIGNED_AT + dt.timedelta(minutes=6)),
        {},
        InvalidSignatureException,
        400,
        "Signature not yet current: 20240101T120600Z is still later than 20240101T120500Z (20240101T120000Z + 5 min.)",
    ),
    (
        "missing x-amz-date",
        lambda: with_header(sign(), "X-Amz-Date", None),
        {},
        IncompleteSignatureException,
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ),
    (
        "malformed x-amz-date",
        lambda: with_header(sign(), "X-Amz-Date", "2024-01-01T12:00:00Z"),
        {},
        IncompleteSignatureException,
        400,
        "Date must be in ISO-8601 'basic format'.",
    ),
    (
        "credential date differs from x-amz-date",
        lambda: with_header(sign(), "X-Amz-Date", "20240102T000000Z"),
        {},
        InvalidSignatureException,
        400,
        "Date in Credential scope does not match YYYYMMDD",
    ),
    (
        "host not signed",
        lambda: _replace_auth(sign(), "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"),
        {},
        IncompleteSignatureException,
        400,
        "'Host' or ':authority' must be a 'SignedHeader'",
    ),
    (
        "x-amz-date not signed",
        lambda: _replace_auth(sign(), ";x-amz-date;", ";"),
        {},
        IncompleteSignatureException,
        400,
        "'X-Amz-Date' must be a 'SignedHeader'",
    ),
    (
        "missing signature part",
        lambda: with_header(
            sign(), "Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/ecs/aws4_request"
        ),
        {},
        IncompleteSignatureException,
        400,
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders'",
    ),
    (
        "not sigv4",
        lambda: with_header(sign(), "Authorization", "Bearer abc"),
        {},
        IncompleteSignatureException,
        400,
        "Unsupported AWS 'algorithm': 'Bearer'",
    ),
    (
        "garbled pair",
        lambda: with_header(sign(), "Authorization", "AWS4-HMAC-SHA256 Credential"),
        {},
        IncompleteSignatureException,
        400,
        "not a valid key=value pair",
    ),
    (
        "short credential",
        lambda: _replace_auth(sign(), "/us-east-1/", "/"),
        {},
        IncompleteSignatureException,
        400,
        "Credential must have exactly 5 slash-delimited elements",
    ),
    (
        "bad terminator",
        lambda: _replace_auth(sign(), "/aws4_request", "/aws5_request"),
        {},
        IncompleteSignatureException,
        400,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
    ),
    (
        "wrong service for pinned endpoint",
        lambda: sign(service="application-autoscaling"),
        {"service": "ecs"},
        IncompleteSignatureException,
        400,
        "Credential should be scoped to correct service: 'ecs'.",
    ),
    (
        "wrong region for pinned endpoint",
        lambda: sign(region="eu-west-1"),
        {"region": "us-east-1"},
        IncompleteSignatureException,
        400,
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
    ),
    (
        "content sha256 does not match body",
        lambda: sign(headers={**ECS_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()}),
        {},
        InvalidSignatureException,
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    (
        "unsigned payload refused by default",
        lambda: sign(headers={**ECS_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}),
        {},
        IncompleteSignatureException,
        400,
        "requires a signed payload",
    ),
    (
        "streaming payload",
        lambda: sign(headers={**ECS_HEADERS, "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}),
        {},
        IncompleteSignatureException,
        400,
        "Streaming payload signing",
    ),
    (
        "non-hex signature",
        lambda: _replace_auth(sign(), "Signature=", "Signature=\u00e9"),
        {},
        InvalidSignatureException,
        400,
        MISMATCH_MESSAGE,
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "kwargs", "error", "status", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_rejections_carry_aws_names_statuses_and_messages(
    name: str,
    make: Callable[[], Wire],
    kwargs: dict[str, Any],
    error: type[ApiError],
    status: int,
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        check(make(), **kwargs)
    assert caught.value.code == error.__name__
    assert caught.value.status == status
    assert message in caught.value.message


def test_repeated_headers_are_combined_as_the_signer_combines_them() -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}", headers=ECS_HEADERS)
    request.headers.add_header("X-Multi", "one")
    request.headers.add_header("X-Multi", "  two   too ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        SigV4Auth(Credentials(AKID, SECRET), "ecs", "us-east-1").add_auth(request)
    raw = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    raw.append((b"host", b"127.0.0.1:8080"))
    # Starlette's Headers is what the endpoint gets: items() yields each repeated header separately.
    identity = verify("POST", "/", "", Headers(raw=raw), b"{}", {AKID: SECRET}.get, NOW)
    assert identity == SignedIdentity(AKID, "us-east-1", "ecs")


def test_skew_window_is_configurable() -> None:
    wire = sign(at=SIGNED_AT - dt.timedelta(minutes=6))
    assert check(wire, max_skew_s=600) == SignedIdentity(AKID, "us-east-1", "ecs")
    with pytest.raises(InvalidSignatureException, match=r"\(20240101T120000Z - 1 min\.\)"):
        check(sign(at=SIGNED_AT - dt.timedelta(minutes=2)), max_skew_s=60)


def test_secret_lookup_gets_the_access_key_id_from_the_credential() -> None:
    asked: list[str] = []

    def lookup(key: str) -> str | None:
        asked.append(key)
        return SECRET

    wire = sign()
    verify(wire.method, wire.path, wire.query, wire.headers, wire.body, lookup, NOW)
    assert asked == [AKID]


segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#%", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(segment, max_size=4),
    params=st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=8), max_size=4),
    body=st.binary(max_size=64),
)
def test_any_botocore_signed_request_verifies(segments: list[str], params: dict[str, str], body: bytes) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    wire = sign(url=ENDPOINT + path, params=params, body=body)
    assert check(wire) == SignedIdentity(AKID, "us-east-1", "ecs")
    if body:
        with pytest.raises(InvalidSignatureException):
            check(dataclasses.replace(wire, body=body[:-1]))
