"""The dashboard's session cookie: issued for one admin token, for LIFETIME_S, unforgeable."""

from __future__ import annotations

import pytest

from orchestrator.api.ui import session
from orchestrator.security.secrets import hash_token

ADMIN = hash_token("oat_teacher")
OTHER = hash_token("oat_someone-else")
T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("cookie", "now", "admin", "expected"),
    [
        (session.issue(ADMIN, T0), T0, ADMIN, True),
        # 12 h = 43200 s: valid one second before, not at the limit.
        (session.issue(ADMIN, T0), T0 + 43199, ADMIN, True),
        (session.issue(ADMIN, T0), T0 + 43200, ADMIN, False),
        # A clock a little behind the issuer's (<= 60 s) is tolerated; a cookie from the future is not.
        (session.issue(ADMIN, T0 + 30), T0, ADMIN, True),
        (session.issue(ADMIN, T0 + 3600), T0, ADMIN, False),
        # A new admin token ends every session made with the old one.
        (session.issue(ADMIN, T0), T0, OTHER, False),
        (None, T0, ADMIN, False),
        ("", T0, ADMIN, False),
        ("oat_teacher", T0, ADMIN, False),
        (f"{int(T0)}.{'0' * 64}", T0, ADMIN, False),
        (f"x{int(T0)}.abc", T0, ADMIN, False),
        # Changing the issue time (to extend a session) breaks the MAC.
        (f"{int(T0) + 100}." + session.issue(ADMIN, T0).split(".", 1)[1], T0 + 100, ADMIN, False),
    ],
)
def test_session_cookie(cookie: str | None, now: float, admin: str, expected: bool) -> None:
    assert session.valid(admin, cookie, now) is expected


def test_the_cookie_does_not_carry_the_token() -> None:
    cookie = session.issue(hash_token("oat_teacher"), T0)
    assert "oat_teacher" not in cookie
    assert ADMIN not in cookie
